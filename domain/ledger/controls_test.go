package ledger_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/smsledger/smsledger/domain/accept"
	"github.com/smsledger/smsledger/domain/controls"
	"github.com/smsledger/smsledger/domain/ledger"
	"github.com/smsledger/smsledger/domain/ledger/ledgertest"
	"github.com/smsledger/smsledger/domain/numbering"
	"github.com/smsledger/smsledger/eventstore"
)

// controlled starts a ledger on a settable clock with tenants acme (10 EUR)
// and other, 49151 on network 26201, global rules and acme's controls.
func controlled(t *testing.T, store eventstore.Store) (*ledger.Service, *ledgertest.Clock) {
	t.Helper()
	ctx := context.Background()
	clock := ledgertest.NewClock()
	svc := ledgertest.Start(t, store, ledger.Options{Clock: clock.Now})
	ledgertest.Setup(t, svc, "acme")
	ledgertest.Setup(t, svc, "other")
	for _, id := range []string{"acme", "other"} {
		if _, err := svc.TopUp(ctx, id, dec("10"), "t1"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := svc.SetNumberingPlan(ctx, []numbering.Row{{Prefix: "49151", MCC: "262", MNC: "01"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SetGlobalControls(ctx, controls.Rules{Keywords: []string{"payday loan"}, URLDomains: []string{"bit.ly"}}); err != nil {
		t.Fatal(err)
	}
	_, err := svc.SetTenantControls(ctx, "acme", ledger.TenantControls{
		Rules: controls.Rules{
			SenderAllow:    []string{"ACME", "4915100000"},
			SenderRewrites: []controls.Rewrite{{MCCMNC: "26201", From: "ACME", To: "4915100000"}},
			Keywords:       []string{"casino"},
			Patterns:       []string{`(?i)win\s+\d+`},
		},
		DestRateLimit:    ledger.DestRateLimit{Count: 3, WindowS: 60},
		DuplicateWindowS: 300,
	})
	if err != nil {
		t.Fatal(err)
	}
	return svc, clock
}

// refusedTrail waits for a refused message's SubmitRefused and returns the
// message as its tenant sees it.
func refusedTrail(t *testing.T, svc *ledger.Service, tenant string, id uuid.UUID) (ledger.MessageView, map[string]any) {
	t.Helper()
	ctx := context.Background()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		v, err := svc.Message(ctx, tenant, id)
		if err == nil {
			evs, err := svc.MessageEvents(ctx, tenant, id)
			if err != nil || len(evs) != 1 || evs[0].Type != "SubmitRefused" {
				t.Fatalf("audit trail of %s: %+v %v", id, evs, err)
			}
			var data map[string]any
			if err := json.Unmarshal(evs[0].Data, &data); err != nil {
				t.Fatal(err)
			}
			return v, data
		}
		if !errors.Is(err, ledger.ErrNotFound) || time.Now().After(deadline) {
			t.Fatalf("refused message %s: %v", id, err)
		}
	}
}

// Each control refuses with its own code and rule; the message has an id
// whose stream says why; nothing stays held; a passing message goes out
// with the sender its network's rewrite gives it.
func TestControlsRefuseWithCodesAndAudit(t *testing.T) {
	ctx := context.Background()
	svc, _ := controlled(t, ledgertest.MemStore(t))
	submit := func(from, to, text string) (ledger.Accepted, error) {
		return svc.Submit(ctx, "acme", accept.Request{Channel: "http", From: from, To: to, Text: text})
	}
	for _, tc := range []struct {
		from, to, text string
		code           ledger.Code
		rule           string
	}{
		{"Spammer", "+4930111", "hi", ledger.CodeSenderNotAllowed, "tenant sender_allow"},
		{"acme", "+4930112", "Visit the CASINO", ledger.CodeContentBlocked, "tenant keyword: casino"},
		{"acme", "+4930113", "You win 100 EUR", ledger.CodeContentBlocked, `tenant pattern: (?i)win\s+\d+`},
		{"acme", "+4930114", "a Payday Loan for you", ledger.CodeContentBlocked, "global keyword: payday loan"},
		{"acme", "+4930115", "see https://x.bit.ly/abc", ledger.CodeContentBlocked, "global url_domain: bit.ly"},
	} {
		_, err := submit(tc.from, tc.to, tc.text)
		id, ok := ledger.RefusedMessageID(err)
		if ledger.CodeOf(err) != tc.code || !ok || id == uuid.Nil || !strings.Contains(err.Error(), tc.rule) {
			t.Errorf("%q from %q: %v (code %s), want %s", tc.text, tc.from, err, ledger.CodeOf(err), tc.code)
			continue
		}
		v, data := refusedTrail(t, svc, "acme", id)
		if v.State != ledger.StateRefused || v.Refusal == nil || v.Refusal.Code != string(tc.code) || v.Refusal.Rule != tc.rule ||
			v.From != tc.from || v.To != strings.TrimPrefix(tc.to, "+") || v.Channel != "http" {
			t.Errorf("view of %s: %+v %+v", tc.code, v, v.Refusal)
		}
		if data["code"] != string(tc.code) || data["rule"] != tc.rule || data["tenant_id"] != "acme" {
			t.Errorf("SubmitRefused: %v", data)
		}
		if _, err := svc.Message(ctx, "other", id); !errors.Is(err, ledger.ErrNotFound) {
			t.Errorf("another tenant reads a refused message: %v", err)
		}
	}
	if b, _ := svc.Balance("acme"); b.Held != "0" || b.Available != "10" {
		t.Errorf("refusals hold nothing: %+v", b)
	}

	// Passing: the sender rewritten on network 26201 only.
	for to, from := range map[string]string{"+4915112345678": "4915100000", "+4930123456": "ACME"} {
		acc, err := submit("ACME", to, "Your code is 1234")
		if err != nil {
			t.Fatal(err)
		}
		if v, err := svc.Message(ctx, "acme", acc.MessageID); err != nil || v.From != from || v.State == ledger.StateRefused {
			t.Errorf("to %s: %+v %v, want from %s", to, v, err, from)
		}
	}
	// Another tenant has none of acme's rules, only the global ones.
	if _, err := svc.Submit(ctx, "other", accept.Request{From: "Spammer", To: "+4930111", Text: "casino"}); err != nil {
		t.Errorf("other tenant: %v", err)
	}
	if _, err := svc.Submit(ctx, "other", accept.Request{From: "x", To: "+4930111", Text: "bit.ly/x"}); ledger.CodeOf(err) != ledger.CodeContentBlocked {
		t.Errorf("other tenant, global rule: %v", err)
	}
}

// The duplicate window refuses the same destination and text until it
// ends; the rate limit refuses the destination's messages past its count
// until its window ends; neither counts refused or undurable messages.
func TestControlsWindows(t *testing.T) {
	ctx := context.Background()
	svc, clock := controlled(t, ledgertest.MemStore(t))
	submit := func(to, text string) error {
		_, err := svc.Submit(ctx, "acme", accept.Request{From: "ACME", To: to, Text: text})
		return err
	}
	if err := submit("+4930100", "hello"); err != nil {
		t.Fatal(err)
	}
	err := submit("+4930100", "hello")
	if ledger.CodeOf(err) != ledger.CodeDuplicateMessage || !strings.Contains(err.Error(), "tenant duplicate_window: 300s") {
		t.Fatalf("duplicate: %v", err)
	}
	id, _ := ledger.RefusedMessageID(err)
	if v, _ := refusedTrail(t, svc, "acme", id); v.Refusal.Code != "duplicate_message" {
		t.Errorf("duplicate's view: %+v", v)
	}
	for _, text := range []string{"hello again", "third"} { // the duplicate took no rate count
		if err := submit("+4930100", text); err != nil {
			t.Fatalf("%q: %v", text, err)
		}
	}
	err = submit("+4930100", "fourth")
	if ledger.CodeOf(err) != ledger.CodeDestinationRateLimited || !strings.Contains(err.Error(), "3 per 60s") {
		t.Fatalf("over the rate limit: %v", err)
	}
	if err := submit("+4930101", "fourth"); err != nil { // another destination
		t.Fatal(err)
	}
	if err := submit("+4930100", "Casino fourth"); ledger.CodeOf(err) != ledger.CodeContentBlocked {
		t.Fatalf("a rule before the limits: %v", err)
	}
	clock.Advance(61 * time.Second) // the rate window ends, the duplicate one does not
	if err := submit("+4930100", "fourth"); err != nil {
		t.Fatalf("after the rate window: %v", err)
	}
	if err := submit("+4930100", "hello"); ledger.CodeOf(err) != ledger.CodeDuplicateMessage {
		t.Fatalf("still a duplicate: %v", err)
	}
	clock.Advance(240 * time.Second)
	if err := submit("+4930100", "hello"); err != nil {
		t.Fatalf("after the duplicate window: %v", err)
	}

}

// failingMessages fails every append to a message stream.
type failingMessages struct{ eventstore.Store }

func (f failingMessages) Append(ctx context.Context, stream string, exp eventstore.ExpectedVersion, evs ...eventstore.EventData) (eventstore.AppendResult, error) {
	if strings.HasPrefix(stream, "message-") {
		return eventstore.AppendResult{}, errors.New("disk on fire")
	}
	return f.Store.Append(ctx, stream, exp, evs...)
}

// A message that could not be made durable is no duplicate of its retry
// and takes nothing from the rate limit; a refusal whose audit event
// cannot be written is still a refusal (and counted).
func TestControlsGiveBackWhenNotAccepted(t *testing.T) {
	ctx := context.Background()
	svc, _ := controlled(t, failingMessages{ledgertest.MemStore(t)})
	for i := range 5 {
		_, err := svc.Submit(ctx, "acme", accept.Request{From: "ACME", To: "+4930100", Text: "hello"})
		if !errors.Is(err, ledger.ErrNotDurable) {
			t.Fatalf("try %d: %v, want not durable", i, err)
		}
	}
	_, err := svc.Submit(ctx, "acme", accept.Request{From: "ACME", To: "+4930100", Text: "casino"})
	if ledger.CodeOf(err) != ledger.CodeContentBlocked {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); svc.RefusalAuditDropped() != 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("audit drops: %d", svc.RefusalAuditDropped())
		}
	}
}

// Configuration: each document reads back as set, bad input names the
// field, and a new ledger on the same log has the rules and the open
// windows again.
func TestControlsConfigAndRestart(t *testing.T) {
	ctx := context.Background()
	store := ledgertest.MemStore(t)
	svc, _ := controlled(t, store)
	c, err := svc.TenantControls("acme")
	if err != nil || c.DestRateLimit != (ledger.DestRateLimit{Count: 3, WindowS: 60}) || c.DuplicateWindowS != 300 ||
		len(c.Keywords) != 1 || c.SenderRewrites[0].To != "4915100000" {
		t.Fatalf("acme's controls: %+v %v", c, err)
	}
	if g := svc.GlobalControls(); len(g.Keywords) != 1 || g.URLDomains[0] != "bit.ly" {
		t.Fatalf("global: %+v", g)
	}
	if c, err := svc.TenantControls("other"); err != nil || c.DuplicateWindowS != 0 || c.Keywords != nil {
		t.Fatalf("other's controls: %+v %v", c, err)
	}
	for _, tc := range []struct {
		c     ledger.TenantControls
		field string
	}{
		{ledger.TenantControls{Rules: controls.Rules{Patterns: []string{"ok", "(x"}}}, "patterns[1]"},
		{ledger.TenantControls{Rules: controls.Rules{URLDomains: []string{"http://x.com"}}}, "url_domains[0]"},
		{ledger.TenantControls{DestRateLimit: ledger.DestRateLimit{Count: 5}}, "dest_rate_limit.window_s"},
		{ledger.TenantControls{DestRateLimit: ledger.DestRateLimit{Count: -1, WindowS: 5}}, "dest_rate_limit.count"},
		{ledger.TenantControls{DuplicateWindowS: ledger.MaxControlWindowS + 1}, "duplicate_window_s"},
	} {
		_, err := svc.SetTenantControls(ctx, "acme", tc.c)
		var ve *ledger.ValidationError
		if !errors.As(err, &ve) || ve.Field != tc.field || ledger.CodeOf(err) != ledger.CodeInvalid {
			t.Errorf("%+v: %v, want a validation error of %s", tc.c, err, tc.field)
		}
	}
	if _, err := svc.SetGlobalControls(ctx, controls.Rules{Keywords: []string{""}}); ledger.CodeOf(err) != ledger.CodeInvalid {
		t.Errorf("global empty keyword: %v", err)
	}
	if _, err := svc.SetTenantControls(ctx, "ghost", ledger.TenantControls{}); !errors.Is(err, ledger.ErrNotFound) {
		t.Errorf("unknown tenant: %v", err)
	}
	if _, err := svc.Submit(ctx, "acme", accept.Request{From: "ACME", To: "+4930100", Text: "hello"}); err != nil {
		t.Fatal(err)
	}

	// A new ledger on the same log, on real time (the accept above is
	// at the test clock's 2026-12-06 12:00 and now is earlier or later,
	// so use a clock right after it).
	clock := ledgertest.NewClock()
	clock.Advance(time.Second)
	again := ledgertest.Start(t, store, ledger.Options{Clock: clock.Now})
	if c2, _ := again.TenantControls("acme"); c2.DuplicateWindowS != 300 || len(c2.Patterns) != 1 {
		t.Fatalf("controls after a restart: %+v", c2)
	}
	_, err = again.Submit(ctx, "acme", accept.Request{From: "ACME", To: "+4930100", Text: "hello"})
	if ledger.CodeOf(err) != ledger.CodeDuplicateMessage {
		t.Fatalf("a duplicate after a restart: %v", err)
	}
	if _, err := again.Submit(ctx, "acme", accept.Request{From: "x", To: "+4930100", Text: "new"}); ledger.CodeOf(err) != ledger.CodeSenderNotAllowed {
		t.Fatalf("rules after a restart: %v", err)
	}
	// Clearing the document lifts every control.
	if _, err := again.SetTenantControls(ctx, "acme", ledger.TenantControls{}); err != nil {
		t.Fatal(err)
	}
	if _, err := again.Submit(ctx, "acme", accept.Request{From: "x", To: "+4930100", Text: "hello"}); err != nil {
		t.Fatalf("after clearing: %v", err)
	}
}

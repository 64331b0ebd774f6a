package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/smsledger/smsledger/domain/accept"
	"github.com/smsledger/smsledger/domain/controls"
	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/domain/ids"
	"github.com/smsledger/smsledger/eventstore"
)

// Controls before a message is accepted (issue 17, item 5).
//
// The sender and content rules are domain/controls Sets compiled by the
// follower from TenantControlsChanged (tenant-<id>) and
// GlobalControlsChanged (stream "controls") into the configuration
// snapshot, so the hot path checks them without a lock. The
// per-destination rate limit and the duplicate window are a tenant's
// settings in the same document; their counters are the bounded windows of
// controls_limits.go, shared by every snapshot.
//
// Submit checks a message after accept.DecideInto (the destination's network
// is known then, for the sender rewrites) and before its events are
// built: a refusal gives the hold back at once, so nothing was ever
// accepted, and returns a *RefusedError carrying the message id; the
// message's stream then gets SubmitRefused (appended behind the answer,
// never delaying it) so GET /v1/messages/{id} and its events say why.

// StateRefused is the state of a message a control refused (MessageView).
const StateRefused = "refused"

// Bounds of a tenant's stateful controls. A window longer than a day
// would keep more than a day of traffic in memory for little gain.
const (
	MaxControlWindowS = 24 * 3600
	MaxDestRateCount  = 1_000_000
)

// DestRateLimit is a tenant's per-destination rate limit: at most Count
// messages to one destination number in a window of WindowS seconds that
// opens with the first of them (zero: off).
type DestRateLimit struct {
	Count   int
	WindowS int
}

// TenantControls is a tenant's controls document: its sender and content
// rules, its per-destination rate limit and its duplicate window (the
// same destination and text within DuplicateWindowS seconds is refused;
// 0: off).
type TenantControls struct {
	controls.Rules
	DestRateLimit    DestRateLimit
	DuplicateWindowS int
}

// RefusedError is a submit a control refused. The message has an id, and
// its stream gets SubmitRefused (the audit trail), but it was never
// accepted: nothing is held or sent.
type RefusedError struct {
	MessageID uuid.UUID
	Verdict   controls.Verdict
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("message %s refused: %v (%s)", e.MessageID, e.Verdict.Refusal.Err(), e.Verdict)
}

// Unwrap is the refusal's error (controls.ErrContentBlocked, ...).
func (e *RefusedError) Unwrap() error { return e.Verdict.Refusal.Err() }

// RefusedMessageID is the id of the message a control refused, if err is
// such a refusal (adapters give it to the tenant to look the message up).
func RefusedMessageID(err error) (uuid.UUID, bool) {
	var re *RefusedError
	if errors.As(err, &re) {
		return re.MessageID, true
	}
	return uuid.Nil, false
}

// SetTenantControls replaces a tenant's controls document and returns it
// as in force.
func (s *Service) SetTenantControls(ctx context.Context, tenantID string, c TenantControls) (TenantControls, error) {
	if _, err := s.tenant(tenantID); err != nil {
		return TenantControls{}, err
	}
	if _, err := compileRules(c.Rules); err != nil {
		return TenantControls{}, err
	}
	rate, err := validDestRate(c.DestRateLimit)
	if err != nil {
		return TenantControls{}, err
	}
	if c.DuplicateWindowS < 0 || c.DuplicateWindowS > MaxControlWindowS {
		return TenantControls{}, invalid("duplicate_window_s", "must be 0 (off) to %d", MaxControlWindowS)
	}
	e := events.TenantControlsChanged{TenantID: tenantID, DestRateCount: rate.Count, DestRateWindowS: rate.WindowS,
		DuplicateWindowS: c.DuplicateWindowS, At: s.clock().UTC()}
	e.SenderAllow, e.SenderRewrites, e.Keywords, e.Patterns, e.URLDomains = rulesEvent(c.Rules)
	if _, err := s.appendConfig(ctx, events.TenantStream(tenantID), eventstore.StreamExists, nil, e); err != nil {
		return TenantControls{}, fmt.Errorf("set controls of %q: %w", tenantID, err)
	}
	return s.TenantControls(tenantID)
}

// TenantControls returns a tenant's controls document.
func (s *Service) TenantControls(tenantID string) (TenantControls, error) {
	t, err := s.tenant(tenantID)
	if err != nil {
		return TenantControls{}, err
	}
	return TenantControls{Rules: t.controls.Rules(), DestRateLimit: t.DestRate, DuplicateWindowS: t.DuplicateWindowS}, nil
}

// SetGlobalControls replaces the rules every tenant's messages pass and
// returns them as in force.
func (s *Service) SetGlobalControls(ctx context.Context, r controls.Rules) (controls.Rules, error) {
	if _, err := compileRules(r); err != nil {
		return controls.Rules{}, err
	}
	e := events.GlobalControlsChanged{At: s.clock().UTC()}
	e.SenderAllow, e.SenderRewrites, e.Keywords, e.Patterns, e.URLDomains = rulesEvent(r)
	if _, err := s.appendConfig(ctx, events.ControlsStreamName, eventstore.Any, nil, e); err != nil {
		return controls.Rules{}, fmt.Errorf("set global controls: %w", err)
	}
	return s.GlobalControls(), nil
}

// GlobalControls returns the rules every tenant's messages pass.
func (s *Service) GlobalControls() controls.Rules {
	return s.state.Load().controls.Rules()
}

// compileRules compiles rules, a bad rule being a *ValidationError naming
// it ("patterns[2]").
func compileRules(r controls.Rules) (*controls.Set, error) {
	set, err := controls.Compile(r)
	var re *controls.RuleError
	if errors.As(err, &re) {
		return nil, invalid(re.Field, "%s", re.Message)
	}
	if err != nil {
		return nil, invalid("controls", "%v", err)
	}
	if set.Empty() {
		return nil, nil // the hot path skips a tenant without rules at once
	}
	return set, nil
}

func validDestRate(r DestRateLimit) (DestRateLimit, error) {
	if r.Count == 0 {
		return DestRateLimit{}, nil
	}
	if r.Count < 0 || r.Count > MaxDestRateCount {
		return DestRateLimit{}, invalid("dest_rate_limit.count", "must be 0 (off) to %d", MaxDestRateCount)
	}
	if r.WindowS < 1 || r.WindowS > MaxControlWindowS {
		return DestRateLimit{}, invalid("dest_rate_limit.window_s", "must be 1 to %d seconds", MaxControlWindowS)
	}
	return r, nil
}

func rulesEvent(r controls.Rules) (allow []string, rw []events.SenderRewrite, kw, pat, dom []string) {
	rw = make([]events.SenderRewrite, len(r.SenderRewrites))
	for i, x := range r.SenderRewrites {
		rw[i] = events.SenderRewrite{MCCMNC: x.MCCMNC, From: x.From, To: x.To}
	}
	orEmpty := func(s []string) []string {
		if s == nil {
			return []string{}
		}
		return s
	}
	return orEmpty(r.SenderAllow), rw, orEmpty(r.Keywords), orEmpty(r.Patterns), orEmpty(r.URLDomains)
}

func rulesOf(allow []string, rw []events.SenderRewrite, kw, pat, dom []string) controls.Rules {
	r := controls.Rules{SenderAllow: allow, Keywords: kw, Patterns: pat, URLDomains: dom}
	for _, x := range rw {
		r.SenderRewrites = append(r.SenderRewrites, controls.Rewrite{MCCMNC: x.MCCMNC, From: x.From, To: x.To})
	}
	return r
}

// tenantControlsChanged compiles a tenant's new rules into its snapshot;
// rules this build refuses (a log written by another) are skipped.
func (f *follower) tenantControlsChanged(cur, orig *state, e events.TenantControlsChanged) *state {
	old, ok := cur.tenants[e.TenantID]
	if !ok {
		return cur
	}
	set, err := compileRules(rulesOf(e.SenderAllow, e.SenderRewrites, e.Keywords, e.Patterns, e.URLDomains))
	if err != nil {
		f.s.log.Error("ledger: invalid TenantControlsChanged skipped", "tenant", e.TenantID, "err", err)
		return cur
	}
	nt := *old
	nt.controls = set
	nt.DestRate, _ = validDestRate(DestRateLimit{Count: e.DestRateCount, WindowS: e.DestRateWindowS})
	nt.DuplicateWindowS = clampValidity(e.DuplicateWindowS, MaxControlWindowS)
	return withTenant(cur, orig, &nt)
}

// globalControlsChanged compiles the new global rules into the snapshot.
func (f *follower) globalControlsChanged(cur, orig *state, e events.GlobalControlsChanged) *state {
	set, err := compileRules(rulesOf(e.SenderAllow, e.SenderRewrites, e.Keywords, e.Patterns, e.URLDomains))
	if err != nil {
		f.s.log.Error("ledger: invalid GlobalControlsChanged skipped", "err", err)
		return cur
	}
	cur = mutable(cur, orig)
	cur.controls = set
	return cur
}

// replayControls, while the follower replays the log, counts an accepted
// message in the windows of its tenant's rate limit and duplicate window
// that are still open, so that a restart forgets neither. Live, Submit
// counts its own messages.
func (f *follower) replayControls(cur *state, e events.MessageAccepted) {
	if f.live {
		return
	}
	if t, ok := cur.tenants[e.TenantID]; ok {
		cur.limits.record(t, e.To, e.Text, e.At, f.s.clock())
	}
}

// control runs the controls on a message DecideOn accepted (and held):
// the rules, then the stateful limits. It returns what it took from the
// limits, for the caller to give back should the message not be accepted
// after all; on a refusal it gives the hold back, has SubmitRefused
// appended behind the answer and returns a *RefusedError. A message that
// passes goes out with the sender a rewrite gave it.
func (s *Service) control(t *tenantSnap, st *state, tenant *accept.Tenant, d *accept.Decision, req *accept.Request, now time.Time) (ticket, error) {
	from, v := controls.Check(st.controls, t.controls, req.From, d.Network.Code, req.Text)
	var tk ticket
	var err error
	if !v.Refused() {
		tk, v, err = st.limits.take(t, d.To, req.Text, now)
	}
	if err == nil && !v.Refused() {
		req.From = from
		return tk, nil
	}
	if uerr := accept.Undo(tenant, d); uerr != nil {
		panic(fmt.Sprintf("ledger: undo hold of refused message %s: %v", req.MessageID, uerr)) // the hold was ours
	}
	if err != nil {
		return ticket{}, err
	}
	s.auditRefusal(st.limits, events.SubmitRefused{MessageID: req.MessageID, TenantID: t.accept.ID, Channel: req.Channel,
		From: req.From, To: d.To, Code: string(v.Refusal), Rule: v.String(), At: now.UTC()})
	return ticket{}, &RefusedError{MessageID: req.MessageID, Verdict: v}
}

// refusalAuditMax bounds the SubmitRefused appends in flight: past it a
// refusal's audit event is dropped (and counted) rather than queued
// without bound while the store is slow; the refusal itself stands.
const refusalAuditMax = 10_000

// auditRefusal appends e to its message's stream behind the refusal's
// answer, in a goroutine of its own (at most refusalAuditMax at once).
func (s *Service) auditRefusal(l *limits, e events.SubmitRefused) {
	if l.auditPending.Add(1) > refusalAuditMax {
		l.auditPending.Add(-1)
		l.auditDropped.Add(1)
		return
	}
	go func() {
		defer l.auditPending.Add(-1)
		if err := s.appendRefusal(e); err != nil {
			l.auditDropped.Add(1)
			s.log.Warn("ledger: refused message's audit event not recorded", "message", e.MessageID, "code", e.Code, "err", err)
		}
	}()
}

func (s *Service) appendRefusal(e events.SubmitRefused) error {
	typ, b, err := events.Encode(e)
	if err != nil {
		return err
	}
	id := e.MessageID
	data := eventstore.EventData{ID: ids.TimeOrdered(id, uuid.NewSHA1(id, []byte(events.TypeSubmitRefused))), Type: typ, Data: b,
		Metadata: eventstore.Metadata{CorrelationID: id, CausationID: id}}
	ctx, cancel := context.WithTimeout(context.Background(), appendTimeout)
	defer cancel()
	_, err = s.store.Append(ctx, events.MessageStream(id), eventstore.NoStream, data)
	return err
}

// RefusalAuditDropped counts the refused messages whose SubmitRefused was
// not recorded (too many appends in flight, or the store failed).
func (s *Service) RefusalAuditDropped() uint64 { return s.state.Load().limits.auditDropped.Load() }

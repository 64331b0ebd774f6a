package ledger_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	secretadapter "github.com/smsledger/smsledger/adapters/secret"
	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/domain/ledger"
	"github.com/smsledger/smsledger/domain/ledger/ledgertest"
)

func TestWebhookConfiguration(t *testing.T) {
	ctx := context.Background()
	store := ledgertest.MemStore(t)
	sealer, err := secretadapter.NewAESGCMSealer([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	svc := ledgertest.Start(t, store, ledger.Options{Sealer: sealer})
	ledgertest.Setup(t, svc, "acme")

	const secret = "whsec-0123456789abcdef"
	for _, c := range []struct{ url, secret, field string }{
		{"", secret, "url"},
		{"ftp://hooks.example.com/dlr", secret, "url"},
		{"/relative/path", secret, "url"},
		{"https://", secret, "url"},
		{"https://user:pw@hooks.example.com/dlr", secret, "url"},
		{"https://hooks.example.com/dlr#frag", secret, "url"},
		{"https://hooks.example.com:99999/dlr", secret, "url"},
		{"https://hooks.example.com/" + strings.Repeat("a", ledger.WebhookURLMax), secret, "url"},
		{"https://hooks.example.com/dlr", "short", "secret"},
		{"https://hooks.example.com/dlr", strings.Repeat("s", ledger.WebhookSecretMax+1), "secret"},
	} {
		err := svc.SetWebhook(ctx, "acme", c.url, c.secret)
		var ve *ledger.ValidationError
		if !errors.As(err, &ve) || ve.Field != c.field {
			t.Errorf("SetWebhook(%q, %d-byte secret) = %v, want invalid %s", c.url, len(c.secret), err, c.field)
		}
	}
	if err := svc.SetWebhook(ctx, "nobody", "https://hooks.example.com/dlr", secret); !errors.Is(err, ledger.ErrNotFound) {
		t.Errorf("webhook of unknown tenant: %v", err)
	}
	if _, _, ok := svc.Webhook("acme"); ok {
		t.Fatal("webhook before any was set")
	}
	if err := svc.RemoveWebhook(ctx, "acme"); err != nil {
		t.Fatalf("removing no webhook: %v", err)
	}

	if err := svc.SetWebhook(ctx, "acme", "http://127.0.0.1:8081/dlr?t=1", secret); err != nil {
		t.Fatal(err)
	}
	if u, s, ok := svc.Webhook("acme"); !ok || u != "http://127.0.0.1:8081/dlr?t=1" || s != secret {
		t.Fatalf("Webhook = %q %q %v", u, s, ok)
	}
	// The secret is sealed in the log, never in clear.
	recs, err := store.ReadStream(ctx, events.TenantStream("acme"), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range recs {
		if strings.Contains(string(r.Data), secret) {
			t.Fatalf("secret in clear in %s: %s", r.Type, r.Data)
		}
		found = found || r.Type == events.TypeWebhookSet
	}
	if !found {
		t.Fatal("no WebhookSet in the tenant stream")
	}

	// A restart rebuilds it from the log (same seal key).
	again := ledgertest.Start(t, store, ledger.Options{Sealer: sealer})
	if u, s, ok := again.Webhook("acme"); !ok || u != "http://127.0.0.1:8081/dlr?t=1" || s != secret {
		t.Fatalf("after restart: Webhook = %q %q %v", u, s, ok)
	}
	// Another seal key cannot open it: not in force (logged).
	other, _ := secretadapter.NewAESGCMSealer([]byte(strings.Repeat("x", 32)))
	if _, _, ok := ledgertest.Start(t, store, ledger.Options{Sealer: other}).Webhook("acme"); ok {
		t.Fatal("webhook in force although its secret cannot be opened")
	}

	if err := svc.RemoveWebhook(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := svc.Webhook("acme"); ok {
		t.Fatal("webhook still set after removal")
	}
}

package ledger

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/domain/message"
	"github.com/smsledger/smsledger/eventstore"
)

// Limits of a tenant's DLR webhook.
const (
	WebhookURLMax     = 2048
	WebhookSecretMin  = 16
	WebhookSecretMax  = 256
	webhookSchemeHTTP = "http"
)

// webhookConf is a tenant's webhook in the snapshot. The secret is opened
// once, when the follower applies WebhookSet, so the sender's lookup is a
// map read; it lives only in memory.
type webhookConf struct {
	URL    string
	Secret string
}

// ValidateWebhookURL checks a webhook URL: absolute http or https, a host,
// no user info (credentials in a URL would enter the log in clear), no
// fragment, at most WebhookURLMax bytes.
func ValidateWebhookURL(raw string) error {
	if raw == "" || len(raw) > WebhookURLMax {
		return invalid("url", "must be 1-%d bytes", WebhookURLMax)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return invalid("url", "does not parse: %v", err)
	}
	if u.Scheme != "https" && u.Scheme != webhookSchemeHTTP {
		return invalid("url", "must be an absolute https:// or http:// URL")
	}
	if u.Host == "" || u.Hostname() == "" {
		return invalid("url", "must name a host")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return invalid("url", "has an invalid port")
		}
	}
	if u.User != nil {
		return invalid("url", "must not carry user info; authenticate by the signature")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return invalid("url", "must not have a fragment")
	}
	if strings.ContainsAny(raw, " \t\r\n") {
		return invalid("url", "must not contain whitespace")
	}
	return nil
}

// SetWebhook sets (replaces) the URL a tenant's final DLRs are POSTed to
// and the secret they are signed with (HMAC-SHA256). The secret is sealed
// with Options.Sealer before it is recorded (WebhookSet); it is never in the
// log in clear. While set, the webhook replaces the tenant's SMPP receiver
// binds as its DLR channel.
func (s *Service) SetWebhook(ctx context.Context, tenantID, rawURL, secret string) error {
	if _, err := s.tenant(tenantID); err != nil {
		return err
	}
	if err := ValidateWebhookURL(rawURL); err != nil {
		return err
	}
	if len(secret) < WebhookSecretMin || len(secret) > WebhookSecretMax {
		return invalid("secret", "must be %d-%d bytes", WebhookSecretMin, WebhookSecretMax)
	}
	sealed, err := s.sealer.Seal([]byte(secret))
	if err != nil {
		return fmt.Errorf("seal webhook secret: %w", err)
	}
	_, err = s.appendConfig(ctx, events.TenantStream(tenantID), eventstore.StreamExists, nil, events.WebhookSet{
		TenantID: tenantID, URL: rawURL, SecretSealed: sealed, At: s.clock().UTC(),
	})
	if err != nil {
		return fmt.Errorf("set webhook of %q: %w", tenantID, err)
	}
	return nil
}

// RemoveWebhook removes a tenant's webhook (WebhookRemoved); DLRs go to
// its SMPP receiver binds again. Removing none records nothing.
func (s *Service) RemoveWebhook(ctx context.Context, tenantID string) error {
	t, err := s.tenant(tenantID)
	if err != nil {
		return err
	}
	if t.Webhook.URL == "" {
		return nil
	}
	_, err = s.appendConfig(ctx, events.TenantStream(tenantID), eventstore.StreamExists, nil, events.WebhookRemoved{
		TenantID: tenantID, At: s.clock().UTC(),
	})
	if err != nil {
		return fmt.Errorf("remove webhook of %q: %w", tenantID, err)
	}
	return nil
}

// Webhook returns the tenant's DLR webhook URL and signing secret; ok is
// false when the tenant has none (or its secret cannot be opened with this
// process's seal key, which is logged when the event is applied).
func (s *Service) Webhook(tenantID string) (url, secret string, ok bool) {
	t, found := s.state.Load().tenants[tenantID]
	if !found || t.Webhook.URL == "" {
		return "", "", false
	}
	return t.Webhook.URL, t.Webhook.Secret, true
}

// applyWebhook folds WebhookSet/WebhookRemoved into the tenant snapshot.
func (f *follower) applyWebhook(cur, orig *state, ev events.Event) *state {
	var (
		tenantID string
		conf     webhookConf
	)
	switch e := ev.(type) {
	case events.WebhookSet:
		tenantID = e.TenantID
		secret, err := f.s.sealer.Open(e.SecretSealed)
		if err != nil {
			// Not usable here: DLRs keep going to SMPP receiver binds.
			f.s.log.Error("ledger: webhook secret cannot be opened (check --seal-key-file); webhook not in force",
				"tenant", e.TenantID, "err", err)
		} else {
			conf = webhookConf{URL: e.URL, Secret: string(secret)}
		}
	case events.WebhookRemoved:
		tenantID = e.TenantID
	default:
		return cur
	}
	old, ok := cur.tenants[tenantID]
	if !ok {
		return cur
	}
	cur = mutable(cur, orig)
	cur.tenants = cloneMap(cur.tenants)
	nt := *old
	nt.Webhook = conf
	cur.tenants[tenantID] = &nt
	return cur
}

// FinalReport is what a tenant is told about a finished message: the
// final status (the DLR's stat, or EXPIRED/UNDELIV for a message that never
// got one), the supplier's error code if any, parts, price and when it
// ended.
type FinalReport struct {
	MessageID uuid.UUID
	TenantID  string
	Status    string
	ErrorCode string
	Parts     int
	Price     string
	Currency  string
	DoneAt    time.Time
}

// FinalReport reads a finished message's stream and returns its final
// report. A message that is not final yet has Status "" (callers forward
// only final messages); an unknown one is ErrNotFound.
func (s *Service) FinalReport(ctx context.Context, id uuid.UUID) (FinalReport, error) {
	_, evs, err := s.readMessage(ctx, "", id)
	if err != nil {
		return FinalReport{}, err
	}
	m, err := message.Rebuild(evs)
	if err != nil {
		return FinalReport{}, fmt.Errorf("message %s: %w", id, err)
	}
	r := FinalReport{MessageID: id, TenantID: m.TenantID, Parts: m.Parts, Price: m.Price.String(), Currency: string(m.Currency)}
	if !m.State.Terminal() {
		return r, nil
	}
	r.Status = m.ReceiptStatus()
	for _, e := range evs {
		switch e := e.(type) {
		case events.DeliveryReported:
			if message.DLRFinal(e.Status) {
				r.ErrorCode, r.DoneAt = e.ErrorCode, e.DoneAt
				if r.DoneAt.IsZero() {
					r.DoneAt = e.At
				}
			}
		case events.MessageExpired:
			r.DoneAt = e.At
		case events.MessageFailed:
			r.DoneAt = e.At
		}
	}
	return r, nil
}

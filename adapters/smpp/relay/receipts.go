package relay

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/smsledger/smsledger/adapters/smpp/receipt"
	"github.com/smsledger/smsledger/adapters/smpp/server"
	"github.com/smsledger/smsledger/adapters/webhook"
	"github.com/smsledger/smsledger/domain/lifecycle"
	"github.com/smsledger/smsledger/domain/message"
)

// Final DLRs to tenants: the lifecycle's ReceiptSink.
//
// A tenant with a webhook (ledger.Service.Webhook) gets its final DLRs
// there instead of on its SMPP receiver binds: one channel per tenant, so
// the DLR is recorded once (DeliveryForwarded) with an unambiguous meaning
// — "the tenant's chosen channel took it". The webhook sender retries with
// backoff on its own workers and reports its end:
//
//   - delivered (2xx): Delivered, recorded exactly as on the SMPP path;
//   - refused permanently (e.g. 400, 404, 410): logged as an error and
//     Refused — recorded as forwarded too, since retrying cannot change it;
//   - retries exhausted or the sender stopped: NotDelivered; the message
//     stays pending in the ledger and a later pass hands it over again
//     (after the sender's RecentFor pause).
type receiptSink struct{ r *Relay }

// Ready: the tenant has a webhook or a receiver bind.
func (s receiptSink) Ready(tenantID string) bool {
	if s.webhook(tenantID) {
		return true
	}
	srv := s.r.server()
	return srv != nil && srv.ReceiverBinds(tenantID) > 0
}

// ReceiverTenants lists the tenants this node can deliver DLRs to over
// SMPP now (receiver binds). Tenants with a webhook are served by any node
// and are not listed.
func (r *Relay) ReceiverTenants() []string {
	srv := r.server()
	if srv == nil {
		return nil
	}
	return srv.ReceiverTenants()
}

// HasReceiver reports whether the tenant has a receiver bind on this node.
func (r *Relay) HasReceiver(tenantID string) bool {
	srv := r.server()
	return srv != nil && srv.ReceiverBinds(tenantID) > 0
}

func (s receiptSink) webhook(tenantID string) bool {
	if s.r.opts.Webhooks == nil {
		return false
	}
	_, _, ok := s.r.svc.Webhook(tenantID)
	return ok
}

// Deliver sends rc on the tenant's webhook, or else as a deliver_sm on one
// of its receiver binds.
func (s receiptSink) Deliver(ctx context.Context, rc lifecycle.Receipt, done func(lifecycle.Outcome)) error {
	w := &rc.Work
	m := &w.Message
	if s.webhook(m.TenantID) {
		return s.deliverWebhook(ctx, rc, done)
	}
	srv := s.r.server()
	if srv == nil {
		return lifecycle.ErrNoReceiver
	}
	dlr := receipt.Receipt{
		ID: m.ID.String(), Sub: 1, Dlvrd: boolInt(rc.Stat == message.DLRDelivered),
		SubmitDate: w.AcceptedAt, DoneDate: rc.DoneAt, Stat: rc.Stat, Err: "000",
		Text: firstRunes(w.Text, 20), State: receipt.StateOf(rc.Stat),
	}
	dctx, cancel := context.WithTimeout(ctx, deliverTimeout)
	defer cancel()
	err := srv.DeliverReceipt(dctx, m.TenantID, server.DLR{Receipt: dlr, Source: w.To, Dest: w.From})
	if errors.Is(err, server.ErrNoReceiverBind) {
		return fmt.Errorf("%w: %w", lifecycle.ErrNoReceiver, err)
	}
	return err
}

// deliverTimeout bounds one deliver_sm to a tenant.
const deliverTimeout = 15 * time.Second

// deliverWebhook queues rc for the tenant's webhook.
func (s receiptSink) deliverWebhook(ctx context.Context, rc lifecycle.Receipt, done func(lifecycle.Outcome)) error {
	m := &rc.Work.Message
	url, secret, ok := s.r.svc.Webhook(m.TenantID)
	if !ok {
		return lifecycle.ErrNoReceiver
	}
	rep, err := s.r.svc.FinalReport(ctx, m.ID)
	if err != nil {
		return fmt.Errorf("DLR for webhook not readable: %w", err)
	}
	if rep.Status == "" {
		return errors.New("DLR for webhook not readable: no final status yet")
	}
	d := webhook.Delivery{
		Tenant: m.TenantID, // its own queue: a tenant whose endpoint hangs holds up no other
		URL:    url, Secret: secret,
		DLR: webhook.DLR{MessageID: m.ID.String(), Status: rep.Status, State: string(m.State), ClientRef: rc.Work.ClientRef,
			Error: rep.ErrorCode, Parts: rep.Parts,
			Price: rep.Price, Currency: rep.Currency, DoneAt: rep.DoneAt.UTC()},
		Done: func(res webhook.Result) { done(s.webhookOutcome(rc, res)) },
	}
	switch err := s.r.opts.Webhooks.Enqueue(d); {
	case err == nil, errors.Is(err, webhook.ErrPending), errors.Is(err, webhook.ErrRecent):
		return lifecycle.ErrDeliveryPending
	case errors.Is(err, webhook.ErrQueueFull), errors.Is(err, webhook.ErrClosed):
		s.r.log.Debug("DLR webhook not queued; will retry", "message", m.ID, "err", err)
		return lifecycle.ErrDeliveryPending
	default:
		return fmt.Errorf("DLR webhook not queued: %w", err)
	}
}

// webhookOutcome maps the webhook sender's result (see above).
func (s receiptSink) webhookOutcome(rc lifecycle.Receipt, res webhook.Result) lifecycle.Outcome {
	id, tenant := rc.Work.Message.ID, rc.Work.Message.TenantID
	switch {
	case res.Delivered():
		return lifecycle.Delivered
	case res.Permanent():
		s.r.log.Error("DLR webhook refused permanently; recorded as forwarded, not retried",
			"message", id, "tenant", tenant, "status", res.StatusCode, "attempts", res.Attempts, "err", res.Err)
		return lifecycle.Refused
	case errors.Is(res.Err, webhook.ErrClosed):
		return lifecycle.NotDelivered // stopping: pending in the log, sent after the restart
	default:
		// The lifecycle counts it and logs the tenant's failures with their
		// number, the webhook sender its deliveries given up: not a line per DLR.
		s.r.log.Debug("DLR webhook not delivered; will retry", "message", id, "tenant", tenant, "attempts", res.Attempts, "err", res.Err)
		return lifecycle.NotDelivered
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func firstRunes(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}

package relay

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/smsledger/smsledger/adapters/webhook"
	"github.com/smsledger/smsledger/domain/ledger"
)

// DLRs to tenants' webhooks.
//
// A tenant with a webhook (ledger.Service.Webhook) gets its final DLRs
// there instead of on its SMPP receiver binds: one channel per tenant, so
// the DLR is recorded once (DeliveryForwarded) with an unambiguous meaning
// — "the tenant's chosen channel took it". forward hands the DLR to the
// webhook sender and returns at once (the sender retries with backoff on
// its own workers); when the sender is done:
//
//   - delivered (2xx): DeliveryForwarded is recorded exactly as on the
//     SMPP path, so the DLR is not sent again, even after a restart;
//   - refused permanently (e.g. 400, 404, 410): logged as an error and
//     recorded as forwarded too — the tenant's endpoint refused it and
//     retrying cannot change that; the log line names the status;
//   - retries exhausted or the sender stopped: nothing is recorded; the
//     message stays pending in the ledger and forwardPending hands it to
//     the sender again (after the sender's RecentFor pause).

// hasWebhook reports whether tenantID's DLRs go to a webhook.
func (r *Relay) hasWebhook(tenantID string) bool {
	if r.opts.Webhooks == nil {
		return false
	}
	_, _, ok := r.svc.Webhook(tenantID)
	return ok
}

// forwardWebhook queues the final DLR of w for the tenant's webhook. It
// returns false when the tenant has no webhook (the SMPP path applies).
func (r *Relay) forwardWebhook(ctx context.Context, id uuid.UUID, w ledger.Work) bool {
	if r.opts.Webhooks == nil {
		return false
	}
	url, secret, ok := r.svc.Webhook(w.Message.TenantID)
	if !ok {
		return false
	}
	rep, err := r.svc.FinalReport(ctx, id)
	if err != nil || rep.Status == "" {
		r.log.Warn("DLR for webhook not readable; will retry", "message", id, "err", err)
		return true
	}
	d := webhook.Delivery{
		URL: url, Secret: secret,
		DLR: webhook.DLR{MessageID: id.String(), Status: rep.Status, Error: rep.ErrorCode, Parts: rep.Parts,
			Price: rep.Price, Currency: rep.Currency, DoneAt: rep.DoneAt.UTC()},
		Done: func(res webhook.Result) { r.webhookDone(id, w, res) },
	}
	switch err := r.opts.Webhooks.Enqueue(d); {
	case err == nil, errors.Is(err, webhook.ErrPending), errors.Is(err, webhook.ErrRecent):
	case errors.Is(err, webhook.ErrQueueFull), errors.Is(err, webhook.ErrClosed):
		r.log.Debug("DLR webhook not queued; will retry", "message", id, "err", err)
	default:
		r.log.Warn("DLR webhook not queued; will retry", "message", id, "err", err)
	}
	return true
}

// webhookDone records the outcome of a webhook delivery (see above).
func (r *Relay) webhookDone(id uuid.UUID, w ledger.Work, res webhook.Result) {
	tenant := w.Message.TenantID
	switch {
	case res.Delivered():
		r.opts.Observer.DLRForwarded(time.Since(w.AcceptedAt))
	case res.Permanent():
		r.log.Error("DLR webhook refused permanently; recorded as forwarded, not retried",
			"message", id, "tenant", tenant, "status", res.StatusCode, "attempts", res.Attempts, "err", res.Err)
	case errors.Is(res.Err, webhook.ErrClosed):
		return // stopping: pending in the log, sent after the restart
	default:
		r.log.Warn("DLR webhook not delivered; will retry", "message", id, "tenant", tenant, "attempts", res.Attempts, "err", res.Err)
		return
	}
	ctx, cancel := detach(context.Background())
	defer cancel()
	if _, err := r.svc.DeliveryForwarded(ctx, id); err != nil {
		// Delivered but not recorded: sent again later (at least once).
		r.log.Warn("DLR forwarded but not recorded", "message", id, "err", err)
	}
}

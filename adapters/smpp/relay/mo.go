package relay

// Mobile-originated (MO) messages: a supplier's deliver_sm that is not a
// receipt. The egress hands it here (reporter.MOReceived); the ledger
// records it for the tenant owning its destination number
// (ledger.Service.ReceiveMO: durable, charged its mo_price) before the
// supplier is answered ESME_ROK — ESME_RSYSERR when it could not be, so the
// supplier delivers it again. An MO for a number nobody owns is answered
// ESME_ROK, counted and not stored. The lifecycle then forwards it as it
// forwards final DLRs (moSink): on the tenant's webhook if it has one, else
// as a deliver_sm (esm_class 0) on one of its receiver binds, waiting
// (durably, in the ledger) while it has neither.

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/smsledger/smsledger/adapters/smpp/egress"
	"github.com/smsledger/smsledger/adapters/smpp/server"
	"github.com/smsledger/smsledger/adapters/webhook"
	"github.com/smsledger/smsledger/domain/ledger"
	"github.com/smsledger/smsledger/domain/lifecycle"
)

// MOStats counts the relay's MOs since it started (metrics: serve exposes
// them as smsledger_mo_*_total).
type MOStats struct {
	Received  int64 // recorded for a tenant
	Unknown   int64 // for a number nobody owns: acknowledged, not stored
	Unbilled  int64 // recorded free: the tenant's balance did not cover its mo_price
	Forwarded int64 // reached the tenant
	Dropped   int64 // not decodable as text, or refused by the ledger (over-long): acknowledged, not stored
}

type moCounters struct {
	received, unknown, unbilled, forwarded, refused atomic.Int64
}

// MOStats returns the MO counts.
func (r *Relay) MOStats() MOStats {
	st := MOStats{Received: r.mos.received.Load(), Unknown: r.mos.unknown.Load(),
		Unbilled: r.mos.unbilled.Load(), Forwarded: r.mos.forwarded.Load(), Dropped: r.mos.refused.Load()}
	r.supMu.Lock()
	for _, rs := range r.suppliers {
		st.Dropped += rs.eg.MOsDropped()
	}
	r.supMu.Unlock()
	return st
}

// MOReceived records a supplier's MO (see above); nil means the supplier
// may be answered ESME_ROK.
func (rp reporter) MOReceived(ctx context.Context, supplierID string, mo egress.MO) error {
	r := rp.r
	rc, err := r.svc.ReceiveMO(ctx, ledger.MOIn{SupplierID: supplierID, From: mo.From, To: mo.To,
		Text: mo.Text, Encoding: encodingOf(mo.DataCoding)})
	switch {
	case errors.Is(err, ledger.ErrUnknownNumber):
		r.mos.unknown.Add(1)
		r.log.Debug("MO for a number no tenant owns; acknowledged, not stored", "supplier", supplierID, "to", mo.To)
		return nil
	case errors.Is(err, ledger.ErrInvalid):
		// Delivering it again would not change it.
		r.mos.refused.Add(1)
		r.log.Warn("MO refused by the ledger; acknowledged, not stored", "supplier", supplierID, "to", mo.To, "err", err)
		return nil
	case err != nil:
		r.log.Warn("MO not recorded; the supplier is answered ESME_RSYSERR", "supplier", supplierID, "err", err)
		return err
	}
	r.mos.received.Add(1)
	if rc.Unbilled {
		r.mos.unbilled.Add(1)
	}
	r.driver.ForwardMO(rc.MessageID)
	return nil
}

// encodingOf is the ledger's name of a data_coding the egress passes on.
func encodingOf(coding byte) string {
	switch coding {
	case 3:
		return "latin1"
	case 8:
		return "ucs2"
	}
	return "gsm7"
}

// moSink is the lifecycle's MOSink: the tenant's webhook, else a receiver
// bind (its readiness is receiptSink.Ready's).
type moSink struct{ r *Relay }

// DeliverMO sends mo on the tenant's webhook, or else as a deliver_sm on
// one of its receiver binds.
func (s moSink) DeliverMO(ctx context.Context, mo ledger.PendingMO, done func(lifecycle.Outcome)) error {
	if (receiptSink{s.r}).webhook(mo.TenantID) {
		return s.deliverWebhook(mo, done)
	}
	srv := s.r.server()
	if srv == nil {
		return lifecycle.ErrNoReceiver
	}
	dctx, cancel := context.WithTimeout(ctx, deliverTimeout)
	defer cancel()
	err := srv.DeliverMO(dctx, mo.TenantID, server.MO{Source: mo.From, Dest: mo.To, Text: mo.Text, DataCoding: dataCoding(mo.Encoding)})
	if errors.Is(err, server.ErrNoReceiverBind) {
		return fmt.Errorf("%w: %w", lifecycle.ErrNoReceiver, err)
	}
	if err == nil {
		s.r.mos.forwarded.Add(1)
	}
	return err
}

// deliverWebhook queues mo for the tenant's webhook; its outcome maps as a
// DLR's does (receiptSink.webhookOutcome).
func (s moSink) deliverWebhook(mo ledger.PendingMO, done func(lifecycle.Outcome)) error {
	url, secret, ok := s.r.svc.Webhook(mo.TenantID)
	if !ok {
		return lifecycle.ErrNoReceiver
	}
	d := webhook.Delivery{
		Tenant: mo.TenantID, URL: url, Secret: secret,
		MO: &webhook.MO{MessageID: mo.ID.String(), From: mo.From, To: mo.To, Text: mo.Text, ReceivedAt: mo.ReceivedAt.UTC()},
		Done: func(res webhook.Result) {
			o := (receiptSink{s.r}).webhookOutcome(lifecycle.Receipt{}, res)
			if o == lifecycle.Delivered {
				s.r.mos.forwarded.Add(1)
			}
			done(o)
		},
	}
	switch err := s.r.opts.Webhooks.Enqueue(d); {
	case err == nil, errors.Is(err, webhook.ErrPending), errors.Is(err, webhook.ErrRecent),
		errors.Is(err, webhook.ErrQueueFull), errors.Is(err, webhook.ErrClosed):
		return lifecycle.ErrDeliveryPending
	default:
		return fmt.Errorf("MO webhook not queued: %w", err)
	}
}

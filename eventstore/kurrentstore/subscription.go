package kurrentstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/smsledger/smsledger/eventstore"
	"github.com/smsledger/smsledger/internal/backoff"
)

// nextBatchMax bounds the events one Next returns.
const nextBatchMax = 1000

// subscription follows $all through a catch-up subscription of the client. A
// goroutine receives events into a bounded buffer; Next takes them out.
type subscription struct {
	s      *Store
	events chan eventstore.RecordedEvent
	cancel context.CancelFunc
	done   chan struct{} // closed when the goroutine has ended; err is set
	err    error

	closeOnce sync.Once
}

var _ eventstore.Subscription = (*subscription)(nil)

// SubscribeAll implements eventstore.Store. ctx bounds only the first
// subscription to the server; the subscription then lives until Close (or
// the store's Close).
func (s *Store) SubscribeAll(ctx context.Context, after eventstore.Position) (eventstore.Subscription, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, eventstore.ErrClosed
	}
	s.subs.Add(1)
	s.mu.Unlock()
	runCtx, cancel := context.WithCancel(s.ctx)
	sub := &subscription{
		s:      s,
		events: make(chan eventstore.RecordedEvent, s.opts.SubscriptionBuffer),
		cancel: cancel,
		done:   make(chan struct{}),
	}
	first, err := s.subscribe(ctx, runCtx, after)
	if err != nil {
		cancel()
		s.subs.Done()
		return nil, fmt.Errorf("kurrentstore: subscribe to $all after %d: %w", after, err)
	}
	go sub.run(runCtx, first, after)
	return sub, nil
}

// subscribe opens one catch-up subscription to $all after a position,
// filtered on the server to the store's streams. The subscription lives as
// long as runCtx; ctx bounds the wait for the server's confirmation.
func (s *Store) subscribe(ctx, runCtx context.Context, after eventstore.Position) (*esdb.Subscription, error) {
	filter := &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Regex: `^[^$]`}
	if s.opts.StreamPrefix != "" && s.opts.StreamPrefix[0] != '$' {
		filter = &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Prefixes: []string{s.opts.StreamPrefix}}
	}
	opts := esdb.SubscribeToAllOptions{From: allFrom(after), Filter: filter}
	return call(s, ctx, func(ctx context.Context, c *esdb.Client) (*esdb.Subscription, error) {
		// The subscription's stream must outlive this call, so it runs
		// on runCtx; ctx still cuts the wait for the confirmation short.
		subCtx, cancel := context.WithCancel(runCtx)
		stop := context.AfterFunc(ctx, cancel)
		sub, err := c.SubscribeToAll(subCtx, opts)
		if !stop() || err != nil {
			cancel()
			if err == nil {
				_ = sub.Close()
				err = ctx.Err()
			}
			return nil, err
		}
		return sub, nil
	})
}

// run receives events until the subscription is closed, resubscribing from
// the last position it has seen when the server drops it.
func (sub *subscription) run(ctx context.Context, es *esdb.Subscription, after eventstore.Position) {
	defer sub.s.subs.Done()
	last := after
	b := backoff.Backoff{Min: sub.s.opts.ResubscribeMin, Max: sub.s.opts.ResubscribeMax}
	var wait time.Duration // before the next resubscribe
	if es == nil {
		wait = b.Next()
	}
	for {
		if es != nil {
			delivered, err := sub.pump(ctx, es, &last)
			_ = es.Close()
			if ctx.Err() != nil {
				sub.finish(eventstore.ErrClosed)
				return
			}
			if permanent(err) {
				sub.s.log.Error("subscription to $all failed", "after", last, "err", err)
				sub.finish(fmt.Errorf("kurrentstore: subscription to $all: %w", err))
				return
			}
			if delivered {
				b.Reset()
			}
			wait = b.Next()
			sub.s.log.Warn("subscription to $all dropped; resubscribing", "after", last, "in", wait, "err", err)
		}
		if backoff.Wait(ctx, wait) != nil {
			sub.finish(eventstore.ErrClosed)
			return
		}
		var err error
		es, err = sub.s.subscribe(ctx, ctx, last)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, eventstore.ErrClosed) {
				sub.finish(eventstore.ErrClosed)
				return
			}
			if permanent(err) {
				sub.s.log.Error("cannot resubscribe to $all", "after", last, "err", err)
				sub.finish(fmt.Errorf("kurrentstore: resubscribe to $all after %d: %w", last, err))
				return
			}
			wait = b.Next()
			sub.s.log.Warn("cannot resubscribe to $all yet", "after", last, "retry_in", wait, "err", err)
			es = nil
			continue
		}
		sub.s.log.Info("resubscribed to $all", "after", last)
	}
}

// pump moves events from es into the buffer until es drops or ctx is done.
// Events at or before *last (a resubscription may start at the last event
// seen, inclusive) and events that are not the store's are skipped; caught-up,
// checkpoint and fell-behind notices are ignored.
func (sub *subscription) pump(ctx context.Context, es *esdb.Subscription, last *eventstore.Position) (delivered bool, err error) {
	for {
		msg := es.Recv()
		switch {
		case msg.SubscriptionDropped != nil:
			return delivered, msg.SubscriptionDropped.Error
		case msg.EventAppeared != nil:
			ev := msg.EventAppeared.OriginalEvent()
			pos := eventstore.Position(ev.Position.Commit)
			if *last != eventstore.Start && pos <= *last {
				continue
			}
			*last = pos
			if !sub.s.ours(ev) {
				continue
			}
			select {
			case sub.events <- sub.s.recorded(ev):
				delivered = true
			case <-ctx.Done():
				return delivered, ctx.Err()
			}
		}
	}
}

func (sub *subscription) finish(err error) {
	sub.err = err
	close(sub.done)
}

// Next implements eventstore.Subscription.
func (sub *subscription) Next(ctx context.Context) ([]eventstore.RecordedEvent, error) {
	select {
	case ev := <-sub.events:
		return sub.drain(ev), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-sub.done:
		// Hand out what was received before the end.
		select {
		case ev := <-sub.events:
			return sub.drain(ev), nil
		default:
			return nil, sub.err
		}
	}
}

// drain returns first and whatever else is buffered, up to nextBatchMax.
func (sub *subscription) drain(first eventstore.RecordedEvent) []eventstore.RecordedEvent {
	out := make([]eventstore.RecordedEvent, 1, min(len(sub.events)+1, nextBatchMax))
	out[0] = first
	for len(out) < nextBatchMax {
		select {
		case ev := <-sub.events:
			out = append(out, ev)
		default:
			return out
		}
	}
	return out
}

// Close implements eventstore.Subscription: it ends the subscription and
// waits for its goroutine.
func (sub *subscription) Close() error {
	sub.closeOnce.Do(func() {
		sub.cancel()
		<-sub.done
	})
	return nil
}

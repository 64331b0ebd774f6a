package pgstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/smsledger/smsledger/eventstore"
)

// batchTimeout bounds one group-commit transaction, lock wait included.
const batchTimeout = 30 * time.Second

// Back of the envelope. On this 2-core machine a loopback round trip with a
// small pipeline costs ~0.2 ms and a commit's WAL flush ~0.1–0.3 ms. One
// event per transaction would cap near 2,000 appends/s per writer; a batch of
// B appends per transaction multiplies that by B until the server's CPU per
// event (~10–20 µs: index probes, insert, WAL) is the limit. So a batch is
// one pipelined round trip (BEGIN; lock head; one set-based statement;
// COMMIT), and the head lock is held only for the server's work, never for a
// network round trip or Go-side work.

// writeLoop takes appends off the queue, gathers everything already waiting
// (up to BatchEventsMax events) and commits it as one transaction; a batch
// without an urgent append first waits for company (Options.CommitLinger).
//
// A batch holds at most one append per stream and never the same event id
// twice: then every append's decision depends only on the log as it was when
// the batch took the head lock, which lets one set-based statement decide and
// write the whole batch. An append that would break the rule is carried to
// the next batch of the same writer, ahead of newer ones.
func (s *Store) writeLoop() {
	defer s.writers.Done()
	var (
		batch   = make([]*appendRequest, 0, 512)
		carried = make([]*appendRequest, 0, 64)
		next    = make([]*appendRequest, 0, 64)
		streams = make(map[string]struct{}, 512)
		ids     = make(map[uuid.UUID]struct{}, 1024)
		// The queues; a closed one becomes nil (Close closes both).
		urgent, normal = s.urgent, s.queue
		// The other nodes hear of this writer's batches at most every
		// NotifyEvery (Options): an unannounced batch is announced when
		// trailing fires, unless a batch's notification did it first.
		lastNotify  time.Time
		unannounced int64 // the last committed position not announced; 0: none
		trailing    <-chan time.Time
		// lastCommit is when the writer's last commit began, and company
		// whether that batch had company (CommitLinger).
		lastCommit time.Time
		company    bool
	)
	defer func() {
		if unannounced > 0 {
			s.announce(unannounced) // closing: best effort
		}
	}()
	for urgent != nil || normal != nil || len(carried) > 0 {
		batch, next = batch[:0], next[:0]
		clear(streams)
		clear(ids)
		events, urgents := 0, 0
		take := func(r *appendRequest) {
			if _, dup := streams[r.stream]; dup || r.sharesIDs(ids) {
				next = append(next, r)
				return
			}
			streams[r.stream] = struct{}{}
			for i := range r.events {
				ids[r.events[i].ID] = struct{}{}
			}
			batch = append(batch, r)
			events += len(r.events)
		}
		for _, r := range carried {
			take(r)
		}
		if len(batch) == 0 && len(next) == 0 {
			select {
			case <-trailing:
				trailing = nil
				if unannounced > 0 {
					s.announce(unannounced)
					lastNotify, unannounced = time.Now(), 0
				}
				continue
			case r, ok := <-urgent:
				if !ok {
					urgent = nil
					continue
				}
				take(r)
				urgents++
			case r, ok := <-normal:
				if !ok {
					normal = nil
					continue
				}
				take(r)
			}
		}
		// A batch without an urgent append waits for company, when the
		// last batch had some (more than one append, or appends came while
		// it was committed; a single caller appending one after the other
		// has none, and would only wait): until CommitLinger after the
		// last commit began, or an urgent append.
		if company && urgents == 0 && len(batch) > 0 && urgent != nil {
			if wait := s.opts.CommitLinger - time.Since(lastCommit); wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-t.C:
				case r, ok := <-urgent:
					if ok {
						take(r)
						urgents++
					} else {
						urgent = nil
					}
				}
				t.Stop()
			}
		}
		// Urgent appends first, all of them (up to the batch bound).
	urgentGather:
		for urgent != nil && events < s.opts.BatchEventsMax && len(next) < cap(next) {
			select {
			case r, ok := <-urgent:
				if !ok {
					urgent = nil
					break urgentGather
				}
				take(r)
				urgents++
			default:
				break urgentGather
			}
		}
		// Then the others; with urgent ones aboard, only BatchEventsMax/32
		// events more (128 by default), so that the transaction the urgent
		// callers wait for stays short, while the others still get a share
		// of every batch. (Measured with smsledger bench: a quarter of a
		// batch → about 10,000 accepts/s, p99 ~85 ms; a 32nd → ~11,300/s,
		// p99 ~75 ms; none at all → ~13,500/s but lifecycle appends could
		// starve under a steady stream of accepts.)
		limit := s.opts.BatchEventsMax
		if urgents > 0 {
			limit = min(limit, events+s.opts.BatchEventsMax/32)
		}
	normalGather:
		for normal != nil && events < limit && len(next) < cap(next) {
			select {
			case r, ok := <-normal:
				if !ok {
					normal = nil
					break normalGather
				}
				take(r)
			default:
				break normalGather
			}
		}
		if len(batch) > 0 {
			notify := s.opts.NotifyEvery <= 0 || time.Since(lastNotify) >= s.opts.NotifyEvery
			lastCommit = time.Now()
			head, queued := s.commitBatch(batch, events, notify)
			company = len(batch) > 1 || len(next) > 0 || queued
			if head > 0 {
				switch {
				case notify:
					lastNotify, unannounced = time.Now(), 0
				default:
					unannounced = head
					if trailing == nil {
						trailing = time.After(s.opts.NotifyEvery - time.Since(lastNotify))
					}
				}
			}
		}
		clear(batch) // drop references so finished requests can be collected
		carried, next = next, carried
	}
}

// sharesIDs reports whether any of r's event ids is in ids.
func (r *appendRequest) sharesIDs(ids map[uuid.UUID]struct{}) bool {
	for i := range r.events {
		if _, ok := ids[r.events[i].ID]; ok {
			return true
		}
	}
	return false
}

// outcome is the decision for one request of a batch, delivered only once
// the batch has committed.
type outcome struct {
	result   eventstore.AppendResult
	err      error
	appended bool // new events were written (not a replay)
}

// commitBatch writes one batch, notifying the other nodes' listeners if
// notify, and releases its callers. It returns the log's position after
// the batch (0: nothing committed), and whether appends queued up while
// its transaction ran (CommitLinger's company).
func (s *Store) commitBatch(batch []*appendRequest, events int, notify bool) (head int64, queued bool) {
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	started := time.Now()
	recordedAt := s.opts.Clock().UTC().Truncate(time.Microsecond)
	floor := s.knownHead.Load() // committed before this batch: its positions must come after
	outcomes, err := s.writeBatch(ctx, batch, events, recordedAt, notify)
	// Whether appends came while the transaction ran, looked at before any
	// caller is released: a released caller's next append is no company.
	queued = len(s.queue) > 0 || len(s.urgent) > 0
	if err != nil {
		s.logFailedBatch(len(batch), events, err)
		s.unsure.Store(true)
		for _, r := range batch {
			r.finish(eventstore.AppendResult{}, fmt.Errorf("pgstore: append to %q not durable: %w", r.stream, err))
		}
		return 0, queued
	}
	committed := committedEvents(batch, outcomes, recordedAt)
	if len(committed) > 0 {
		if err := s.checkRewind(int64(committed[0].Position)-1, floor); err != nil {
			for _, r := range batch {
				r.finish(eventstore.AppendResult{}, fmt.Errorf("pgstore: append to %q: %w", r.stream, err))
			}
			return 0, queued
		}
	}
	s.tail.add(committed)
	if n := len(committed); n > 0 {
		head = int64(committed[n-1].Position)
		s.raiseKnownHead(head)
	}
	s.unsure.Store(false)
	// The hook runs before the callers are released, so that a caller that
	// returned from Append can rely on its batch being counted.
	if s.opts.OnBatch != nil {
		s.opts.OnBatch(len(batch), events, time.Since(started))
	}
	for i, r := range batch {
		r.finish(outcomes[i].result, outcomes[i].err)
	}
	s.wake.broadcast()
	return head, queued
}

// announceTimeout bounds a writer's notification of its own.
const announceTimeout = time.Second

// announce tells the other nodes' listeners the log reaches head (a batch
// whose own notification was skipped). A failure leaves them to their
// PollInterval.
func (s *Store) announce(head int64) {
	ctx, cancel := context.WithTimeout(context.Background(), announceTimeout)
	defer cancel()
	if _, err := s.pool.Exec(ctx, `SELECT pg_notify($1, $2)`, notifyChannel, strconv.FormatInt(head, 10)+" "+s.origin); err != nil {
		s.opts.Logger.Debug("event store notification not sent; other nodes poll", "head", head, "err", err)
	}
}

// failedBatchLogEvery spaces the warnings about failed batches: while the
// database is down every batch fails, hundreds a second.
const failedBatchLogEvery = time.Second

// logFailedBatch warns about a failed batch, at most once per
// failedBatchLogEvery, counting the ones it did not log. Only the writers
// call it (one at a time per writer; writers share the counters).
func (s *Store) logFailedBatch(appends, events int, err error) {
	s.failMu.Lock()
	defer s.failMu.Unlock()
	s.failSilenced++
	if time.Since(s.failLogged) < failedBatchLogEvery {
		return
	}
	s.opts.Logger.Warn("event store batch not committed; its appends fail", "appends", appends, "events", events,
		"failed_batches_since_last_warning", s.failSilenced, "err", err)
	s.failLogged, s.failSilenced = time.Now(), 0
}

// Expected-version kinds as the append statement knows them.
const (
	kindAny          = 0
	kindNoStream     = 1
	kindStreamExists = 2
	kindExact        = 3
)

func expectedKind(e eventstore.ExpectedVersion) (kind int16, version int64) {
	switch {
	case e.IsAny():
		return kindAny, -1
	case e.IsNoStream():
		return kindNoStream, -1
	case e.IsStreamExists():
		return kindStreamExists, -1
	}
	v, _ := e.Version()
	return kindExact, int64(v)
}

// appendSQL decides and writes a whole batch in one statement. It runs right
// after the head lock is taken, so its snapshot sees every earlier batch.
//
// Per append (req, in queue order): the stream's current version; the event
// ids already stored (known). The verdict is replay (all ids stored, in this
// stream: succeed with the original result), duplicate (some ids stored, or
// stored elsewhere), append (the expected version matches) or conflict.
// Appends get consecutive positions after the head in queue order.
const appendSQL = `
WITH
req AS (
    SELECT r.ord::int4 AS ord, r.stream, r.kind, r.expected, r.n,
           coalesce((SELECT max(e.stream_version) FROM es_events e WHERE e.stream_id = r.stream), -1) AS current
    FROM unnest($1::text[], $2::int2[], $3::int8[], $4::int4[]) WITH ORDINALITY AS r(stream, kind, expected, n, ord)
),
ev AS (
    SELECT * FROM unnest($5::int4[], $6::int4[], $7::uuid[], $8::text[], $9::text[], $10::text[])
        AS e(req, idx, id, type, data, meta)
),
known AS (
    SELECT ev.req, count(*) AS n_known,
           count(*) FILTER (WHERE x.stream_id = r.stream) AS n_here,
           max(x.stream_version) AS last_version, max(x.global_position) AS last_position
    FROM ev JOIN es_events x ON x.event_id = ev.id JOIN req r ON r.ord = ev.req
    GROUP BY ev.req
),
decision AS (
    SELECT req.*, k.last_version, k.last_position,
           CASE
             WHEN k.n_known IS NOT NULL THEN
               CASE WHEN k.n_known = req.n AND k.n_here = req.n THEN 'replay' ELSE 'duplicate' END
             WHEN req.kind = 0
               OR (req.kind = 1 AND req.current = -1)
               OR (req.kind = 2 AND req.current >= 0)
               OR (req.kind = 3 AND req.current = req.expected) THEN 'append'
             ELSE 'conflict'
           END AS verdict
    FROM req LEFT JOIN known k ON k.req = req.ord
),
placed AS (
    SELECT d.ord, d.stream, d.current, d.n,
           (SELECT position FROM es_head WHERE id = 1) + sum(d.n) OVER (ORDER BY d.ord) - d.n AS base
    FROM decision d WHERE d.verdict = 'append'
),
inserted AS (
    INSERT INTO es_events (global_position, stream_id, stream_version, event_id, event_type, data, metadata, recorded_at)
    SELECT p.base + ev.idx + 1, p.stream, p.current + ev.idx + 1, ev.id, ev.type, ev.data, ev.meta, $11
    FROM placed p JOIN ev ON ev.req = p.ord
    RETURNING 1
),
moved AS (
    UPDATE es_head SET position = position + (SELECT coalesce(sum(p.n), 0) FROM placed p)
    WHERE id = 1
    RETURNING position
)
SELECT d.ord, d.verdict, d.current,
       CASE d.verdict WHEN 'append' THEN p.current + p.n WHEN 'replay' THEN d.last_version END AS version,
       CASE d.verdict WHEN 'append' THEN p.base + p.n WHEN 'replay' THEN d.last_position END AS position,
       (SELECT count(*) FROM inserted) AS inserted,
       (SELECT pg_notify('` + notifyChannel + `', position::text || ' ' || $12::text) IS NULL FROM moved WHERE $13::bool) AS notified
FROM decision d LEFT JOIN placed p ON p.ord = d.ord
ORDER BY d.ord`

// writeBatch runs the batch's transaction as one pipelined round trip.
func (s *Store) writeBatch(ctx context.Context, batch []*appendRequest, events int, recordedAt time.Time, notify bool) ([]outcome, error) {
	var (
		rStream   = make([]string, len(batch))
		rKind     = make([]int16, len(batch))
		rExpected = make([]int64, len(batch))
		rCount    = make([]int32, len(batch))
		eReq      = make([]int32, 0, events)
		eIdx      = make([]int32, 0, events)
		eID       = make([]pgtype.UUID, 0, events)
		eType     = make([]string, 0, events)
		eData     = make([]string, 0, events)
		eMeta     = make([]string, 0, events)
	)
	for i, r := range batch {
		rStream[i] = r.stream
		rKind[i], rExpected[i] = expectedKind(r.expected)
		rCount[i] = int32(len(r.events))
		for j := range r.events {
			eReq = append(eReq, int32(i+1)) // WITH ORDINALITY counts from 1
			eIdx = append(eIdx, int32(j))
			eID = append(eID, pgtype.UUID{Bytes: r.events[j].ID, Valid: true})
			eType = append(eType, r.events[j].Type)
			eData = append(eData, r.data[j])
			eMeta = append(eMeta, r.meta[j])
		}
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("acquire connection: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			abort(conn)
		}
		conn.Release()
	}()

	outcomes := make([]outcome, len(batch))
	var inserted, decided, appended int64
	b := &pgx.Batch{}
	b.Queue(`BEGIN`)
	// The append statement must reach es_events through its indexes only.
	// Its plan is cached, and a plan made while the table was small (or its
	// statistics stale) can choose a sequential scan of es_events, which
	// then costs O(table size) per batch: measured here as 2-3x slower after
	// only 20k events, and worse forever after.
	b.Queue(`SET LOCAL enable_seqscan = off`)
	b.Queue(`SELECT 1 FROM es_head WHERE id = 1 FOR UPDATE`)
	b.Queue(appendSQL, rStream, rKind, rExpected, rCount, eReq, eIdx, eID, eType, eData, eMeta, recordedAt, s.origin, notify).Query(func(rows pgx.Rows) error {
		var (
			ord               int32
			verdict           string
			current           int64
			version, position pgtype.Int8
			notified          pgtype.Bool
		)
		_, err := pgx.ForEachRow(rows, []any{&ord, &verdict, &current, &version, &position, &inserted, &notified}, func() error {
			i := int(ord) - 1
			if i < 0 || i >= len(batch) {
				return fmt.Errorf("append statement answered for request %d of %d", ord, len(batch))
			}
			r := batch[i]
			decided++
			switch verdict {
			case "append", "replay":
				if verdict == "append" {
					appended += int64(len(r.events))
					outcomes[i].appended = true
				}
				outcomes[i].result = eventstore.AppendResult{NextExpectedVersion: uint64(version.Int64), Position: eventstore.Position(position.Int64)}
			case "conflict":
				outcomes[i].err = &eventstore.WrongExpectedVersionError{Stream: r.stream, Expected: r.expected, Actual: current}
			case "duplicate":
				outcomes[i].err = fmt.Errorf("append to %q: %w", r.stream, eventstore.ErrDuplicateEventID)
			default:
				return fmt.Errorf("append statement gave unknown verdict %q", verdict)
			}
			return nil
		})
		return err
	})
	b.Queue(`COMMIT`)
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return nil, fmt.Errorf("append %d events: %w", events, err)
	}
	committed = true

	// Invariants: every request decided once, and exactly the events of the
	// appended requests were inserted.
	if decided != int64(len(batch)) {
		panic(fmt.Sprintf("pgstore: %d of %d appends decided in a committed batch", decided, len(batch)))
	}
	if inserted != appended {
		panic(fmt.Sprintf("pgstore: batch inserted %d events, its appends carry %d", inserted, appended))
	}
	return outcomes, nil
}

// committedEvents rebuilds, in position order, the events a committed batch
// wrote, exactly as the table now holds them.
func committedEvents(batch []*appendRequest, outcomes []outcome, recordedAt time.Time) []eventstore.RecordedEvent {
	n := 0
	for i, r := range batch {
		if outcomes[i].appended {
			n += len(r.events)
		}
	}
	out := make([]eventstore.RecordedEvent, 0, n)
	for i, r := range batch {
		if !outcomes[i].appended {
			continue
		}
		res := outcomes[i].result
		k := uint64(len(r.events))
		for j := range r.events {
			ev := &r.events[j]
			out = append(out, eventstore.RecordedEvent{
				ID: ev.ID, Type: ev.Type, Data: []byte(r.data[j]), Metadata: ev.Metadata,
				Stream:     r.stream,
				Version:    res.NextExpectedVersion - k + 1 + uint64(j),
				Position:   res.Position - eventstore.Position(k) + 1 + eventstore.Position(j),
				RecordedAt: recordedAt,
			})
		}
	}
	return out
}

// abort rolls back a failed batch; a connection that cannot even roll back
// is closed so the pool does not hand it out again.
func abort(conn *pgxpool.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := conn.Exec(ctx, "ROLLBACK"); err != nil {
		_ = conn.Conn().Close(ctx)
	}
}

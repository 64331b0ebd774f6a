// Package kurrenttest is an in-memory KurrentDB (EventStoreDB) node for tests.
// It speaks the gRPC protocol of the official Go client (the Streams,
// ServerFeatures and Gossip services, built from the client module's own
// generated packages) over plaintext on 127.0.0.1, so the kurrentstore backend
// is tested through the real client without a real server.
//
// It follows KurrentDB's semantics where the client can see them:
//
//   - appends check the expected revision (any, no_stream, stream_exists or an
//     exact revision) and answer wrong_expected_version with the actual one;
//   - idempotency by event id as the server's commit check does it: with any or
//     stream_exists, ids already in the same stream make the append a no-op
//     that returns the original result; with an exact revision (no_stream is
//     -1) behind the stream's current one, the events after that revision are
//     compared by id; a partial match is a wrong_expected_version; an id used in
//     another stream is not a duplicate (KurrentDB does not index ids
//     globally);
//   - $all positions are byte offsets in a log, increasing and sparse, with
//     commit = prepare for every event (as for every append since the servers
//     stopped writing explicit transactions);
//   - reads forwards and backwards with a count, from start, end, a revision or
//     a position (forwards inclusive, backwards exclusive), stream_not_found;
//   - subscriptions to a stream or to $all: confirmation first, then the
//     catch-up (from is exclusive, start inclusive, end means new events only),
//     caught_up once, live events; server-side filters on stream name or event
//     type by regex or prefixes, with checkpoints every window × multiplier
//     events considered;
//   - system events ($-prefixed streams and types) exist: the node writes a
//     $settings event when it starts, and AppendSystemEvent adds more.
//
// Unlike a real node it keeps every event id (a real node's idempotency cache
// for "any" is bounded), has no deletes, and does no authentication.
package kurrenttest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/gossip"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/serverfeatures"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	api "github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Options tune the node. Zero values take the defaults.
type Options struct {
	// ServerVersion is what ServerFeatures reports. It must be numbers
	// separated by dots, or the client closes itself. Default "24.10.0".
	ServerVersion string
	// MaxAppendSize bounds the data bytes of one append, as the node's
	// MaxAppendSize setting does. Default 1 MiB (KurrentDB's default).
	MaxAppendSize int
	// MaxEvents bounds the log. Default 10,000,000.
	MaxEvents int
	// Addr is the address to listen on. Default "127.0.0.1:0" (a free
	// port); tests that restart a node on the same port set it.
	Addr string
}

// Server is a running in-memory node. Stop it with Stop.
type Server struct {
	opts Options
	lis  net.Listener
	grpc *grpc.Server
	db   *db
	done chan struct{}
	wg   sync.WaitGroup
	mu   sync.Mutex // guards lis and grpc against Restart

	stopOnce sync.Once
}

// New starts a node on 127.0.0.1 with a free port.
func New(opts Options) (*Server, error) {
	if opts.ServerVersion == "" {
		opts.ServerVersion = "24.10.0"
	}
	if opts.MaxAppendSize <= 0 {
		opts.MaxAppendSize = 1 << 20
	}
	if opts.MaxEvents <= 0 {
		opts.MaxEvents = 10_000_000
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	lis, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("kurrenttest: listen: %w", err)
	}
	s := &Server{
		opts: opts,
		db:   newDB(opts.MaxEvents),
		done: make(chan struct{}),
	}
	// A fresh node has system events in $all before any user event.
	s.AppendSystemEvent("$settings", "$settings", []byte(`{"$userStreamAcl":{"$r":"$all"}}`))
	s.serve(lis)
	return s, nil
}

// serve starts a gRPC server with the node's services on lis.
func (s *Server) serve(lis net.Listener) {
	s.lis = lis
	s.grpc = grpc.NewServer(
		// The client pings every 10 s with PermitWithoutStream; grpc-go's
		// default policy (5 min) would answer with GOAWAY too_many_pings
		// and drop idle subscriptions.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: time.Second, PermitWithoutStream: true}),
		grpc.MaxRecvMsgSize(17<<20),
		grpc.MaxSendMsgSize(17<<20),
	)
	api.RegisterStreamsServer(s.grpc, &streamsService{s: s})
	serverfeatures.RegisterServerFeaturesServer(s.grpc, &featuresService{version: s.opts.ServerVersion})
	gossip.RegisterGossipServer(s.grpc, &gossipService{addr: lis.Addr().(*net.TCPAddr)})
	gs := s.grpc
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		// Serve returns when Stop closes the listener.
		_ = gs.Serve(lis)
	}()
}

// Restart stops the node as a crash would (every connection and stream
// ends), stays down for the given time, and starts it again on the same
// address with the same log, as a node with a persistent database does.
func (s *Server) Restart(down time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	addr := s.lis.Addr().String()
	s.grpc.Stop()
	time.Sleep(down)
	var lis net.Listener
	var err error
	for range 50 { // the port may linger for a moment
		if lis, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("kurrenttest: listen again on %s: %w", addr, err)
	}
	s.serve(lis)
	return nil
}

// Addr is the node's host:port.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lis.Addr().String()
}

// URL is a connection string for the node (plaintext, single node).
func (s *Server) URL() string { return "esdb://" + s.Addr() + "?tls=false" }

// Stop closes every connection and stream at once (open subscriptions end)
// and stops the node.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		close(s.done)
		s.mu.Lock()
		s.grpc.Stop()
		s.mu.Unlock()
		s.wg.Wait()
	})
}

// DropSubscriptions ends every open subscription with codes.Unavailable, as a
// node restart or a leader change does. Reads and appends are not affected.
func (s *Server) DropSubscriptions() { s.db.dropSubscriptions() }

// AppendSystemEvent appends an event to stream (which should start with $)
// with any expected revision, as the node's own subsystems do.
func (s *Server) AppendSystemEvent(stream, eventType string, data []byte) {
	_, _ = s.db.append(stream, expectation{kind: expectAny}, []proposed{{
		id: uuid.New(), eventType: eventType, contentType: "application/json", data: data,
	}})
	s.db.publish()
}

// Head is the position of the last event of the log (0 when empty),
// including system events.
func (s *Server) Head() uint64 {
	s.db.mu.RLock()
	defer s.db.mu.RUnlock()
	if len(s.db.log) == 0 {
		return 0
	}
	return s.db.log[len(s.db.log)-1].pos
}

// record is one stored event. Records are immutable once appended.
type record struct {
	id          uuid.UUID
	stream      string
	revision    uint64
	eventType   string
	contentType string
	data        []byte
	custom      []byte
	created     int64 // 100 ns ticks since the Unix epoch
	pos         uint64
}

type proposed struct {
	id          uuid.UUID
	eventType   string
	contentType string
	data        []byte
	custom      []byte
}

type expectKind int

const (
	expectAny expectKind = iota
	expectNoStream
	expectStreamExists
	expectRevision
)

type expectation struct {
	kind     expectKind
	revision uint64
}

// appendOutcome is the answer to one append: success (with the stream's last
// revision and the last event's position) or a wrong expected version.
type appendOutcome struct {
	wrong       bool
	written     bool  // new events, not a replay
	current     int64 // -1: no stream
	lastPos     uint64
	lastVersion uint64
}

type db struct {
	mu        sync.RWMutex
	log       []*record
	streams   map[string][]*record
	byID      map[uuid.UUID]*record // latest record with that id, any stream
	nextPos   uint64
	maxEvents int
	changed   chan struct{} // closed and replaced on every append
	dropped   chan struct{} // closed and replaced by dropSubscriptions
}

func newDB(maxEvents int) *db {
	return &db{
		streams:   make(map[string][]*record),
		byID:      make(map[uuid.UUID]*record),
		nextPos:   0,
		maxEvents: maxEvents,
		changed:   make(chan struct{}),
		dropped:   make(chan struct{}),
	}
}

// publish wakes live subscriptions after an append. The Append handler calls
// it once the writer has its answer, so that a live subscriber does not
// usually see an event before its writer is acknowledged.
func (d *db) publish() {
	d.mu.Lock()
	close(d.changed)
	d.changed = make(chan struct{})
	d.mu.Unlock()
}

func (d *db) dropSubscriptions() {
	d.mu.Lock()
	close(d.dropped)
	d.dropped = make(chan struct{})
	d.mu.Unlock()
}

var errLogFull = errors.New("kurrenttest: log full")

// append runs KurrentDB's commit check and writes the events if it passes.
func (d *db) append(stream string, exp expectation, events []proposed) (appendOutcome, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	recs := d.streams[stream]
	current := int64(len(recs)) - 1

	wrong := appendOutcome{wrong: true, current: current}
	idempotent := func(last *record) appendOutcome {
		return appendOutcome{current: current, lastPos: last.pos, lastVersion: last.revision}
	}

	switch exp.kind {
	case expectStreamExists:
		if current < 0 {
			return wrong, nil
		}
		fallthrough
	case expectAny:
		// Ids already in this stream: a replay if all of them are, in a
		// row; corrupted idempotency (a wrong expected version) if only the
		// first ones are.
		var last *record
		for i, ev := range events {
			rec, ok := d.byID[ev.id]
			if !ok || rec.stream != stream {
				if i == 0 {
					last = nil
					break
				}
				return wrong, nil
			}
			last = rec
		}
		if last != nil {
			return idempotent(last), nil
		}
	case expectNoStream, expectRevision:
		expected := int64(-1)
		if exp.kind == expectRevision {
			if exp.revision > uint64(1<<62) {
				return wrong, nil
			}
			expected = int64(exp.revision)
		}
		if expected > current {
			return wrong, nil
		}
		if expected < current {
			// Behind the stream: a replay if the events after expected
			// carry the same ids.
			var last *record
			for i, ev := range events {
				n := expected + 1 + int64(i)
				if n > current || recs[n].id != ev.id {
					return wrong, nil
				}
				last = recs[n]
			}
			return idempotent(last), nil
		}
	}

	if len(d.log)+len(events) > d.maxEvents {
		return appendOutcome{}, errLogFull
	}
	created := time.Now().UnixNano() / 100
	for _, ev := range events {
		rec := &record{
			id:          ev.id,
			stream:      stream,
			revision:    uint64(len(recs)),
			eventType:   ev.eventType,
			contentType: ev.contentType,
			data:        ev.data,
			custom:      ev.custom,
			created:     created,
			pos:         d.nextPos,
		}
		// A record's size in the log: a header, the names and the bodies,
		// so positions are byte offsets like a real node's.
		d.nextPos += uint64(120 + len(stream) + len(ev.eventType) + len(ev.data) + len(ev.custom))
		recs = append(recs, rec)
		d.log = append(d.log, rec)
		d.byID[ev.id] = rec
	}
	d.streams[stream] = recs
	last := recs[len(recs)-1]
	return appendOutcome{written: true, current: int64(last.revision), lastPos: last.pos, lastVersion: last.revision}, nil
}

// streamsService implements event_store.client.streams.Streams.
type streamsService struct {
	api.UnimplementedStreamsServer
	s *Server
}

func (svc *streamsService) Append(srv api.Streams_AppendServer) error {
	first, err := srv.Recv()
	if err != nil {
		return err
	}
	opts := first.GetOptions()
	if opts == nil || opts.GetStreamIdentifier() == nil {
		return status.Error(codes.InvalidArgument, "first append message must carry options with a stream identifier")
	}
	stream := string(opts.GetStreamIdentifier().GetStreamName())
	if stream == "" {
		return status.Error(codes.InvalidArgument, "empty stream name")
	}
	var exp expectation
	switch r := opts.GetExpectedStreamRevision().(type) {
	case *api.AppendReq_Options_Any:
		exp.kind = expectAny
	case *api.AppendReq_Options_NoStream:
		exp.kind = expectNoStream
	case *api.AppendReq_Options_StreamExists:
		exp.kind = expectStreamExists
	case *api.AppendReq_Options_Revision:
		exp = expectation{kind: expectRevision, revision: r.Revision}
	default:
		return status.Error(codes.InvalidArgument, "no expected stream revision")
	}

	var events []proposed
	size := 0
	for {
		req, err := srv.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		msg := req.GetProposedMessage()
		if msg == nil {
			return status.Error(codes.InvalidArgument, "expected a proposed message")
		}
		size += len(msg.GetData())
		if size > svc.s.opts.MaxAppendSize {
			return withException(srv.Context(), codes.InvalidArgument, "maximum-append-size-exceeded",
				fmt.Sprintf("maximum append size of %d exceeded", svc.s.opts.MaxAppendSize))
		}
		typ, ok := msg.GetMetadata()["type"]
		if !ok {
			return withException(srv.Context(), codes.InvalidArgument, "missing-required-metadata-property", "required metadata property type is missing")
		}
		ct, ok := msg.GetMetadata()["content-type"]
		if !ok {
			return withException(srv.Context(), codes.InvalidArgument, "missing-required-metadata-property", "required metadata property content-type is missing")
		}
		id, err := uuidFromProto(msg.GetId())
		if err != nil {
			return status.Error(codes.InvalidArgument, err.Error())
		}
		events = append(events, proposed{id: id, eventType: typ, contentType: ct, data: msg.GetData(), custom: msg.GetCustomMetadata()})
	}

	out, err := svc.s.db.append(stream, exp, events)
	if err != nil {
		return status.Error(codes.ResourceExhausted, err.Error())
	}
	if out.wrong {
		w := &api.AppendResp_WrongExpectedVersion{}
		if out.current < 0 {
			w.CurrentRevisionOption = &api.AppendResp_WrongExpectedVersion_CurrentNoStream{CurrentNoStream: &shared.Empty{}}
		} else {
			w.CurrentRevisionOption = &api.AppendResp_WrongExpectedVersion_CurrentRevision{CurrentRevision: uint64(out.current)}
		}
		switch exp.kind {
		case expectAny:
			w.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedAny{ExpectedAny: &shared.Empty{}}
		case expectNoStream:
			w.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedNoStream{ExpectedNoStream: &shared.Empty{}}
		case expectStreamExists:
			w.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedStreamExists{ExpectedStreamExists: &shared.Empty{}}
		case expectRevision:
			w.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedRevision{ExpectedRevision: exp.revision}
		}
		return srv.SendAndClose(&api.AppendResp{Result: &api.AppendResp_WrongExpectedVersion_{WrongExpectedVersion: w}})
	}
	err = srv.SendAndClose(&api.AppendResp{Result: &api.AppendResp_Success_{Success: &api.AppendResp_Success{
		CurrentRevisionOption: &api.AppendResp_Success_CurrentRevision{CurrentRevision: out.lastVersion},
		PositionOption: &api.AppendResp_Success_Position{Position: &api.AppendResp_Position{
			CommitPosition: out.lastPos, PreparePosition: out.lastPos,
		}},
	}}})
	if out.written {
		svc.s.db.publish()
	}
	return err
}

// withException is a gRPC error with KurrentDB's "exception" trailer.
func withException(ctx context.Context, code codes.Code, exception, msg string) error {
	_ = grpc.SetTrailer(ctx, metadata.Pairs("exception", exception))
	return status.Error(code, msg)
}

// readPlan is what one Read call asks for, decoded.
type readPlan struct {
	all       bool
	stream    string
	backwards bool
	count     uint64
	subscribe bool
	// where to start: for streams a revision, for $all a position.
	fromStart, fromEnd bool
	revision           uint64
	position           uint64
	filter             *filter
	stringIDs          bool
}

func (svc *streamsService) Read(req *api.ReadReq, srv api.Streams_ReadServer) error {
	plan, err := decodeRead(req)
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	if plan.subscribe {
		return svc.subscribe(plan, srv)
	}
	recs, found := svc.s.db.read(plan)
	if !found {
		return srv.Send(&api.ReadResp{Content: &api.ReadResp_StreamNotFound_{StreamNotFound: &api.ReadResp_StreamNotFound{
			StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(plan.stream)},
		}}})
	}
	for _, rec := range recs {
		if err := srv.Send(eventResp(rec, plan.stringIDs)); err != nil {
			return err
		}
	}
	// End of read: the client accepts only events and stream_not_found, so
	// no position or terminator message is sent.
	return nil
}

func decodeRead(req *api.ReadReq) (*readPlan, error) {
	o := req.GetOptions()
	if o == nil {
		return nil, errors.New("read without options")
	}
	plan := &readPlan{backwards: o.GetReadDirection() == api.ReadReq_Options_Backwards}
	switch c := o.GetCountOption().(type) {
	case *api.ReadReq_Options_Count:
		plan.count = c.Count
	case *api.ReadReq_Options_Subscription:
		plan.subscribe = true
	default:
		return nil, errors.New("read without count or subscription")
	}
	switch so := o.GetStreamOption().(type) {
	case *api.ReadReq_Options_Stream:
		if so.Stream.GetStreamIdentifier() == nil {
			return nil, errors.New("stream read without stream identifier")
		}
		plan.stream = string(so.Stream.GetStreamIdentifier().GetStreamName())
		switch r := so.Stream.GetRevisionOption().(type) {
		case *api.ReadReq_Options_StreamOptions_Start:
			plan.fromStart = true
		case *api.ReadReq_Options_StreamOptions_End:
			plan.fromEnd = true
		case *api.ReadReq_Options_StreamOptions_Revision:
			plan.revision = r.Revision
		default:
			return nil, errors.New("stream read without revision option")
		}
	case *api.ReadReq_Options_All:
		plan.all = true
		switch p := so.All.GetAllOption().(type) {
		case *api.ReadReq_Options_AllOptions_Start:
			plan.fromStart = true
		case *api.ReadReq_Options_AllOptions_End:
			plan.fromEnd = true
		case *api.ReadReq_Options_AllOptions_Position:
			// commit = prepare for every event here, so the commit
			// position alone orders the log.
			plan.position = p.Position.GetCommitPosition()
		default:
			return nil, errors.New("$all read without position option")
		}
	default:
		return nil, errors.New("read without stream option")
	}
	if plan.subscribe && plan.backwards {
		return nil, errors.New("subscriptions read forwards")
	}
	if f, ok := o.GetFilterOption().(*api.ReadReq_Options_Filter); ok && f.Filter != nil {
		if !plan.all {
			return nil, errors.New("filters apply to $all only")
		}
		flt, err := newFilter(f.Filter)
		if err != nil {
			return nil, err
		}
		plan.filter = flt
	}
	if _, ok := o.GetUuidOption().GetContent().(*api.ReadReq_Options_UUIDOption_String_); ok {
		plan.stringIDs = true
	}
	return plan, nil
}

// read answers a plain read: the records in order, and whether the stream
// exists ($all always does).
func (d *db) read(plan *readPlan) ([]*record, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	var src []*record
	var start int // index of the first record to send
	if plan.all {
		src = d.log
		switch {
		case plan.backwards && plan.fromEnd:
			start = len(src) - 1
		case plan.backwards && plan.fromStart:
			start = -1
		case plan.backwards:
			// Backwards from a position is exclusive.
			start = d.firstAtOrAfter(plan.position) - 1
		case plan.fromStart:
			start = 0
		case plan.fromEnd:
			start = len(src)
		default:
			// Forwards from a position is inclusive.
			start = d.firstAtOrAfter(plan.position)
		}
	} else {
		recs, ok := d.streams[plan.stream]
		if !ok {
			return nil, false
		}
		src = recs
		switch {
		case plan.fromStart:
			start = 0
			if plan.backwards {
				start = min(0, len(src)-1)
			}
		case plan.fromEnd:
			start = len(src)
			if plan.backwards {
				start = len(src) - 1
			}
		default:
			if plan.revision >= uint64(len(src)) {
				start = len(src)
				if plan.backwards {
					start = len(src) - 1
				}
			} else {
				start = int(plan.revision)
			}
		}
	}
	var out []*record
	step := 1
	if plan.backwards {
		step = -1
	}
	for i := start; i >= 0 && i < len(src) && uint64(len(out)) < plan.count; i += step {
		if plan.filter != nil && !plan.filter.allows(src[i]) {
			continue
		}
		out = append(out, src[i])
	}
	return out, true
}

// firstAtOrAfter is the index of the first record of the log at pos or later.
func (d *db) firstAtOrAfter(pos uint64) int {
	lo, hi := 0, len(d.log)
	for lo < hi {
		mid := (lo + hi) / 2
		if d.log[mid].pos < pos {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// subscriptionBatch bounds the records one catch-up step takes under the lock.
const subscriptionBatch = 512

func (svc *streamsService) subscribe(plan *readPlan, srv api.Streams_ReadServer) error {
	d := svc.s.db
	if err := srv.Send(&api.ReadResp{Content: &api.ReadResp_Confirmation{Confirmation: &api.ReadResp_SubscriptionConfirmation{
		SubscriptionId: uuid.NewString(),
	}}}); err != nil {
		return err
	}

	// cursor is the index (in the log or in the stream) of the next record.
	d.mu.RLock()
	var cursor int
	src := func() []*record {
		if plan.all {
			return d.log
		}
		return d.streams[plan.stream]
	}
	switch {
	case plan.fromStart:
		cursor = 0
	case plan.fromEnd:
		cursor = len(src())
	case plan.all:
		// From a position is exclusive for subscriptions.
		cursor = d.firstAtOrAfter(plan.position)
		if cursor < len(d.log) && d.log[cursor].pos == plan.position {
			cursor++
		}
	default:
		cursor = int(min(plan.revision+1, uint64(len(src()))))
	}
	dropped := d.dropped
	d.mu.RUnlock()

	ctx := srv.Context()
	caughtUp := false
	considered := uint32(0)
	checkpointEvery := uint32(0)
	if plan.filter != nil {
		checkpointEvery = plan.filter.window * max(plan.filter.multiplier, 1)
	}
	for {
		d.mu.RLock()
		recs := src()
		end := min(len(recs), cursor+subscriptionBatch)
		batch := recs[cursor:end:end]
		changed := d.changed
		d.mu.RUnlock()

		for _, rec := range batch {
			cursor++
			if plan.filter != nil && !plan.filter.allows(rec) {
				considered++
				if checkpointEvery > 0 && considered >= checkpointEvery {
					considered = 0
					if err := srv.Send(&api.ReadResp{Content: &api.ReadResp_Checkpoint_{Checkpoint: &api.ReadResp_Checkpoint{
						CommitPosition: rec.pos, PreparePosition: rec.pos,
					}}}); err != nil {
						return err
					}
				}
				continue
			}
			considered++
			if err := srv.Send(eventResp(rec, plan.stringIDs)); err != nil {
				return err
			}
		}
		if len(batch) > 0 {
			continue
		}
		if !caughtUp {
			caughtUp = true
			if err := srv.Send(&api.ReadResp{Content: &api.ReadResp_CaughtUp_{CaughtUp: &api.ReadResp_CaughtUp{}}}); err != nil {
				return err
			}
		}
		select {
		case <-changed:
		case <-dropped:
			return status.Error(codes.Unavailable, "subscription dropped by the node")
		case <-ctx.Done():
			return ctx.Err()
		case <-svc.s.done:
			return status.Error(codes.Unavailable, "node stopping")
		}
	}
}

func eventResp(rec *record, stringIDs bool) *api.ReadResp {
	var id *shared.UUID
	if stringIDs {
		id = &shared.UUID{Value: &shared.UUID_String_{String_: rec.id.String()}}
	} else {
		id = uuidToProto(rec.id)
	}
	return &api.ReadResp{Content: &api.ReadResp_Event{Event: &api.ReadResp_ReadEvent{
		Event: &api.ReadResp_ReadEvent_RecordedEvent{
			Id:               id,
			StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(rec.stream)},
			StreamRevision:   rec.revision,
			PreparePosition:  rec.pos,
			CommitPosition:   rec.pos,
			// The client parses "created" with log.Fatalf on failure:
			// it must always be there, in 100 ns ticks.
			Metadata: map[string]string{
				"type":         rec.eventType,
				"content-type": rec.contentType,
				"created":      strconv.FormatInt(rec.created, 10),
			},
			CustomMetadata: rec.custom,
			Data:           rec.data,
		},
		Position: &api.ReadResp_ReadEvent_CommitPosition{CommitPosition: rec.pos},
	}}}
}

// filter is a server-side $all filter on stream name or event type.
type filter struct {
	onStream   bool
	re         *regexp.Regexp
	prefixes   []string
	window     uint32
	multiplier uint32
}

func newFilter(f *api.ReadReq_Options_FilterOptions) (*filter, error) {
	out := &filter{multiplier: f.GetCheckpointIntervalMultiplier(), window: 32}
	var expr *api.ReadReq_Options_FilterOptions_Expression
	switch e := f.GetFilter().(type) {
	case *api.ReadReq_Options_FilterOptions_StreamIdentifier:
		out.onStream = true
		expr = e.StreamIdentifier
	case *api.ReadReq_Options_FilterOptions_EventType:
		expr = e.EventType
	default:
		return nil, errors.New("filter without expression")
	}
	if m, ok := f.GetWindow().(*api.ReadReq_Options_FilterOptions_Max); ok && m.Max > 0 {
		out.window = m.Max
	}
	if expr.GetRegex() != "" {
		re, err := regexp.Compile(expr.GetRegex())
		if err != nil {
			return nil, fmt.Errorf("filter regex: %w", err)
		}
		out.re = re
	}
	out.prefixes = expr.GetPrefix()
	if out.re == nil && len(out.prefixes) == 0 {
		return nil, errors.New("filter needs a regex or prefixes")
	}
	return out, nil
}

func (f *filter) allows(rec *record) bool {
	subject := rec.eventType
	if f.onStream {
		subject = rec.stream
	}
	if f.re != nil {
		return f.re.MatchString(subject)
	}
	for _, p := range f.prefixes {
		if strings.HasPrefix(subject, p) {
			return true
		}
	}
	return false
}

func uuidToProto(id uuid.UUID) *shared.UUID {
	var most, least int64
	for i := 0; i < 8; i++ {
		most = most<<8 | int64(id[i])
		least = least<<8 | int64(id[8+i])
	}
	return &shared.UUID{Value: &shared.UUID_Structured_{Structured: &shared.UUID_Structured{
		MostSignificantBits: most, LeastSignificantBits: least,
	}}}
}

func uuidFromProto(id *shared.UUID) (uuid.UUID, error) {
	switch v := id.GetValue().(type) {
	case *shared.UUID_Structured_:
		var out uuid.UUID
		most, least := uint64(v.Structured.GetMostSignificantBits()), uint64(v.Structured.GetLeastSignificantBits())
		for i := 7; i >= 0; i-- {
			out[i] = byte(most)
			out[8+i] = byte(least)
			most >>= 8
			least >>= 8
		}
		return out, nil
	case *shared.UUID_String_:
		return uuid.Parse(v.String_)
	}
	return uuid.Nil, errors.New("event without id")
}

// featuresService answers ServerFeatures, which the client calls once per
// connection during discovery.
type featuresService struct {
	serverfeatures.UnimplementedServerFeaturesServer
	version string
}

func (f *featuresService) GetSupportedMethods(context.Context, *shared.Empty) (*serverfeatures.SupportedMethods, error) {
	methods := []*serverfeatures.SupportedMethod{}
	for _, m := range []string{"read", "append"} {
		methods = append(methods, &serverfeatures.SupportedMethod{MethodName: m, ServiceName: "event_store.client.streams.streams"})
	}
	return &serverfeatures.SupportedMethods{Methods: methods, EventStoreServerVersion: f.version}, nil
}

// gossipService answers Gossip with this node as the one alive leader, for
// esdb+discover:// and multi-host connection strings.
type gossipService struct {
	gossip.UnimplementedGossipServer
	addr *net.TCPAddr
}

func (g *gossipService) Read(context.Context, *shared.Empty) (*gossip.ClusterInfo, error) {
	return &gossip.ClusterInfo{Members: []*gossip.MemberInfo{{
		InstanceId:   uuidToProto(uuid.NewSHA1(uuid.NameSpaceURL, []byte(g.addr.String()))),
		TimeStamp:    time.Now().UnixNano() / 100,
		State:        gossip.MemberInfo_Leader,
		IsAlive:      true,
		HttpEndPoint: &gossip.EndPoint{Address: g.addr.IP.String(), Port: uint32(g.addr.Port)},
	}}}, nil
}

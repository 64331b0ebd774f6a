package supervise

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"
)

// journal records what the components did, in order.
type journal struct {
	mu  sync.Mutex
	evs []string
}

func (j *journal) add(ev string) {
	j.mu.Lock()
	j.evs = append(j.evs, ev)
	j.mu.Unlock()
}

func (j *journal) get() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.evs)
}

// plain is a component that journals its start, the end of its run and its
// stop.
func plain(j *journal, name string, vital bool) Component {
	return Component{
		Name:  name,
		Vital: vital,
		Start: func(context.Context) error { j.add("start " + name); return nil },
		Run: func(ctx context.Context) error {
			<-ctx.Done()
			j.add("end " + name)
			return nil
		},
		Stop: func() { j.add("stop " + name) },
	}
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// runAsync runs the components and returns Run's result channel and a
// channel closed once all have started.
func runAsync(ctx context.Context, comps []Component) (<-chan error, <-chan struct{}) {
	done := make(chan error, 1)
	started := make(chan struct{})
	go func() { done <- Run(ctx, quiet(), comps, func() { close(started) }) }()
	return done, started
}

func wait[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

func TestStartInOrderStopInReverse(t *testing.T) {
	var j journal
	ctx, cancel := context.WithCancel(context.Background())
	done, started := runAsync(ctx, []Component{plain(&j, "a", true), plain(&j, "b", true), plain(&j, "c", false)})
	wait(t, started, "the start")
	if got, want := j.get(), []string{"start a", "start b", "start c"}; !slices.Equal(got, want) {
		t.Fatalf("started: %q, want %q", got, want)
	}
	cancel()
	if err := wait(t, done, "Run"); err != nil {
		t.Fatalf("Run = %v after the cancellation, want nil", err)
	}
	want := []string{"start a", "start b", "start c", "end c", "stop c", "end b", "stop b", "end a", "stop a"}
	if got := j.get(); !slices.Equal(got, want) {
		t.Fatalf("journal %q, want %q", got, want)
	}
}

// A component is asked to stop only once the ones started after it have
// finished stopping, even when they take a while.
func TestStopWaitsForTheLaterComponents(t *testing.T) {
	var j journal
	slow := plain(&j, "slow", true)
	slow.Run = func(ctx context.Context) error {
		<-ctx.Done()
		time.Sleep(50 * time.Millisecond) // draining
		j.add("end slow")
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done, started := runAsync(ctx, []Component{plain(&j, "first", true), slow})
	wait(t, started, "the start")
	cancel()
	wait(t, done, "Run")
	want := []string{"start first", "start slow", "end slow", "stop slow", "end first", "stop first"}
	if got := j.get(); !slices.Equal(got, want) {
		t.Fatalf("journal %q, want %q", got, want)
	}
}

func TestVitalFailureStopsTheRest(t *testing.T) {
	var j journal
	boom := errors.New("boom")
	fail := make(chan struct{})
	b := plain(&j, "b", true)
	b.Run = func(ctx context.Context) error {
		select {
		case <-fail:
			j.add("fail b")
			return boom
		case <-ctx.Done():
			return nil
		}
	}
	done, started := runAsync(context.Background(), []Component{plain(&j, "a", true), b, plain(&j, "c", true)})
	wait(t, started, "the start")
	close(fail)
	err := wait(t, done, "Run")
	var se *Error
	if !errors.Is(err, boom) || !errors.As(err, &se) || se.Component != "b" || se.Phase != "run" {
		t.Fatalf("Run = %v, want b's failure", err)
	}
	if err.Error() != "b failed: boom" {
		t.Fatalf("error text %q", err)
	}
	// b's Stop still releases what its Start acquired, in its turn.
	want := []string{"start a", "start b", "start c", "fail b", "end c", "stop c", "stop b", "end a", "stop a"}
	if got := j.get(); !slices.Equal(got, want) {
		t.Fatalf("journal %q, want %q", got, want)
	}
}

// A vital component whose Run returns nil on its own has failed too.
func TestVitalComponentReturningNilIsAFailure(t *testing.T) {
	var j journal
	b := plain(&j, "b", true)
	b.Run = func(context.Context) error { return nil }
	done, _ := runAsync(context.Background(), []Component{plain(&j, "a", true), b})
	err := wait(t, done, "Run")
	if !errors.Is(err, errStoppedOnItsOwn) || err.Error() != "b failed: stopped unexpectedly" {
		t.Fatalf("Run = %v", err)
	}
}

func TestNonVitalFailureCarriesOn(t *testing.T) {
	var j journal
	b := plain(&j, "b", false)
	failed := make(chan struct{})
	b.Run = func(context.Context) error {
		defer close(failed)
		return errors.New("minor")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done, started := runAsync(ctx, []Component{plain(&j, "a", true), b, plain(&j, "c", true)})
	wait(t, started, "the start")
	wait(t, failed, "b's failure")
	select {
	case err := <-done:
		t.Fatalf("Run returned %v after a component that is not vital failed", err)
	case <-time.After(50 * time.Millisecond):
	}
	cancel()
	if err := wait(t, done, "Run"); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	want := []string{"start a", "start b", "start c", "end c", "stop c", "stop b", "end a", "stop a"}
	if got := j.get(); !slices.Equal(got, want) {
		t.Fatalf("journal %q, want %q", got, want)
	}
}

func TestStartFailureStopsWhatStarted(t *testing.T) {
	var j journal
	broken := errors.New("no such file")
	c := plain(&j, "c", false)
	c.Start = func(context.Context) error { j.add("start c"); return broken }
	c.Run = func(context.Context) error { j.add("run c"); return nil }
	called := false
	done, started := runAsync(context.Background(), []Component{plain(&j, "a", true), plain(&j, "b", true), c, plain(&j, "d", true)})
	err := wait(t, done, "Run")
	select {
	case <-started:
		called = true
	default:
	}
	var se *Error
	if !errors.Is(err, broken) || !errors.As(err, &se) || se.Component != "c" || se.Phase != "start" || err.Error() != "starting c: no such file" {
		t.Fatalf("Run = %v, want c's start failure", err)
	}
	if called {
		t.Fatal("started called after a failed start")
	}
	// c's Run and Stop are not called (its Start failed), d never starts.
	want := []string{"start a", "start b", "start c", "end b", "stop b", "end a", "stop a"}
	if got := j.get(); !slices.Equal(got, want) {
		t.Fatalf("journal %q, want %q", got, want)
	}
}

func TestReadyWaitsForTheComponent(t *testing.T) {
	var j journal
	caughtUp := make(chan struct{})
	follower := plain(&j, "follower", true)
	follower.Run = func(ctx context.Context) error {
		time.Sleep(20 * time.Millisecond) // catching up
		j.add("caught up")
		close(caughtUp)
		<-ctx.Done()
		return nil
	}
	follower.Ready = func(ctx context.Context) error {
		select {
		case <-caughtUp:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done, started := runAsync(ctx, []Component{follower, plain(&j, "server", true)})
	wait(t, started, "the start")
	cancel()
	wait(t, done, "Run")
	want := []string{"start follower", "caught up", "start server", "end server", "stop server", "stop follower"}
	if got := j.get(); !slices.Equal(got, want) {
		t.Fatalf("journal %q, want %q", got, want)
	}
}

// A component whose Run fails before it is ready fails the start.
func TestRunFailingBeforeReady(t *testing.T) {
	var j journal
	gone := errors.New("log unreachable")
	follower := plain(&j, "follower", true)
	follower.Run = func(context.Context) error { return gone }
	follower.Ready = func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
	done, _ := runAsync(context.Background(), []Component{plain(&j, "db", true), follower, plain(&j, "server", true)})
	err := wait(t, done, "Run")
	if !errors.Is(err, gone) || err.Error() != "starting follower: log unreachable" {
		t.Fatalf("Run = %v", err)
	}
	want := []string{"start db", "start follower", "stop follower", "end db", "stop db"}
	if got := j.get(); !slices.Equal(got, want) {
		t.Fatalf("journal %q, want %q", got, want)
	}
}

// A vital component that fails while a later one is starting abandons
// that start; the failure is what Run reports.
func TestVitalFailureDuringAStart(t *testing.T) {
	var j journal
	died := errors.New("database died")
	dbDies := make(chan struct{})
	db := plain(&j, "db", true)
	db.Run = func(ctx context.Context) error {
		select {
		case <-dbDies:
			return died
		case <-ctx.Done():
			return nil
		}
	}
	stuck := plain(&j, "stuck", true)
	stuck.Start = func(ctx context.Context) error {
		close(dbDies)
		<-ctx.Done()
		return ctx.Err()
	}
	done, _ := runAsync(context.Background(), []Component{db, stuck, plain(&j, "never", true)})
	err := wait(t, done, "Run")
	if !errors.Is(err, died) || err.Error() != "db failed: database died" {
		t.Fatalf("Run = %v, want the database's failure", err)
	}
	want := []string{"start db", "stop db"}
	if got := j.get(); !slices.Equal(got, want) {
		t.Fatalf("journal %q, want %q", got, want)
	}
}

// Asked to stop during the start: what started is stopped, and it is not a
// failure.
func TestCancelledDuringStart(t *testing.T) {
	var j journal
	ctx, cancel := context.WithCancel(context.Background())
	waiting := plain(&j, "waiting", true)
	waiting.Ready = func(ctx context.Context) error {
		cancel()
		<-ctx.Done()
		return ctx.Err()
	}
	done, started := runAsync(ctx, []Component{plain(&j, "a", true), waiting, plain(&j, "never", true)})
	if err := wait(t, done, "Run"); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	select {
	case <-started:
		t.Fatal("started called")
	default:
	}
	want := []string{"start a", "start waiting", "end waiting", "stop waiting", "end a", "stop a"}
	if got := j.get(); !slices.Equal(got, want) {
		t.Fatalf("journal %q, want %q", got, want)
	}
}

// A Run that returns its context's error when asked to stop has stopped
// cleanly.
func TestRunReturningCtxErrStopsCleanly(t *testing.T) {
	var j journal
	b := plain(&j, "b", true)
	b.Run = func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
	ctx, cancel := context.WithCancel(context.Background())
	done, started := runAsync(ctx, []Component{plain(&j, "a", true), b})
	wait(t, started, "the start")
	cancel()
	if err := wait(t, done, "Run"); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
}

// An error stopping a component is returned, and the others still stop.
func TestStopErrorIsReturned(t *testing.T) {
	var j journal
	unclean := errors.New("shutdown timed out")
	b := plain(&j, "b", true)
	b.Run = func(ctx context.Context) error { <-ctx.Done(); j.add("end b"); return unclean }
	ctx, cancel := context.WithCancel(context.Background())
	done, started := runAsync(ctx, []Component{plain(&j, "a", true), b})
	wait(t, started, "the start")
	cancel()
	err := wait(t, done, "Run")
	var se *Error
	if !errors.Is(err, unclean) || !errors.As(err, &se) || se.Phase != "stop" || err.Error() != "stopping b: shutdown timed out" {
		t.Fatalf("Run = %v", err)
	}
	want := []string{"start a", "start b", "end b", "stop b", "end a", "stop a"}
	if got := j.get(); !slices.Equal(got, want) {
		t.Fatalf("journal %q, want %q", got, want)
	}
}

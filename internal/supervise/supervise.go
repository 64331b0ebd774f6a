// Package supervise runs a process's components: it starts them in order,
// keeps them running until the process is asked to stop or a vital one
// fails, then stops them in reverse order, one at a time, each after the
// ones started after it have finished.
package supervise

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// A Component is one part of the process (a database, a server, a
// background loop). Every hook is optional.
type Component struct {
	// Name identifies the component in logs and errors.
	Name string
	// Vital marks a component the process cannot do without: if its Run
	// returns before it is asked to stop, every component is stopped and
	// Run reports the failure. A component that is not vital and stops on
	// its own is logged, and the others carry on.
	Vital bool
	// Start prepares the component (opens, listens) before Run; the next
	// components may rely on what it prepared. An error aborts the start:
	// the components already started are stopped. ctx ends when the
	// process is asked to stop or a vital component fails.
	Start func(ctx context.Context) error
	// Run runs the component until ctx ends, then returns nil (or ctx's
	// error) once it has stopped its work. It is called, in its own goroutine, once Start has
	// succeeded (even if the process is already stopping, so that it can
	// release what Start acquired). Nil: wait for ctx.
	Run func(ctx context.Context) error
	// Ready, if set, is called once Run is running and blocks until the
	// component is ready for the next ones (e.g. it has caught up with a
	// log). If Run returns first, the start fails with Run's error.
	Ready func(ctx context.Context) error
	// Stop, if set, is called when the component is stopped, after Run
	// has returned (whether it was asked to or failed): it releases what
	// Start acquired.
	Stop func()
}

// Error is a component's failure, as Run returns it.
type Error struct {
	Component string
	// Phase is "start", "run" (it stopped on its own) or "stop" (it was
	// asked to and failed to stop cleanly).
	Phase string
	Err   error
}

func (e *Error) Error() string {
	switch e.Phase {
	case "start":
		return fmt.Sprintf("starting %s: %v", e.Component, e.Err)
	case "stop":
		return fmt.Sprintf("stopping %s: %v", e.Component, e.Err)
	}
	return fmt.Sprintf("%s failed: %v", e.Component, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// errStoppedOnItsOwn is the failure of a Run that returned nil before it
// was asked to stop.
var errStoppedOnItsOwn = errors.New("stopped unexpectedly")

// Run starts the components in order, calls started (if non-nil) once all
// are running, waits until ctx ends or a vital component fails, then stops
// the started components in reverse order: for each, it cancels Run's
// context, waits for Run to return, then calls Stop.
//
// It returns nil after a stop asked for by ctx (also when ctx ends during
// the start), else the first failure: a component that failed to start or
// a vital component that stopped on its own (an *Error naming it). Errors
// of components failing to stop cleanly are joined to it.
func Run(ctx context.Context, log *slog.Logger, components []Component, started func()) error {
	if log == nil {
		log = slog.Default()
	}
	// life ends when the process is asked to stop or a vital component
	// fails; a start in progress is abandoned then.
	life, end := context.WithCancel(ctx)
	defer end()
	s := &supervisor{log: log, end: end}

	var startErr *Error
	for _, c := range components {
		if life.Err() != nil {
			break
		}
		t0 := time.Now()
		r, err := s.start(life, c)
		if r != nil {
			s.running = append(s.running, r)
		}
		if err != nil {
			startErr = &Error{Component: c.Name, Phase: "start", Err: err}
			break
		}
		log.Debug("component started", "component", c.Name, "took", time.Since(t0).Round(time.Millisecond))
	}
	if startErr == nil && life.Err() == nil {
		if started != nil {
			started()
		}
		<-life.Done()
	}

	var failure error
	switch f := s.failure(); {
	case f != nil:
		failure = f // logged when it happened
	case startErr != nil && ctx.Err() != nil:
		log.Info("stopping during the start", "component", startErr.Component, "cause", context.Cause(ctx))
	case startErr != nil:
		log.Error("component failed to start; stopping the others", "component", startErr.Component, "err", startErr.Err)
		failure = startErr
	}
	return errors.Join(append([]error{failure}, s.stopAll()...)...)
}

type supervisor struct {
	log     *slog.Logger
	end     context.CancelFunc
	running []*running // in start order

	mu     sync.Mutex
	failed *Error // the first vital failure
}

type running struct {
	c      Component
	cancel context.CancelFunc
	done   chan struct{} // closed when Run has returned

	// Guarded by supervisor.mu.
	err     error // Run's result, once exited
	exited  bool  // Run returned
	asked   bool  // stopAll asked it to stop
	started bool  // start() returned it as started (failures are Run's to report from then)
}

// start runs one component's Start, launches its Run, and waits for Ready.
// It returns the running component if Run was launched.
func (s *supervisor) start(life context.Context, c Component) (*running, error) {
	if c.Start != nil {
		if err := c.Start(life); err != nil {
			return nil, err
		}
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(life))
	r := &running{c: c, cancel: cancel, done: make(chan struct{}), started: c.Ready == nil}
	go s.run(runCtx, r)
	if c.Ready == nil {
		return r, nil
	}
	readyCtx, cancelReady := context.WithCancel(life)
	defer cancelReady()
	ready := make(chan error, 1)
	go func() { ready <- c.Ready(readyCtx) }()
	select {
	case err := <-ready:
		if err != nil {
			return r, err
		}
	case <-r.done:
		cancelReady()
		<-ready
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.exited {
		return r, cmp.Or(r.err, errStoppedOnItsOwn)
	}
	r.started = true
	return r, nil
}

// run runs r's Run and reports a started component that returns before it
// was asked to stop.
func (s *supervisor) run(ctx context.Context, r *running) {
	defer close(r.done)
	var err error
	if r.c.Run != nil {
		err = r.c.Run(ctx)
	} else {
		<-ctx.Done()
	}
	s.mu.Lock()
	r.err, r.exited = err, true
	if r.asked || !r.started {
		s.mu.Unlock()
		return
	}
	err = cmp.Or(err, errStoppedOnItsOwn)
	if !r.c.Vital {
		s.mu.Unlock()
		s.log.Error("component stopped; carrying on without it", "component", r.c.Name, "err", err)
		return
	}
	first := s.failed == nil
	if first {
		s.failed = &Error{Component: r.c.Name, Phase: "run", Err: err}
	}
	s.mu.Unlock()
	if !first {
		s.log.Error("vital component failed", "component", r.c.Name, "err", err)
		return
	}
	s.log.Error("vital component failed; stopping", "component", r.c.Name, "err", err)
	s.end()
}

// failure returns the first vital failure, or nil.
func (s *supervisor) failure() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failed == nil {
		return nil
	}
	return s.failed
}

// stopAll stops the running components in reverse start order and returns
// the errors of those that failed to stop cleanly.
func (s *supervisor) stopAll() []error {
	var errs []error
	for i := len(s.running) - 1; i >= 0; i-- {
		r := s.running[i]
		s.mu.Lock()
		exitedBefore := r.exited
		r.asked = true
		s.mu.Unlock()
		t0 := time.Now()
		r.cancel()
		<-r.done
		if r.c.Stop != nil {
			r.c.Stop()
		}
		if !exitedBefore && r.err != nil && !errors.Is(r.err, context.Canceled) {
			s.log.Warn("component stopped with an error", "component", r.c.Name, "err", r.err)
			errs = append(errs, &Error{Component: r.c.Name, Phase: "stop", Err: r.err})
		}
		s.log.Debug("component stopped", "component", r.c.Name, "took", time.Since(t0).Round(time.Millisecond))
	}
	return errs
}

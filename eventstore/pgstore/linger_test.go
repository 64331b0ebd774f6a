package pgstore_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/smsledger/smsledger/eventstore"
	"github.com/smsledger/smsledger/eventstore/eventstoretest"
	"github.com/smsledger/smsledger/eventstore/pgstore"
)

// batchLog records when each committed batch began and what it carried.
type batchLog struct {
	mu      sync.Mutex
	starts  []time.Time
	appends []int
}

func (b *batchLog) onBatch(appends, _ int, took time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.starts = append(b.starts, time.Now().Add(-took))
	b.appends = append(b.appends, appends)
}

// TestCommitLingerSpacesCommits: appends without urgency, from callers that
// each append again as soon as the last one returned, are committed no
// sooner than CommitLinger after the writer's previous commit began, so
// they share commits instead of taking one each.
func TestCommitLingerSpacesCommits(t *testing.T) {
	const linger = 20 * time.Millisecond
	var log batchLog
	s := openStore(t, newPool(t, 8), pgstore.Options{CommitLinger: linger, OnBatch: log.onBatch})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	const callers, each = 8, 10
	var wg sync.WaitGroup
	for c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if _, err := s.Append(ctx, fmt.Sprintf("linger-%d-%d", c, i), eventstore.NoStream, eventstoretest.Event("T", 40)); err != nil {
					t.Errorf("append: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	log.mu.Lock()
	defer log.mu.Unlock()
	total := 0
	for _, n := range log.appends {
		total += n
	}
	if total != callers*each {
		t.Fatalf("%d appends committed, want %d", total, callers*each)
	}
	t.Logf("%d appends in %d commits", total, len(log.starts))
	// The first commit may follow the store's opening at once; every
	// later one begins CommitLinger after the one before (a timer never
	// fires early; 1 ms for the clock reads around it).
	for i := 1; i < len(log.starts); i++ {
		if gap := log.starts[i].Sub(log.starts[i-1]); gap < linger-time.Millisecond {
			t.Errorf("commit %d began %v after the one before, within CommitLinger (%v)", i, gap, linger)
		}
	}
	if len(log.starts) > each+2 {
		t.Errorf("%d commits for %d rounds of %d callers: the callers did not share them", len(log.starts), each, callers)
	}
}

// TestCommitLingerUrgentGoesAtOnce: while appends from several callers
// linger, an urgent append (an accept) does not wait: it goes at once and
// takes the lingering ones along.
func TestCommitLingerUrgentGoesAtOnce(t *testing.T) {
	const linger = 2 * time.Second
	var log batchLog
	s := openStore(t, newPool(t, 8), pgstore.Options{CommitLinger: linger, OnBatch: log.onBatch})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Three callers appending one after the other: company, so their
	// batches linger (after the first ones).
	loopCtx, stop := context.WithCancel(ctx)
	var loops sync.WaitGroup
	for c := range 3 {
		loops.Add(1)
		go func() {
			defer loops.Done()
			for i := 0; loopCtx.Err() == nil; i++ {
				if _, err := s.Append(loopCtx, fmt.Sprintf("linger-%d-%d", c, i), eventstore.NoStream, eventstoretest.Event("T", 40)); err != nil && loopCtx.Err() == nil {
					t.Errorf("append: %v", err)
					return
				}
			}
		}()
	}
	defer func() { stop(); loops.Wait() }()
	time.Sleep(linger + 500*time.Millisecond) // past the first commits: now they linger

	started := time.Now()
	if _, err := s.Append(eventstore.WithUrgency(ctx), "linger-urgent", eventstore.NoStream, eventstoretest.Event("T", 40)); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(started); took >= linger/2 {
		t.Fatalf("the urgent append took %v, with a linger of %v", took, linger)
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	for i, at := range log.starts {
		if at.After(started) {
			if log.appends[i] < 2 {
				t.Fatalf("the urgent append's commit carried %d append(s): it did not take the lingering ones along (all: %v)", log.appends[i], log.appends)
			}
			return
		}
	}
	t.Fatalf("no commit began after the urgent append was made (commits: %v)", log.appends)
}

// TestCommitLingerNotForOneCaller: a single caller appending one after the
// other never waits for company that cannot come.
func TestCommitLingerNotForOneCaller(t *testing.T) {
	const linger = 2 * time.Second
	s := openStore(t, newPool(t, 8), pgstore.Options{CommitLinger: linger})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	started := time.Now()
	for i := range 5 {
		if _, err := s.Append(ctx, fmt.Sprintf("alone-%d", i), eventstore.NoStream, eventstoretest.Event("T", 40)); err != nil {
			t.Fatal(err)
		}
	}
	if took := time.Since(started); took >= linger {
		t.Fatalf("5 appends one after the other took %v, with a linger of %v", took, linger)
	}
}

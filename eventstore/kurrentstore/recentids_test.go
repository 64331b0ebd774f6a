package kurrentstore

import (
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/smsledger/smsledger/eventstore"
)

func TestRecentIDs(t *testing.T) {
	if newRecentIDs(-1) != nil || newRecentIDs(0) != nil {
		t.Fatal("a non-positive size should disable the check")
	}
	var off *recentIDs
	if ids, err := off.reserve("s", []eventstore.EventData{{ID: uuid.New()}}); ids != nil || err != nil {
		t.Fatalf("disabled check: %v %v", ids, err)
	}
	r := newRecentIDs(2)
	a, b, c := eventstore.EventData{ID: uuid.New()}, eventstore.EventData{ID: uuid.New()}, eventstore.EventData{ID: uuid.New()}
	if ids, err := r.reserve("s1", []eventstore.EventData{a, b}); err != nil || len(ids) != 2 {
		t.Fatalf("reserve: %v %v", ids, err)
	}
	if ids, err := r.reserve("s1", []eventstore.EventData{a}); err != nil || len(ids) != 0 {
		t.Fatalf("the same stream again: %v %v", ids, err)
	}
	if _, err := r.reserve("s2", []eventstore.EventData{c, a}); !errors.Is(err, eventstore.ErrDuplicateEventID) {
		t.Fatalf("an id of another stream: %v", err)
	}
	// c was not added by the refused reserve; adding it now evicts a, the
	// oldest, which another stream may then use.
	if _, err := r.reserve("s2", []eventstore.EventData{c}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.reserve("s3", []eventstore.EventData{a}); err != nil {
		t.Fatalf("an evicted id: %v", err)
	}
	// Released ids are forgotten.
	ids, err := r.reserve("s4", []eventstore.EventData{{ID: uuid.New()}})
	if err != nil {
		t.Fatal(err)
	}
	r.release(ids)
	if _, err := r.reserve("s5", []eventstore.EventData{{ID: ids[0]}}); err != nil {
		t.Fatalf("a released id: %v", err)
	}
}

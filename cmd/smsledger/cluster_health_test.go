package main

import (
	"testing"
	"time"

	"github.com/smsledger/smsledger/adapters/cluster"
	"github.com/smsledger/smsledger/domain/ledger"
	"github.com/smsledger/smsledger/domain/routing"
)

// A node that binds none of a supplier's binds routes with the state the
// binding nodes publish: up while a live node has a bind up, down once none
// has had for remoteDownAfter (not at once: a node that just started is
// still connecting). The suppliers this node binds keep their own state;
// a disabled supplier is left out, and so is a dead node's word.
func TestMergeRemoteHealth(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	suppliers := []ledger.SupplierInfo{{ID: "local", Enabled: true}, {ID: "far", Enabled: true}, {ID: "off", Enabled: false}}
	downSince := map[string]time.Time{}
	merge := func(nodes []cluster.Node, now time.Time) map[string]routing.SupplierHealth {
		states := map[string]routing.SupplierHealth{"local": {Up: false, Score: 7}}
		mergeRemoteHealth(states, "node-b", nodes, suppliers, downSince, now)
		return states
	}
	up := []cluster.Node{{ID: "node-a", Live: true, SuppliersUp: []string{"far", "local"}}, {ID: "node-b", Live: true}}
	st := merge(up, t0)
	if !st["far"].Up || st["local"].Up || st["local"].Score != 7 {
		t.Fatalf("with node-a's bind up: %+v", st)
	}
	if _, ok := st["off"]; ok {
		t.Fatalf("a disabled supplier was given a state: %+v", st)
	}
	gone := []cluster.Node{{ID: "node-a", Live: false, SuppliersUp: []string{"far"}}, {ID: "node-b", Live: true, SuppliersUp: []string{"far"}}}
	if st := merge(gone, t0.Add(time.Second)); !st["far"].Up {
		t.Fatalf("counted down at once: %+v", st)
	}
	if st := merge(gone, t0.Add(time.Second+remoteDownAfter-time.Millisecond)); !st["far"].Up {
		t.Fatalf("counted down before remoteDownAfter: %+v", st)
	}
	if st := merge(gone, t0.Add(time.Second+remoteDownAfter)); st["far"].Up {
		t.Fatalf("up with no live node's bind up (a dead node's and its own word do not count): %+v", st)
	}
	if st := merge(up, t0.Add(time.Minute)); !st["far"].Up {
		t.Fatalf("not up again once a bind is: %+v", st)
	}
	if _, ok := downSince["far"]; ok {
		t.Fatal("the down clock was not reset by the bind coming up")
	}
}

package runner

import (
	"context"
	"errors"
	"net"
	"sort"
	"sync"
	"time"

	"github.com/linxGnu/gosmpp"
	"github.com/linxGnu/gosmpp/pdu"

	"github.com/smsledger/smsledger/adapters/smpp/receipt"
	"github.com/smsledger/smsledger/scenarios/load"
)

// Terminal message states (domain/message).
var terminalStates = map[string]bool{"delivered": true, "undelivered": true, "rejected": true, "expired": true, "failed": true}

// message is the part of GET /v1/messages/{id} the checks use.
type message struct {
	MessageID string `json:"message_id"`
	TenantID  string `json:"tenant_id"`
	State     string `json:"state"`
	Supplier  string `json:"supplier"`
	Forwarded bool   `json:"forwarded"`
	Price     string `json:"price"`
	To        string `json:"to"`
	Money     string `json:"money"` // held | settled | released
	// The destination's network (the tenant sees it), and the route row
	// that matched (the admin's view only).
	MCCMNC      string `json:"mccmnc"`
	Country     string `json:"country"`
	Operator    string `json:"operator"`
	RoutePrefix string `json:"route_prefix"`
	RouteMCCMNC string `json:"route_mccmnc"`
}

// settled is what the settle phase saw of each acknowledged message.
type settled struct {
	msgs    map[string]*message // last GET of each acknowledged message (absent: 404 or error)
	missing map[string]string   // id → last error
	waited  time.Duration
	// allFinal: from the start of the settle (the end of the traffic) to
	// the first poll that found every acknowledged message final (-1: never).
	allFinal time.Duration
}

// settle binds a receiver per tenant to collect the DLRs (and MOs) still
// to come and polls every acknowledged message (≤ Settle) until it is
// terminal and, when asked for, its DLR was received, and until every
// acknowledged MO for a tenant's number reached that tenant; then waits a
// moment more for duplicates.
func (r *run) settle(ctx context.Context) *settled {
	start := time.Now()
	stop := r.collectDLRs(ctx)
	defer stop()
	r.mu.Lock()
	ids := make([]string, 0, len(r.acked))
	for id := range r.acked {
		ids = append(ids, id)
	}
	r.mu.Unlock()
	sort.Strings(ids)
	st := &settled{msgs: map[string]*message{}, missing: map[string]string{}, allFinal: -1}
	pending := ids
	deadline := start.Add(r.sc.Settle.D())
	for round := 0; (len(pending) > 0 || r.mosPending() > 0) && round < 10_000; round++ {
		got := r.fetchMessages(ctx, pending)
		var next []string
		final := true
		for _, id := range pending {
			m, ok := got[id]
			if !ok {
				next = append(next, id)
				final = false
				continue
			}
			final = final && terminalStates[m.State]
			st.msgs[id] = m
			delete(st.missing, id)
			r.mu.Lock()
			a, n := r.acked[id], r.dlrs[id]
			r.mu.Unlock()
			if !terminalStates[m.State] || a.dlr && n == 0 {
				next = append(next, id)
			}
		}
		for _, id := range next {
			if _, ok := got[id]; !ok {
				st.missing[id] = "not found"
			}
		}
		pending = next
		if final && st.allFinal < 0 {
			st.allFinal = time.Since(start)
		}
		if len(pending) == 0 && r.mosPending() == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		sleep(ctx, 250*time.Millisecond)
	}
	sleep(ctx, time.Second) // late duplicates
	st.waited = time.Since(start)
	return st
}

// fetchMessages GETs the messages (8 at a time); the map holds those found.
func (r *run) fetchMessages(ctx context.Context, ids []string) map[string]*message {
	out := make(map[string]*message, len(ids))
	var mu sync.Mutex
	work := make(chan string)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range work {
				r.mu.Lock()
				tenant := r.acked[id].tenant
				r.mu.Unlock()
				// As the tenant (it must see its own message), then as the
				// admin for what a tenant's view hides (the supplier).
				var m message
				if err := r.tenantAPI(tenant).do(ctx, "GET", "/v1/messages/"+id, nil, &m); err != nil {
					continue
				}
				var full message
				if err := r.admin().do(ctx, "GET", "/v1/messages/"+id, nil, &full); err == nil {
					m.Supplier, m.RoutePrefix, m.RouteMCCMNC = full.Supplier, full.RoutePrefix, full.RouteMCCMNC
				}
				mu.Lock()
				out[id] = &m
				mu.Unlock()
			}
		}()
	}
	for _, id := range ids {
		work <- id
	}
	close(work)
	wg.Wait()
	return out
}

// collectDLRs binds one SMPP receiver per tenant (binding again while the
// run lasts, bounded) and counts every receipt and MO; stop unbinds them.
func (r *run) collectDLRs(ctx context.Context) (stop func()) {
	cctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, t := range r.sc.Tenants {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for attempt := 0; attempt < 100 && cctx.Err() == nil; attempt++ {
				s := r.waitServe(cctx, 10*time.Second)
				if s == nil {
					continue
				}
				if err := r.receive(cctx, s.SMPPAddr(), t.ID); err != nil {
					r.log.Debug("dlr collector", "tenant", t.ID, "err", err)
				}
				sleep(cctx, 200*time.Millisecond)
			}
		}()
	}
	return func() {
		cancel()
		wg.Wait()
	}
}

// receive holds one receiver bind until ctx ends or the bind is lost.
func (r *run) receive(ctx context.Context, addr, tenant string) error {
	c := r.creds[tenant]
	closed := make(chan struct{})
	var once sync.Once
	dialer := func(a string) (net.Conn, error) { return net.DialTimeout("tcp", a, 10*time.Second) }
	sess, err := gosmpp.NewSession(gosmpp.RXConnector(dialer, gosmpp.Auth{SMSC: addr, SystemID: c.SystemID, Password: c.Password}),
		gosmpp.Settings{ReadTimeout: time.Minute, EnquireLink: 10 * time.Second, WriteTimeout: 10 * time.Second,
			OnAllPDU: func(p pdu.PDU) (pdu.PDU, bool) {
				switch q := p.(type) {
				case *pdu.DeliverSM:
					if receipt.IsReceipt(q) {
						if rc, err := receipt.FromDeliverSM(q); err == nil {
							r.onReceipt(rc.ID, rc.Stat)
						}
					} else {
						r.onMO(tenant)(load.MOOf(q))
					}
					return q.GetResponse(), false
				case *pdu.EnquireLink:
					return q.GetResponse(), false
				case *pdu.Unbind:
					return q.GetResponse(), true
				}
				return nil, false
			},
			OnClosed: func(gosmpp.State) { once.Do(func() { close(closed) }) },
		}, 0)
	if err != nil {
		return err
	}
	defer sess.Close()
	select {
	case <-ctx.Done():
		return nil
	case <-closed:
		return errors.New("receiver bind lost")
	}
}

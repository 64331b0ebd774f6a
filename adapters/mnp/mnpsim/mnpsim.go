// Package mnpsim is a number-portability provider for tests, demos and
// scenarios: it answers adapters/mnp's protocol (GET ?msisdn= → 200
// {"mccmnc"} for a ported number, 404 otherwise) from a table set in
// memory, and can be made slow or failing.
package mnpsim

import (
	"encoding/json"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Sim is the simulated provider: an http.Handler.
type Sim struct {
	mu      sync.Mutex
	ported  map[string]string // msisdn → mccmnc
	delay   time.Duration
	failing bool

	requests atomic.Int64
}

// New returns a provider that knows the numbers of ported (msisdn →
// mccmnc).
func New(ported map[string]string) *Sim {
	s := &Sim{ported: make(map[string]string, len(ported))}
	for k, v := range ported {
		s.ported[k] = v
	}
	return s
}

// Set records a number as ported to mccmnc ("" removes it).
func (s *Sim) Set(msisdn, mccmnc string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if mccmnc == "" {
		delete(s.ported, msisdn)
		return
	}
	s.ported[msisdn] = mccmnc
}

// SetDelay makes every answer wait d.
func (s *Sim) SetDelay(d time.Duration) {
	s.mu.Lock()
	s.delay = d
	s.mu.Unlock()
}

// SetFailing makes every answer a 503.
func (s *Sim) SetFailing(on bool) {
	s.mu.Lock()
	s.failing = on
	s.mu.Unlock()
}

// Requests is the number of lookups asked so far.
func (s *Sim) Requests() int64 { return s.requests.Load() }

func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	s.mu.Lock()
	delay, failing := s.delay, s.failing
	mccmnc, ok := s.ported[r.URL.Query().Get("msisdn")]
	s.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	switch {
	case failing:
		http.Error(w, "provider unavailable", http.StatusServiceUnavailable)
	case !ok:
		http.Error(w, "not ported", http.StatusNotFound)
	default:
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"msisdn": r.URL.Query().Get("msisdn"), "mccmnc": mccmnc})
	}
}

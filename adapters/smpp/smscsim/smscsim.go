// Package smscsim is an SMSC simulator built on the ingress server code:
// it accepts binds with one system_id/password, answers submit_sm after a
// configurable latency with a configurable mix of outcomes (error status,
// no answer at all, accepted), and sends standard DLR deliver_sm receipts
// (DELIVRD / UNDELIV / REJECTD mix) after a delay on the ESME's
// receiver-capable binds. SetDown makes it go away (listener and every
// connection closed) and come back on the same address, for outage tests;
// DropConnections cuts every connection and takes new binds at once, as a
// supplier whose network or front end drops its TCP sessions. A supplier
// that loses DLRs: Config.DLRDropRate never sends a share of them, and
// SetDLRMute makes it send none for a while (the DLRs due meanwhile are
// lost, not delayed). A supplier that cannot reach one network:
// Config.RejectPrefixes answers every submit to those destinations with
// ErrorStatus. Config.OnSubmit sees every accepted submit. SendMO
// delivers a mobile-originated message (mo.go).
package smscsim

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/linxGnu/gosmpp/data"
	"github.com/smsledger/smsledger/adapters/smpp/receipt"
	"github.com/smsledger/smsledger/adapters/smpp/server"
	"github.com/smsledger/smsledger/domain/accept"
	"github.com/smsledger/smsledger/domain/message"
)

// Config configures the simulator.
type Config struct {
	Addr     string // default 127.0.0.1:2776
	SystemID string
	Password string
	Logger   *slog.Logger

	Latency  time.Duration // before each submit_sm_resp
	DLRDelay time.Duration // from submit to its DLR
	// DLR outcome weights (normalised; all zero = all delivered).
	Delivered, Undelivered, Rejected float64
	ErrorRate                        float64 // fraction of submits answered ErrorStatus
	ErrorStatus                      uint32  // default 0x45 ESME_RSUBMITFAIL
	NoResponseRate                   float64 // fraction of submits never answered
	WindowMax                        int     // per bind (default 256)
	MaxPendingDLR                    int     // DLRs waiting for their time (default 100000; beyond, dropped)
	// DLRWindow bounds the DLRs sent and not yet answered over all binds
	// (default 256). Each waits for its deliver_sm_resp, which serve sends
	// once the DLR is durable; a real SMSC keeps a window open per bind.
	DLRWindow int
	// DLRDropRate is the fraction (0..1) of accepted submits with
	// registered delivery whose DLR is never sent (counted in DLRsDropped).
	DLRDropRate float64
	// RejectPrefixes: every submit to a destination starting with one of
	// them (E.164 digits, a leading '+' ignored) is answered ErrorStatus,
	// as a supplier whose route to one network is broken while the others
	// work (counted in RejectedByPrefix, not in Errors).
	RejectPrefixes []string
	// OnSubmit, when set, is called with every accepted submit (on the
	// submit's goroutine: keep it short).
	OnSubmit func(Submit)
}

// Submit is one accepted submit_sm, as OnSubmit sees it.
type Submit struct {
	ID       string // the simulator's message id
	From, To string
	Text     string
	At       time.Time // when it was accepted
}

// Sim is a running simulator.
type Sim struct {
	cfg  Config
	log  *slog.Logger
	addr string
	seq  atomic.Uint64
	dlrs chan pendingDLR
	// Submitted counts accepted submits; DLRsSent counts acknowledged DLRs;
	// Binds counts successful binds (authentications); DLRsDropped counts
	// the DLRs never sent by DLRDropRate, DLRsMuted those lost while muted
	// (SetDLRMute).
	Submitted, DLRsSent, Errors, Binds atomic.Int64
	DLRsDropped, DLRsMuted             atomic.Int64
	// MOsSent counts the MOs the ESME acknowledged (SendMO).
	MOsSent atomic.Int64
	// RejectedByPrefix counts the submits refused by Config.RejectPrefixes.
	RejectedByPrefix atomic.Int64

	muted atomic.Bool

	mu   sync.Mutex
	srv  *server.Server
	down bool
	hang chan struct{} // closed on stop: releases never-answered submits
}

type pendingDLR struct {
	due time.Time
	dlr server.DLR
}

// New starts listening.
func New(cfg Config) (*Sim, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:2776"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ErrorStatus == 0 {
		cfg.ErrorStatus = uint32(data.ESME_RSUBMITFAIL)
	}
	if cfg.WindowMax <= 0 {
		cfg.WindowMax = 256
	}
	if cfg.MaxPendingDLR <= 0 {
		cfg.MaxPendingDLR = 100000
	}
	if cfg.DLRWindow <= 0 {
		cfg.DLRWindow = 256
	}
	if cfg.Delivered+cfg.Undelivered+cfg.Rejected <= 0 {
		cfg.Delivered = 1
	}
	s := &Sim{cfg: cfg, log: cfg.Logger.With("component", "smsc-sim"), addr: cfg.Addr, dlrs: make(chan pendingDLR, cfg.MaxPendingDLR)}
	if err := s.start(); err != nil {
		return nil, err
	}
	return s, nil
}

// Addr is the listen address (fixed across outages).
func (s *Sim) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

func (s *Sim) start() error {
	srv, err := server.New(server.Config{Addr: s.addr, Ingress: (*ingress)(s), Logger: s.cfg.Logger, SystemID: "smsc-sim",
		WindowMax: s.cfg.WindowMax, SubmitTimeout: time.Hour, AuthFailDelay: time.Millisecond, AuthFailMaxDelay: time.Millisecond})
	if err != nil {
		return err
	}
	s.addr = srv.Addr().String()
	s.srv = srv
	s.hang = make(chan struct{})
	go func() { _ = srv.Serve(context.Background()) }()
	return nil
}

// SetDown takes the simulator down (every connection dropped, nothing
// listening) or brings it back.
func (s *Sim) SetDown(down bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if down == s.down {
		return nil
	}
	s.down = down
	if down {
		close(s.hang)
		s.srv.Close()
		s.srv = nil
		s.log.Warn("smsc-sim down")
		return nil
	}
	var err error
	for i := 0; i < 50; i++ { // the port may linger briefly
		if err = s.start(); err == nil {
			s.log.Info("smsc-sim up", "addr", s.addr)
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("smsc-sim: back up: %w", err)
}

// DropConnections closes every connection at once (in-flight submits stay
// unanswered; DLRs not yet acknowledged are sent again on the next
// receiver bind) and listens again on the same address straight away: the
// simulator stays up and takes re-binds. Only the moment between closing
// the old listener and opening the new one refuses connections (a bind
// attempt then is refused and retried by the client). It returns the number
// of connections dropped; a simulator that is down has none.
func (s *Sim) DropConnections() (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return 0, nil
	}
	n := s.srv.Sessions()
	close(s.hang)
	s.srv.Close()
	s.srv = nil
	var err error
	for i := 0; i < 50; i++ { // the port may linger briefly
		if err = s.start(); err == nil {
			s.log.Warn("smsc-sim connections dropped", "connections", n, "addr", s.addr)
			return n, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.down = true // nothing listens: as SetDown(true); SetDown(false) retries
	return n, fmt.Errorf("smsc-sim: listen again after dropping connections: %w", err)
}

// Sessions is the number of open connections (0 while down).
func (s *Sim) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv == nil {
		return 0
	}
	return s.srv.Sessions()
}

// SetDLRMute makes the simulator send no DLR while on: every DLR that
// comes due (or is retried) meanwhile is lost for good, as a supplier that
// goes mute and never sends what it owed. Submits are still answered.
func (s *Sim) SetDLRMute(on bool) {
	if s.muted.Swap(on) != on {
		s.log.Warn("smsc-sim DLRs muted", "muted", on)
	}
}

// Toggle flips SetDown.
func (s *Sim) Toggle() error {
	s.mu.Lock()
	d := s.down
	s.mu.Unlock()
	return s.SetDown(!d)
}

// Run sends due DLRs until ctx ends, then stops the server.
func (s *Sim) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	work := make(chan server.DLR, 64)
	for i := 0; i < s.cfg.DLRWindow; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := range work {
				s.deliver(ctx, d)
			}
		}()
	}
	defer func() {
		close(work)
		wg.Wait()
		s.mu.Lock()
		if s.srv != nil {
			close(s.hang)
			sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = s.srv.Shutdown(sctx)
			cancel()
			s.srv = nil
		}
		s.mu.Unlock()
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case p := <-s.dlrs:
			if w := time.Until(p.due); w > 0 {
				select {
				case <-time.After(w):
				case <-ctx.Done():
					return nil
				}
			}
			select {
			case work <- p.dlr:
			case <-ctx.Done():
				return nil
			}
		}
	}
}

func (s *Sim) deliver(ctx context.Context, d server.DLR) {
	for attempt := 0; attempt < 30 && ctx.Err() == nil; attempt++ {
		if s.muted.Load() {
			s.DLRsMuted.Add(1)
			s.log.Debug("smsc-sim dlr lost (muted)", "id", d.Receipt.ID)
			return
		}
		s.mu.Lock()
		srv := s.srv
		s.mu.Unlock()
		if srv != nil {
			c, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := srv.DeliverReceipt(c, s.cfg.SystemID, d)
			cancel()
			if err == nil {
				s.DLRsSent.Add(1)
				return
			}
			s.log.Debug("smsc-sim dlr not delivered yet", "id", d.Receipt.ID, "err", err)
		}
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
		}
	}
	s.log.Warn("smsc-sim dlr dropped", "id", d.Receipt.ID)
}

// ingress is the simulator's application side.
type ingress Sim

func (in *ingress) AuthenticateSMPP(_ context.Context, sys, pw string) (server.Principal, error) {
	s := (*Sim)(in)
	if subtle.ConstantTimeCompare([]byte(sys), []byte(s.cfg.SystemID)) != 1 {
		return server.Principal{}, server.ErrUnknownSystemID
	}
	if subtle.ConstantTimeCompare([]byte(pw), []byte(s.cfg.Password)) != 1 {
		return server.Principal{}, server.ErrInvalidPassword
	}
	s.Binds.Add(1)
	return server.Principal{TenantID: sys}, nil
}

func (in *ingress) Submit(ctx context.Context, _ string, req accept.Request) (server.Accepted, error) {
	s := (*Sim)(in)
	s.mu.Lock()
	hang := s.hang
	s.mu.Unlock()
	if s.cfg.Latency > 0 {
		select {
		case <-time.After(s.cfg.Latency):
		case <-ctx.Done():
			return server.Accepted{}, ctx.Err()
		}
	}
	if s.rejects(req.To) {
		s.RejectedByPrefix.Add(1)
		return server.Accepted{}, &server.StatusError{Status: data.CommandStatusType(s.cfg.ErrorStatus)}
	}
	r := rand.Float64()
	if r < s.cfg.NoResponseRate {
		select { // never answered: until the sim stops or goes down
		case <-hang:
		case <-ctx.Done():
		}
		return server.Accepted{}, &server.StatusError{Status: data.ESME_RSYSERR, Err: errors.New("no response")}
	}
	if r < s.cfg.NoResponseRate+s.cfg.ErrorRate {
		s.Errors.Add(1)
		return server.Accepted{}, &server.StatusError{Status: data.CommandStatusType(s.cfg.ErrorStatus)}
	}
	id := strconv.FormatUint(s.seq.Add(1)+0x10000, 16)
	now := time.Now()
	s.Submitted.Add(1)
	if s.cfg.OnSubmit != nil {
		s.cfg.OnSubmit(Submit{ID: id, From: req.From, To: req.To, Text: req.Text, At: now})
	}
	if req.RegisteredDelivery && s.cfg.DLRDropRate > 0 && rand.Float64() < s.cfg.DLRDropRate {
		s.DLRsDropped.Add(1)
	} else if req.RegisteredDelivery {
		stat, errc := s.outcome()
		d := server.DLR{Source: req.To, Dest: req.From, Receipt: receipt.Receipt{ID: id, Sub: 1, Dlvrd: -1,
			SubmitDate: now, DoneDate: now.Add(s.cfg.DLRDelay), Stat: stat, Err: errc, Text: req.Text}}
		select {
		case s.dlrs <- pendingDLR{due: now.Add(s.cfg.DLRDelay), dlr: d}:
		default:
			s.log.Warn("smsc-sim dlr queue full; dropped", "id", id)
		}
	}
	return server.Accepted{MessageID: id, Parts: 1}, nil
}

// rejects reports whether Config.RejectPrefixes refuses a destination.
func (s *Sim) rejects(to string) bool {
	to = strings.TrimPrefix(to, "+")
	for _, p := range s.cfg.RejectPrefixes {
		if p = strings.TrimPrefix(p, "+"); p != "" && strings.HasPrefix(to, p) {
			return true
		}
	}
	return false
}

func (s *Sim) outcome() (stat, errc string) {
	tot := s.cfg.Delivered + s.cfg.Undelivered + s.cfg.Rejected
	r := rand.Float64() * tot
	switch {
	case r < s.cfg.Delivered:
		return message.DLRDelivered, "000"
	case r < s.cfg.Delivered+s.cfg.Undelivered:
		return message.DLRUndeliverable, "001"
	}
	return message.DLRRejected, "002"
}

func (in *ingress) QueryMessage(context.Context, string, string) (server.MessageStatus, error) {
	return server.MessageStatus{}, server.ErrMessageNotFound
}

package smscsim

// Mobile-originated messages: the simulator, as a supplier, delivers a
// handset's message to the ESME (serve) on one of its receiver-capable
// binds — a deliver_sm with esm_class 0 — and waits for its
// deliver_sm_resp, which serve sends once the MO is durable.

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/linxGnu/gosmpp/data"

	"github.com/smsledger/smsledger/adapters/smpp/server"
	"github.com/smsledger/smsledger/domain/pricing"
)

// ErrDown: the simulator is down (SetDown) and sends nothing.
var ErrDown = errors.New("smsc-sim: down")

// SendMO delivers an MO from the handset from to the number to, in GSM
// 03.38 when text fits it, else UCS-2. It returns nil when the ESME
// answered ESME_ROK, a *server.StatusError with the ESME's status
// otherwise (ESME_RSYSERR: it could not store it; send it again), or
// server.ErrNoReceiverBind when no receiver-capable bind is up.
func (s *Sim) SendMO(ctx context.Context, from, to, text string) error {
	coding := byte(data.GSM7BITCoding)
	if !pricing.IsGSM7(text) {
		coding = data.UCS2Coding
	}
	s.mu.Lock()
	srv := s.srv
	s.mu.Unlock()
	if srv == nil {
		return ErrDown
	}
	if err := srv.DeliverMO(ctx, s.cfg.SystemID, server.MO{Source: from, Dest: to, Text: text, DataCoding: coding}); err != nil {
		return err
	}
	s.MOsSent.Add(1)
	return nil
}

// MOHandler serves POST /mo with the form fields from, to and text: it
// sends that MO (SendMO) and answers 204, or 503 with the reason (no
// receiver bind, the ESME's error status, down), 400 without from and to:
// a trigger for scenarios and operators, on a control listener of their
// own (never the SMPP address).
func (s *Sim) MOHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /mo", func(w http.ResponseWriter, r *http.Request) {
		from, to := r.FormValue("from"), r.FormValue("to")
		if from == "" || to == "" {
			http.Error(w, "from and to are required", http.StatusBadRequest)
			return
		}
		if err := s.SendMO(r.Context(), from, to, r.FormValue("text")); err != nil {
			http.Error(w, fmt.Sprintf("MO not delivered: %v", err), http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}

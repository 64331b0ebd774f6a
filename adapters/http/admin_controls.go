package httpapi

import (
	"context"
	"net/http"

	"github.com/google/uuid"
	"github.com/smsledger/smsledger/domain/controls"
	"github.com/smsledger/smsledger/domain/ledger"
)

// MaxControlsBodyBytes bounds a controls document: 10,000 keywords of up
// to 200 bytes and 10,000 domains of up to 253 bytes, JSON-quoted, fit in
// well under it.
const MaxControlsBodyBytes = 8 << 20

// controlsAdmin is what the administration of the controls before a
// message is accepted uses of the ledger (part of Ledger).
type controlsAdmin interface {
	SetTenantControls(ctx context.Context, tenantID string, c ledger.TenantControls) (ledger.TenantControls, error)
	TenantControls(tenantID string) (ledger.TenantControls, error)
	SetGlobalControls(ctx context.Context, r controls.Rules) (controls.Rules, error)
	GlobalControls() controls.Rules
}

var _ controlsAdmin = (*ledger.Service)(nil)

// controlsAdminRoutes are the admin endpoints of the controls: a tenant's
// document (sender and content rules, per-destination rate limit,
// duplicate window) and the global rules, each replaced whole.
func (h *handler) controlsAdminRoutes() []Route {
	return []Route{
		{"GET", "/v1/tenants/{id}/controls", authAdmin, h.getTenantControls},
		{"PUT", "/v1/tenants/{id}/controls", authAdmin, h.setTenantControls},
		{"GET", "/v1/controls", authAdmin, h.getGlobalControls},
		{"PUT", "/v1/controls", authAdmin, h.setGlobalControls},
	}
}

// rulesDoc is a set of sender and content rules as JSON. Lists are never
// null in an answer.
type rulesDoc struct {
	SenderAllow    []string           `json:"sender_allow"`
	SenderRewrites []senderRewriteDoc `json:"sender_rewrites"`
	Keywords       []string           `json:"keywords"`
	Patterns       []string           `json:"patterns"`
	URLDomains     []string           `json:"url_domains"`
}

type senderRewriteDoc struct {
	MCCMNC string `json:"mccmnc"`
	From   string `json:"from"`
	To     string `json:"to"`
}

// tenantControlsDoc is a tenant's controls document: its rules, its
// per-destination rate limit ({"count":5,"window_s":60}; count 0: off)
// and its duplicate window in seconds (0: off).
type tenantControlsDoc struct {
	rulesDoc
	DestRateLimit    destRateDoc `json:"dest_rate_limit"`
	DuplicateWindowS int         `json:"duplicate_window_s"`
}

type destRateDoc struct {
	Count   int `json:"count"`
	WindowS int `json:"window_s"`
}

func (d rulesDoc) rules() controls.Rules {
	r := controls.Rules{SenderAllow: d.SenderAllow, Keywords: d.Keywords, Patterns: d.Patterns, URLDomains: d.URLDomains}
	for _, rw := range d.SenderRewrites {
		r.SenderRewrites = append(r.SenderRewrites, controls.Rewrite{MCCMNC: rw.MCCMNC, From: rw.From, To: rw.To})
	}
	return r
}

func rulesDocOf(r controls.Rules) rulesDoc {
	d := rulesDoc{SenderAllow: orEmpty(r.SenderAllow), SenderRewrites: []senderRewriteDoc{},
		Keywords: orEmpty(r.Keywords), Patterns: orEmpty(r.Patterns), URLDomains: orEmpty(r.URLDomains)}
	for _, rw := range r.SenderRewrites {
		d.SenderRewrites = append(d.SenderRewrites, senderRewriteDoc{MCCMNC: rw.MCCMNC, From: rw.From, To: rw.To})
	}
	return d
}

func tenantControlsDocOf(c ledger.TenantControls) tenantControlsDoc {
	return tenantControlsDoc{rulesDoc: rulesDocOf(c.Rules),
		DestRateLimit:    destRateDoc{Count: c.DestRateLimit.Count, WindowS: c.DestRateLimit.WindowS},
		DuplicateWindowS: c.DuplicateWindowS}
}

func (h *handler) getTenantControls(w http.ResponseWriter, r *http.Request, _ string) error {
	c, err := h.svc.TenantControls(r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, tenantControlsDocOf(c))
	return nil
}

// setTenantControls replaces a tenant's controls document; a bad rule is
// a 400 naming it ("patterns[2]: ...").
func (h *handler) setTenantControls(w http.ResponseWriter, r *http.Request, _ string) error {
	var doc tenantControlsDoc
	if err := decode(w, r, MaxControlsBodyBytes, &doc); err != nil {
		return err
	}
	c, err := h.svc.SetTenantControls(r.Context(), r.PathValue("id"), ledger.TenantControls{Rules: doc.rules(),
		DestRateLimit:    ledger.DestRateLimit{Count: doc.DestRateLimit.Count, WindowS: doc.DestRateLimit.WindowS},
		DuplicateWindowS: doc.DuplicateWindowS})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, tenantControlsDocOf(c))
	return nil
}

func (h *handler) getGlobalControls(w http.ResponseWriter, r *http.Request, _ string) error {
	writeJSON(w, http.StatusOK, rulesDocOf(h.svc.GlobalControls()))
	return nil
}

// setGlobalControls replaces the rules every tenant's messages pass.
func (h *handler) setGlobalControls(w http.ResponseWriter, r *http.Request, _ string) error {
	var doc rulesDoc
	if err := decode(w, r, MaxControlsBodyBytes, &doc); err != nil {
		return err
	}
	rules, err := h.svc.SetGlobalControls(r.Context(), doc.rules())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rulesDocOf(rules))
	return nil
}

// refusalBody is the error answer of a submit a control refused: the
// usual error with the message id it was given, whose GET
// /v1/messages/{id} (state "refused") and events say why.
type refusalBody struct {
	Error struct {
		Code      string    `json:"code"`
		Message   string    `json:"message"`
		MessageID uuid.UUID `json:"message_id"`
	} `json:"error"`
}

// writeErrorOf writes the error answer of err: with its message id when a
// control refused the message.
func writeErrorOf(w http.ResponseWriter, err error, status int, code, msg string) {
	id, ok := ledger.RefusedMessageID(err)
	if !ok {
		writeError(w, status, code, msg)
		return
	}
	var b refusalBody
	b.Error.Code, b.Error.Message, b.Error.MessageID = code, msg, id
	writeJSON(w, status, b)
}

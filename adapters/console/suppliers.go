package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// supplierRoutes registers the pages of suppliers and routes: live state, health chart, enable and disable, cost decks and the route table.
func (c *Console) supplierRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /console/suppliers", c.signedIn(c.suppliersPage))
	mux.HandleFunc("POST /console/suppliers", c.action(c.createSupplier))
	mux.HandleFunc("GET /console/suppliers/{id}", c.signedIn(c.supplierPage))
	mux.HandleFunc("POST /console/suppliers/{id}/disable", c.action(c.setSupplierStatus("disabled")))
	mux.HandleFunc("POST /console/suppliers/{id}/enable", c.action(c.setSupplierStatus("active")))
	mux.HandleFunc("POST /console/suppliers/{id}/settings", c.action(c.patchSupplierSettings))
	mux.HandleFunc("GET /console/suppliers/{id}/costs.csv", c.signedIn(c.supplierCostsCSV))
	mux.HandleFunc("POST /console/suppliers/{id}/costs", c.action(c.uploadSupplierCosts))
	mux.HandleFunc("GET /console/routes", c.signedIn(c.routesPage))
	mux.HandleFunc("GET /console/routes.csv", c.signedIn(c.routesCSV))
	mux.HandleFunc("POST /console/routes", c.action(c.uploadRoutes))
}

// supplierBillings are the billing bases the API takes: when the platform
// owes a supplier its cost.
var supplierBillings = []string{"on_submit", "on_delivery"}

// supplierCostsShown bounds the cost table on a supplier's page; the whole
// deck is the CSV download.
const supplierCostsShown = 200

// supplierInfo is a supplier as GET /v1/suppliers(/{id}) answers it: its
// settings, status (active or disabled) and, when this process runs the
// binds, its live state. The API never gives the password.
type supplierInfo struct {
	ID            string        `json:"id"`
	Name          string        `json:"name"`
	Currency      string        `json:"currency"`
	Host          string        `json:"host"`
	Port          int           `json:"port"`
	SystemID      string        `json:"system_id"`
	Binds         int           `json:"binds"`
	TPSLimit      int           `json:"tps_limit"`
	Window        int           `json:"window"`
	Billing       string        `json:"billing"`
	DLRGraceS     int           `json:"dlr_grace_s"`
	TLS           bool          `json:"tls"`
	TLSServerName string        `json:"tls_server_name"`
	Status        string        `json:"status"`
	Live          *supplierLive `json:"live"`
}

// supplierLive is a supplier's live state: binds up of those configured,
// messages queued, the adaptive TPS in force, and routing's view of it
// (up, health score 0..1000).
type supplierLive struct {
	Running     bool    `json:"running"`
	BindsUp     int     `json:"binds_up"`
	Binds       int     `json:"binds"`
	QueueDepth  int     `json:"queue_depth"`
	TPS         float64 `json:"tps"`
	Up          bool    `json:"up"`
	HealthScore int     `json:"health_score"`
}

// supplierCost is one line of a supplier's cost deck (the cost a decimal
// string, shown as it is).
type supplierCost struct {
	Prefix string `json:"prefix"`
	MCCMNC string `json:"mccmnc"` // a network row (Prefix empty)
	Cost   string `json:"cost"`
}

// routeLine is one line of the route table: a prefix and its suppliers in
// preference order.
type routeLine struct {
	Prefix    string   `json:"prefix"`
	MCCMNC    string   `json:"mccmnc"` // a network row (Prefix empty)
	Suppliers []string `json:"suppliers"`
	Weights   []int    `json:"weights"` // traffic shares, one per supplier
	Hours     string   `json:"hours"`   // UTC time of day the row applies
}

// supplierPath is the API path of supplier id (plus suffix).
func supplierPath(id, suffix string) string { return "/v1/suppliers/" + url.PathEscape(id) + suffix }

// supplierPageURL is the console page of supplier id.
func supplierPageURL(id string) string { return "/console/suppliers/" + url.PathEscape(id) }

// suppliersPage lists the suppliers with their live state, the health
// chart of all of them, and the form that adds one.
func (c *Console) suppliersPage(w http.ResponseWriter, r *http.Request, s *session) {
	var list struct {
		Suppliers []supplierInfo `json:"suppliers"`
	}
	if err := c.getJSON(r, s, "/v1/suppliers", &list); err != nil {
		c.renderError(w, r, s, "suppliers", err)
		return
	}
	data := struct {
		Suppliers []supplierInfo
		Billings  []string
	}{list.Suppliers, supplierBillings}
	c.render(w, r, s, http.StatusOK, "suppliers", "Suppliers", "suppliers", data)
}

// supplierPageData is what supplier.html shows.
type supplierPageData struct {
	S         supplierInfo
	Costs     []supplierCost // the first supplierCostsShown lines
	CostCount int
	Billings  []string
	// Networks is the supplier's health per destination network, worst
	// first; NetworksNote says why there is none to show when the API
	// could not tell (e.g. no reports on this server).
	Networks     []networkHealth
	NetworksNote string
}

// networkHealth is one network of GET /v1/suppliers/{id}/health: the
// supplier's answers there over the API's window, its submit success and
// delivery rate (permille) and the score routing gives it there.
type networkHealth struct {
	MCCMNC        string `json:"mccmnc"`
	Accepted      int64  `json:"accepted"`
	Rejected      int64  `json:"rejected"`
	TimedOut      int64  `json:"timed_out"`
	SubmitSuccess int    `json:"submit_success_permille"`
	DeliveryRate  int    `json:"delivery_rate_permille"`
	Score         int    `json:"score"`
}

// Answers is the number of submit answers (accepted, rejected or timed
// out) the figures rest on.
func (n networkHealth) Answers() int64 { return n.Accepted + n.Rejected + n.TimedOut }

// SubmitPct and DeliveryPct are the permille ratios as percentages.
func (n networkHealth) SubmitPct() string { return permillePct(n.SubmitSuccess) }

func (n networkHealth) DeliveryPct() string { return permillePct(n.DeliveryRate) }

func permillePct(p int) string { return fmt.Sprintf("%d.%d %%", p/10, p%10) }

// supplierPage shows one supplier: its live state and health chart, the
// forms that disable, enable and tune it, and its cost deck.
func (c *Console) supplierPage(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	d := supplierPageData{Billings: supplierBillings}
	if err := c.getJSON(r, s, supplierPath(id, ""), &d.S); err != nil {
		c.renderError(w, r, s, "suppliers", err)
		return
	}
	var deck struct {
		Costs []supplierCost `json:"costs"`
	}
	if err := c.getJSON(r, s, supplierPath(id, "/costs"), &deck); err != nil {
		c.renderError(w, r, s, "suppliers", err)
		return
	}
	d.CostCount = len(deck.Costs)
	d.Costs = deck.Costs[:min(len(deck.Costs), supplierCostsShown)]
	d.Networks, d.NetworksNote = c.supplierNetworks(r, s, id)
	c.render(w, r, s, http.StatusOK, "supplier", "Supplier "+id, "suppliers", d)
}

// supplierNetworks reads a supplier's health per network from the API. The
// page shows the rest of the supplier without it, so a failure (a server
// without the health reports answers 503) becomes the note shown in its
// place, in the API's words.
func (c *Console) supplierNetworks(r *http.Request, s *session, id string) ([]networkHealth, string) {
	var h struct {
		Networks []networkHealth `json:"networks"`
	}
	if err := c.getJSON(r, s, supplierPath(id, "/health"), &h); err != nil {
		return nil, "Health per network is not available: " + err.Error()
	}
	return h.Networks, ""
}

// supplierCreateReq is POST /v1/suppliers's body as the create form fills
// it; binds and window left empty (0) get the API's defaults.
type supplierCreateReq struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Currency string `json:"currency"`
	Host     string `json:"host"`
	Port     int    `json:"port"`
	SystemID string `json:"system_id"`
	Password string `json:"password"`
	Binds    int    `json:"binds"`
	TPSLimit int    `json:"tps_limit"`
	Window   int    `json:"window"`
	Billing  string `json:"billing"`
}

// createSupplier adds a supplier and goes to its page (next: its cost deck
// and a route to it).
func (c *Console) createSupplier(r *http.Request, s *session) (string, string, error) {
	const back = "/console/suppliers"
	req := supplierCreateReq{
		ID: strings.TrimSpace(r.PostFormValue("id")), Name: r.PostFormValue("name"),
		Currency: strings.TrimSpace(r.PostFormValue("currency")), Host: strings.TrimSpace(r.PostFormValue("host")),
		SystemID: r.PostFormValue("system_id"), Password: r.PostFormValue("password"), Billing: r.PostFormValue("billing"),
	}
	for _, f := range []struct {
		name, label string
		to          *int
	}{
		{"port", "port", &req.Port}, {"binds", "binds", &req.Binds},
		{"tps_limit", "TPS limit", &req.TPSLimit}, {"window", "window", &req.Window},
	} {
		n, err := formInt(r, f.name, f.label)
		if err != nil {
			return back, "", err
		}
		if n != nil {
			*f.to = *n
		}
	}
	if err := c.sendJSON(r, s, http.MethodPost, "/v1/suppliers", req, nil); err != nil {
		return back, "", err
	}
	return supplierPageURL(req.ID), fmt.Sprintf("Supplier %s created: upload its cost deck, then route to it.", req.ID), nil
}

// setSupplierStatus disables or enables a supplier (PATCH status). Routing
// skips a disabled supplier at once; enabling it routes to it again.
func (c *Console) setSupplierStatus(status string) func(r *http.Request, s *session) (string, string, error) {
	return func(r *http.Request, s *session) (string, string, error) {
		id := r.PathValue("id")
		back := supplierPageURL(id)
		var sp supplierInfo
		if err := c.sendJSON(r, s, http.MethodPatch, supplierPath(id, ""), map[string]string{"status": status}, &sp); err != nil {
			return back, "", err
		}
		if sp.Status == "disabled" {
			return back, fmt.Sprintf("Supplier %s disabled: no new messages are routed to it.", id), nil
		}
		return back, fmt.Sprintf("Supplier %s enabled.", id), nil
	}
}

// supplierSettings are the numeric settings the settings form patches.
var supplierSettings = []struct{ name, label string }{
	{"tps_limit", "TPS limit"}, {"binds", "binds"}, {"window", "window"}, {"dlr_grace_s", "DLR grace"},
}

// patchSupplierSettings sends the settings the operator changed: each
// field whose value differs from the one the form was shown with (its was_
// twin), so that a setting someone else changed meanwhile is left alone.
func (c *Console) patchSupplierSettings(r *http.Request, s *session) (string, string, error) {
	id := r.PathValue("id")
	back := supplierPageURL(id)
	patch := map[string]any{}
	for _, f := range supplierSettings {
		if strings.TrimSpace(r.PostFormValue(f.name)) == strings.TrimSpace(r.PostFormValue("was_"+f.name)) {
			continue
		}
		n, err := formInt(r, f.name, f.label)
		if err != nil {
			return back, "", err
		}
		if n == nil {
			return back, "", fmt.Errorf("%s: enter a whole number", f.label)
		}
		patch[f.name] = *n
	}
	if b := r.PostFormValue("billing"); b != "" && b != r.PostFormValue("was_billing") {
		patch["billing"] = b
	}
	if len(patch) == 0 {
		return back, "Nothing changed.", nil
	}
	if err := c.sendJSON(r, s, http.MethodPatch, supplierPath(id, ""), patch, nil); err != nil {
		return back, "", err
	}
	return back, fmt.Sprintf("Supplier %s: settings saved.", id), nil
}

// supplierCostsCSV downloads the supplier's whole cost deck as the API's
// CSV (prefix,cost), the format the upload takes back.
func (c *Console) supplierCostsCSV(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	c.download(w, r, s, supplierPath(id, "/costs"), "text/csv", id+"-costs.csv")
}

// uploadSupplierCosts replaces the supplier's cost deck with an uploaded
// CSV (prefix,cost header line); the API names a bad line.
func (c *Console) uploadSupplierCosts(r *http.Request, s *session) (string, string, error) {
	id := r.PathValue("id")
	back := supplierPageURL(id)
	var out struct {
		Costs int `json:"costs"`
	}
	if err := c.putUploadedCSV(r, s, supplierPath(id, "/costs"), &out); err != nil {
		return back, "", err
	}
	return back, fmt.Sprintf("Cost deck of %s replaced: %d lines.", id, out.Costs), nil
}

// routesPage shows the route table: each prefix with its suppliers in
// preference order.
func (c *Console) routesPage(w http.ResponseWriter, r *http.Request, s *session) {
	var table struct {
		Routes []routeLine `json:"routes"`
	}
	if err := c.getJSON(r, s, "/v1/routes", &table); err != nil {
		c.renderError(w, r, s, "routes", err)
		return
	}
	c.render(w, r, s, http.StatusOK, "routes", "Routes", "routes", table.Routes)
}

// routesCSV downloads the route table as the API's CSV (prefix,suppliers),
// the format the upload takes back.
func (c *Console) routesCSV(w http.ResponseWriter, r *http.Request, s *session) {
	c.download(w, r, s, "/v1/routes", "text/csv", "routes.csv")
}

// uploadRoutes replaces the route table with an uploaded CSV; the API names
// a bad line or a supplier it does not know.
func (c *Console) uploadRoutes(r *http.Request, s *session) (string, string, error) {
	const back = "/console/routes"
	var out struct {
		Routes int `json:"routes"`
	}
	if err := c.putUploadedCSV(r, s, "/v1/routes", &out); err != nil {
		return back, "", err
	}
	return back, fmt.Sprintf("Route table replaced: %d routes.", out.Routes), nil
}

// putUploadedCSV sends the uploaded file (field "file") to path as text/csv and
// decodes the API's JSON answer into out.
func (c *Console) putUploadedCSV(r *http.Request, s *session, path string, out any) error {
	b, err := formFile(r, "file")
	if err != nil {
		return err
	}
	res, err := c.call(r, s, http.MethodPut, path, b, "text/csv", "")
	if err != nil {
		return err
	}
	if err := json.Unmarshal(res.Body, out); err != nil {
		return fmt.Errorf("console: PUT %s: %w", path, err)
	}
	return nil
}

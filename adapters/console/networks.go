package console

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// networkRoutes registers the page of mobile networks: the numbering plan
// and the portability table in force, their uploads, and the lookup of a
// number's network.
func (c *Console) networkRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /console/networks", c.signedIn(c.networksPage))
	mux.HandleFunc("POST /console/networks/plan", c.action(c.uploadTable("/v1/numbering")))
	mux.HandleFunc("POST /console/networks/portability", c.action(c.uploadTable("/v1/portability")))
}

// networksURL is the console page of networks.
const networksURL = "/console/networks"

// numberingInfo is GET /v1/numbering's answer: what the tables in force
// hold and when each was loaded (RFC 3339; "" before the first load).
type numberingInfo struct {
	PlanRows      int    `json:"plan_rows"`
	Networks      int    `json:"networks"`
	PortedNumbers int    `json:"ported_numbers"`
	PlanAt        string `json:"plan_loaded_at"`
	PortedAt      string `json:"portability_loaded_at"`
}

// networkView is GET /v1/numbering/lookup's answer: a number's network and
// how it was found ("plan", "ported", "lookup", or "" when unknown).
type networkView struct {
	Number   string `json:"number"`
	MCCMNC   string `json:"mccmnc"`
	Country  string `json:"country"`
	Operator string `json:"operator"`
	Source   string `json:"source"`
}

// networksPageData is what networks.html shows: the tables in force and,
// after a lookup, the number asked for and its network.
type networksPageData struct {
	Info   numberingInfo
	Number string
	Lookup *networkView
}

// networksPage shows the numbering tables in force, the forms that
// replace them, and the lookup form; with ?number= it shows that number's
// network too. The lookup is a read, so a GET: its URL can be shared. A
// number the API refuses shows the API's message in the page's error.
func (c *Console) networksPage(w http.ResponseWriter, r *http.Request, s *session) {
	var d networksPageData
	if err := c.getJSON(r, s, "/v1/numbering", &d.Info); err != nil {
		c.renderError(w, r, s, "networks", err)
		return
	}
	if r.URL.Query().Has("number") {
		d.Number = strings.TrimSpace(r.URL.Query().Get("number"))
		var v networkView
		err := c.getJSON(r, s, "/v1/numbering/lookup?number="+url.QueryEscape(d.Number), &v)
		var ae *APIError
		switch {
		case err == nil:
			d.Lookup = &v
		case errors.As(err, &ae) && ae.Status == http.StatusBadRequest:
			c.sessions.setFlash(s, "", fmt.Sprintf("Lookup of %q: %s", d.Number, ae.Message))
		default:
			c.renderError(w, r, s, "networks", err)
			return
		}
	}
	c.render(w, r, s, http.StatusOK, "networks", "Networks", "networks", d)
}

// uploadTable replaces the numbering plan (path /v1/numbering) or the
// portability table (/v1/portability) with an uploaded CSV; the API names
// a bad line, and its answer, the tables now in force, makes the notice.
func (c *Console) uploadTable(path string) func(r *http.Request, s *session) (string, string, error) {
	return func(r *http.Request, s *session) (string, string, error) {
		var info numberingInfo
		if err := c.putUploadedCSV(r, s, path, &info); err != nil {
			return networksURL, "", err
		}
		if path == "/v1/portability" {
			return networksURL, fmt.Sprintf("Portability table replaced: %d ported numbers.", info.PortedNumbers), nil
		}
		return networksURL, fmt.Sprintf("Numbering plan replaced: %d prefixes, %d networks.", info.PlanRows, info.Networks), nil
	}
}

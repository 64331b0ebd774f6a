package console

import (
	"encoding/json"
	"net/http"
)

// overviewPage: the live figures, refreshed by console.js from
// overview.json every 2 s, and the traffic and health charts.
func (c *Console) overviewPage(w http.ResponseWriter, r *http.Request, s *session) {
	c.render(w, r, s, http.StatusOK, "overview", "Overview", "overview", c.sampler.overview())
}

func (c *Console) overviewJSON(w http.ResponseWriter, r *http.Request, _ *session) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(c.sampler.overview())
}

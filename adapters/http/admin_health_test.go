package httpapi_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	httpapi "github.com/smsledger/smsledger/adapters/http"
	"github.com/smsledger/smsledger/projections"
)

// healthReports serves a fixed route health report (the projections'
// type, so the JSON is the one serve gives) and records what it was asked.
type healthReports struct {
	httpapi.Reports // the other reports: not used here
	id              string
	window          time.Duration
	limit           int
}

func (f *healthReports) SupplierHealth(_ context.Context, id string, window time.Duration, limit int) (any, error) {
	f.id, f.window, f.limit = id, window, limit
	fig := func(accepted, rejected int64, score uint16) projections.HealthFigures {
		return projections.HealthFigures{Submits: accepted + rejected, Accepted: accepted, Rejected: rejected,
			SubmitSuccess: int(accepted * 1000 / (accepted + rejected)), DeliveryRate: 1000, Score: score}
	}
	return projections.SupplierHealthReport{
		SupplierID: id, At: time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC), WindowSeconds: int64(window / time.Second),
		Supplier: projections.SupplierHealth{SupplierID: id, Enabled: true, HealthFigures: fig(30, 30, 750)},
		Networks: []projections.DestinationHealth{
			{SupplierID: id, MCCMNC: "23415", HealthFigures: fig(0, 30, 500)},
			{SupplierID: id, MCCMNC: "23420", HealthFigures: fig(30, 0, 1000)},
		},
		Prefixes: []projections.DestinationHealth{{SupplierID: id, RoutePrefix: "49", HealthFigures: fig(30, 30, 750)}},
	}, nil
}

// healthAnswer is the part of GET /v1/suppliers/{id}/health's body the
// test reads.
type healthAnswer struct {
	SupplierID    string `json:"supplier_id"`
	WindowSeconds int    `json:"window_seconds"`
	Supplier      struct {
		SupplierID string `json:"supplier_id"`
		Submits    int    `json:"submits"`
		Score      int    `json:"score"`
	} `json:"supplier"`
	Networks []struct {
		MCCMNC        string `json:"mccmnc"`
		Rejected      int    `json:"rejected"`
		SubmitSuccess int    `json:"submit_success_permille"`
		Score         int    `json:"score"`
	} `json:"networks"`
	Prefixes []struct {
		RoutePrefix string `json:"route_prefix"`
		Score       int    `json:"score"`
	} `json:"prefixes"`
}

// TestSupplierHealthEndpoint: the admin reads a supplier's health per
// network and prefix as the reports give it, over routing's window with
// the lists bounded; an unknown supplier is 404, a tenant's key 401, and a
// server without the health reports says so with 503.
func TestSupplierHealthEndpoint(t *testing.T) {
	rep := &healthReports{}
	c, _ := start(t, httpapi.Options{Reports: rep})
	acme, _ := setup(t, c)

	st, raw := c.raw("GET", "/v1/suppliers/sup1/health", admin, "")
	if st != 200 {
		t.Fatalf("health: %d %s", st, raw)
	}
	var got healthAnswer
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatalf("health: %s: %v", raw, err)
	}
	if rep.id != "sup1" || rep.window != 15*time.Minute || rep.limit != 100 {
		t.Errorf("asked for %q over %v, limit %d", rep.id, rep.window, rep.limit)
	}
	if got.SupplierID != "sup1" || got.WindowSeconds != 900 || got.Supplier.SupplierID != "sup1" || got.Supplier.Submits != 60 || got.Supplier.Score != 750 {
		t.Errorf("supplier level: %s", raw)
	}
	if len(got.Networks) != 2 || got.Networks[0].MCCMNC != "23415" || got.Networks[0].Rejected != 30 ||
		got.Networks[0].SubmitSuccess != 0 || got.Networks[0].Score != 500 || got.Networks[1].Score != 1000 {
		t.Errorf("networks: %s", raw)
	}
	if len(got.Prefixes) != 1 || got.Prefixes[0].RoutePrefix != "49" || got.Prefixes[0].Score != 750 {
		t.Errorf("prefixes: %s", raw)
	}

	if st, m := c.do("GET", "/v1/suppliers/ghost/health", admin, ""); st != 404 || errCode(m) != "not_found" {
		t.Errorf("unknown supplier: %d %v", st, m)
	}
	if st, m := c.do("GET", "/v1/suppliers/sup1/health", acme, ""); st != 401 || errCode(m) != "unauthorized" {
		t.Errorf("tenant key: %d %v", st, m)
	}

	for name, opts := range map[string]httpapi.Options{
		"no reports":                 {},
		"reports without the health": {Reports: reports{}},
	} {
		c, _ := start(t, opts)
		setup(t, c)
		if st, m := c.do("GET", "/v1/suppliers/sup1/health", admin, ""); st != 503 || errCode(m) != "reports_unavailable" {
			t.Errorf("%s: %d %v", name, st, m)
		}
	}
}

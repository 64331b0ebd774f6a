package console

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// chartSVG draws lines over time as an SVG (gonum/plot): x is seconds
// relative to the last sample. yMax > 0 fixes the y range at 0..yMax.
func chartSVG(title, yLabel string, lines []series, yMax float64) ([]byte, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "seconds ago"
	p.Y.Label.Text = yLabel
	p.Y.Min = 0
	if yMax > 0 {
		p.Y.Max = yMax * 1.05 // a line at the maximum stays visible above the frame
	}
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())
	drawn, span := 0, 0.0
	for i, s := range lines {
		if len(s.x) == 0 {
			continue
		}
		pts := make(plotter.XYs, len(s.x))
		for j := range s.x {
			pts[j].X, pts[j].Y = s.x[j], s.y[j]
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return nil, fmt.Errorf("chart %s: %w", title, err)
		}
		l.Color = plotutil.Color(i)
		l.Width = vg.Points(1.5)
		p.Add(l)
		p.Legend.Add(s.name, l)
		drawn++
		span = max(span, -s.x[0])
	}
	if span < 60 {
		// Under a minute of samples (just started): a minute's axis, not
		// one stretched over a second or two.
		p.X.Min, p.X.Max = -60, 0
	}
	if drawn == 0 {
		p.Title.Text = title + " (no data yet)"
		p.X.Min, p.X.Max = -60, 0
		if yMax <= 0 {
			p.Y.Max = 1
		}
	}
	w, err := p.WriterTo(9*vg.Inch, 3*vg.Inch, "svg")
	if err != nil {
		return nil, fmt.Errorf("chart %s: %w", title, err)
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("chart %s: %w", title, err)
	}
	return buf.Bytes(), nil
}

func (c *Console) writeSVG(w http.ResponseWriter, b []byte, err error) {
	if err != nil {
		c.log.Error("console: chart", "err", err)
		http.Error(w, "chart failed", http.StatusInternalServerError)
		return
	}
	// An SVG is a document of its own: nothing in it may run or load.
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; font-src data:")
	w.Header().Set("Content-Type", "image/svg+xml")
	_, _ = w.Write(b)
}

// trafficChart: accepted, refused and delivered per second over the last
// 15 minutes.
func (c *Console) trafficChart(w http.ResponseWriter, r *http.Request, _ *session) {
	b, err := chartSVG("Messages per second (last 15 minutes)", "msg/s", c.sampler.trafficSeries(), 0)
	c.writeSVG(w, b, err)
}

// healthChart: suppliers' health scores (0..1000) over the last hour;
// ?supplier=a,b limits it to those.
func (c *Console) healthChart(w http.ResponseWriter, r *http.Request, _ *session) {
	var want map[string]bool
	if q := r.URL.Query().Get("supplier"); q != "" {
		want = map[string]bool{}
		for _, id := range strings.Split(q, ",") {
			want[id] = true
		}
	}
	b, err := chartSVG("Supplier health score (last hour)", "score", c.sampler.healthSeries(want), 1000)
	c.writeSVG(w, b, err)
}

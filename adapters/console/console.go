// Package console is smsledger's web console at /console/: the pages the
// people who run the platform look at all day (a live overview, tenants,
// suppliers and routes, messages and their timelines, CDRs and
// reconciliation), served by `serve` from templates and files embedded in
// the binary. No asset comes from outside it.
//
// The console is a browser front end of the HTTP API and nothing more: every
// read and every change is a call of the API's own handler, in process, with
// the admin token the operator signed in with (so each change is the API's
// command, checked, evented and audited as if it came over HTTP, and each
// console page maps to the API calls docs/OPERATIONS.md names). Pages are
// rendered on the server with html/template; a little JavaScript refreshes
// the overview. Charts are drawn on the server as SVG by gonum/plot.
//
// Sign-in takes the admin token once and gives a session cookie (HttpOnly,
// SameSite=Strict, Path=/console/); every change is a POST that carries the
// session's CSRF token and, when the browser sends one, a same-host Origin.
package console

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

//go:embed templates static
var files embed.FS

// Prefix is where the console is mounted.
const Prefix = "/console/"

// Options configure the console.
type Options struct {
	// API is the HTTP API's handler (httpapi.NewHandler). Required.
	API http.Handler
	// Gatherer is the metrics registry the overview samples (serve's
	// /metrics registry); nil: the overview shows no figures.
	Gatherer prometheus.Gatherer
	Logger   *slog.Logger
	// SessionTTL is how long a sign-in lasts; 0: DefaultSessionTTL.
	SessionTTL time.Duration
	// SecureCookie marks the session cookie Secure (serve over TLS).
	SecureCookie bool
	// Now is the clock (tests); nil: time.Now.
	Now func() time.Time
}

// Console is the web console's http.Handler; Run samples the metrics for the
// overview until its context ends.
type Console struct {
	opts     Options
	log      *slog.Logger
	mux      *http.ServeMux
	pages    map[string]*template.Template
	sessions *sessions
	sampler  *sampler
}

// New returns the console over opts.API.
func New(opts Options) (*Console, error) {
	if opts.API == nil {
		return nil, fmt.Errorf("console: Options.API is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = DefaultSessionTTL
	}
	c := &Console{
		opts:     opts,
		log:      opts.Logger,
		mux:      http.NewServeMux(),
		sessions: newSessions(opts.SessionTTL, MaxSessions, opts.Now),
		sampler:  newSampler(opts.Gatherer, opts.Now),
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	c.pages = pages
	c.routes()
	return c, nil
}

// Run samples the metrics every second for the overview and its charts
// until ctx ends.
func (c *Console) Run(ctx context.Context) error {
	c.sampler.run(ctx)
	return nil
}

func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// The console's own pages only: no frames, no scripts or styles from
	// elsewhere, nothing cached by intermediaries.
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	c.mux.ServeHTTP(w, r)
}

// routes registers every page. Pages that read take a GET; changes take a
// POST through c.action (session, CSRF, then a redirect with a notice).
func (c *Console) routes() {
	static, _ := fs.Sub(files, "static")
	c.mux.Handle("GET /console/static/", http.StripPrefix("/console/static/", http.FileServerFS(static)))
	c.mux.HandleFunc("GET /console/login", c.loginPage)
	c.mux.HandleFunc("POST /console/login", c.login)
	c.mux.HandleFunc("POST /console/logout", c.signedIn(c.logout))
	c.mux.HandleFunc("GET /console/{$}", c.signedIn(c.overviewPage))
	c.mux.HandleFunc("GET /console/overview.json", c.signedIn(c.overviewJSON))
	c.mux.HandleFunc("GET /console/charts/traffic.svg", c.signedIn(c.trafficChart))
	c.mux.HandleFunc("GET /console/charts/health.svg", c.signedIn(c.healthChart))
	for _, add := range []func(*http.ServeMux){c.tenantRoutes, c.supplierRoutes, c.networkRoutes, c.messageRoutes, c.reportRoutes} {
		add(c.mux)
	}
	c.mux.HandleFunc("/console/", c.signedIn(func(w http.ResponseWriter, r *http.Request, s *session) {
		c.render(w, r, s, http.StatusNotFound, "notfound", "Not found", "", nil)
	}))
}

// pageData is what every page template gets: the layout's fields and the
// page's own Data.
type pageData struct {
	Title  string
	Nav    string // the menu entry to highlight
	CSRF   string
	Notice string
	Error  string
	Data   any
}

var funcs = template.FuncMap{
	"pathEscape":  url.PathEscape,
	"queryEscape": url.QueryEscape,
	"join":        strings.Join,
	"pct":         func(f float64) float64 { return f * 100 },
	"json":        mustJSON,
	"timeFmt": func(s string) string { // RFC 3339 from the API, shown to the second in UTC
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return s
		}
		return t.UTC().Format("2006-01-02 15:04:05")
	},
}

// parsePages parses each templates/<page>.html with the layout.
func parsePages() (map[string]*template.Template, error) {
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("console: layout: %w", err)
	}
	names, err := fs.Glob(files, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := make(map[string]*template.Template, len(names))
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.Must(layout.Clone()).ParseFS(files, n)
		if err != nil {
			return nil, fmt.Errorf("console: page %s: %w", base, err)
		}
		pages[base] = t
	}
	return pages, nil
}

// render writes page name within the layout; a session's pending notice or
// error (from the POST that redirected here) is shown once.
func (c *Console) render(w http.ResponseWriter, r *http.Request, s *session, status int, name, title, nav string, data any) {
	t, ok := c.pages[name]
	if !ok {
		http.Error(w, "console: no page "+name, http.StatusInternalServerError)
		return
	}
	pd := pageData{Title: title, Nav: nav, Data: data}
	if s != nil {
		pd.CSRF = s.csrf
		pd.Notice, pd.Error = c.sessions.takeFlash(s)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", pd); err != nil {
		c.log.Error("console: render", "page", name, "err", err)
		http.Error(w, "console: page failed to render", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// renderError shows a page-sized error (e.g. the API's answer to a read).
func (c *Console) renderError(w http.ResponseWriter, r *http.Request, s *session, nav string, err error) {
	status := http.StatusBadGateway
	if ae, ok := err.(*APIError); ok {
		status = ae.Status
		if status == http.StatusUnauthorized {
			c.sessions.drop(s)
			http.Redirect(w, r, Prefix+"login", http.StatusSeeOther)
			return
		}
	}
	c.render(w, r, s, status, "error", "Error", nav, err.Error())
}

// action runs a change (a POST) for a signed-in session with a valid CSRF
// token, then redirects (POST/redirect/GET) to the page do names, with its
// notice or its error shown there once. Forms are limited to
// maxFormBytes (file uploads to MaxUploadBytes).
func (c *Console) action(do func(r *http.Request, s *session) (redirect, notice string, err error)) http.HandlerFunc {
	return c.signedIn(func(w http.ResponseWriter, r *http.Request, s *session) {
		if !c.checkCSRF(w, r, s) {
			return
		}
		back, notice, err := do(r, s)
		if back == "" {
			back = refererPath(r)
		}
		if err != nil {
			if ae, ok := err.(*APIError); ok && ae.Status == http.StatusUnauthorized {
				c.sessions.drop(s)
				http.Redirect(w, r, Prefix+"login", http.StatusSeeOther)
				return
			}
			c.sessions.setFlash(s, "", err.Error())
		} else {
			c.sessions.setFlash(s, notice, "")
		}
		http.Redirect(w, r, back, http.StatusSeeOther)
	})
}

// refererPath is where a change returns to when it names no page: the
// console page it was posted from, or the overview.
func refererPath(r *http.Request) string {
	u, err := url.Parse(r.Referer())
	if err != nil || u.Host != r.Host || !strings.HasPrefix(u.Path, Prefix) {
		return Prefix
	}
	if u.RawQuery != "" {
		return u.Path + "?" + u.RawQuery
	}
	return u.Path
}

// Upload and form bounds.
const (
	maxFormBytes = 1 << 20
	// MaxUploadBytes bounds an uploaded CSV (a rate or cost deck, a route
	// table, a supplier invoice); the API's own limits apply after it.
	MaxUploadBytes = 64 << 20
)

// formFile reads the uploaded file of field name (at most MaxUploadBytes).
func formFile(r *http.Request, name string) ([]byte, error) {
	if err := r.ParseMultipartForm(maxFormBytes); err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	f, _, err := r.FormFile(name)
	if err != nil {
		return nil, fmt.Errorf("upload: choose a file (%s)", name)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxUploadBytes+1))
	if err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	if len(b) > MaxUploadBytes {
		return nil, fmt.Errorf("upload: the file is larger than %d MiB", MaxUploadBytes>>20)
	}
	return b, nil
}

// mustJSON renders v for a template's <pre> (e.g. an event's data).
func mustJSON(v any) string {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// formInt parses a whole-number form field (label names it in the error);
// an empty field is nil.
func formInt(r *http.Request, name, label string) (*int, error) {
	v := strings.TrimSpace(r.PostFormValue(name))
	if v == "" {
		return nil, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return nil, fmt.Errorf("%s must be a whole number, not %q", label, v)
	}
	return &n, nil
}

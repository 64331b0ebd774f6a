package console_test

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/smsledger/smsledger/adapters/console"
	httpapi "github.com/smsledger/smsledger/adapters/http"
	"github.com/smsledger/smsledger/adapters/pgembed/pgtest"
	"github.com/smsledger/smsledger/domain/ledger"
	"github.com/smsledger/smsledger/domain/ledger/ledgertest"
	"github.com/smsledger/smsledger/eventstore/pgstore/pgstoretest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const admin = "admin-secret-0123456789"

// env is a console over a real ledger (PostgreSQL event store) and the real
// HTTP API, both on one test server, as serve mounts them.
type env struct {
	t   *testing.T
	url string
	svc *ledger.Service
	reg *prometheus.Registry
	con *console.Console
}

// options lets a test plug more into the API (e.g. Reports).
func start(t *testing.T, apiOpts httpapi.Options) *env {
	t.Helper()
	store := pgstoretest.Store(t)
	svc := ledgertest.Start(t, store, ledger.Options{})
	if apiOpts.AdminToken == "" {
		apiOpts.AdminToken = admin
	}
	if apiOpts.Registry == nil {
		apiOpts.Registry = prometheus.NewRegistry()
	}
	api := httpapi.NewHandler(svc, apiOpts)
	con, err := console.New(console.Options{API: api, Gatherer: apiOpts.Registry})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(console.Prefix, con)
	mux.Handle("/", api)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &env{t: t, url: srv.URL, svc: svc, reg: apiOpts.Registry, con: con}
}

// browser is a cookie-keeping client that does not follow redirects (tests
// look at them) and remembers the last CSRF token it was shown.
type browser struct {
	t    *testing.T
	e    *env
	c    *http.Client
	csrf string
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: e.t, e: e, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

// signedIn returns a browser signed in with the admin token.
func (e *env) signedIn() *browser {
	b := e.browser()
	res, _ := b.post("/console/login", url.Values{"token": {admin}, "next": {"/console/"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/console/" {
		e.t.Fatalf("sign in: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	b.get("/console/") // picks up the CSRF token
	if b.csrf == "" {
		e.t.Fatal("no CSRF token on the overview")
	}
	return b
}

func (b *browser) do(req *http.Request) (*http.Response, string) {
	b.t.Helper()
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if m := csrfField.FindSubmatch(body); m != nil {
		b.csrf = string(m[1])
	}
	return res, string(body)
}

// get fetches a console path.
func (b *browser) get(path string) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.e.url+path, nil)
	return b.do(req)
}

// follow fetches where a redirect points (after a POST).
func (b *browser) follow(res *http.Response) (*http.Response, string) {
	b.t.Helper()
	loc := res.Header.Get("Location")
	if loc == "" {
		b.t.Fatalf("no redirect: %d", res.StatusCode)
	}
	return b.get(loc)
}

// post submits a form with the session's CSRF token (unless form has one).
func (b *browser) post(path string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["csrf"]; !ok && b.csrf != "" {
		form.Set("csrf", b.csrf)
	}
	req, _ := http.NewRequest(http.MethodPost, b.e.url+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Referer", b.e.url+path)
	return b.do(req)
}

// postFile submits a multipart form with one file (field file).
func (b *browser) postFile(path string, form url.Values, field, filename string, content []byte) (*http.Response, string) {
	b.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["csrf"]; !ok {
		form.Set("csrf", b.csrf)
	}
	for k, vs := range form {
		for _, v := range vs {
			_ = mw.WriteField(k, v)
		}
	}
	fw, _ := mw.CreateFormFile(field, filename)
	_, _ = fw.Write(content)
	_ = mw.Close()
	req, _ := http.NewRequest(http.MethodPost, b.e.url+path, &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Referer", b.e.url+path)
	return b.do(req)
}

func TestSignInRequired(t *testing.T) {
	e := start(t, httpapi.Options{})
	b := e.browser()
	for _, p := range []string{"/console/", "/console/tenants", "/console/charts/traffic.svg"} {
		res, _ := b.get(p)
		if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/console/login?next=") {
			t.Errorf("GET %s signed out: %d %q, want a redirect to the sign-in page", p, res.StatusCode, res.Header.Get("Location"))
		}
	}
	if res, _ := b.get("/console/overview.json"); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("overview.json signed out: %d, want 401", res.StatusCode)
	}
	res, body := b.post("/console/login", url.Values{"token": {"wrong-token-wrong-token"}})
	if res.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "refused") {
		t.Errorf("wrong token: %d, want 401 and a message", res.StatusCode)
	}
	if len(res.Cookies()) != 0 {
		t.Errorf("wrong token set a cookie: %v", res.Cookies())
	}
}

func TestSessionCookieAndCSRF(t *testing.T) {
	e := start(t, httpapi.Options{})
	b := e.browser()
	res, _ := b.post("/console/login", url.Values{"token": {admin}, "next": {"https://evil.example/"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/console/" {
		t.Fatalf("sign in with a foreign next: %d %q, want a redirect to /console/", res.StatusCode, res.Header.Get("Location"))
	}
	var ck *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == "smsledger_console" {
			ck = c
		}
	}
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/console/" {
		t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Strict, Path=/console/", ck)
	}
	if res, body := b.get("/console/"); res.StatusCode != 200 || !strings.Contains(body, `id="overview"`) {
		t.Fatalf("overview: %d", res.StatusCode)
	}
	// A change without the CSRF token, or with another, is refused; the
	// session stays.
	if res, _ := b.post("/console/logout", url.Values{"csrf": {"forged"}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("logout with a forged CSRF token: %d, want 403", res.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodPost, e.url+"/console/logout", strings.NewReader(url.Values{"csrf": {b.csrf}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	if res, _ := b.do(req); res.StatusCode != http.StatusForbidden {
		t.Errorf("logout from another origin: %d, want 403", res.StatusCode)
	}
	if res, _ := b.get("/console/"); res.StatusCode != 200 {
		t.Fatalf("session lost after refused changes: %d", res.StatusCode)
	}
	if res, _ := b.post("/console/logout", nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", res.StatusCode)
	}
	if res, _ := b.get("/console/"); res.StatusCode != http.StatusSeeOther {
		t.Errorf("after logout: %d, want a redirect to sign in", res.StatusCode)
	}
}

func TestPagesAreSelfContained(t *testing.T) {
	// Reports that answer without a database, so that the CDR page renders.
	e := start(t, httpapi.Options{Reports: pagedReports{ids: []string{"m1"}}})
	b := e.signedIn()
	res, body := b.get("/console/")
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("CSP %q", csp)
	}
	for _, m := range regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(body, -1) {
		if !strings.HasPrefix(m[1], "/console/") {
			t.Errorf("the overview refers to %q, outside the console", m[1])
			continue
		}
		if r, _ := b.get(m[1]); r.StatusCode != 200 {
			t.Errorf("GET %s: %d", m[1], r.StatusCode)
		}
	}
}

// apiRaw calls the HTTP API at e.url directly, as a client of the platform
// would: a Bearer token, a body of contentType, an optional Accept.
func apiRaw(t testing.TB, e *env, method, path, token, contentType, accept, body string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, e.url+path, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

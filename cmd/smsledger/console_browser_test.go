package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"iter"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/smsledger/smsledger/adapters/smpp/smscsim"
)

// The browser test's switches: CI sets the first (it installs Chromium), and
// `make console-screenshots` the second.
const (
	requireBrowserEnv = "SMSLEDGER_REQUIRE_BROWSER"
	screenshotsEnv    = "SMSLEDGER_CONSOLE_SCREENSHOTS"
)

// Bounds of the browser test: one step (a page load, a form, a wait for an
// element), a wait for the pipeline (delivery, projections), the whole
// browser.
const (
	browserStepTimeout = 15 * time.Second
	browserWaitTimeout = 20 * time.Second
	browserTimeout     = 3 * time.Minute
)

// pngMagic starts every PNG file.
var pngMagic = []byte("\x89PNG\r\n\x1a\n")

// TestConsoleInBrowser drives the web console in a real headless Chromium
// against a real serve and the SMPP simulator, as an operator would: sign
// in, watch the overview refresh, create a tenant, top it up, upload its
// rate deck and issue a key; a message sent with that key is found by id
// and by destination and its timeline shows the DLR; then the tenant is
// suspended (confirming the browser's dialog) and the API refuses its key.
// It also visits the supplier, route, CDR and reconciliation pages, and
// takes a full-page screenshot of each page (written to
// $SMSLEDGER_CONSOLE_SCREENSHOTS when set: docs/console/ in the README).
func TestConsoleInBrowser(t *testing.T) {
	chromium := chromiumPath(t)
	sim := startSim(t, smscsim.Config{SystemID: "sim", Password: "secret", DLRDelay: 50 * time.Millisecond})
	info, stop := serveInProcess(t, "--admin-token", testAdminToken)
	defer stop()
	base := "http://" + info.HTTPAddr
	configureSupplier(t, base, sim.Addr())

	b := startBrowser(t, chromium, base)
	b.signIn()
	b.overview()

	const tenant, dest = "globex", "+4915112345678"
	b.createTenant(tenant)
	b.fundTenant(tenant)
	key := b.issueKey(tenant)
	must := b.api
	sent := must(202, "POST", "/v1/messages", key, fmt.Sprintf(`{"from":"Globex","to":%q,"text":"hello from the console test"}`, dest))
	id, _ := sent["message_id"].(string)
	if id == "" || sent["price"] != "0.05" {
		t.Fatalf("send answered %v", sent)
	}
	b.findByID(id)
	b.timeline(id)
	b.findByDestination(dest, id)
	b.cdrs(id)
	b.tenantPage(tenant)
	b.suppliers("sim")
	b.routes("sim")
	b.reconciliation()
	b.overviewShot()
	b.suspend(tenant)
	if got := must(200, "GET", "/v1/tenants/"+tenant, testAdminToken, "")["status"]; got != "suspended" {
		t.Fatalf("the API shows the tenant %v after the console suspended it", got)
	}
	must(403, "POST", "/v1/messages", key, fmt.Sprintf(`{"to":%q,"text":"refused"}`, dest))
	b.checkConsole()
}

// chromiumPath finds Debian's Chromium; without one the test skips, or
// fails when SMSLEDGER_REQUIRE_BROWSER=1 (CI installs it and sets that).
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "Chromium is not installed (no chromium on PATH); install it with `apt-get install -y chromium` to run the console in a browser"
	if os.Getenv(requireBrowserEnv) == "1" {
		t.Fatalf("%s=1 but %s", requireBrowserEnv, msg)
	}
	t.Skip(msg)
	return ""
}

// configureSupplier adds the simulator as supplier "sim" with its costs and
// the route to +49 over the admin API (the browser's part is the tenant),
// and waits until its bind is up so that messages route.
func configureSupplier(t *testing.T, base, simAddr string) {
	t.Helper()
	must := apiMust(t, &base)
	host, port, _ := net.SplitHostPort(simAddr)
	must(201, "POST", "/v1/suppliers", testAdminToken, fmt.Sprintf(`{"id":"sim","name":"Simulator","currency":"EUR","host":%q,"port":%s,"system_id":"sim","password":"secret","binds":1,"tps_limit":100,"window":10}`, host, port))
	must(200, "PUT", "/v1/suppliers/sim/costs", testAdminToken, `[{"prefix":"49","cost":"0.02"}]`)
	must(200, "PUT", "/v1/routes", testAdminToken, `[{"prefix":"49","suppliers":["sim"]}]`)
	waitSupplierUp(t, base, "sim")
}

// consoleBrowser is one headless Chromium tab on serve's console.
type consoleBrowser struct {
	t     *testing.T
	tab   context.Context
	base  string
	api   func(want int, method, path, token, body string) map[string]any // apiMust: reads back what the console changed
	shots string                                                          // where screenshots go ("": checked, not kept)

	mu       sync.Mutex
	dialogs  []string // the messages of the dialogs accepted
	problems []string // exceptions and CSP violations in the pages
}

// startBrowser starts Chromium headless with a fresh profile and the flags
// that keep it from reaching any outside host, and opens a tab. Dialogs
// (data-confirm) are accepted and recorded; the pages' console is watched
// for exceptions and Content-Security-Policy violations.
func startBrowser(t *testing.T, chromium, base string) *consoleBrowser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	// The whole browser's life is bounded; each step has its own bound too.
	life, cancelLife := context.WithTimeout(context.Background(), browserTimeout)
	alloc, cancelAlloc := chromedp.NewExecAllocator(life, opts...)
	tab, cancelTab := chromedp.NewContext(alloc)
	var watchers sync.WaitGroup
	// The watchers end with the tab, before the test ends (they log).
	t.Cleanup(func() { cancelTab(); watchers.Wait(); cancelAlloc(); cancelLife() })
	b := &consoleBrowser{t: t, tab: tab, base: base, api: apiMust(t, &base), shots: os.Getenv(screenshotsEnv)}
	// The first action starts the browser; the page gets the window's
	// whole size (headless keeps some of it for a toolbar otherwise).
	if err := chromedp.Do(tab, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatalf("starting %s: %v", chromium, err)
	}
	dialogs, messages := chromedp.Events(tab, page.JavascriptDialogOpening), chromedp.Console(tab)
	watchers.Go(func() { b.acceptDialogs(dialogs) })
	watchers.Go(func() { b.watchConsole(messages) })
	return b
}

// acceptDialogs accepts each window.confirm the pages ask (a destructive
// form's data-confirm) and records its question.
func (b *consoleBrowser) acceptDialogs(dialogs iter.Seq2[page.EventJavascriptDialogOpening, error]) {
	for ev, err := range dialogs {
		if err != nil {
			return
		}
		b.mu.Lock()
		b.dialogs = append(b.dialogs, ev.Message)
		b.mu.Unlock()
		_, _ = chromedp.Call(b.tab, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
	}
}

// watchConsole logs what the pages write to the console and keeps the
// exceptions and CSP violations (inline scripts or styles) as problems.
func (b *consoleBrowser) watchConsole(messages iter.Seq2[chromedp.ConsoleMessage, error]) {
	for m, err := range messages {
		if err != nil {
			return
		}
		b.t.Logf("browser console: %s (%s)", m, m.URL)
		if m.IsException() || strings.Contains(m.Text, "Content Security Policy") {
			b.mu.Lock()
			b.problems = append(b.problems, m.String())
			b.mu.Unlock()
		}
	}
}

// checkConsole fails the test if a page threw or broke its CSP.
func (b *consoleBrowser) checkConsole() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.problems) > 0 {
		b.t.Fatalf("the pages' console:\n%s", strings.Join(b.problems, "\n"))
	}
}

// do runs a step's actions, bounded, and fails the test with what the page
// shows when they fail.
func (b *consoleBrowser) do(step string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.tab, browserStepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.fatal(step, err)
	}
}

// fatal fails the test at step, with the page's address and text.
func (b *consoleBrowser) fatal(step string, err error) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.tab, 5*time.Second)
	defer cancel()
	shown, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + "\n" + (document.body ? document.body.innerText : "")`))
	b.t.Fatalf("%s: %v\nthe page:\n%s", step, err, shown)
}

// open loads a console page and checks it answered 200 with element id.
func (b *consoleBrowser) open(path, id string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.tab, browserStepTimeout)
	defer cancel()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(b.base+path))
	if err == nil && resp.Status != 200 {
		err = fmt.Errorf("HTTP %d", resp.Status)
	}
	if err != nil {
		b.fatal("GET "+path, err)
	}
	b.do("GET "+path+": #"+id, chromedp.WaitReady(chromedp.ID(id)))
}

// submit clicks a form's button and waits for the page the POST redirects
// to; it fails if that page is not a 200 or shows an error.
func (b *consoleBrowser) submit(step, button string) {
	b.t.Helper()
	b.click(step, button)
	if msg := b.errorShown(); msg != "" {
		b.fatal(step, fmt.Errorf("the console shows the error %q", msg))
	}
}

// click clicks button (an id) and waits for the page it leads to.
func (b *consoleBrowser) click(step, button string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.tab, browserStepTimeout)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.ID(button)))
	if err == nil && resp.Status != 200 {
		err = fmt.Errorf("HTTP %d", resp.Status)
	}
	if err != nil {
		b.fatal(step, err)
	}
}

// errorShown is the text of the page's #error (the flash of a failed
// change), or "".
func (b *consoleBrowser) errorShown() string {
	return b.eval("error", `(document.getElementById("error") || {}).innerText || ""`)
}

// eval evaluates a JavaScript expression that yields a string.
func (b *consoleBrowser) eval(step, expr string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.tab, browserStepTimeout)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		b.fatal(step, err)
	}
	return s
}

// text is the visible text of element sel (CSS), waiting for it.
func (b *consoleBrowser) text(step, sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.tab, browserStepTimeout)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.fatal(step, err)
	}
	return s
}

// wantText fails unless element sel shows each of want.
func (b *consoleBrowser) wantText(step, sel string, want ...string) {
	b.t.Helper()
	got := b.text(step, sel)
	for _, w := range want {
		if !strings.Contains(got, w) {
			b.fatal(step, fmt.Errorf("%s shows no %q: %q", sel, w, got))
		}
	}
}

// until reloads path until element sel shows want (the pipeline and the
// read models are asynchronous), bounded.
func (b *consoleBrowser) until(step, path, sel, want string) {
	b.t.Helper()
	deadline := time.Now().Add(browserWaitTimeout)
	for {
		b.open(path, strings.TrimPrefix(sel, "#"))
		if strings.Contains(b.text(step, sel), want) {
			return
		}
		if time.Now().After(deadline) {
			b.fatal(step, fmt.Errorf("%s shows no %q after %s", sel, want, browserWaitTimeout))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// fill sets the named fields of form (an id).
func (b *consoleBrowser) fill(step, form string, fields [][2]string) {
	b.t.Helper()
	var actions []chromedp.Action[chromedp.Void]
	for _, f := range fields {
		actions = append(actions, chromedp.SetValue(chromedp.CSS(fmt.Sprintf("#%s [name=%q]", form, f[0])), f[1]))
	}
	b.do(step, actions...)
}

// shot takes a full-page screenshot, checks it is a PNG, and keeps it as
// <name>.png when screenshots are asked for.
func (b *consoleBrowser) shot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.tab, browserStepTimeout)
	defer cancel()
	// Quality 100 is what makes chromedp ask for a PNG (below, a JPEG).
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.fatal("screenshot "+name, err)
	}
	if len(png) < 1000 || !bytes.HasPrefix(png, pngMagic) {
		b.fatal("screenshot "+name, fmt.Errorf("not a PNG (%d bytes)", len(png)))
	}
	if b.shots == "" {
		return
	}
	if err := os.MkdirAll(b.shots, 0o755); err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b.shots, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// signIn signs in with the admin token; the console lands on the overview.
func (b *consoleBrowser) signIn() {
	b.t.Helper()
	b.open("/console/login", "token")
	b.do("type the token", chromedp.SendKeys(chromedp.ID("token"), testAdminToken))
	b.submit("sign in", "signin")
	if loc := b.eval("sign in", "location.pathname"); loc != "/console/" {
		b.fatal("sign in", fmt.Errorf("landed on %s, not the overview", loc))
	}
}

// overview waits until the overview's script has refreshed its figures
// (it marks the section data-updated) and the simulator's bind shows.
func (b *consoleBrowser) overview() {
	b.t.Helper()
	b.open("/console/", "overview")
	b.do("the overview refreshes", chromedp.WaitReady(chromedp.CSS("#overview[data-updated]")))
	b.wantText("the overview's bind count", "[data-field=suppliers_up]", "1")
}

// overviewShot shows the overview again once traffic has passed: its
// figures and charts then have something to show.
func (b *consoleBrowser) overviewShot() {
	b.t.Helper()
	b.open("/console/", "overview")
	b.do("the overview refreshes", chromedp.WaitReady(chromedp.CSS("#overview[data-updated]")))
	b.shot("overview")
}

// createTenant creates the tenant through the tenants page; creating it
// again shows the API's refusal.
func (b *consoleBrowser) createTenant(id string) {
	b.t.Helper()
	fields := [][2]string{{"id", id}, {"name", "Globex"}, {"currency", "EUR"}, {"billing", "on_submit"},
		{"tier", "standard"}, {"credit_limit", "0"}, {"tps_limit", "50"}}
	b.open("/console/tenants", "create-tenant")
	b.fill("the new tenant", "create-tenant", fields)
	b.submit("create the tenant", "create-tenant-submit")
	b.open("/console/tenants", "create-tenant")
	b.wantText("the tenants list", "main", id, "Globex")

	b.fill("the same tenant again", "create-tenant", fields)
	b.click("create the same tenant again", "create-tenant-submit")
	if msg := b.errorShown(); !strings.Contains(msg, "already exists") {
		b.fatal("create the same tenant again", fmt.Errorf("the console shows %q, not the API's refusal", msg))
	}
}

// fundTenant tops the tenant up and uploads its rate deck (a CSV file).
func (b *consoleBrowser) fundTenant(id string) {
	b.t.Helper()
	b.open("/console/tenants/"+id, "topup")
	b.fill("the top-up", "topup", [][2]string{{"amount", "10.00"}, {"reference", "wire-browser"}})
	b.submit("top up", "topup-submit")
	if got := b.api(200, "GET", "/v1/tenants/"+id, testAdminToken, "")["available"]; got != "10" && got != "10.00" {
		b.fatal("top up", fmt.Errorf("the API shows %v available after a top-up of 10.00", got))
	}

	deck := filepath.Join(b.t.TempDir(), "rates.csv")
	if err := os.WriteFile(deck, []byte("prefix,price\n49,0.05\n"), 0o600); err != nil {
		b.t.Fatal(err)
	}
	b.do("choose the rate deck", chromedp.SetUploadFiles(chromedp.CSS("#rates-upload input[type=file][name=file]"), []string{deck}))
	b.submit("upload the rate deck", "rates-upload-submit")
	b.wantText("the rates after the upload", "main", "0.05")
	rates := b.api(200, "GET", "/v1/tenants/"+id+"/rates", testAdminToken, "")
	if !strings.Contains(fmt.Sprint(rates), "0.05") {
		b.fatal("upload the rate deck", fmt.Errorf("the API shows the rates %v", rates))
	}
}

// issueKey issues an API key on the tenant's page and reads it (shown once).
func (b *consoleBrowser) issueKey(id string) string {
	b.t.Helper()
	b.open("/console/tenants/"+id, "issue-key-submit")
	b.submit("issue a key", "issue-key-submit")
	b.do("the new key", chromedp.WaitReady(chromedp.ID("new-key")))
	key := strings.TrimSpace(b.eval("the new key", `(e => e.value || e.textContent)(document.getElementById("new-key"))`))
	if !strings.HasPrefix(key, "sml_") {
		b.fatal("the new key", fmt.Errorf("#new-key shows %q, not a key", key))
	}
	return key
}

// findByID finds the message by its id: the console opens its page.
func (b *consoleBrowser) findByID(id string) {
	b.t.Helper()
	b.open("/console/messages", "find-q")
	b.do("type the id", chromedp.SendKeys(chromedp.ID("find-q"), id))
	b.submit("find by id", "find-submit")
	if loc := b.eval("find by id", "location.pathname"); loc != "/console/messages/"+id {
		b.fatal("find by id", fmt.Errorf("landed on %s, not the message's page", loc))
	}
}

// timeline waits until the message's timeline shows the supplier's DLR.
func (b *consoleBrowser) timeline(id string) {
	b.t.Helper()
	b.until("the timeline shows the DLR", "/console/messages/"+id, "#timeline", "DELIVRD")
	b.shot("message")
}

// findByDestination finds the message by its number: the results list it
// once its CDR is projected.
func (b *consoleBrowser) findByDestination(dest, id string) {
	b.t.Helper()
	deadline := time.Now().Add(browserWaitTimeout)
	for {
		b.open("/console/messages", "find-q")
		b.do("type the number", chromedp.SendKeys(chromedp.ID("find-q"), dest))
		b.submit("find by number", "find-submit")
		if strings.Contains(b.eval("the results", `(document.getElementById("results") || {}).innerText || ""`), id) {
			break
		}
		if time.Now().After(deadline) {
			b.fatal("find by number", fmt.Errorf("#results shows no %s after %s", id, browserWaitTimeout))
		}
		time.Sleep(250 * time.Millisecond)
	}
	b.shot("messages")
}

// cdrs waits until the CDR page lists the message.
func (b *consoleBrowser) cdrs(id string) {
	b.t.Helper()
	b.until("the CDRs list the message", "/console/cdrs", "#cdrs", id)
	b.shot("cdrs")
}

// tenantPage shows the tenants and the tenant with its balance after the
// message.
func (b *consoleBrowser) tenantPage(id string) {
	b.t.Helper()
	b.open("/console/tenants", "create-tenant")
	b.wantText("the tenants list", "main", id, "9.95")
	b.shot("tenants")
	b.open("/console/tenants/"+id, "tenant-status")
	b.wantText("the tenant's status", "#tenant-status", "active")
	b.shot("tenant")
}

// suppliers shows the supplier list with its health chart, and the
// supplier's own page with its live state.
func (b *consoleBrowser) suppliers(id string) {
	b.t.Helper()
	b.open("/console/suppliers", "suppliers")
	b.wantText("the suppliers list", "#suppliers", id)
	b.do("the health chart", chromedp.WaitReady(chromedp.ID("health-chart")))
	b.shot("suppliers")
	b.open("/console/suppliers/"+id, "supplier-state")
	b.wantText("the supplier's page", "main", "Simulator")
	b.shot("supplier")
}

// routes shows the routing table.
func (b *consoleBrowser) routes(supplier string) {
	b.t.Helper()
	b.open("/console/routes", "routes")
	b.wantText("the routes", "#routes", "49", supplier)
	b.shot("routes")
}

// reconciliation reconciles today (UTC days) and waits for its checks,
// which pass: the message was priced, costed and projected consistently.
func (b *consoleBrowser) reconciliation() {
	b.t.Helper()
	today := time.Now().UTC()
	b.open("/console/reconciliation", "reconcile")
	b.fill("the period", "reconcile", [][2]string{
		{"from", today.Format(time.DateOnly)}, {"to", today.AddDate(0, 0, 1).Format(time.DateOnly)}})
	b.submit("reconcile", "reconcile-submit")
	b.do("the checks", chromedp.WaitReady(chromedp.ID("checks")))
	b.wantText("the checks", "#reconcile-result", "every check passed")
	b.shot("reconciliation")
}

// suspend suspends the tenant on its page; the form asks for confirmation
// first, and the page then shows the tenant suspended.
func (b *consoleBrowser) suspend(id string) {
	b.t.Helper()
	b.open("/console/tenants/"+id, "suspend")
	b.mu.Lock()
	asked := len(b.dialogs)
	b.mu.Unlock()
	b.submit("suspend", "suspend-submit")
	b.mu.Lock()
	confirmed := len(b.dialogs) > asked
	b.mu.Unlock()
	if !confirmed {
		b.fatal("suspend", errors.New("the console suspended the tenant without asking for confirmation"))
	}
	b.wantText("the tenant's status", "#tenant-status", "suspended")
}

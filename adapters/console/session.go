package console

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// Session bounds.
const (
	// DefaultSessionTTL is how long a sign-in lasts (a working day); the
	// operator signs in again after it.
	DefaultSessionTTL = 12 * time.Hour
	// MaxSessions bounds the sessions kept in memory; signing in beyond it
	// ends the oldest.
	MaxSessions = 1024
	cookieName  = "smsledger_console"
)

// session is one signed-in browser: the admin token it signed in with (the
// console calls the API with it, so a changed token ends the session at
// its next call), its CSRF token, and a notice waiting to be shown.
type session struct {
	id, token, csrf string
	expires         time.Time
	notice, err     string
}

// sessions are the signed-in browsers, in memory: a restart of serve signs
// everyone out.
type sessions struct {
	mu  sync.Mutex
	ttl time.Duration
	max int
	now func() time.Time
	by  map[string]*session
}

func newSessions(ttl time.Duration, max int, now func() time.Time) *sessions {
	return &sessions{ttl: ttl, max: max, now: now, by: make(map[string]*session)}
}

func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("console: no randomness: " + err.Error()) // crypto/rand does not fail on Linux
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// start makes a session for an operator who presented token.
func (ss *sessions) start(token string) *session {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	now := ss.now()
	for id, s := range ss.by {
		if now.After(s.expires) {
			delete(ss.by, id)
		}
	}
	for len(ss.by) >= ss.max {
		var oldest *session
		for _, s := range ss.by {
			if oldest == nil || s.expires.Before(oldest.expires) {
				oldest = s
			}
		}
		delete(ss.by, oldest.id)
	}
	s := &session{id: randomToken(), token: token, csrf: randomToken(), expires: now.Add(ss.ttl)}
	ss.by[s.id] = s
	return s
}

// get returns the live session of id.
func (ss *sessions) get(id string) *session {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s := ss.by[id]
	if s == nil {
		return nil
	}
	if ss.now().After(s.expires) {
		delete(ss.by, id)
		return nil
	}
	return s
}

func (ss *sessions) drop(s *session) {
	if s == nil {
		return
	}
	ss.mu.Lock()
	delete(ss.by, s.id)
	ss.mu.Unlock()
}

func (ss *sessions) setFlash(s *session, notice, err string) {
	ss.mu.Lock()
	s.notice, s.err = notice, err
	ss.mu.Unlock()
}

func (ss *sessions) takeFlash(s *session) (notice, err string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	notice, err = s.notice, s.err
	s.notice, s.err = "", ""
	return notice, err
}

// signedIn passes the request's session to h, or sends the browser to the
// sign-in page.
func (c *Console) signedIn(h func(w http.ResponseWriter, r *http.Request, s *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var s *session
		if ck, err := r.Cookie(cookieName); err == nil {
			s = c.sessions.get(ck.Value)
		}
		if s == nil {
			if r.Method == http.MethodGet && r.URL.Path != Prefix+"overview.json" {
				http.Redirect(w, r, Prefix+"login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			http.Error(w, "sign in first", http.StatusUnauthorized)
			return
		}
		h(w, r, s)
	}
}

// checkCSRF refuses a change whose form lacks the session's CSRF token, or
// whose Origin (when the browser sends one) is another site. SameSite=Strict
// already keeps the cookie off cross-site requests; this is the second lock.
func (c *Console) checkCSRF(w http.ResponseWriter, r *http.Request, s *session) bool {
	if !sameOrigin(r) {
		http.Error(w, "cross-origin request refused", http.StatusForbidden)
		return false
	}
	got := r.Header.Get("X-CSRF-Token")
	if got == "" {
		r.Body = http.MaxBytesReader(w, r.Body, MaxUploadBytes+maxFormBytes)
		got = r.FormValue("csrf")
	}
	if subtle.ConstantTimeCompare([]byte(got), []byte(s.csrf)) != 1 {
		http.Error(w, "missing or wrong CSRF token: reload the page", http.StatusForbidden)
		return false
	}
	return true
}

func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, nil, http.StatusOK, "login", "Sign in", "", map[string]string{"Next": safeNext(r.URL.Query().Get("next"))})
}

// safeNext keeps a post-sign-in redirect inside the console.
func safeNext(next string) string {
	u, err := url.Parse(next)
	if err != nil || u.IsAbs() || u.Host != "" || len(next) < len(Prefix) || next[:len(Prefix)] != Prefix || (len(next) > 1 && next[1] == '/') {
		return Prefix
	}
	return next
}

// login checks the presented admin token by one API call (so the API's own
// check and its failure limits per address apply) and starts a session.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		http.Error(w, "cross-origin request refused", http.StatusForbidden)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	token := r.PostFormValue("token")
	next := safeNext(r.PostFormValue("next"))
	if _, err := c.callToken(r, token, http.MethodGet, "/v1/tenants?limit=1", nil, "", ""); err != nil {
		msg := "That token was refused."
		if ae, ok := err.(*APIError); ok && ae.Status == http.StatusTooManyRequests {
			msg = "Too many failed sign-ins from this address: wait a minute."
		} else if !ok || ae.Status != http.StatusUnauthorized {
			msg = "Sign-in failed: " + err.Error()
		}
		c.render(w, r, nil, http.StatusUnauthorized, "login", "Sign in", "", map[string]string{"Next": next, "Error": msg})
		return
	}
	s := c.sessions.start(token)
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: s.id, Path: Prefix,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: c.opts.SecureCookie,
		MaxAge: int(c.opts.SessionTTL / time.Second),
	})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request, s *session) {
	if !c.checkCSRF(w, r, s) {
		return
	}
	c.sessions.drop(s)
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: Prefix, HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	http.Redirect(w, r, Prefix+"login", http.StatusSeeOther)
}

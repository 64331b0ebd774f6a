package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// APIError is the HTTP API's answer to a call that failed: its status and
// its {"error":{"code","message"}}. The console shows Message to the
// operator as it is.
type APIError struct {
	Status  int
	Code    string
	Message string
}

func (e *APIError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("%s (HTTP %d)", e.Code, e.Status)
	}
	return e.Message
}

// apiResponse is a successful answer of the API.
type apiResponse struct {
	Status int
	Header http.Header
	Body   []byte
}

// memoryWriter is the http.ResponseWriter of an in-process API call. Answers
// are bounded by the API itself (pages of at most 1,000 rows).
type memoryWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (m *memoryWriter) Header() http.Header { return m.header }

func (m *memoryWriter) WriteHeader(code int) {
	if m.status == 0 {
		m.status = code
	}
}

func (m *memoryWriter) Write(b []byte) (int, error) {
	if m.status == 0 {
		m.status = http.StatusOK
	}
	return m.body.Write(b)
}

// call makes one API request in process on behalf of the operator of
// session s and of the browser's request r (its context, and its peer
// address, which the API's failure limits count). contentType and accept
// may be empty (JSON).
func (c *Console) call(r *http.Request, s *session, method, path string, body []byte, contentType, accept string) (*apiResponse, error) {
	return c.callToken(r, s.token, method, path, body, contentType, accept)
}

func (c *Console) callToken(r *http.Request, token, method, path string, body []byte, contentType, accept string) (*apiResponse, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(r.Context(), method, "http://console.invalid"+path, rd)
	if err != nil {
		return nil, fmt.Errorf("console: %s %s: %w", method, path, err)
	}
	req.RemoteAddr = r.RemoteAddr
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		if contentType == "" {
			contentType = "application/json"
		}
		req.Header.Set("Content-Type", contentType)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	w := &memoryWriter{header: http.Header{}}
	c.opts.API.ServeHTTP(w, req)
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if w.status >= 300 {
		return nil, decodeAPIError(w.status, w.body.Bytes())
	}
	return &apiResponse{Status: w.status, Header: w.header, Body: w.body.Bytes()}, nil
}

func decodeAPIError(status int, body []byte) *APIError {
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Error.Code == "" {
		return &APIError{Status: status, Code: http.StatusText(status), Message: strings.TrimSpace(string(body))}
	}
	return &APIError{Status: status, Code: e.Error.Code, Message: e.Error.Message}
}

// getJSON reads path and decodes its JSON answer into out.
func (c *Console) getJSON(r *http.Request, s *session, path string, out any) error {
	res, err := c.call(r, s, http.MethodGet, path, nil, "", "")
	if err != nil {
		return err
	}
	if err := json.Unmarshal(res.Body, out); err != nil {
		return fmt.Errorf("console: GET %s: %w", path, err)
	}
	return nil
}

// sendJSON makes a change with a JSON body (in may be nil) and decodes the
// answer into out when out is not nil.
func (c *Console) sendJSON(r *http.Request, s *session, method, path string, in, out any) error {
	var body []byte
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("console: %s %s: %w", method, path, err)
		}
		body = b
	}
	res, err := c.call(r, s, method, path, body, "", "")
	if err != nil {
		return err
	}
	if out != nil && len(res.Body) > 0 {
		if err := json.Unmarshal(res.Body, out); err != nil {
			return fmt.Errorf("console: %s %s: %w", method, path, err)
		}
	}
	return nil
}

// download streams an API answer (e.g. a CSV deck) to the browser as a
// file named filename.
func (c *Console) download(w http.ResponseWriter, r *http.Request, s *session, path, accept, filename string) {
	res, err := c.call(r, s, http.MethodGet, path, nil, "", accept)
	if err != nil {
		c.renderError(w, r, s, "", err)
		return
	}
	ct := res.Header.Get("Content-Type")
	if ct == "" {
		ct = accept
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", filename))
	_, _ = w.Write(res.Body)
}

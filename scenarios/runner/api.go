package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

var httpClient = &http.Client{Timeout: 2 * time.Minute}

// api calls serve's HTTP API with a bearer token (admin or a tenant's key):
// at addr when set (one node of a cluster), else at the run's pinned
// address (a cluster's configuration goes through one node), else at the
// running serve (in a cluster, its HTTP load balancer).
type api struct {
	r     *run
	token string
	addr  string
}

func (r *run) admin() api                  { return api{r: r, token: r.token} }
func (r *run) tenantAPI(tenant string) api { return api{r: r, token: r.keys[tenant]} }

// at is the same calls at one address (a node of a cluster).
func (a api) at(addr string) api { a.addr = addr; return a }

// base is the HTTP address the call goes to.
func (a api) base() (string, error) {
	if a.addr != "" {
		return a.addr, nil
	}
	if p := a.r.pinned; p != "" {
		return p, nil
	}
	s := a.r.current()
	if s == nil {
		return "", errors.New("serve is restarting")
	}
	return s.HTTPAddr(), nil
}

// statusError is a non-2xx answer.
type statusError struct {
	Code int
	Msg  string
}

func (e *statusError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.Code, e.Msg) }

// get GETs path and returns the body of a 2xx answer as it is (e.g.
// /metrics, which needs the admin token on the API's address).
func (a api) get(ctx context.Context, path string) ([]byte, error) {
	addr, err := a.base()
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("GET %s: %w", path, &statusError{Code: resp.StatusCode, Msg: string(bytes.TrimSpace(raw[:min(len(raw), 512)]))})
	}
	return raw, nil
}

// do sends body as JSON (none when nil) and decodes a 2xx answer into out
// (when not nil).
func (a api) do(ctx context.Context, method, path string, body, out any) error {
	if body == nil {
		return a.send(ctx, method, path, "", nil, out)
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	return a.send(ctx, method, path, "application/json", raw, out)
}

// send sends body as it is with its Content-Type (none when body is nil;
// e.g. text/csv for the numbering tables) and decodes a 2xx answer into
// out (when not nil).
func (a api) send(ctx context.Context, method, path, contentType string, body []byte, out any) error {
	addr, err := a.base()
	if err != nil {
		return err
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+addr+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %w", method, path, &statusError{Code: resp.StatusCode, Msg: string(bytes.TrimSpace(raw[:min(len(raw), 512)]))})
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("%s %s: decode: %w", method, path, err)
		}
	}
	return nil
}

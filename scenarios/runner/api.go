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

// api calls serve's HTTP API with a bearer token (admin or a tenant's key).
type api struct {
	r     *run
	token string
}

func (r *run) admin() api                  { return api{r: r, token: r.token} }
func (r *run) tenantAPI(tenant string) api { return api{r: r, token: r.keys[tenant]} }

// statusError is a non-2xx answer.
type statusError struct {
	Code int
	Msg  string
}

func (e *statusError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.Code, e.Msg) }

// get GETs path and returns the body of a 2xx answer as it is (e.g.
// /metrics, which needs the admin token on the API's address).
func (a api) get(ctx context.Context, path string) ([]byte, error) {
	s := a.r.current()
	if s == nil {
		return nil, errors.New("serve is restarting")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.HTTPAddr()+path, nil)
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
	s := a.r.current()
	if s == nil {
		return errors.New("serve is restarting")
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+s.HTTPAddr()+path, rd)
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

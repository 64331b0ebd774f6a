package main

// provision: configures a running serve from a YAML file over the admin
// API (suppliers with their costs, routes, tenants with their rates and a
// top-up, an API key each), and optionally sends a first message and waits
// for its DLR — the README's getting started.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/smsledger/smsledger/domain/message"
	"github.com/smsledger/smsledger/internal/backoff"
)

type provisionConfig struct {
	httpAddr   string
	adminToken string
	file       string
	sendTo     string
	wait       time.Duration
}

// provisionFile is the YAML a provision applies.
type provisionFile struct {
	Suppliers []struct {
		ID       string `yaml:"id" json:"id"`
		Name     string `yaml:"name" json:"name"`
		Currency string `yaml:"currency" json:"currency"`
		Host     string `yaml:"host" json:"host"`
		Port     int    `yaml:"port" json:"port"`
		SystemID string `yaml:"system_id" json:"system_id"`
		Password string `yaml:"password" json:"password"`
		Costs    []struct {
			Prefix string `yaml:"prefix" json:"prefix"`
			Cost   string `yaml:"cost" json:"cost"`
		} `yaml:"costs" json:"-"`
	} `yaml:"suppliers"`
	Routes []struct {
		Prefix    string   `yaml:"prefix" json:"prefix"`
		Suppliers []string `yaml:"suppliers" json:"suppliers"`
	} `yaml:"routes"`
	Tenants []struct {
		ID       string `yaml:"id" json:"id"`
		Name     string `yaml:"name" json:"name"`
		Currency string `yaml:"currency" json:"currency"`
		Billing  string `yaml:"billing" json:"billing"`
		Tier     string `yaml:"tier" json:"tier,omitempty"`
		Rates    []struct {
			Prefix string `yaml:"prefix" json:"prefix"`
			Price  string `yaml:"price" json:"price"`
		} `yaml:"rates" json:"-"`
		Topup *struct {
			Amount    string `yaml:"amount" json:"amount"`
			Reference string `yaml:"reference" json:"reference"`
		} `yaml:"topup" json:"-"`
	} `yaml:"tenants"`
}

// provisionFileMax bounds the file read.
const provisionFileMax = 8 << 20

func parseProvisionFlags(args []string, stderr io.Writer, getenv func(string) string) (provisionConfig, error) {
	var cfg provisionConfig
	fs := newFlagSet("provision", stderr)
	fs.StringVar(&cfg.httpAddr, "http-addr", "127.0.0.1:8080", "serve's HTTP address")
	fs.StringVar(&cfg.adminToken, "admin-token", "", "serve's admin token")
	fs.StringVar(&cfg.sendTo, "send-to", "", "then send one message to this number as the first tenant, and wait for its DLR")
	fs.DurationVar(&cfg.wait, "wait", time.Minute, "how long --send-to waits for the DLR")
	// FILE may come before, between or after the flags (each of which
	// takes a value, as "--flag value" or "--flag=value").
	var files, flags []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case !strings.HasPrefix(a, "-"):
			files = append(files, a)
		case strings.Contains(a, "=") || a == "-h" || a == "-help" || a == "--help" || i+1 == len(args):
			flags = append(flags, a)
		default:
			flags = append(flags, a, args[i+1])
			i++
		}
	}
	if err := parseFlags(fs, flags, getenv, nil); err != nil {
		return cfg, err
	}
	if len(files) != 1 {
		return cfg, fmt.Errorf("%w: usage: smsledger provision [flags] FILE (YAML: suppliers, routes, tenants)", errUsage)
	}
	cfg.file = files[0]
	if cfg.adminToken == "" {
		return cfg, fmt.Errorf("%w: --admin-token (or SMSLEDGER_ADMIN_TOKEN) is required", errUsage)
	}
	if cfg.wait <= 0 || cfg.wait > time.Hour {
		return cfg, fmt.Errorf("%w: --wait must be within (0, 1h]", errUsage)
	}
	return cfg, nil
}

// apiClient calls serve's HTTP API (provision, bench): the admin token by
// default, a tenant's key where a call gives one.
type apiClient struct {
	base  string
	token string
	hc    *http.Client
}

// call sends body (JSON unless it is a string) and decodes a 2xx answer
// into out; an answer with status in ok is also accepted (e.g. 409 for
// what exists already).
func (c apiClient) call(ctx context.Context, method, path, token string, body any, out any, ok ...int) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	for _, s := range ok {
		if resp.StatusCode == s {
			return resp.StatusCode, nil
		}
	}
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, fmt.Errorf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

func runProvision(ctx context.Context, cfg provisionConfig, stdout io.Writer) error {
	raw, err := os.ReadFile(cfg.file)
	if err != nil {
		return err
	}
	if len(raw) > provisionFileMax {
		return fmt.Errorf("%s: over %d bytes", cfg.file, provisionFileMax)
	}
	var f provisionFile
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return fmt.Errorf("%w: %s: %v", errUsage, cfg.file, err)
	}
	c := apiClient{base: "http://" + cfg.httpAddr, token: cfg.adminToken, hc: &http.Client{Timeout: 30 * time.Second}}
	adm := cfg.adminToken
	// What exists already (409) is left as it is: provisioning twice is
	// harmless, and it never overwrites a tenant or supplier.
	for _, s := range f.Suppliers {
		if _, err := c.call(ctx, "POST", "/v1/suppliers", adm, s, nil, http.StatusConflict); err != nil {
			return err
		}
		if len(s.Costs) > 0 {
			if _, err := c.call(ctx, "PUT", "/v1/suppliers/"+s.ID+"/costs", adm, s.Costs, nil); err != nil {
				return err
			}
		}
		fmt.Fprintf(stdout, "supplier %s: %s:%d\n", s.ID, s.Host, s.Port)
	}
	if len(f.Routes) > 0 {
		if _, err := c.call(ctx, "PUT", "/v1/routes", adm, f.Routes, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "routes: %d\n", len(f.Routes))
	}
	keys := map[string]string{}
	for _, t := range f.Tenants {
		if _, err := c.call(ctx, "POST", "/v1/tenants", adm, t, nil, http.StatusConflict); err != nil {
			return err
		}
		if len(t.Rates) > 0 {
			if _, err := c.call(ctx, "PUT", "/v1/tenants/"+t.ID+"/rates", adm, t.Rates, nil); err != nil {
				return err
			}
		}
		if t.Topup != nil {
			if _, err := c.call(ctx, "POST", "/v1/tenants/"+t.ID+"/topups", adm, t.Topup, nil); err != nil {
				return err
			}
		}
		var k struct {
			Key string `json:"key"`
		}
		if _, err := c.call(ctx, "POST", "/v1/tenants/"+t.ID+"/api-keys", adm, nil, &k); err != nil {
			return err
		}
		keys[t.ID] = k.Key
		fmt.Fprintf(stdout, "tenant %s: API key %s\n", t.ID, k.Key)
	}
	if cfg.sendTo == "" {
		return nil
	}
	if len(f.Tenants) == 0 {
		return fmt.Errorf("%w: --send-to needs a tenant in %s", errUsage, cfg.file)
	}
	return sendFirst(ctx, c, keys[f.Tenants[0].ID], cfg, stdout)
}

// sendFirst sends one message with key and waits (bounded) until it is
// final, then prints its state and DLR status.
func sendFirst(ctx context.Context, c apiClient, key string, cfg provisionConfig, stdout io.Writer) error {
	var acc struct {
		MessageID string `json:"message_id"`
		Price     string `json:"price"`
		Currency  string `json:"currency"`
	}
	// The supplier's binds come up within a second or two of its creation.
	deadline := time.Now().Add(cfg.wait)
	for {
		_, err := c.call(ctx, "POST", "/v1/messages", key, map[string]string{"to": cfg.sendTo, "text": "Hello from smsledger"}, &acc)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return err
		}
		if err := backoff.Wait(ctx, 500*time.Millisecond); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "message %s accepted, price %s %s\n", acc.MessageID, acc.Price, acc.Currency)
	for {
		var v struct {
			State     string `json:"state"`
			DLRStatus string `json:"dlr_status"`
		}
		if _, err := c.call(ctx, "GET", "/v1/messages/"+acc.MessageID, key, nil, &v); err != nil {
			return err
		}
		if message.State(v.State).Terminal() {
			fmt.Fprintf(stdout, "message %s: %s, DLR %s\n", acc.MessageID, v.State, v.DLRStatus)
			if v.State != "delivered" {
				return fmt.Errorf("message %s ended %s", acc.MessageID, v.State)
			}
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("message %s still %s after %s", acc.MessageID, v.State, cfg.wait)
		}
		if err := backoff.Wait(ctx, 250*time.Millisecond); err != nil {
			return err
		}
	}
}

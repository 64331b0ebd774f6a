package egress

import (
	"context"
	"crypto/tls"
	"testing"
	"time"

	"github.com/smsledger/smsledger/internal/testcert"
)

// selfSigned makes a certificate for 127.0.0.1 and smsc.test; caPEM trusts it.
func selfSigned(t *testing.T) (cert tls.Certificate, caPEM []byte) {
	c := testcert.New(t)
	return c.TLS, c.PEM
}

// With TLS a supplier behind a TLS listener is bound (its certificate
// verified for the host of Addr, or TLSServerName, against TLSCAPEM) and
// messages flow; a certificate for another name, or one the CA does not
// sign, binds nothing and the supplier is down.
func TestTLSSupplier(t *testing.T) {
	cert, caPEM := selfSigned(t)
	f := startFakeSMSC(t, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	addr := f.ln.Addr().String()
	for _, name := range []string{"", "smsc.test"} {
		s, r := startSupplierAt(t, addr, func(c *Config) {
			c.Binds, c.TLS, c.TLSServerName, c.TLSCAPEM = 1, true, name, caPEM
		})
		_ = s.Enqueue(msg("over-tls", false))
		waitFor(t, func() bool { a, _, _, _ := r.counts(); return a == 1 })
	}

	_, otherCA := selfSigned(t)
	for name, mod := range map[string]func(*Config){
		"another name": func(c *Config) { c.TLSServerName = "other.test"; c.TLSCAPEM = caPEM },
		"another CA":   func(c *Config) { c.TLSCAPEM = otherCA },
		"no CA at all": func(c *Config) { c.TLSCAPEM = nil }, // the system pool does not know it
		"not a PEM":    func(c *Config) { c.TLSCAPEM = []byte("junk") },
	} {
		cfg := Config{SupplierID: "s1", Addr: addr, SystemID: "sup", Password: "pw", TLS: true, Logger: quiet(),
			BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond}
		mod(&cfg)
		s := New(cfg, &rec{})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = s.Run(ctx); close(done) }()
		waitFor(t, func() bool { return s.bindFails.Load() >= 2 })
		if !s.Down() || s.BindsUp() != 0 {
			t.Errorf("%s: down %v, binds up %d", name, s.Down(), s.BindsUp())
		}
		cancel()
		<-done
	}
	if _, err := (Config{TLS: true, Addr: "127.0.0.1:1", TLSCAPEM: []byte("junk")}).TLSConfig(); err == nil {
		t.Fatal("a CA PEM with no certificate was accepted")
	}
	if c, err := (Config{TLS: true, Addr: "smsc.example:2775"}).TLSConfig(); err != nil || c.ServerName != "smsc.example" || c.RootCAs != nil {
		t.Fatalf("%+v %v", c, err)
	}
	if c, err := (Config{Addr: "smsc.example:2775"}).TLSConfig(); c != nil || err != nil {
		t.Fatalf("without TLS: %+v %v", c, err)
	}
}

package ledger

import (
	"crypto/x509"
	"net/netip"
	"strings"
)

// Per-tenant access limits: how many SMPP binds a tenant may hold at once
// and where its binds and API calls may come from. The edges enforce them
// (the SMPP server at bind, the HTTP API at authentication) from
// TenantAccess, a snapshot read: no query.

// Bounds of the access settings.
const (
	MaxBindsLimit = 10_000 // max_binds above this is a typo, not a plan
	MaxAllowedIPs = 256    // CIDRs per tenant
)

// Access is a tenant's access limits.
type Access struct {
	MaxBinds   int            // 0: no limit
	AllowedIPs []netip.Prefix // empty: any address
}

// Allows reports whether addr may act for the tenant (an invalid addr is
// allowed only when no list is set).
func (a Access) Allows(addr netip.Addr) bool {
	if len(a.AllowedIPs) == 0 {
		return true
	}
	addr = addr.Unmap()
	for _, p := range a.AllowedIPs {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// TenantAccess returns tenant id's access limits.
func (s *Service) TenantAccess(id string) (Access, error) {
	t, err := s.tenant(id)
	if err != nil {
		return Access{}, err
	}
	return t.Access, nil
}

// parseAllowedIPs validates allowed_ips: CIDRs, or single addresses (taken
// as /32 or /128), canonical (masked) in the result.
func parseAllowedIPs(in []string) ([]netip.Prefix, error) {
	if len(in) > MaxAllowedIPs {
		return nil, invalid("allowed_ips", "at most %d entries", MaxAllowedIPs)
	}
	out := make([]netip.Prefix, 0, len(in))
	for _, s := range in {
		p, err := parsePrefix(s)
		if err != nil {
			return nil, invalid("allowed_ips", "%q is not a CIDR like 192.0.2.0/24 or an address", s)
		}
		out = append(out, p)
	}
	return out, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()).Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func prefixStrings(ps []netip.Prefix) []string {
	if len(ps) == 0 {
		return nil
	}
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

// accessOf is the access limits a tenant event carries; invalid entries
// (from a log written by another build) are dropped.
func accessOf(maxBinds int, allowed []string) Access {
	a := Access{MaxBinds: max(0, maxBinds)}
	for _, s := range allowed {
		if p, err := parsePrefix(s); err == nil {
			a.AllowedIPs = append(a.AllowedIPs, p)
		}
	}
	return a
}

// validSupplierTLS checks a supplier's TLS settings: a server name of at
// most 253 bytes and a CA bundle that holds at least one certificate.
func validSupplierTLS(on bool, serverName, caPEM string) error {
	if !on && (serverName != "" || caPEM != "") {
		return invalid("tls", "tls_server_name and tls_ca_pem need tls: true")
	}
	if len(serverName) > 253 {
		return invalid("tls_server_name", "at most 253 bytes")
	}
	if caPEM == "" {
		return nil
	}
	if len(caPEM) > 1<<20 {
		return invalid("tls_ca_pem", "at most 1 MiB")
	}
	if !x509.NewCertPool().AppendCertsFromPEM([]byte(caPEM)) {
		return invalid("tls_ca_pem", "holds no PEM certificate")
	}
	return nil
}

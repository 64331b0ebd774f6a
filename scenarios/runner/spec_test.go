package runner

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smsledger/smsledger/scenarios/load"
)

// scenarioYAML is a valid scenario; each case below changes one part of it
// (the parts are text/template-free: plain replacements of whole lines).
const scenarioYAML = `name: t
tenants:
  - id: acme
    rates: [{prefix: "49", price: "0.01"}]
suppliers:
  - id: sup
    costs: [{prefix: "49", price: "0.005"}]
  - id: backup
    costs: [{prefix: "49", price: "0.006"}]
routes:
  - {prefix: "49", suppliers: [sup, backup]}
traffic:
  - {name: s, tenant: acme, prefix: "4915", messages: 10}
faults: []
settle: 5s
`

// lifecycleYAML uses the fields of the lifecycle scenarios.
const lifecycleYAML = `name: l
tenants:
  - id: acme
    default_validity: 6s
    rates: [{prefix: "49", price: "0.01"}]
suppliers:
  - {id: sup, dlr_drop_rate: 0.2, dlr_grace: 3s, billing: on_delivery, costs: [{prefix: "49", price: "0.005"}]}
  - {id: backup, costs: [{prefix: "49", price: "0.006"}]}
routes:
  - {prefix: "49", suppliers: [sup, backup]}
traffic:
  - {name: s, tenant: acme, prefix: "4915", messages: 10, validity: 5s, send_after: 1500ms}
faults: [{at: 1s, kind: mute_dlrs, supplier: sup, for: 2s}]
limits: {max_schedule_lag: 2s}
`

// with returns scenarioYAML with the line starting with old (after its
// indentation) replaced by repl (indented alike; "" drops the line).
func with(t *testing.T, old, repl string) string {
	t.Helper()
	lines := strings.Split(scenarioYAML, "\n")
	for i, l := range lines {
		trimmed := strings.TrimLeft(l, " ")
		if strings.HasPrefix(trimmed, old) {
			indent := l[:len(l)-len(trimmed)]
			if repl == "" {
				return strings.Join(append(lines[:i:i], lines[i+1:]...), "\n")
			}
			lines[i] = indent + strings.ReplaceAll(repl, "\n", "\n"+indent)
			return strings.Join(lines, "\n")
		}
	}
	t.Fatalf("no line %q in the base scenario", old)
	return ""
}

func TestParseValid(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		check      func(t *testing.T, s *Scenario)
	}{
		{"defaults", scenarioYAML, func(t *testing.T, s *Scenario) {
			tn, p, st := s.Tenants[0], s.Suppliers[0], s.Traffic[0]
			if tn.Billing != "on_submit" || tn.Tier != "standard" || tn.Credit != "0" || tn.Topup != "1000" {
				t.Errorf("tenant defaults: %+v", tn)
			}
			if p.DLRDelay.D() != 50*time.Millisecond || p.Binds != 2 || p.Window != 512 || p.TPS != 1_000_000 || p.DLRStorm.enabled() {
				t.Errorf("supplier defaults: %+v", p)
			}
			if st.Kind != StreamSMPP || st.Binds != 2 || st.Window != 32 || st.Senders != 0 || st.Duration.D() != time.Minute {
				t.Errorf("stream defaults: %+v", st)
			}
			if s.Settle.D() != 5*time.Second || s.Limits.MaxFailover.D() != 2*time.Second ||
				s.Limits.MaxStoreRecovery.D() != 30*time.Second || s.Limits.MaxRebind.D() != 5*time.Second {
				t.Errorf("limits: settle %v %+v", s.Settle.D(), s.Limits)
			}
			if len(s.Invariants) != len(AllInvariants) || !s.InCI() || s.Process() {
				t.Errorf("invariants %v, ci %v, process %v", s.Invariants, s.InCI(), s.Process())
			}
		}},
		{"http stream", with(t, "- {name: s", `- {name: h, kind: http, tenant: acme, prefix: "4915", messages: 10, rate: 5, duration: 2s}`),
			func(t *testing.T, s *Scenario) {
				st := s.Traffic[0]
				if st.Kind != StreamHTTP || st.Senders != 4 || st.Binds != 0 || st.Window != 0 || st.Rate != 5 || st.Duration.D() != 2*time.Second {
					t.Errorf("http stream: %+v", st)
				}
			}},
		{"http stream with senders", with(t, "- {name: s", `- {kind: http, tenant: acme, prefix: "4915", messages: 10, senders: 64}`),
			func(t *testing.T, s *Scenario) {
				if st := s.Traffic[0]; st.Senders != 64 || st.Name != "stream-1" {
					t.Errorf("http stream: %+v", st)
				}
			}},
		{"faults", with(t, "faults: []", `faults:
  - {at: 1500ms, kind: supplier_down, supplier: sup, for: 2s}
  - {at: 2s, kind: cut_supplier, supplier: backup}
  - {at: 3s, kind: kill_serve}
  - {at: 4s, kind: restart_postgres, for: 1s}`), func(t *testing.T, s *Scenario) {
			if len(s.Faults) != 4 || s.Faults[0].At.D() != 1500*time.Millisecond || s.Faults[1].Kind != FaultCutSupplier ||
				!s.Kills() || !s.RestartsPostgres() || !s.Process() {
				t.Errorf("faults: %+v", s.Faults)
			}
		}},
		{"only a cut runs serve in-process", with(t, "faults: []", `faults: [{at: 1s, kind: cut_supplier, supplier: sup}]`),
			func(t *testing.T, s *Scenario) {
				if s.Process() {
					t.Error("a cut_supplier scenario wants serve as a process")
				}
			}},
		{"lifecycle fields", lifecycleYAML, func(t *testing.T, s *Scenario) {
			tn, p, st, f := s.Tenants[0], s.Suppliers[0], s.Traffic[0], s.Faults[0]
			if tn.DefaultValidity.D() != 6*time.Second || seconds(tn.DefaultValidity) != 6 {
				t.Errorf("tenant: %+v", tn)
			}
			if p.DLRDropRate != 0.2 || p.DLRGrace.D() != 3*time.Second || p.Billing != "on_delivery" || s.Suppliers[1].Billing != "" {
				t.Errorf("supplier: %+v", p)
			}
			if st.Validity.D() != 5*time.Second || st.SendAfter.D() != 1500*time.Millisecond || !s.Schedules() {
				t.Errorf("stream: %+v", st)
			}
			if f.Kind != FaultMuteDLRs || f.Supplier != "sup" || f.For.D() != 2*time.Second || s.Process() {
				t.Errorf("fault: %+v", f)
			}
			if s.Limits.MaxScheduleLag.D() != 2*time.Second || s.Limits.MaxExpiryLag.D() != 3*time.Second {
				t.Errorf("limits: %+v", s.Limits)
			}
		}},
		{"no schedule", scenarioYAML, func(t *testing.T, s *Scenario) {
			if s.Schedules() || s.Limits.MaxScheduleLag.D() != 3*time.Second {
				t.Errorf("schedules %v, limits %+v", s.Schedules(), s.Limits)
			}
		}},
		{"one node by default", scenarioYAML, func(t *testing.T, s *Scenario) {
			if s.Nodes != 1 || s.Cluster() || s.Limits.MaxTakeover.D() != 10*time.Second {
				t.Errorf("nodes %d, cluster %v, max_takeover %v", s.Nodes, s.Cluster(), s.Limits.MaxTakeover.D())
			}
		}},
		{"cluster", with(t, "faults: []", `nodes: 3
faults:
  - {at: 2s, kind: kill_node, node: 1}
  - {at: 3s, kind: kill_node, node: 3, for: 4s}
  - {at: 5s, kind: partition_node, node: 2, for: 2s}
  - {at: 6s, kind: cut_supplier, supplier: sup}
limits: {max_takeover: 5s}`), func(t *testing.T, s *Scenario) {
			if s.Nodes != 3 || !s.Cluster() || !s.Process() || s.Kills() || s.RestartsPostgres() || s.Limits.MaxTakeover.D() != 5*time.Second {
				t.Errorf("nodes %d, cluster %v, process %v, limits %+v", s.Nodes, s.Cluster(), s.Process(), s.Limits)
			}
			f := s.Faults
			if f[0].Kind != FaultKillNode || f[0].Node != 1 || f[0].For != 0 || f[1].For.D() != 4*time.Second ||
				f[2].Kind != FaultPartitionNode || f[2].Node != 2 || f[2].For.D() != 2*time.Second {
				t.Errorf("faults: %+v", f)
			}
		}},
		{"named invariants and limits", with(t, "settle: 5s", `settle: 1m
invariants: [balances, supplier_cut]
limits: {max_rebind: 1s, max_dlr_duplicates: 3}
ci: false`), func(t *testing.T, s *Scenario) {
			if len(s.Invariants) != 2 || s.Limits.MaxRebind.D() != time.Second || s.Limits.MaxDLRDuplicates != 3 || s.InCI() || s.Settle.D() != time.Minute {
				t.Errorf("%v %+v ci %v", s.Invariants, s.Limits, s.InCI())
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Parse([]byte(tc.yaml))
			if err != nil {
				t.Fatalf("%v\n%s", err, tc.yaml)
			}
			tc.check(t, s)
		})
	}
}

// TestParseErrors: every validation error names the offending field (and,
// for a stream, tenant or supplier, which one).
func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       []string // all in the error text
	}{
		// Unknown fields, at every level.
		{"unknown top-level field", with(t, "settle: 5s", "settle: 5s\nsetle: 3s"), []string{"setle"}},
		{"unknown tenant field", with(t, "- id: acme", "- id: acme\n  topups: \"5\""), []string{"topups"}},
		{"unknown stream field", with(t, "- {name: s", `- {name: s, tenant: acme, prefix: "4915", messages: 10, sender: 2}`), []string{"sender"}},
		{"unknown fault field", with(t, "faults: []", "faults: [{at: 1s, kind: kill_serve, supplier_id: sup}]"), []string{"supplier_id"}},
		{"unknown limit", with(t, "settle: 5s", "settle: 5s\nlimits: {max_rebinds: 1s}"), []string{"max_rebinds"}},

		// Bad kinds.
		{"bad stream kind", with(t, "- {name: s", `- {name: s, kind: smtp, tenant: acme, prefix: "4915", messages: 10}`), []string{"stream s", "kind", "smtp"}},
		{"bad fault kind", with(t, "faults: []", "faults: [{at: 1s, kind: reboot}]"), []string{"fault 0", "kind", "reboot", FaultCutSupplier}},
		{"bad billing", with(t, "- id: acme", "- id: acme\n  billing: monthly"), []string{"tenant acme", "billing"}},
		{"bad tier", with(t, "- id: acme", "- id: acme\n  tier: gold"), []string{"tenant acme", "tier"}},
		{"unknown invariant", with(t, "settle: 5s", "settle: 5s\ninvariants: [balance]"), []string{"invariant", "balance"}},

		// Kind-specific fields.
		{"binds on an http stream", with(t, "- {name: s", `- {name: s, kind: http, tenant: acme, prefix: "4915", messages: 10, binds: 2}`), []string{"stream s", "binds"}},
		{"no_dlr on an http stream", with(t, "- {name: s", `- {name: s, kind: http, tenant: acme, prefix: "4915", messages: 10, no_dlr: true}`), []string{"stream s", "no_dlr"}},
		{"senders on an smpp stream", with(t, "- {name: s", `- {name: s, tenant: acme, prefix: "4915", messages: 10, senders: 2}`), []string{"stream s", "senders"}},
		{"too many senders", with(t, "- {name: s", `- {name: s, kind: http, tenant: acme, prefix: "4915", messages: 10, senders: 65}`), []string{"stream s", "senders"}},

		// Missing or unknown suppliers and tenants.
		{"no suppliers", strings.Replace(strings.Replace(scenarioYAML, "  - id: sup\n    costs: [{prefix: \"49\", price: \"0.005\"}]\n  - id: backup\n    costs: [{prefix: \"49\", price: \"0.006\"}]\n", "", 1), "suppliers:\n", "suppliers: []\n", 1), []string{"suppliers"}},
		{"route to an unknown supplier", with(t, "- {prefix: \"49\", suppliers:", `- {prefix: "49", suppliers: [sup, spare]}`), []string{"route prefix 49", "supplier", "spare"}},
		{"route without suppliers", with(t, "- {prefix: \"49\", suppliers:", `- {prefix: "49", suppliers: []}`), []string{"route", "supplier"}},
		{"supplier_down without a supplier", with(t, "faults: []", "faults: [{at: 1s, kind: supplier_down, for: 1s}]"), []string{"fault 0", "supplier_down", "supplier"}},
		{"supplier_down of an unknown supplier", with(t, "faults: []", "faults: [{at: 1s, kind: supplier_down, supplier: spare, for: 1s}]"), []string{"fault 0", "supplier"}},
		{"cut_supplier without a supplier", with(t, "faults: []", "faults: [{at: 1s, kind: cut_supplier}]"), []string{"fault 0", "cut_supplier", "supplier"}},
		{"cut_supplier of an unknown supplier", with(t, "faults: []", "faults: [{at: 1s, kind: cut_supplier, supplier: spare}]"), []string{"fault 0", "cut_supplier", "spare"}},
		{"cut_supplier with for", with(t, "faults: []", "faults: [{at: 1s, kind: cut_supplier, supplier: sup, for: 1s}]"), []string{"fault 0", "cut_supplier", "for"}},
		{"supplier on kill_serve", with(t, "faults: []", "faults: [{at: 1s, kind: kill_serve, supplier: sup}]"), []string{"fault 0", "supplier"}},
		{"stream of an unknown tenant", with(t, "- {name: s", `- {name: s, tenant: initech, prefix: "4915", messages: 10}`), []string{"stream s", "tenant", "initech"}},
		{"supplier without costs", with(t, "- id: backup", "- id: backup\n  costs: []\n- id: spare"), []string{"supplier backup", "costs"}},
		{"repeated supplier id", with(t, "- id: backup", "- id: sup"), []string{"supplier 1", "id", "sup"}},
		{"no name", with(t, "name: t", ""), []string{"name"}},

		// Bad durations: not a duration, or out of range.
		{"settle not a duration", with(t, "settle: 5s", "settle: 5 seconds"), []string{"settle", "5 seconds"}},
		{"stream duration not a duration", with(t, "- {name: s", `- {name: s, tenant: acme, prefix: "4915", messages: 10, duration: 3x}`), []string{"traffic[0].duration", "3x"}},
		{"dlr_delay not a duration", with(t, "- id: sup", "- id: sup\n  dlr_delay: soon"), []string{"suppliers[0].dlr_delay", "soon"}},
		{"fault at not a duration", with(t, "faults: []", "faults: [{at: 1, kind: kill_serve}]"), []string{"faults[0].at", `"1"`}},
		{"limit not a duration", with(t, "settle: 5s", "settle: 5s\nlimits: {max_rebind: fast}"), []string{"limits.max_rebind", "fast"}},
		{"negative settle", with(t, "settle: 5s", "settle: -1s"), []string{"settle"}},
		{"settle too long", with(t, "settle: 5s", "settle: 11m"), []string{"settle"}},
		{"negative latency", with(t, "- id: sup", "- id: sup\n  latency: -5ms"), []string{"supplier sup", "latency"}},
		{"negative start", with(t, "- {name: s", `- {name: s, tenant: acme, prefix: "4915", messages: 10, start: -1s}`), []string{"stream s", "start"}},
		{"negative fault at", with(t, "faults: []", "faults: [{at: -1s, kind: kill_serve}]"), []string{"fault 0", "at"}},
		{"kill_serve pause too long", with(t, "faults: []", "faults: [{at: 1s, kind: kill_serve, for: 2m}]"), []string{"fault 0", "kill_serve", "for"}},
		{"negative max_rebind", with(t, "settle: 5s", "settle: 5s\nlimits: {max_rebind: -1s}"), []string{"max_rebind"}},
		{"negative max_pending", with(t, "settle: 5s", "settle: 5s\nlimits: {max_pending: -1}"), []string{"max_pending"}},

		// Other values.
		{"no messages", with(t, "- {name: s", `- {name: s, tenant: acme, prefix: "4915"}`), []string{"stream s", "messages"}},
		{"bad prefix", with(t, "- {name: s", `- {name: s, tenant: acme, prefix: "49x", messages: 10}`), []string{"stream s", "prefix"}},
		{"shares above one", with(t, "- {name: s", `- {name: s, tenant: acme, prefix: "4915", messages: 10, long_share: 0.6, ucs2_share: 0.6}`), []string{"stream s", "long_share"}},
		{"rate share without a rate", with(t, "- {name: s", `- {name: s, tenant: acme, prefix: "4915", messages: 10, limits: {min_rate_share: 0.9}}`), []string{"stream s", "min_rate_share"}},
		{"refused share above one", with(t, "- {name: s", `- {name: s, tenant: acme, prefix: "4915", messages: 10, limits: {min_refused_share: {ESME_RTHROTTLED: 2}}}`), []string{"stream s", "min_refused_share", "ESME_RTHROTTLED"}},
		{"negative topup", with(t, "- id: acme", "- id: acme\n  topup: \"-1\""), []string{"tenant acme", "topup"}},
		{"tenant id too long", with(t, "- id: acme", "- id: acme-corporation-ltd"), []string{"tenant 0", "id"}},
		{"dlr_storm share above one", with(t, "- id: sup", "- id: sup\n  dlr_storm: {duplicate_share: 1.5}"), []string{"supplier sup", "dlr_storm"}},
		{"default_validity not whole seconds", with(t, "- id: acme", "- id: acme\n  default_validity: 1500ms"), []string{"tenant acme", "default_validity"}},
		{"dlr_grace too long", with(t, "- id: sup", "- id: sup\n  dlr_grace: 200h"), []string{"supplier sup", "dlr_grace"}},
		{"dlr_drop_rate above one", with(t, "- id: sup", "- id: sup\n  dlr_drop_rate: 1.2"), []string{"supplier sup", "dlr_drop_rate"}},
		{"bad supplier billing", with(t, "- id: sup", "- id: sup\n  billing: monthly"), []string{"supplier sup", "billing"}},
		{"negative validity", with(t, "- {name: s", `- {name: s, tenant: acme, prefix: "4915", messages: 10, validity: -1s}`), []string{"stream s", "validity"}},
		{"send_after too far", with(t, "- {name: s", `- {name: s, tenant: acme, prefix: "4915", messages: 10, send_after: 169h}`), []string{"stream s", "send_after"}},
		{"mute_dlrs without for", with(t, "faults: []", "faults: [{at: 1s, kind: mute_dlrs, supplier: sup}]"), []string{"fault 0", "mute_dlrs", "for"}},
		{"mute_dlrs of an unknown supplier", with(t, "faults: []", "faults: [{at: 1s, kind: mute_dlrs, supplier: spare, for: 1s}]"), []string{"fault 0", "mute_dlrs", "spare"}},
		{"negative max_schedule_lag", with(t, "settle: 5s", "settle: 5s\nlimits: {max_schedule_lag: -1s}"), []string{"max_schedule_lag"}},
		{"error rates above one", with(t, "- id: sup", "- id: sup\n  error_rate: 0.6\n  no_response_rate: 0.6"), []string{"supplier sup", "error_rate"}},

		// Networks, shares, MOs.
		{"rate with prefix and mccmnc", with(t, "rates:", `rates: [{prefix: "49", mccmnc: "26201", price: "0.01"}]`), []string{"tenant acme", "rate", "mccmnc"}},
		{"rate with a bad mccmnc", with(t, "rates:", `rates: [{mccmnc: "2620", price: "0.01"}]`), []string{"tenant acme", "mccmnc"}},
		{"cost without prefix or mccmnc", with(t, "- id: sup", "- id: sup\n  costs: [{price: \"0.01\"}]\n- id: spare"), []string{"supplier sup", "cost"}},
		{"route with prefix and mccmnc", with(t, "- {prefix: \"49\", suppliers:", `- {prefix: "49", mccmnc: "26201", suppliers: [sup]}`), []string{"route", "mccmnc"}},
		{"weights not one per supplier", with(t, "- {prefix: \"49\", suppliers:", `- {prefix: "49", suppliers: [sup, backup], weights: [70]}`), []string{"route prefix 49", "weights"}},
		{"weights over the cycle", with(t, "- {prefix: \"49\", suppliers:", `- {prefix: "49", suppliers: [sup, backup], weights: [700, 301]}`), []string{"route prefix 49", "weights"}},
		{"negative weight", with(t, "- {prefix: \"49\", suppliers:", `- {mccmnc: "26201", suppliers: [sup, backup], weights: [-1, 5]}`), []string{"route mccmnc 26201", "weights"}},
		{"bad reject prefix", with(t, "- id: sup", "- id: sup\n  reject_prefixes: [\"49x\"]"), []string{"supplier sup", "reject_prefixes"}},
		{"bad mo_price", with(t, "- id: acme", "- id: acme\n  mo_price: \"-1\""), []string{"tenant acme", "mo_price"}},
		{"bad number", with(t, "- id: acme", "- id: acme\n  numbers: [\"+49-30\"]"), []string{"tenant acme", "number"}},
		{"number twice", with(t, "- id: acme", "- id: acme\n  numbers: [\"+4930111\", \"4930111\"]"), []string{"tenant acme", "4930111"}},
		{"numbering without mccmnc", with(t, "faults: []", "faults: []\nnumbering: [{prefix: \"4915\"}]"), []string{"numbering 4915", "mccmnc"}},
		{"numbering prefix twice", with(t, "faults: []", "faults: []\nnumbering: [{prefix: \"4915\", mccmnc: \"26201\"}, {prefix: \"4915\", mccmnc: \"26202\"}]"), []string{"numbering 4915", "once"}},
		{"ported to a network off the plan", with(t, "faults: []", "faults: []\nported: [{first: \"491500000001\", count: 1, mccmnc: \"26202\"}]"), []string{"ported 0", "mccmnc", "26202"}},
		{"ported past its digits", with(t, "faults: []", "faults: []\nnumbering: [{prefix: \"4915\", mccmnc: \"26201\"}]\nported: [{first: \"999\", count: 2, mccmnc: \"26201\"}]"), []string{"ported 0", "digits"}},
		{"mo from an unknown supplier", with(t, "faults: []", "faults: []\nmo: [{name: m, supplier: spare, messages: 1, from: \"4917\", to: [\"4930111\"]}]"), []string{"mo m", "supplier", "spare"}},
		{"mo without numbers", with(t, "faults: []", "faults: []\nmo: [{name: m, supplier: sup, messages: 1, from: \"4917\"}]"), []string{"mo m", "to"}},
		{"mo without messages", with(t, "faults: []", "faults: []\nmo: [{name: m, supplier: sup, from: \"4917\", to: [\"4930111\"]}]"), []string{"mo m", "messages"}},
		{"after_health without a failing network", with(t, "- {name: s", `- {name: s, tenant: acme, prefix: "4915", messages: 10, after_health: true}`), []string{"stream s", "after_health"}},
		{"negative health_grace", with(t, "settle: 5s", "settle: 5s\nlimits: {health_grace: -1s}"), []string{"health_grace"}},

		// Clusters.
		{"too many nodes", with(t, "faults: []", "faults: []\nnodes: 6"), []string{"nodes", "5"}},
		{"negative nodes", with(t, "faults: []", "faults: []\nnodes: -1"), []string{"nodes"}},
		{"kill_node on one node", with(t, "faults: []", "faults: [{at: 1s, kind: kill_node, node: 1}]"), []string{"fault 0", "kill_node", "cluster"}},
		{"partition_node on one node", with(t, "faults: []", "faults: [{at: 1s, kind: partition_node, node: 1, for: 3s}]"), []string{"fault 0", "partition_node", "cluster"}},
		{"kill_node without a node", with(t, "faults: []", "nodes: 2\nfaults: [{at: 1s, kind: kill_node}]"), []string{"fault 0", "kill_node", "node 1..2"}},
		{"kill_node of a node beyond", with(t, "faults: []", "nodes: 2\nfaults: [{at: 1s, kind: kill_node, node: 3}]"), []string{"fault 0", "node 1..2", "3"}},
		{"kill_node pause too long", with(t, "faults: []", "nodes: 2\nfaults: [{at: 1s, kind: kill_node, node: 1, for: 2m}]"), []string{"fault 0", "kill_node", "for"}},
		{"partition shorter than the lease", with(t, "faults: []", "nodes: 2\nfaults: [{at: 1s, kind: partition_node, node: 2, for: 1s}]"), []string{"fault 0", "partition_node", "for", "lease"}},
		{"partition without for", with(t, "faults: []", "nodes: 2\nfaults: [{at: 1s, kind: partition_node, node: 2}]"), []string{"fault 0", "partition_node", "for"}},
		{"node on a supplier fault", with(t, "faults: []", "nodes: 2\nfaults: [{at: 1s, kind: cut_supplier, supplier: sup, node: 1}]"), []string{"fault 0", "node", "kill_node"}},
		{"kill_serve in a cluster", with(t, "faults: []", "nodes: 2\nfaults: [{at: 1s, kind: kill_serve}]"), []string{"fault 0", "kill_serve", "kill_node"}},
		{"restart_postgres in a cluster", with(t, "faults: []", "nodes: 3\nfaults: [{at: 1s, kind: restart_postgres, for: 1s}]"), []string{"fault 0", "restart_postgres", "partition_node"}},
		{"negative max_takeover", with(t, "settle: 5s", "settle: 5s\nlimits: {max_takeover: -1s}"), []string{"max_takeover"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			if err == nil {
				t.Fatalf("accepted:\n%s", tc.yaml)
			}
			t.Log(err)
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestScaled(t *testing.T) {
	s, err := Parse([]byte(with(t, "- {name: s", `- {name: s, tenant: acme, prefix: "4915", messages: 10, rate: 2.5, duration: 3s, limits: {max_p99: 50ms, min_accepted_ratio: 0.5}}
- {name: h, kind: http, tenant: acme, prefix: "4916", messages: 7, senders: 3}
- {name: big, tenant: acme, prefix: "4917", messages: 9000000}`)))
	if err != nil {
		t.Fatal(err)
	}
	s.Tenants[0].Topup, s.Tenants[0].TPS = "1.25", 40
	s.Limits.MaxDLRDuplicates = 4
	s.Suppliers = append(s.Suppliers, Supplier{ID: "limited", TPS: 40}, Supplier{ID: "open", TPS: supplierTPSMax})

	same := s.Scaled(1)
	if same == s || same.Traffic[0].Messages != 10 || same.Tenants[0].Topup != "1.25" {
		t.Fatalf("scale 1 changed the scenario or returned it: %+v", same)
	}

	c := s.Scaled(3)
	if got := c.Tenants[0]; got.Topup != "3.75" || got.TPS != 120 || got.Credit != "0" {
		t.Errorf("tenant scaled: %+v", got)
	}
	if c.Limits.MaxDLRDuplicates != 12 || s.Limits.MaxDLRDuplicates != 4 {
		t.Errorf("max_dlr_duplicates scaled to %d (original now %d), want 12 (4)", c.Limits.MaxDLRDuplicates, s.Limits.MaxDLRDuplicates)
	}
	for _, sup := range c.Suppliers {
		want := map[string]int{"limited": 120, "open": supplierTPSMax}[sup.ID]
		if want != 0 && sup.TPS != want {
			t.Errorf("supplier %s TPS scaled to %d, want %d", sup.ID, sup.TPS, want)
		}
	}
	if n := len(s.Suppliers); s.Suppliers[n-2].TPS != 40 {
		t.Errorf("Scaled changed the original supplier: %+v", s.Suppliers[n-2])
	}
	st, h, big := c.Traffic[0], c.Traffic[1], c.Traffic[2]
	if st.Messages != 30 || st.Rate != 7.5 || st.Duration.D() != 3*time.Second || st.Limits.MaxP99.D() != 50*time.Millisecond || st.Limits.MinAcceptedRatio != 0.5 {
		t.Errorf("stream scaled: %+v", st)
	}
	if h.Messages != 21 || h.Senders != 3 || h.Kind != StreamHTTP {
		t.Errorf("http stream scaled: %+v", h)
	}
	if big.Messages != load.MessagesMax {
		t.Errorf("messages %d not capped at %d", big.Messages, load.MessagesMax)
	}
	// The original is untouched.
	if s.Traffic[0].Messages != 10 || s.Traffic[0].Rate != 2.5 || s.Tenants[0].Topup != "1.25" || s.Tenants[0].TPS != 40 {
		t.Errorf("Scaled changed the original: %+v %+v", s.Tenants[0], s.Traffic[0])
	}
}

// TestScenarioFilesParse: every scenarios/*.yaml is a valid scenario (the
// end-to-end run of each is TestScenarios in cmd/smsledger).
func TestScenarioFilesParse(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenario files: %v", err)
	}
	names := map[string]string{}
	for _, f := range files {
		s, err := Load(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if prev, dup := names[s.Name]; dup {
			t.Errorf("%s and %s are both named %q", prev, f, s.Name)
		}
		names[s.Name] = f
		if want := strings.TrimSuffix(filepath.Base(f), ".yaml"); s.Name != want {
			t.Errorf("%s is named %q", f, s.Name)
		}
	}
}

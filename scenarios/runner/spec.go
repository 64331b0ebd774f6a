// Package runner runs the declarative scenarios of scenarios/*.yaml end to
// end: it starts simulated suppliers (adapters/smpp/smscsim) and serve
// (in-process, or as a child process when the scenario kills it, or as
// the nodes of a cluster behind the runner's load balancers: cluster.go),
// configures tenants, suppliers, routes and rates through the HTTP admin
// API, drives SMPP and HTTP traffic with scenarios/load, injects faults at
// given times, then checks the invariants through the HTTP API (messages, CDRs,
// balances, reconciliation, replay --verify) and reports them with their
// evidence. The file format is described in scenarios/README.md.
//
// Every loop is bounded in count and time; everything listens on 127.0.0.1.
package runner

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
	"gopkg.in/yaml.v3"

	"github.com/smsledger/smsledger/scenarios/load"
)

// Duration is a time.Duration written as "1.5s", "300ms" in the file.
type Duration time.Duration

// durationError is a value that is not a duration; Parse names the field
// it belongs to (the node knows only its position).
type durationError struct {
	line, column int
	value        string
	err          error
}

func (e *durationError) Error() string {
	return fmt.Sprintf("line %d: %q is not a duration (e.g. 1.5s, 300ms): %v", e.line, e.value, e.err)
}

func (e *durationError) Unwrap() error { return e.err }

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return &durationError{line: n.Line, column: n.Column, value: s, err: err}
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// D is the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Scenario is one scenario file.
type Scenario struct {
	Name        string     `yaml:"name"`
	Description string     `yaml:"description"`
	Tenants     []Tenant   `yaml:"tenants"`
	Suppliers   []Supplier `yaml:"suppliers"`
	Routes      []Route    `yaml:"routes"`
	Traffic     []Stream   `yaml:"traffic"`
	Faults      []Fault    `yaml:"faults"`
	// Numbering is the numbering plan (PUT /v1/numbering): ranges of
	// destinations and their mobile network.
	Numbering []NumberingRow `yaml:"numbering"`
	// Ported are ranges of numbers moved to another network (PUT
	// /v1/portability).
	Ported []PortedRange `yaml:"ported"`
	// MO are mobile-originated messages the simulated suppliers send to
	// serve for tenants' numbers (and numbers nobody owns).
	MO []MOStream `yaml:"mo"`
	// Settle bounds the wait, after the traffic, for every acknowledged
	// message to reach a terminal state and its DLR (default 30s).
	Settle Duration `yaml:"settle"`
	// Invariants to check (default: all of AllInvariants).
	Invariants []string `yaml:"invariants"`
	Limits     Limits   `yaml:"limits"`
	// CI: false keeps the file out of TestScenarios (it is still run by
	// hand; the test logs that it skipped it). Default true.
	CI *bool `yaml:"ci"`
	// Nodes is how many serve processes run as one cluster (default 1,
	// at most NodesMax): with more than one, serve runs as nodes of a
	// cluster on one PostgreSQL the runner starts, behind the runner's TCP
	// load balancers (cluster.go).
	Nodes int `yaml:"nodes"`
}

// NodesMax bounds Scenario.Nodes.
const NodesMax = 5

// ClusterLease is the membership lease of the nodes of a cluster scenario
// (serve --cluster-lease).
const ClusterLease = 2 * time.Second

// Cluster reports whether serve runs as several nodes.
func (s *Scenario) Cluster() bool { return s.Nodes > 1 }

// InCI reports whether TestScenarios runs the scenario.
func (s *Scenario) InCI() bool { return s.CI == nil || *s.CI }

// Limits are the thresholds of the invariants.
type Limits struct {
	MaxPending       int      `yaml:"max_pending"`        // acknowledged messages still not terminal after Settle (default 0)
	MaxDLRDuplicates int      `yaml:"max_dlr_duplicates"` // DLRs received more than once at the ESME (default 0)
	MaxFailover      Duration `yaml:"max_failover"`       // per supplier outage (default 2s)
	MinRefused       int      `yaml:"min_refused"`        // the traffic must have been refused at least this often (e.g. balance exhaustion)
	// MaxStoreRecovery: per restart_postgres, from PostgreSQL accepting
	// connections again to the next ESME_ROK or HTTP 202 (default 30s).
	MaxStoreRecovery Duration `yaml:"max_store_recovery"`
	// MaxRebind: per cut_supplier, from the cut to every dropped bind of
	// serve bound again (default 5s).
	MaxRebind Duration `yaml:"max_rebind"`
	// MaxExpiryLag: invariant all_final — every message is final by its
	// expires_at + the DLR grace + this (the lifecycle's pass runs every
	// second; default 3s).
	MaxExpiryLag Duration `yaml:"max_expiry_lag"`
	// MaxScheduleLag: invariant scheduled_on_time — a scheduled message
	// reaches its supplier at most this long after its send_at (default 3s).
	MaxScheduleLag Duration `yaml:"max_schedule_lag"`
	// HealthGrace: invariant network_health — messages acknowledged this
	// long after the supplier's health report first had its samples are
	// checked (serve's feed refreshes routing every second; default 2s).
	HealthGrace Duration `yaml:"health_grace"`
	// MaxTakeover: invariant node_takeover — per kill_node and
	// partition_node, from the fault to the NodeTakenOver of that node in
	// the log (default 10s).
	MaxTakeover Duration `yaml:"max_takeover"`
}

// StreamLimits are per-stream bars (invariant stream_limits); zero values
// are not checked.
type StreamLimits struct {
	// MinAcceptedRatio: accepted / sent at least this (e.g. 1 for a premium
	// tenant that must not be throttled by a noisy neighbour).
	MinAcceptedRatio float64 `yaml:"min_accepted_ratio"`
	// MinRateShare: the stream's accepted msg/s at least this share of its
	// asked rate (a rate-limited stream only).
	MinRateShare float64 `yaml:"min_rate_share"`
	// MaxP99: its submit_sm_resp p99 at most this.
	MaxP99 Duration `yaml:"max_p99"`
	// MinRefusedShare: per status name (e.g. ESME_RTHROTTLED), at least
	// this share of the stream's sent submits refused with it.
	MinRefusedShare map[string]float64 `yaml:"min_refused_share"`
}

// DLRStorm makes a simulated supplier misbehave with its DLRs: the runner
// puts an SMPP proxy between serve and the simulator that sends some DLRs
// again (duplicates, optionally with a conflicting stat) and holds others
// back (late). Shares are of the DLRs the simulator sends.
type DLRStorm struct {
	DuplicateShare float64  `yaml:"duplicate_share"` // DLRs sent again
	Copies         int      `yaml:"copies"`          // extra copies of a duplicated DLR (default 1)
	DuplicateAfter Duration `yaml:"duplicate_after"` // delay of the copies after the original (default 0)
	// ConflictShare: of the duplicated DLRs, the share whose copies carry
	// another outcome (DELIVRD ↔ UNDELIV).
	ConflictShare float64  `yaml:"conflict_share"`
	LateShare     float64  `yaml:"late_share"` // DLRs held back (the proxy acknowledges them to the simulator)
	LateBy        Duration `yaml:"late_by"`    // how long (default 2s)
}

func (d DLRStorm) enabled() bool { return d.DuplicateShare > 0 || d.LateShare > 0 }

// Tenant is a customer.
type Tenant struct {
	ID      string `yaml:"id"`
	Billing string `yaml:"billing"` // on_submit (default) | on_delivery
	Tier    string `yaml:"tier"`    // premium | standard (default) | economy
	Credit  string `yaml:"credit"`  // credit limit (default "0")
	Topup   string `yaml:"topup"`   // prepaid amount, scaled by --scale (default "1000")
	TPS     int    `yaml:"tps"`     // 0: unlimited
	Rates   []Rate `yaml:"rates"`   // sell price per part by prefix
	// DefaultValidity is the tenant's default_validity_s (whole seconds;
	// 0: not sent, the ledger's default).
	DefaultValidity Duration `yaml:"default_validity"`
	// MOPrice is what an MO to one of its numbers costs it ("": not sent,
	// free).
	MOPrice string `yaml:"mo_price"`
	// Numbers are the MSISDNs and short codes whose MOs go to it (PUT
	// /v1/tenants/{id}/numbers).
	Numbers []string `yaml:"numbers"`
}

// Rate is one rate card (or cost card) entry: a prefix, or a mobile
// network (mccmnc) — a network row applies to the destinations the
// numbering plan or the portability table puts on that network.
type Rate struct {
	Prefix string `yaml:"prefix"`
	MCCMNC string `yaml:"mccmnc"`
	Price  string `yaml:"price"`
}

// key names the row in messages: its prefix or its network.
func (r Rate) key() string {
	if r.MCCMNC != "" {
		return "mccmnc " + r.MCCMNC
	}
	return "prefix " + r.Prefix
}

// NumberingRow is one range of the numbering plan.
type NumberingRow struct {
	Prefix   string `yaml:"prefix"`
	MCCMNC   string `yaml:"mccmnc"` // 5 or 6 digits: MCC (3) and MNC (2 or 3)
	Country  string `yaml:"country"`
	Operator string `yaml:"operator"`
}

// PortedRange is Count numbers from First on (First, First+1, …, as many
// digits as First) moved to the network MCCMNC.
type PortedRange struct {
	First  string `yaml:"first"`
	Count  int    `yaml:"count"`
	MCCMNC string `yaml:"mccmnc"`
}

// portedMax bounds the numbers of a scenario's portability table.
const portedMax = 100_000

// numbers lists the range's numbers.
func (p PortedRange) numbers() []string {
	first, _ := strconv.ParseInt(p.First, 10, 64)
	out := make([]string, p.Count)
	for i := range out {
		out[i] = fmt.Sprintf("%0*d", len(p.First), first+int64(i))
	}
	return out
}

// MOStream is a run of mobile-originated messages: the supplier's
// simulator sends Messages MOs to serve (SendMO), to the numbers of To in
// turn, from handsets From + a counter (12 digits), each with its own text.
type MOStream struct {
	Name     string   `yaml:"name"`
	Supplier string   `yaml:"supplier"`
	Start    Duration `yaml:"start"`    // offset from the start of the traffic
	Messages int      `yaml:"messages"` // scaled by --scale
	Rate     float64  `yaml:"rate"`     // MO/s, scaled by --scale (0: one after the other)
	From     string   `yaml:"from"`     // handsets' prefix
	To       []string `yaml:"to"`       // tenants' numbers, or numbers nobody owns
}

// moMax bounds an MO stream.
const moMax = 100_000

// Supplier is a simulated supplier (an in-process smsc-sim).
type Supplier struct {
	ID             string   `yaml:"id"`
	Latency        Duration `yaml:"latency"`   // before each submit_sm_resp
	DLRDelay       Duration `yaml:"dlr_delay"` // submit to DLR (default 50ms)
	Mix            Mix      `yaml:"mix"`
	ErrorRate      float64  `yaml:"error_rate"`       // submits answered ESME_RSUBMITFAIL
	NoResponseRate float64  `yaml:"no_response_rate"` // submits never answered
	Binds          int      `yaml:"binds"`            // serve's binds to it (default 2)
	Window         int      `yaml:"window"`           // default 512
	TPS            int      `yaml:"tps"`              // default 1000000
	Costs          []Rate   `yaml:"costs"`            // buy price per part by prefix or network (the price field)
	DLRStorm       DLRStorm `yaml:"dlr_storm"`        // duplicate and late DLRs (none by default)
	// DLRDropRate: the share of DLRs the simulator never sends (lost).
	DLRDropRate float64 `yaml:"dlr_drop_rate"`
	// DLRGrace is the supplier's dlr_grace_s (whole seconds; 0: not sent,
	// the ledger's default of an hour).
	DLRGrace Duration `yaml:"dlr_grace"`
	// Billing is the supplier's billing basis (on_submit | on_delivery;
	// empty: not sent, the ledger's default on_submit).
	Billing string `yaml:"billing"`
	// RejectPrefixes: the simulator answers every submit to these
	// destinations ESME_RSUBMITFAIL (a supplier failing on one network).
	RejectPrefixes []string `yaml:"reject_prefixes"`
}

// Mix weighs the DLR outcomes (all zero: all delivered).
type Mix struct {
	Delivered   float64 `yaml:"delivered"`
	Undelivered float64 `yaml:"undelivered"`
	Rejected    float64 `yaml:"rejected"`
}

// Route is one route table entry for a prefix or a network (mccmnc):
// suppliers in preference order, or in traffic shares (weights, one per
// supplier, summing to at most routing's cycle of 1000).
type Route struct {
	Prefix    string   `yaml:"prefix"`
	MCCMNC    string   `yaml:"mccmnc"`
	Suppliers []string `yaml:"suppliers"`
	Weights   []int    `yaml:"weights"`
}

// key names the row in messages: its prefix or its network.
func (r Route) key() string {
	if r.MCCMNC != "" {
		return "mccmnc " + r.MCCMNC
	}
	return "prefix " + r.Prefix
}

// shareCycleMax is routing.MaxShareCycle (the sum of a row's weights).
const shareCycleMax = 1000

// Stream kinds.
const (
	StreamSMPP = "smpp" // submit_sm over the tenant's transceiver binds
	StreamHTTP = "http" // POST /v1/messages with the tenant's API key
)

// sendersMax bounds an HTTP stream's concurrent requests.
const sendersMax = 64

// Stream is one traffic source: a tenant's SMPP binds (kind smpp) or HTTP
// senders (kind http) sending from Start until Messages are sent or
// Duration is over.
type Stream struct {
	Name   string   `yaml:"name"`
	Kind   string   `yaml:"kind"` // smpp (default) | http
	Tenant string   `yaml:"tenant"`
	Start  Duration `yaml:"start"` // offset from the start of the traffic
	// Binds and Window: smpp only.
	Binds  int `yaml:"binds"` // default 2
	Window int `yaml:"window"`
	// Senders: http only, concurrent POST /v1/messages (default 4, ≤ 64).
	Senders  int      `yaml:"senders"`
	Messages int      `yaml:"messages"` // scaled by --scale
	Duration Duration `yaml:"duration"` // default 1m (a bound, not scaled)
	Rate     float64  `yaml:"rate"`     // msg/s over the stream's binds or senders, scaled by --scale (0: as fast as the windows allow)
	// Prefix: destinations are the prefix and a counter, 12 digits.
	Prefix    string  `yaml:"prefix"`
	LongShare float64 `yaml:"long_share"` // 3-part GSM texts
	UCS2Share float64 `yaml:"ucs2_share"`
	// NoDLR sends without registered delivery (smpp only: an HTTP submit
	// asks for a DLR only when the tenant has a webhook, never here).
	NoDLR bool `yaml:"no_dlr"`
	// Validity of each message (whole seconds): smpp a relative
	// validity_period, http validity_s (0: none, the tenant's default).
	Validity Duration `yaml:"validity"`
	// SendAfter schedules each message this long after its submit: smpp a
	// relative schedule_delivery_time (whole seconds, rounded up), http
	// send_at (0: sent at once). Invariant scheduled_on_time checks them.
	SendAfter Duration `yaml:"send_after"`
	// AfterHealth holds the stream, once its start has come, until every
	// supplier with reject_prefixes has its health per network measured
	// (invariant network_health) and health_grace has passed — bounded by
	// its duration.
	AfterHealth bool         `yaml:"after_health"`
	Limits      StreamLimits `yaml:"limits"`
}

// Fault kinds.
const (
	FaultSupplierDown = "supplier_down" // the supplier's simulator goes away for For
	FaultKillServe    = "kill_serve"    // SIGKILL serve, restart it on the same data
	// FaultRestartPostgres stops the external PostgreSQL serve runs on
	// (started by the runner) for For, then starts it again.
	FaultRestartPostgres = "restart_postgres"
	// FaultCutSupplier closes every connection of the supplier's simulator
	// (serve's binds) from the simulator's side; it listens again at once
	// and takes serve's re-binds.
	FaultCutSupplier = "cut_supplier"
	// FaultMuteDLRs makes the supplier's simulator send no DLR for For:
	// the DLRs due meanwhile are lost, not delayed.
	FaultMuteDLRs = "mute_dlrs"
	// FaultKillNode SIGKILLs one node of a cluster and starts it again
	// (same node id and data directory) once For has passed and another
	// node took it over.
	FaultKillNode = "kill_node"
	// FaultPartitionNode cuts one node of a cluster off PostgreSQL for
	// For: the node exits on its own once its lease is lost (fail-stop);
	// the runner starts it again after For, once it was taken over.
	FaultPartitionNode = "partition_node"
)

// faultKinds lists the kinds for error messages.
var faultKinds = []string{FaultSupplierDown, FaultKillServe, FaultRestartPostgres, FaultCutSupplier, FaultMuteDLRs, FaultKillNode, FaultPartitionNode}

// Fault is injected At (offset from the start of the traffic).
type Fault struct {
	At       Duration `yaml:"at"`
	Kind     string   `yaml:"kind"`
	Supplier string   `yaml:"supplier"` // supplier_down, cut_supplier, mute_dlrs
	// Node: kill_node, partition_node — which node (1-based: node-1 …).
	Node int      `yaml:"node"`
	For  Duration `yaml:"for"` // supplier_down: outage length; kill_serve, kill_node: pause before the restart; restart_postgres: downtime; partition_node: how long the node is cut off the database; cut_supplier: not used; mute_dlrs: how long
}

// nodeFault reports whether a fault kind hits one node of a cluster.
func nodeFault(kind string) bool { return kind == FaultKillNode || kind == FaultPartitionNode }

// Invariant names.
const (
	InvAckedExistOnce   = "acked_exist_once"
	InvOneTerminalState = "one_terminal_state"
	InvBalances         = "balances"
	InvCDRsEqualJournal = "cdrs_equal_journal"
	InvReplayVerify     = "replay_verify"
	InvDLRAtMostOnce    = "dlr_at_most_once"
	InvFailover         = "failover"
	InvRefusals         = "refusals"
	InvStreamLimits     = "stream_limits"
	InvStoreOutage      = "store_outage"
	InvSupplierCut      = "supplier_cut"
	InvAllFinal         = "all_final"
	InvHoldsClosed      = "holds_closed"
	InvTrackerEmpty     = "tracker_empty"
	InvBooksAvailable   = "books_available"
	InvScheduledOnTime  = "scheduled_on_time"
	// The networks invariants (networks.go): each passes with nothing to
	// check in a scenario without its feature.
	InvPricedByNetwork = "priced_by_network"
	InvSharesHeld      = "shares_held"
	InvNetworkHealth   = "network_health"
	InvMORoundTrip     = "mo_round_trip"
	// The cluster invariants (cluster.go): node_takeover passes with
	// nothing to check without node faults; supplier_tps holds for every
	// scenario (a supplier's TPS limit, whole cluster).
	InvNodeTakeover = "node_takeover"
	InvSupplierTPS  = "supplier_tps"
)

// AllInvariants are checked when a scenario names none. The lifecycle
// ones (all_final … scheduled_on_time) hold for every scenario: each
// message must be final after settle anyway, and scheduled_on_time passes
// with nothing to check when no stream schedules; so do the networks ones
// (priced_by_network … mo_round_trip) without a numbering plan, traffic
// shares, a supplier rejecting a network or MOs, and the cluster ones
// (node_takeover without node faults; supplier_tps everywhere).
var AllInvariants = []string{InvAckedExistOnce, InvOneTerminalState, InvBalances, InvCDRsEqualJournal,
	InvReplayVerify, InvDLRAtMostOnce, InvFailover, InvRefusals, InvStreamLimits, InvStoreOutage, InvSupplierCut,
	InvAllFinal, InvHoldsClosed, InvTrackerEmpty, InvBooksAvailable, InvScheduledOnTime,
	InvPricedByNetwork, InvSharesHeld, InvNetworkHealth, InvMORoundTrip,
	InvNodeTakeover, InvSupplierTPS}

// Load reads and validates a scenario file.
func Load(path string) (*Scenario, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(raw)
}

// Parse decodes (unknown fields are errors) and validates a scenario.
func Parse(raw []byte) (*Scenario, error) {
	var s Scenario
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		var de *durationError
		if errors.As(err, &de) {
			var root yaml.Node
			if yaml.Unmarshal(raw, &root) == nil {
				if path := keyAt(&root, de.line, de.column, ""); path != "" {
					return nil, fmt.Errorf("scenario: %s: %w", path, err)
				}
			}
		}
		return nil, fmt.Errorf("scenario: %w", err)
	}
	if err := s.validate(); err != nil {
		return nil, fmt.Errorf("scenario %q: %w", s.Name, err)
	}
	return &s, nil
}

// keyAt is the path (e.g. "traffic[1].duration") of the mapping value at
// line:column under n ("" when there is none).
func keyAt(n *yaml.Node, line, column int, path string) string {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			if p := keyAt(c, line, column, path); p != "" {
				return p
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			if v.Line == line && v.Column == column {
				return p
			}
			if q := keyAt(v, line, column, p); q != "" {
				return q
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			if p := keyAt(c, line, column, path+"["+strconv.Itoa(i)+"]"); p != "" {
				return p
			}
		}
	}
	return ""
}

// Bounds of a scenario (CI and bench scale alike).
const (
	tenantsMax   = 50
	suppliersMax = 20
	streamsMax   = 50
	faultsMax    = 20
	settleMax    = 10 * time.Minute
)

func positiveDecimal(s string, zeroOK bool) bool {
	d, err := decimal.NewFromString(s)
	return err == nil && (d.IsPositive() || zeroOK && d.IsZero())
}

func digits(s string) bool { return s != "" && len(s) <= 8 && strings.Trim(s, "0123456789") == "" }

func (s *Scenario) validate() error {
	if s.Name == "" {
		return errors.New("no name")
	}
	if len(s.Tenants) == 0 || len(s.Tenants) > tenantsMax {
		return fmt.Errorf("tenants: 1..%d", tenantsMax)
	}
	if len(s.Suppliers) == 0 || len(s.Suppliers) > suppliersMax {
		return fmt.Errorf("suppliers: 1..%d", suppliersMax)
	}
	if len(s.Traffic) == 0 || len(s.Traffic) > streamsMax {
		return fmt.Errorf("traffic: 1..%d streams", streamsMax)
	}
	if len(s.Faults) > faultsMax {
		return fmt.Errorf("faults: at most %d", faultsMax)
	}
	tenants, suppliers := map[string]bool{}, map[string]bool{}
	owners := map[string]string{} // a number's digits → its tenant
	for i := range s.Tenants {
		t := &s.Tenants[i]
		if t.ID == "" || tenants[t.ID] || len(t.ID) > 15 {
			return fmt.Errorf("tenant %d: id %q missing, repeated or longer than 15 (it is the SMPP system_id)", i, t.ID)
		}
		tenants[t.ID] = true
		if t.Billing == "" {
			t.Billing = "on_submit"
		}
		if t.Tier == "" {
			t.Tier = "standard"
		}
		if t.Credit == "" {
			t.Credit = "0"
		}
		if t.Topup == "" {
			t.Topup = "1000"
		}
		if t.Billing != "on_submit" && t.Billing != "on_delivery" {
			return fmt.Errorf("tenant %s: billing must be on_submit or on_delivery", t.ID)
		}
		if t.Tier != "premium" && t.Tier != "standard" && t.Tier != "economy" {
			return fmt.Errorf("tenant %s: tier must be premium, standard or economy", t.ID)
		}
		if !positiveDecimal(t.Credit, true) || !positiveDecimal(t.Topup, true) || t.TPS < 0 {
			return fmt.Errorf("tenant %s: credit, topup and tps must be ≥ 0", t.ID)
		}
		if !wholeSeconds(t.DefaultValidity) {
			return fmt.Errorf("tenant %s: default_validity: whole seconds, 0..%v", t.ID, load.TimeMax)
		}
		if len(t.Rates) == 0 {
			return fmt.Errorf("tenant %s: no rates", t.ID)
		}
		for _, r := range t.Rates {
			if !deckRow(r) {
				return fmt.Errorf("tenant %s: rate %+v: a prefix (1..8 digits) or an mccmnc (5 or 6 digits), and a positive price", t.ID, r)
			}
		}
		if t.MOPrice != "" && !positiveDecimal(t.MOPrice, true) {
			return fmt.Errorf("tenant %s: mo_price must be ≥ 0", t.ID)
		}
		for _, n := range t.Numbers {
			d := strings.TrimPrefix(n, "+")
			if !numberDigits(d) || owners[d] != "" {
				return fmt.Errorf("tenant %s: number %q: 3..15 digits (a leading + allowed), owned by one tenant only", t.ID, n)
			}
			owners[d] = t.ID
		}
	}
	for i := range s.Suppliers {
		p := &s.Suppliers[i]
		if p.ID == "" || suppliers[p.ID] || len(p.ID) > 16 {
			return fmt.Errorf("supplier %d: id %q missing, repeated or longer than 16", i, p.ID)
		}
		suppliers[p.ID] = true
		if p.DLRDelay == 0 {
			p.DLRDelay = Duration(50 * time.Millisecond)
		}
		if p.Binds == 0 {
			p.Binds = 2
		}
		if p.Window == 0 {
			p.Window = 512
		}
		if p.TPS == 0 {
			p.TPS = supplierTPSMax
		}
		if p.DLRStorm.Copies == 0 {
			p.DLRStorm.Copies = 1
		}
		if p.DLRStorm.LateBy == 0 {
			p.DLRStorm.LateBy = Duration(2 * time.Second)
		}
		switch {
		case p.Latency < 0 || p.Latency.D() > time.Minute || p.DLRDelay < 0 || p.DLRDelay.D() > time.Minute:
			return fmt.Errorf("supplier %s: latency and dlr_delay 0..1m", p.ID)
		case p.ErrorRate < 0 || p.NoResponseRate < 0 || p.ErrorRate+p.NoResponseRate > 1:
			return fmt.Errorf("supplier %s: error_rate + no_response_rate within 0..1", p.ID)
		case p.Mix.Delivered < 0 || p.Mix.Undelivered < 0 || p.Mix.Rejected < 0:
			return fmt.Errorf("supplier %s: negative mix", p.ID)
		case p.Binds < 1 || p.Binds > 64 || p.Window < 1 || p.Window > 10_000 || p.TPS < 1:
			return fmt.Errorf("supplier %s: binds 1..64, window 1..10000, tps ≥ 1", p.ID)
		case !share(p.DLRStorm.DuplicateShare) || !share(p.DLRStorm.ConflictShare) || !share(p.DLRStorm.LateShare) ||
			p.DLRStorm.Copies < 0 || p.DLRStorm.Copies > 10 || p.DLRStorm.DuplicateAfter < 0 || p.DLRStorm.DuplicateAfter.D() > time.Minute ||
			p.DLRStorm.LateBy < 0 || p.DLRStorm.LateBy.D() > time.Minute:
			return fmt.Errorf("supplier %s: dlr_storm: shares 0..1, copies 0..10, delays 0..1m", p.ID)
		case len(p.Costs) == 0:
			return fmt.Errorf("supplier %s: no costs", p.ID)
		case !share(p.DLRDropRate):
			return fmt.Errorf("supplier %s: dlr_drop_rate 0..1", p.ID)
		case !wholeSeconds(p.DLRGrace):
			return fmt.Errorf("supplier %s: dlr_grace: whole seconds, 0..%v", p.ID, load.TimeMax)
		case p.Billing != "" && p.Billing != "on_submit" && p.Billing != "on_delivery":
			return fmt.Errorf("supplier %s: billing must be on_submit or on_delivery", p.ID)
		}
		for _, c := range p.Costs {
			if !deckRow(c) {
				return fmt.Errorf("supplier %s: cost %+v: a prefix (1..8 digits) or an mccmnc (5 or 6 digits), and a positive price", p.ID, c)
			}
		}
		for _, rp := range p.RejectPrefixes {
			if !digits(strings.TrimPrefix(rp, "+")) {
				return fmt.Errorf("supplier %s: reject_prefixes %q: 1..8 digits", p.ID, rp)
			}
		}
	}
	if len(s.Routes) == 0 {
		return errors.New("no routes")
	}
	for _, r := range s.Routes {
		if (r.Prefix == "") == (r.MCCMNC == "") || r.Prefix != "" && !digits(r.Prefix) || r.MCCMNC != "" && !mccmnc(r.MCCMNC) || len(r.Suppliers) == 0 {
			return fmt.Errorf("route %+v: a prefix (1..8 digits) or an mccmnc (5 or 6 digits), and at least one supplier", r)
		}
		for _, id := range r.Suppliers {
			if !suppliers[id] {
				return fmt.Errorf("route %s: unknown supplier %q", r.key(), id)
			}
		}
		if len(r.Weights) > 0 {
			sum := 0
			for _, w := range r.Weights {
				sum += max(w, 0)
				if w < 0 {
					sum = -1 << 30
				}
			}
			if len(r.Weights) != len(r.Suppliers) || sum < 1 || sum > shareCycleMax {
				return fmt.Errorf("route %s: weights: one per supplier, each ≥ 0, summing to 1..%d", r.key(), shareCycleMax)
			}
		}
	}
	if err := s.validateNetworks(suppliers); err != nil {
		return err
	}
	for i := range s.Traffic {
		st := &s.Traffic[i]
		if st.Name == "" {
			st.Name = fmt.Sprintf("stream-%d", i+1)
		}
		if st.Kind == "" {
			st.Kind = StreamSMPP
		}
		switch st.Kind {
		case StreamSMPP:
			if st.Senders != 0 {
				return fmt.Errorf("stream %s: senders is for kind http (an smpp stream has binds and window)", st.Name)
			}
			if st.Binds == 0 {
				st.Binds = 2
			}
			if st.Window == 0 {
				st.Window = 32
			}
			if st.Binds < 1 || st.Binds > 64 || st.Window < 1 || st.Window > 1000 {
				return fmt.Errorf("stream %s: binds 1..64, window 1..1000", st.Name)
			}
		case StreamHTTP:
			if st.Binds != 0 || st.Window != 0 || st.NoDLR {
				return fmt.Errorf("stream %s: binds, window and no_dlr are for kind smpp (an http stream has senders; it asks for no DLR)", st.Name)
			}
			if st.Senders == 0 {
				st.Senders = 4
			}
			if st.Senders < 1 || st.Senders > sendersMax {
				return fmt.Errorf("stream %s: senders 1..%d", st.Name, sendersMax)
			}
		default:
			return fmt.Errorf("stream %s: kind %q: must be %s or %s", st.Name, st.Kind, StreamSMPP, StreamHTTP)
		}
		if st.Duration == 0 {
			st.Duration = Duration(time.Minute)
		}
		switch {
		case !tenants[st.Tenant]:
			return fmt.Errorf("stream %s: unknown tenant %q", st.Name, st.Tenant)
		case st.Messages < 1 || st.Messages > load.MessagesMax:
			return fmt.Errorf("stream %s: messages 1..%d", st.Name, load.MessagesMax)
		case st.Duration <= 0 || st.Duration.D() > 30*time.Minute || st.Start < 0 || st.Start.D() > 30*time.Minute:
			return fmt.Errorf("stream %s: duration > 0 and start ≥ 0, both ≤ 30m", st.Name)
		case st.Rate < 0:
			return fmt.Errorf("stream %s: negative rate", st.Name)
		case !digits(st.Prefix):
			return fmt.Errorf("stream %s: prefix 1..8 digits", st.Name)
		case st.LongShare < 0 || st.UCS2Share < 0 || st.LongShare+st.UCS2Share > 1:
			return fmt.Errorf("stream %s: long_share + ucs2_share within 0..1", st.Name)
		case !wholeSeconds(st.Validity):
			return fmt.Errorf("stream %s: validity: whole seconds, 0..%v", st.Name, load.TimeMax)
		case st.SendAfter < 0 || st.SendAfter.D() > load.TimeMax:
			return fmt.Errorf("stream %s: send_after 0..%v", st.Name, load.TimeMax)
		case !share(st.Limits.MinAcceptedRatio) || st.Limits.MinRateShare < 0 || st.Limits.MinRateShare > 0 && st.Rate == 0 || st.Limits.MaxP99 < 0:
			return fmt.Errorf("stream %s: limits: min_accepted_ratio 0..1, min_rate_share ≥ 0 (rate-limited streams), max_p99 ≥ 0", st.Name)
		}
		if st.AfterHealth && !s.rejectsNetworks() {
			return fmt.Errorf("stream %s: after_health needs a supplier with reject_prefixes and a numbering plan (whose health per network it waits for)", st.Name)
		}
		for status, v := range st.Limits.MinRefusedShare {
			if status == "" || !share(v) {
				return fmt.Errorf("stream %s: limits: min_refused_share %q: 0..1", st.Name, status)
			}
		}
	}
	if s.Nodes == 0 {
		s.Nodes = 1
	}
	if s.Nodes < 1 || s.Nodes > NodesMax {
		return fmt.Errorf("nodes: 1..%d", NodesMax)
	}
	for i, f := range s.Faults {
		switch {
		case nodeFault(f.Kind) && !s.Cluster():
			return fmt.Errorf("fault %d: %s needs a cluster (nodes ≥ 2: another node takes the node's work over)", i, f.Kind)
		case nodeFault(f.Kind) && (f.Node < 1 || f.Node > s.Nodes):
			return fmt.Errorf("fault %d: %s: node 1..%d (got %d)", i, f.Kind, s.Nodes, f.Node)
		case f.Kind == FaultKillNode && (f.For < 0 || f.For.D() > time.Minute):
			return fmt.Errorf("fault %d: kill_node: for (pause before the restart) 0..1m", i)
		case f.Kind == FaultPartitionNode && (f.For < Duration(ClusterLease) || f.For.D() > time.Minute):
			return fmt.Errorf("fault %d: partition_node: for %v..1m (at least the cluster lease, so that the node loses it and stops)", i, ClusterLease)
		case !nodeFault(f.Kind) && f.Node != 0:
			return fmt.Errorf("fault %d: node is for %s and %s only", i, FaultKillNode, FaultPartitionNode)
		case s.Cluster() && (f.Kind == FaultKillServe || f.Kind == FaultRestartPostgres):
			return fmt.Errorf("fault %d: %s is for one node (nodes: 1); in a cluster use %s or %s", i, f.Kind, FaultKillNode, FaultPartitionNode)
		}
		switch {
		case f.At < 0 || f.At.D() > 30*time.Minute:
			return fmt.Errorf("fault %d: at 0..30m", i)
		case f.Kind == FaultSupplierDown && (!suppliers[f.Supplier] || f.For <= 0 || f.For.D() > 10*time.Minute):
			return fmt.Errorf("fault %d: supplier_down needs a known supplier (got %q) and for 0..10m", i, f.Supplier)
		case f.Kind == FaultKillServe && (f.For < 0 || f.For.D() > time.Minute):
			return fmt.Errorf("fault %d: kill_serve: for (pause before the restart) 0..1m", i)
		case f.Kind == FaultRestartPostgres && (f.For < 0 || f.For.D() > time.Minute):
			return fmt.Errorf("fault %d: restart_postgres: for (downtime) 0..1m", i)
		case f.Kind == FaultCutSupplier && !suppliers[f.Supplier]:
			return fmt.Errorf("fault %d: cut_supplier needs a known supplier (got %q)", i, f.Supplier)
		case f.Kind == FaultCutSupplier && f.For != 0:
			return fmt.Errorf("fault %d: cut_supplier: for is not used (the cut is instantaneous)", i)
		case f.Kind == FaultMuteDLRs && (!suppliers[f.Supplier] || f.For <= 0 || f.For.D() > 10*time.Minute):
			return fmt.Errorf("fault %d: mute_dlrs needs a known supplier (got %q) and for 0..10m", i, f.Supplier)
		case f.Kind != FaultSupplierDown && f.Kind != FaultKillServe && f.Kind != FaultRestartPostgres && f.Kind != FaultCutSupplier && f.Kind != FaultMuteDLRs && !nodeFault(f.Kind):
			return fmt.Errorf("fault %d: kind %q: must be one of %s", i, f.Kind, strings.Join(faultKinds, ", "))
		}
		if f.Kind != FaultSupplierDown && f.Kind != FaultCutSupplier && f.Kind != FaultMuteDLRs && f.Supplier != "" {
			return fmt.Errorf("fault %d: supplier is for %s, %s and %s only", i, FaultSupplierDown, FaultCutSupplier, FaultMuteDLRs)
		}
	}
	if s.Settle == 0 {
		s.Settle = Duration(30 * time.Second)
	}
	if s.Settle < 0 || s.Settle.D() > settleMax {
		return fmt.Errorf("settle 0..%v", settleMax)
	}
	if s.Limits.MaxFailover == 0 {
		s.Limits.MaxFailover = Duration(2 * time.Second)
	}
	if s.Limits.MaxStoreRecovery == 0 {
		s.Limits.MaxStoreRecovery = Duration(30 * time.Second)
	}
	if s.Limits.MaxRebind == 0 {
		s.Limits.MaxRebind = Duration(5 * time.Second)
	}
	if s.Limits.MaxExpiryLag == 0 {
		s.Limits.MaxExpiryLag = Duration(3 * time.Second)
	}
	if s.Limits.MaxScheduleLag == 0 {
		s.Limits.MaxScheduleLag = Duration(3 * time.Second)
	}
	if s.Limits.HealthGrace == 0 {
		s.Limits.HealthGrace = Duration(2 * time.Second)
	}
	if s.Limits.MaxTakeover == 0 {
		s.Limits.MaxTakeover = Duration(10 * time.Second)
	}
	switch {
	case s.Limits.MaxPending < 0 || s.Limits.MaxDLRDuplicates < 0 || s.Limits.MinRefused < 0:
		return errors.New("limits: max_pending, max_dlr_duplicates and min_refused ≥ 0")
	case s.Limits.MaxFailover < 0 || s.Limits.MaxStoreRecovery < 0 || s.Limits.MaxRebind < 0 || s.Limits.MaxExpiryLag < 0 || s.Limits.MaxScheduleLag < 0 || s.Limits.HealthGrace < 0 || s.Limits.MaxTakeover < 0:
		return errors.New("limits: max_failover, max_store_recovery, max_rebind, max_expiry_lag, max_schedule_lag, health_grace and max_takeover ≥ 0")
	}
	if len(s.Invariants) == 0 {
		s.Invariants = AllInvariants
	}
	for _, name := range s.Invariants {
		known := false
		for _, k := range AllInvariants {
			known = known || k == name
		}
		if !known {
			return fmt.Errorf("unknown invariant %q (known: %s)", name, strings.Join(AllInvariants, ", "))
		}
	}
	return nil
}

// validateNetworks checks the numbering plan, the ported ranges and the MO
// streams.
func (s *Scenario) validateNetworks(suppliers map[string]bool) error {
	networks, prefixes := map[string]bool{}, map[string]bool{}
	for i, n := range s.Numbering {
		if n.Prefix == "" || len(n.Prefix) > 15 || strings.Trim(n.Prefix, "0123456789") != "" {
			return fmt.Errorf("numbering %d: prefix %q: 1..15 digits", i, n.Prefix)
		}
		if !mccmnc(n.MCCMNC) || len(n.Country) > 64 || len(n.Operator) > 64 || prefixes[n.Prefix] {
			return fmt.Errorf("numbering %s: mccmnc 5 or 6 digits, country and operator ≤ 64 bytes, each prefix once", n.Prefix)
		}
		networks[n.MCCMNC], prefixes[n.Prefix] = true, true
	}
	total, ported := 0, map[string]bool{}
	for i, p := range s.Ported {
		if !numberDigits(p.First) || p.First[0] == '0' || p.Count < 1 || !networks[p.MCCMNC] {
			return fmt.Errorf("ported %d: first 3..15 digits (not starting with 0), count ≥ 1, mccmnc a network of the numbering plan (got %q)", i, p.MCCMNC)
		}
		if first, _ := strconv.ParseInt(p.First, 10, 64); len(strconv.FormatInt(first+int64(p.Count)-1, 10)) != len(p.First) {
			return fmt.Errorf("ported %d: %s + %d numbers leave %d digits", i, p.First, p.Count, len(p.First))
		}
		if total += p.Count; total > portedMax {
			return fmt.Errorf("ported: at most %d numbers", portedMax)
		}
		for _, n := range p.numbers() {
			if ported[n] {
				return fmt.Errorf("ported %d: number %s in two ranges", i, n)
			}
			ported[n] = true
		}
	}
	names := map[string]bool{}
	for i := range s.MO {
		m := &s.MO[i]
		if m.Name == "" {
			m.Name = fmt.Sprintf("mo-%d", i+1)
		}
		switch {
		case names[m.Name]:
			return fmt.Errorf("mo %s: name repeated", m.Name)
		case !suppliers[m.Supplier]:
			return fmt.Errorf("mo %s: unknown supplier %q", m.Name, m.Supplier)
		case m.Messages < 1 || m.Messages > moMax:
			return fmt.Errorf("mo %s: messages 1..%d", m.Name, moMax)
		case m.Rate < 0 || m.Start < 0 || m.Start.D() > 30*time.Minute:
			return fmt.Errorf("mo %s: rate ≥ 0, start 0..30m", m.Name)
		case !digits(m.From) || len(m.To) == 0:
			return fmt.Errorf("mo %s: from 1..8 digits (the handsets' prefix) and at least one number in to", m.Name)
		}
		names[m.Name] = true
		for _, to := range m.To {
			if !numberDigits(strings.TrimPrefix(to, "+")) {
				return fmt.Errorf("mo %s: to %q: 3..15 digits (a leading + allowed)", m.Name, to)
			}
		}
	}
	return nil
}

// rejectsNetworks reports whether a supplier rejects a network of the plan
// (its health per network is watched).
func (s *Scenario) rejectsNetworks() bool {
	for _, p := range s.Suppliers {
		if failing, _ := s.failingNetworks(p); len(failing) > 0 {
			return true
		}
	}
	return false
}

// deckRow: a prefix or a network, not both, and a positive price.
func deckRow(r Rate) bool {
	if (r.Prefix == "") == (r.MCCMNC == "") {
		return false
	}
	return (r.Prefix == "" || digits(r.Prefix)) && (r.MCCMNC == "" || mccmnc(r.MCCMNC)) && positiveDecimal(r.Price, false)
}

// mccmnc: MCC (3 digits) and MNC (2 or 3).
func mccmnc(s string) bool {
	return (len(s) == 5 || len(s) == 6) && strings.Trim(s, "0123456789") == ""
}

// numberDigits: 3..15 digits (an MSISDN or a short code).
func numberDigits(s string) bool {
	return len(s) >= 3 && len(s) <= 15 && strings.Trim(s, "0123456789") == ""
}

func share(v float64) bool { return v >= 0 && v <= 1 }

// wholeSeconds: 0, or a whole number of seconds up to load.TimeMax.
func wholeSeconds(d Duration) bool {
	return d >= 0 && d.D() <= load.TimeMax && d.D()%time.Second == 0
}

// seconds is d in whole seconds.
func seconds(d Duration) int64 { return int64(d.D() / time.Second) }

// Schedules reports whether a stream sends scheduled messages.
func (s *Scenario) Schedules() bool {
	for _, st := range s.Traffic {
		if st.SendAfter > 0 {
			return true
		}
	}
	return false
}

// Kills reports whether the scenario kills serve (it must then run as a
// separate process).
func (s *Scenario) Kills() bool { return s.has(FaultKillServe) }

// RestartsPostgres reports whether the scenario restarts PostgreSQL: serve
// then runs as a separate process on a PostgreSQL the runner starts.
func (s *Scenario) RestartsPostgres() bool { return s.has(FaultRestartPostgres) }

// Process reports whether serve must run as a separate process (nodes of a
// cluster always do).
func (s *Scenario) Process() bool { return s.Kills() || s.RestartsPostgres() || s.Cluster() }

func (s *Scenario) has(kind string) bool {
	for _, f := range s.Faults {
		if f.Kind == kind {
			return true
		}
	}
	return false
}

// supplierTPSMax is a supplier's TPS limit when the scenario sets none.
const supplierTPSMax = 1_000_000

// Scaled returns a copy with every stream's (and MO stream's) messages and
// rate, every tenant's top-up and TPS limit and every supplier's TPS limit
// multiplied by n (n ≥ 1; a supplier's at most supplierTPSMax), so that a
// limit that binds at scale 1 binds as much, not ten times as hard, at
// scale 10. max_dlr_duplicates is multiplied too: the duplicates a fault
// allows (DLRs sent again after a crash or a cut) are those of a window
// whose length does not scale, so their number grows with the rate. Times
// and the per-stream limits (shares, latencies) stay as they are.
func (s *Scenario) Scaled(n int) *Scenario {
	c := *s
	if n <= 1 {
		return &c
	}
	c.Limits.MaxDLRDuplicates *= n
	c.Suppliers = append([]Supplier(nil), s.Suppliers...)
	for i := range c.Suppliers {
		if tps := c.Suppliers[i].TPS; tps > 0 && tps < supplierTPSMax {
			c.Suppliers[i].TPS = min(tps*n, supplierTPSMax)
		}
	}
	c.Tenants = append([]Tenant(nil), s.Tenants...)
	for i := range c.Tenants {
		t, _ := decimal.NewFromString(c.Tenants[i].Topup)
		c.Tenants[i].Topup = t.Mul(decimal.NewFromInt(int64(n))).String()
		c.Tenants[i].TPS *= n
	}
	c.Traffic = append([]Stream(nil), s.Traffic...)
	for i := range c.Traffic {
		c.Traffic[i].Messages = min(c.Traffic[i].Messages*n, load.MessagesMax)
		c.Traffic[i].Rate *= float64(n)
	}
	c.MO = append([]MOStream(nil), s.MO...)
	for i := range c.MO {
		c.MO[i].Messages = min(c.MO[i].Messages*n, moMax)
		c.MO[i].Rate *= float64(n)
	}
	return &c
}

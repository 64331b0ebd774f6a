// Package domain is the root of smsledger's core. It holds no code itself;
// its sub-packages are in two layers.
//
// The pure core — events, ids, money, prefix, pricing, routing, message and
// accept — performs no I/O, reads no clock and draws no randomness: times,
// identifiers and snapshots are passed in, so every decision can be
// replayed and tested deterministically. These packages import only the
// standard library's computational packages, google/uuid (parsing and
// name-based ids only) and shopspring/decimal.
//
//   - events:  the event catalogue (every fact, its JSON schema and version)
//     and the stream layout.
//   - ids:     time-ordered shaping of derived record ids.
//   - money:   fixed-point amounts, the double-entry journal and the
//     per-tenant in-memory Account used to hold funds on the hot path.
//   - prefix:  an immutable longest-prefix-match table over E.164 digits.
//   - pricing: SMS parts from text and data coding, and tenant rate cards.
//   - routing: destination normalisation, route table and cost card
//     snapshots, health filtering and the tier-dependent supplier choice.
//   - message: the message lifecycle state machine (apply events, decide
//     commands) and the one mapping of DLR statuses to message states.
//   - accept:  the hot-path decision for one submitted message
//     (normalise + parts + price + route + hold) and its accept events.
//
// The application layer — ledger and lifecycle — runs the use cases on top
// of the pure core and depends on ports, never on an adapter: an event store
// (eventstore.Store), a clock and an id source, the secret ports
// (ledger.Sealer, ledger.PasswordHasher), and for lifecycle, which drives a
// message after accept (dispatch, supplier answers, failover, delivery
// reports, forwarding, recovery), the ledger's use cases, a supplier sender and a receipt
// sink, each an interface declared where it is used. The adapters
// (adapters/..., eventstore/..., cmd/smsledger) implement the ports and
// wire them in at the edge.
//
//   - ledger:    the application service shared by the HTTP and SMPP
//     adapters: commands become events, and the hot path is answered from
//     in-memory snapshots kept by following the log.
//   - lifecycle: drives accepted messages to their end through the ledger.
package domain

// Package domain is the root of smsledger's pure decision core. It holds no
// code itself; the sub-packages each have one job:
//
//   - events:  the event catalogue (every fact, its JSON schema and version)
//     and the stream layout.
//   - money:   fixed-point amounts, the double-entry journal and the
//     per-tenant in-memory Account used to hold funds on the hot path.
//   - prefix:  an immutable longest-prefix-match table over E.164 digits.
//   - pricing: SMS parts from text and data coding, and tenant rate cards.
//   - routing: destination normalisation, route table and cost card
//     snapshots, health filtering and the tier-dependent supplier choice.
//   - message: the message lifecycle state machine (apply events, decide
//     commands).
//   - accept:  the hot-path decision for one submitted message
//     (normalise + parts + price + route + hold) and its accept events.
//
// Nothing under domain performs I/O, reads a clock or draws randomness:
// times, identifiers and snapshots are passed in, so every decision can be
// replayed and tested deterministically.
package domain

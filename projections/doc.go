// Package projections builds smsledger's read models in PostgreSQL from the
// global event log, rebuilds them from position zero (replay), and answers
// the queries people ask of them: balances, CDRs, route health, the audit
// trail of a message and the finance reconciliation.
//
// # Runtime
//
// Start runs one pipeline: a reader follows the global log (SubscribeAll)
// from the lowest projector checkpoint, gathers events into batches (at most
// Options.BatchEventsMax) and decodes them in parallel; an applier writes
// each batch to every projector in ONE transaction that also advances each
// projector's checkpoint row (locked FOR UPDATE first, so two nodes running
// projections never apply an event twice). A crash at any instant therefore
// leaves every read model exactly at its checkpoint: nothing skipped, nothing
// applied twice. Writes are batched (COPY and multi-row upserts over arrays):
// a batch costs a handful of round trips, whatever its size.
//
// # Read models (schema "readmodel"; see migrations/002_read_models.sql)
//
//   - journal: journal_entries, postings, account_balances;
//   - balances: tenant_balances (balance, held, credit limit, available);
//   - cdrs: one row per message, monthly partitions created on demand;
//   - route_health: suppliers and per-minute counters by supplier, from which
//     RouteHealth computes rolling windows and the routing score;
//   - route_health_destinations: the same counters per supplier × mobile
//     network and per supplier × route prefix (route_health_networks,
//     route_health_prefixes; migrations/006), from each message's network
//     and route kept in route_health_messages while it is open (72 h at
//     most), for routing's health per destination.
//
// # Replay
//
// Replay rebuilds every read model from position zero into the schema
// "readmodel_replay" and returns a checksum per read model; with Verify it
// compares them with the live read models at the same positions. It is a
// bulk load into a throwaway schema: UNLOGGED tables, secondary indexes
// built after the load, synchronous_commit off, journal entries COPYed,
// CDRs merged in memory and COPYed once (see replayInto); the rows are the
// ones the live projectors write.
package projections

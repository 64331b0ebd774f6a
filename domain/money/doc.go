// Package money holds everything about amounts of money in smsledger:
//
//   - Currency, and Units: an exact int64 fixed-point amount (10^-8 of a
//     currency unit) used on the hot path, converted from and to
//     decimal.Decimal at every API boundary. Amounts that do not fit exactly
//     are rejected, never rounded. Money is never a float.
//   - The double-entry journal: an Entry is a balanced set of Postings over
//     named accounts, in exactly one currency, with builders for top-ups and
//     message settlement (sell side and buy side together, so the margin of
//     each message is exact).
//   - Ledger: an in-memory journal used to check the books (every entry
//     balances, balances are the sums of postings).
//   - Account: the per-tenant, in-memory, concurrency-safe balance that the
//     hot path holds funds against without a database round trip.
//
// Holds are not journal postings: a hold is a reservation against the
// tenant's available balance, recorded by Held/Released events in the
// message stream. Only settlement moves money, so the journal contains only
// real movements and a released hold leaves no trace in it.
package money

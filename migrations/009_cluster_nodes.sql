-- Node membership (adapters/cluster): one row per node id of the serve
-- processes sharing this database. A node holds a lease that it renews every
-- heartbeat; every time in this table is the database's clock.
--
--   epoch        1 at the first join of the id, +1 at every later join: a
--                node renews, and leaves, only the row of its own epoch, so
--                a node whose row was taken over finds zero rows and stops
--   addr         informational (the node's SMPP/HTTP address)
--   joined_at    the database's now() at the join of this epoch
--   renewed_at   the database's now() at the last renewal
--   lease_until  the database's now() at the last renewal + the lease; a
--                join takes the row only once this has passed (or the node
--                left cleanly)
--   receivers    the tenants with a receiver bind on the node at its last
--                renewal: which node can forward a tenant's DLRs
--   left_at      set by a clean leave (lease_until is set to the same time),
--                NULL while the epoch is running or after its lease ran out
--                unannounced (the node's work may then be taken over)
--
-- In the public schema, not in readmodel: replay drops and rebuilds that
-- schema, and membership is not derived from the event log.

CREATE TABLE cluster_nodes (
    node_id     text        PRIMARY KEY CHECK (node_id ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    epoch       bigint      NOT NULL CHECK (epoch > 0),
    addr        text        NOT NULL DEFAULT '',
    joined_at   timestamptz NOT NULL,
    renewed_at  timestamptz NOT NULL,
    lease_until timestamptz NOT NULL,
    receivers   text[]      NOT NULL DEFAULT '{}',
    left_at     timestamptz
);

---- create above / drop below ----

DROP TABLE cluster_nodes;

-- What each cluster node publishes of its supplier binds (adapters/cluster):
--
--   suppliers_up  the suppliers with a bind up on the node at its last
--                 renewal: routing on a node without a bind of a supplier
--                 (its share of the binds is other nodes') takes the
--                 supplier's state from the nodes that bind it

ALTER TABLE cluster_nodes ADD COLUMN suppliers_up text[] NOT NULL DEFAULT '{}';

---- create above / drop below ----

ALTER TABLE cluster_nodes DROP COLUMN suppliers_up;

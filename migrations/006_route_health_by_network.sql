-- Route health per destination: besides the per-supplier minute buckets
-- of route_health (kept as they are), the same counters per supplier ×
-- destination network and per supplier × route prefix, so that routing can
-- exclude a supplier on the one network it fails on (domain/routing
-- Health.OfOn) and the API and console can show where it fails:
--
--   route_health_networks  (supplier_id, mccmnc, bucket) — the network of
--                          the destination (MessageAccepted.mccmnc)
--   route_health_prefixes  (supplier_id, route_prefix, bucket) — the route
--                          table prefix that matched (RouteSelected)
--   route_health_messages  the projector's working state: each message's
--                          network and route prefix, read when the
--                          supplier's answers and DLRs arrive. A row goes
--                          at the message's final DLR, or when it is three
--                          days older (event time) than the newest event
--                          applied, so the table holds about three days of
--                          traffic at most; its index on at serves that
--                          pruning, so it is built with the table, also in
--                          a replay's bulk-loaded schema.
--
-- They belong to a projector of their own (route_health_destinations, whose
-- checkpoint starts at 0): after this migration it builds them from the
-- whole log while route_health carries on, so the per-supplier scores
-- routing uses now are never reset. The read model functions create the
-- tables in a replay's schema too (smsledger_create_route_health_destinations).

CREATE FUNCTION smsledger_create_route_health_destinations(s text, t text) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    EXECUTE format($q$CREATE %s %I.route_health_networks (
        supplier_id     text        NOT NULL,
        mccmnc          text        NOT NULL,
        bucket          timestamptz NOT NULL,
        submits         bigint      NOT NULL DEFAULT 0,
        accepted        bigint      NOT NULL DEFAULT 0,
        rejected        bigint      NOT NULL DEFAULT 0,
        timeouts        bigint      NOT NULL DEFAULT 0,
        failovers       bigint      NOT NULL DEFAULT 0,
        dlr_final       bigint      NOT NULL DEFAULT 0,
        dlr_delivered   bigint      NOT NULL DEFAULT 0,
        latency_sum_ms  bigint      NOT NULL DEFAULT 0,
        latency_hist    bigint[]    NOT NULL,
        PRIMARY KEY (supplier_id, mccmnc, bucket)
    )$q$, t, s);
    EXECUTE format($q$CREATE %s %I.route_health_prefixes (
        supplier_id     text        NOT NULL,
        route_prefix    text        NOT NULL,
        bucket          timestamptz NOT NULL,
        submits         bigint      NOT NULL DEFAULT 0,
        accepted        bigint      NOT NULL DEFAULT 0,
        rejected        bigint      NOT NULL DEFAULT 0,
        timeouts        bigint      NOT NULL DEFAULT 0,
        failovers       bigint      NOT NULL DEFAULT 0,
        dlr_final       bigint      NOT NULL DEFAULT 0,
        dlr_delivered   bigint      NOT NULL DEFAULT 0,
        latency_sum_ms  bigint      NOT NULL DEFAULT 0,
        latency_hist    bigint[]    NOT NULL,
        PRIMARY KEY (supplier_id, route_prefix, bucket)
    )$q$, t, s);
    EXECUTE format($q$CREATE %s %I.route_health_messages (
        message_id   uuid        PRIMARY KEY,
        at           timestamptz NOT NULL,
        mccmnc       text        NOT NULL DEFAULT '',
        route_prefix text        NOT NULL DEFAULT ''
    )$q$, t, s);
    EXECUTE format('CREATE INDEX ON %I.route_health_messages (at)', s);
END
$fn$;

SELECT smsledger_create_route_health_destinations('readmodel', 'TABLE');
CREATE INDEX ON readmodel.route_health_networks (bucket);
CREATE INDEX ON readmodel.route_health_prefixes (bucket);
DELETE FROM readmodel.checkpoints WHERE projector = 'route_health_destinations';

CREATE OR REPLACE FUNCTION smsledger_create_read_model_indexes(s text, tables text[] DEFAULT NULL) RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
    i text[];
BEGIN
    FOREACH i SLICE 1 IN ARRAY ARRAY[
        ['journal_entries', '(at)'],
        ['journal_entries', '(message_id) WHERE message_id IS NOT NULL'],
        ['postings',        '(account, at)'],
        ['cdrs',            '(tenant_id, accepted_at, message_id)'],
        ['cdrs',            '(supplier_id, supplier_message_id)'],
        ['cdrs',            '(settled_at) WHERE settled_at IS NOT NULL'],
        ['cdrs',            '(expires_at) WHERE final_at IS NULL'],
        ['cdrs',            '(cost_booked_at) WHERE cost_booked_at IS NOT NULL'],
        ['cdrs',            '(destination, accepted_at, message_id)'],
        ['cdrs',            '(client_ref, accepted_at, message_id) WHERE client_ref IS NOT NULL'],
        ['route_health',    '(bucket)'],
        ['route_health_networks', '(bucket)'],
        ['route_health_prefixes', '(bucket)']
    ] LOOP
        IF tables IS NULL OR i[1] = ANY(tables) THEN
            EXECUTE format('CREATE INDEX ON %I.%I ', s, i[1]) || i[2];
        END IF;
    END LOOP;
END
$fn$;


CREATE OR REPLACE FUNCTION smsledger_create_read_models(s text, bulk_load boolean DEFAULT false) RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
    t text := CASE WHEN bulk_load THEN 'UNLOGGED TABLE' ELSE 'TABLE' END;
BEGIN
    EXECUTE format('CREATE SCHEMA %I', s);

    -- One row per projector: the position of the last event applied. It is
    -- advanced in the same transaction as the read model rows it covers.
    EXECUTE format($q$CREATE %s %I.checkpoints (
        projector        text        PRIMARY KEY,
        position         bigint      NOT NULL CHECK (position >= 0),
        events           bigint      NOT NULL DEFAULT 0,
        last_recorded_at timestamptz
    )$q$, t, s);

    -- Journal: entries and their postings (debit positive, credit negative).
    EXECUTE format($q$CREATE %s %I.journal_entries (
        entry_id   uuid        PRIMARY KEY,
        kind       text        NOT NULL,
        currency   text        NOT NULL,
        message_id uuid,
        tenant_id  text,
        reference  text,
        at         timestamptz NOT NULL,
        position   bigint      NOT NULL
    )$q$, t, s);
    EXECUTE format($q$CREATE %s %I.postings (
        entry_id uuid        NOT NULL,
        line     smallint    NOT NULL,
        account  text        NOT NULL,
        currency text        NOT NULL,
        amount   numeric     NOT NULL,
        at       timestamptz NOT NULL,
        PRIMARY KEY (entry_id, line)
    )$q$, t, s);

    -- Balance of every journal account (sum of its postings), per currency.
    EXECUTE format($q$CREATE %s %I.account_balances (
        account  text    NOT NULL,
        currency text    NOT NULL,
        balance  numeric NOT NULL,
        postings bigint  NOT NULL,
        PRIMARY KEY (account, currency)
    )$q$, t, s);

    -- Per tenant: balance (credit balance of tenant:<id>), open holds,
    -- credit limit and what is available to spend.
    EXECUTE format($q$CREATE %s %I.tenant_balances (
        tenant_id    text    PRIMARY KEY,
        currency     text    NOT NULL DEFAULT '',
        credit_limit numeric NOT NULL DEFAULT 0,
        balance      numeric NOT NULL DEFAULT 0,
        held         numeric NOT NULL DEFAULT 0,
        open_holds   bigint  NOT NULL DEFAULT 0,
        available    numeric GENERATED ALWAYS AS (balance + credit_limit - held) STORED
    )$q$, t, s);

    -- CDRs: one row per message, monthly range partitions on accepted_at
    -- created on demand by the projector. cdr_keys maps a message to its
    -- partition key so later events update the row without probing every
    -- partition.
    EXECUTE format($q$CREATE TABLE %I.cdrs (
        message_id           uuid        NOT NULL,
        accepted_at          timestamptz NOT NULL,
        tenant_id            text        NOT NULL,
        channel              text        NOT NULL,
        source               text        NOT NULL,
        destination          text        NOT NULL,
        prefix               text        NOT NULL,
        route_prefix         text,
        parts                int         NOT NULL,
        encoding             text        NOT NULL,
        price_per_part       numeric     NOT NULL,
        price                numeric     NOT NULL,
        currency             text        NOT NULL,
        billing              text        NOT NULL,
        supplier_id          text,
        attempts             int         NOT NULL DEFAULT 0,
        cost                 numeric,
        cost_currency        text,
        state                text        NOT NULL,
        error                text,
        supplier_message_id  text,
        dlr_status           text,
        expires_at           timestamptz,
        routed_at            timestamptz,
        submitted_at         timestamptz,
        supplier_accepted_at timestamptz,
        dlr_at               timestamptz,
        done_at              timestamptz,
        final_at             timestamptz,
        settled_at           timestamptz,
        released_at          timestamptz,
        forwarded_at         timestamptz,
        client_ref           text,
        send_at              timestamptz,
        cost_booked_at       timestamptz,
        PRIMARY KEY (accepted_at, message_id)
    ) PARTITION BY RANGE (accepted_at)$q$, s);
    EXECUTE format($q$CREATE %s %I.cdr_keys (
        message_id  uuid        PRIMARY KEY,
        accepted_at timestamptz NOT NULL
    )$q$, t, s);

    -- Route health: suppliers and per-minute counters (event time).
    EXECUTE format($q$CREATE %s %I.suppliers (
        supplier_id text    PRIMARY KEY,
        name        text    NOT NULL DEFAULT '',
        currency    text    NOT NULL DEFAULT '',
        enabled     boolean NOT NULL DEFAULT true
    )$q$, t, s);
    EXECUTE format($q$CREATE %s %I.route_health (
        supplier_id     text        NOT NULL,
        bucket          timestamptz NOT NULL,
        submits         bigint      NOT NULL DEFAULT 0,
        accepted        bigint      NOT NULL DEFAULT 0,
        rejected        bigint      NOT NULL DEFAULT 0,
        timeouts        bigint      NOT NULL DEFAULT 0,
        failovers       bigint      NOT NULL DEFAULT 0,
        dlr_final       bigint      NOT NULL DEFAULT 0,
        dlr_delivered   bigint      NOT NULL DEFAULT 0,
        latency_sum_ms  bigint      NOT NULL DEFAULT 0,
        latency_hist    bigint[]    NOT NULL,
        PRIMARY KEY (supplier_id, bucket)
    )$q$, t, s);

    PERFORM smsledger_create_route_health_destinations(s, t);

    IF NOT bulk_load THEN
        PERFORM smsledger_create_read_model_indexes(s);
    END IF;
END
$fn$;


---- create above / drop below ----

CREATE OR REPLACE FUNCTION smsledger_create_read_model_indexes(s text, tables text[] DEFAULT NULL) RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
    i text[];
BEGIN
    FOREACH i SLICE 1 IN ARRAY ARRAY[
        ['journal_entries', '(at)'],
        ['journal_entries', '(message_id) WHERE message_id IS NOT NULL'],
        ['postings',        '(account, at)'],
        ['cdrs',            '(tenant_id, accepted_at, message_id)'],
        ['cdrs',            '(supplier_id, supplier_message_id)'],
        ['cdrs',            '(settled_at) WHERE settled_at IS NOT NULL'],
        ['cdrs',            '(expires_at) WHERE final_at IS NULL'],
        ['cdrs',            '(cost_booked_at) WHERE cost_booked_at IS NOT NULL'],
        ['cdrs',            '(destination, accepted_at, message_id)'],
        ['cdrs',            '(client_ref, accepted_at, message_id) WHERE client_ref IS NOT NULL'],
        ['route_health',    '(bucket)']
    ] LOOP
        IF tables IS NULL OR i[1] = ANY(tables) THEN
            EXECUTE format('CREATE INDEX ON %I.%I ', s, i[1]) || i[2];
        END IF;
    END LOOP;
END
$fn$;


CREATE OR REPLACE FUNCTION smsledger_create_read_models(s text, bulk_load boolean DEFAULT false) RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
    t text := CASE WHEN bulk_load THEN 'UNLOGGED TABLE' ELSE 'TABLE' END;
BEGIN
    EXECUTE format('CREATE SCHEMA %I', s);

    -- One row per projector: the position of the last event applied. It is
    -- advanced in the same transaction as the read model rows it covers.
    EXECUTE format($q$CREATE %s %I.checkpoints (
        projector        text        PRIMARY KEY,
        position         bigint      NOT NULL CHECK (position >= 0),
        events           bigint      NOT NULL DEFAULT 0,
        last_recorded_at timestamptz
    )$q$, t, s);

    -- Journal: entries and their postings (debit positive, credit negative).
    EXECUTE format($q$CREATE %s %I.journal_entries (
        entry_id   uuid        PRIMARY KEY,
        kind       text        NOT NULL,
        currency   text        NOT NULL,
        message_id uuid,
        tenant_id  text,
        reference  text,
        at         timestamptz NOT NULL,
        position   bigint      NOT NULL
    )$q$, t, s);
    EXECUTE format($q$CREATE %s %I.postings (
        entry_id uuid        NOT NULL,
        line     smallint    NOT NULL,
        account  text        NOT NULL,
        currency text        NOT NULL,
        amount   numeric     NOT NULL,
        at       timestamptz NOT NULL,
        PRIMARY KEY (entry_id, line)
    )$q$, t, s);

    -- Balance of every journal account (sum of its postings), per currency.
    EXECUTE format($q$CREATE %s %I.account_balances (
        account  text    NOT NULL,
        currency text    NOT NULL,
        balance  numeric NOT NULL,
        postings bigint  NOT NULL,
        PRIMARY KEY (account, currency)
    )$q$, t, s);

    -- Per tenant: balance (credit balance of tenant:<id>), open holds,
    -- credit limit and what is available to spend.
    EXECUTE format($q$CREATE %s %I.tenant_balances (
        tenant_id    text    PRIMARY KEY,
        currency     text    NOT NULL DEFAULT '',
        credit_limit numeric NOT NULL DEFAULT 0,
        balance      numeric NOT NULL DEFAULT 0,
        held         numeric NOT NULL DEFAULT 0,
        open_holds   bigint  NOT NULL DEFAULT 0,
        available    numeric GENERATED ALWAYS AS (balance + credit_limit - held) STORED
    )$q$, t, s);

    -- CDRs: one row per message, monthly range partitions on accepted_at
    -- created on demand by the projector. cdr_keys maps a message to its
    -- partition key so later events update the row without probing every
    -- partition.
    EXECUTE format($q$CREATE TABLE %I.cdrs (
        message_id           uuid        NOT NULL,
        accepted_at          timestamptz NOT NULL,
        tenant_id            text        NOT NULL,
        channel              text        NOT NULL,
        source               text        NOT NULL,
        destination          text        NOT NULL,
        prefix               text        NOT NULL,
        route_prefix         text,
        parts                int         NOT NULL,
        encoding             text        NOT NULL,
        price_per_part       numeric     NOT NULL,
        price                numeric     NOT NULL,
        currency             text        NOT NULL,
        billing              text        NOT NULL,
        supplier_id          text,
        attempts             int         NOT NULL DEFAULT 0,
        cost                 numeric,
        cost_currency        text,
        state                text        NOT NULL,
        error                text,
        supplier_message_id  text,
        dlr_status           text,
        expires_at           timestamptz,
        routed_at            timestamptz,
        submitted_at         timestamptz,
        supplier_accepted_at timestamptz,
        dlr_at               timestamptz,
        done_at              timestamptz,
        final_at             timestamptz,
        settled_at           timestamptz,
        released_at          timestamptz,
        forwarded_at         timestamptz,
        client_ref           text,
        send_at              timestamptz,
        cost_booked_at       timestamptz,
        PRIMARY KEY (accepted_at, message_id)
    ) PARTITION BY RANGE (accepted_at)$q$, s);
    EXECUTE format($q$CREATE %s %I.cdr_keys (
        message_id  uuid        PRIMARY KEY,
        accepted_at timestamptz NOT NULL
    )$q$, t, s);

    -- Route health: suppliers and per-minute counters (event time).
    EXECUTE format($q$CREATE %s %I.suppliers (
        supplier_id text    PRIMARY KEY,
        name        text    NOT NULL DEFAULT '',
        currency    text    NOT NULL DEFAULT '',
        enabled     boolean NOT NULL DEFAULT true
    )$q$, t, s);
    EXECUTE format($q$CREATE %s %I.route_health (
        supplier_id     text        NOT NULL,
        bucket          timestamptz NOT NULL,
        submits         bigint      NOT NULL DEFAULT 0,
        accepted        bigint      NOT NULL DEFAULT 0,
        rejected        bigint      NOT NULL DEFAULT 0,
        timeouts        bigint      NOT NULL DEFAULT 0,
        failovers       bigint      NOT NULL DEFAULT 0,
        dlr_final       bigint      NOT NULL DEFAULT 0,
        dlr_delivered   bigint      NOT NULL DEFAULT 0,
        latency_sum_ms  bigint      NOT NULL DEFAULT 0,
        latency_hist    bigint[]    NOT NULL,
        PRIMARY KEY (supplier_id, bucket)
    )$q$, t, s);

    IF NOT bulk_load THEN
        PERFORM smsledger_create_read_model_indexes(s);
    END IF;
END
$fn$;


DROP TABLE readmodel.route_health_networks, readmodel.route_health_prefixes, readmodel.route_health_messages;
DELETE FROM readmodel.checkpoints WHERE projector = 'route_health_destinations';
DROP FUNCTION smsledger_create_route_health_destinations(text, text);

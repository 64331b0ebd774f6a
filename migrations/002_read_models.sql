-- Read models built by the projectors (package projections).
--
-- The DDL lives in one function, smsledger_create_read_models(schema), so that
-- the live read models (schema "readmodel", created below) and the fresh
-- tables of a replay (schema "readmodel_replay", created by `smsledger
-- replay`) are guaranteed to have the same shape, column order included: the
-- replay checksums hash whole rows.
--
-- Money is numeric, exact; accumulated amounts are kept trim_scale()d so that
-- the text of a row does not depend on how the log was cut into batches.
-- No column holds a wall-clock time: every timestamp comes from an event, so a
-- replay reproduces every row exactly.

-- smsledger_add_hist adds two latency histograms element-wise.
CREATE FUNCTION smsledger_add_hist(a bigint[], b bigint[]) RETURNS bigint[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
    SELECT array_agg(coalesce(x, 0) + coalesce(y, 0) ORDER BY i)
    FROM unnest(a, b) WITH ORDINALITY AS u(x, y, i)
$fn$;

-- The secondary indexes of the read models in schema s (the queries of
-- package projections use them), of the tables named in tables (all when
-- NULL): a replay builds those of different tables concurrently.
CREATE FUNCTION smsledger_create_read_model_indexes(s text, tables text[] DEFAULT NULL) RETURNS void
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
        ['cdrs',            '(message_id)'],
        ['cdrs',            '(settled_at) WHERE settled_at IS NOT NULL'],
        ['cdrs',            '(expires_at) WHERE final_at IS NULL'],
        ['route_health',    '(bucket)']
    ] LOOP
        IF tables IS NULL OR i[1] = ANY(tables) THEN
            EXECUTE format('CREATE INDEX ON %I.%I ', s, i[1]) || i[2];
        END IF;
    END LOOP;
END
$fn$;

-- smsledger_create_read_models(s) creates the read model tables in schema s
-- with all their indexes. With bulk_load (what a replay uses for its
-- throwaway schema) the tables are UNLOGGED (no WAL: a replay that crashes
-- is simply started again, and its result is checksummed, never trusted
-- blindly) and only the primary keys are created: the secondary indexes are
-- built once, after the load, by smsledger_create_read_model_indexes(s),
-- which is far cheaper than maintaining them row by row. The rows are the
-- same either way.
CREATE FUNCTION smsledger_create_read_models(s text, bulk_load boolean DEFAULT false) RETURNS void
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

SELECT smsledger_create_read_models('readmodel');

---- create above / drop below ----

DROP SCHEMA IF EXISTS readmodel_replay CASCADE;
DROP SCHEMA readmodel CASCADE;
DROP FUNCTION smsledger_create_read_models(text, boolean);
DROP FUNCTION smsledger_create_read_model_indexes(text, text[]);
DROP FUNCTION smsledger_add_hist(bigint[], bigint[]);

-- CDRs gain the destination's mobile network, appended after direction (a
-- replay's fresh tables must have the live ones' column order: the replay
-- checksums hash whole rows):
--
--   mccmnc    the network's MCC-MNC as MessageAccepted names it (the
--             numbering plan's range, or the portability table's entry)
--   country   its country, as the numbering plan names it
--   operator  its operator, as the numbering plan names it
--
-- Each is NULL when not known: a destination outside the numbering plan,
-- every message accepted before the plan existed, and every MO (its
-- handset's network is not known to us). The API serves NULL as ''.
--
-- No index: a network is a coarse filter (a large share of a period's
-- rows), which a scan of the period's partitions serves as well as an
-- index would, and an index would cost every CDR insert. Adding a nullable
-- column without a default rewrites no row. The read model function is
-- replaced with the new columns (007's otherwise).

ALTER TABLE readmodel.cdrs ADD COLUMN mccmnc text, ADD COLUMN country text, ADD COLUMN operator text;

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
        direction            text        NOT NULL DEFAULT 'mt',
        mccmnc               text,
        country              text,
        operator             text,
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
        direction            text        NOT NULL DEFAULT 'mt',
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

ALTER TABLE readmodel.cdrs DROP COLUMN operator, DROP COLUMN country, DROP COLUMN mccmnc;

-- CDR rows are inserted once and then updated as their message moves on
-- (sent, supplier answer, DLR, forwarded): about three updates per row under
-- load. An update that cannot be HOT (heap-only) inserts a new entry into
-- every index of the table, so the indexes decide what a CDR costs.
--
-- 1. The index on cdrs(message_id) goes: no query uses it (cdr_keys maps a
--    message to its row's partition key, and the projector updates by the
--    primary key), yet every non-HOT update paid an insert into it.
-- 2. CDR partitions keep a quarter of each page free (fillfactor 75): an
--    update that changes no indexed column (sent, forwarded) then finds room
--    on its page and is HOT, with no index inserts at all. New partitions
--    get it from the projector (projections/cdrs.go); existing ones below
--    (it applies to pages written from now on).

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
        ['route_health',    '(bucket)']
    ] LOOP
        IF tables IS NULL OR i[1] = ANY(tables) THEN
            EXECUTE format('CREATE INDEX ON %I.%I ', s, i[1]) || i[2];
        END IF;
    END LOOP;
END
$fn$;

DROP INDEX IF EXISTS readmodel.cdrs_message_id_idx;

DO $do$
DECLARE
    part regclass;
BEGIN
    FOR part IN SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = 'readmodel.cdrs'::regclass LOOP
        EXECUTE format('ALTER TABLE %s SET (fillfactor = 75)', part);
    END LOOP;
END
$do$;

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

CREATE INDEX IF NOT EXISTS cdrs_message_id_idx ON readmodel.cdrs (message_id);

DO $do$
DECLARE
    part regclass;
BEGIN
    FOR part IN SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = 'readmodel.cdrs'::regclass LOOP
        EXECUTE format('ALTER TABLE %s RESET (fillfactor)', part);
    END LOOP;
END
$do$;

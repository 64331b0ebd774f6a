-- Finding a message's CDR by its destination or by the tenant's client_ref
-- (GET /v1/cdrs?destination= / ?client_ref=, the console's message search)
-- reads an index of its own instead of every CDR row:
--
--   cdrs (destination, accepted_at, message_id)
--   cdrs (client_ref, accepted_at, message_id) WHERE client_ref IS NOT NULL
--
-- Both keep the CDR pages' order (accepted_at, message_id), so a page of a
-- find, however deep its cursor, is one range scan of the index. The
-- client_ref one is partial: a message sent without a client_ref (the
-- column is NULL then, never empty) has no entry.
--
-- What they cost: both columns are written once, by MessageAccepted, and
-- never changed, so the updates that change no indexed column stay HOT
-- (migrations/003). A CDR's insert writes one index entry more (two with a
-- client_ref), and so does each of its non-HOT updates (those that set an
-- indexed column: supplier_id, supplier_message_id, settled_at, final_at,
-- cost_booked_at).
--
-- The read model functions list them too, so a replay's fresh schema gets
-- them after its bulk load, like the other secondary indexes.

CREATE INDEX ON readmodel.cdrs (destination, accepted_at, message_id);
CREATE INDEX ON readmodel.cdrs (client_ref, accepted_at, message_id) WHERE client_ref IS NOT NULL;

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
        ['route_health',    '(bucket)']
    ] LOOP
        IF tables IS NULL OR i[1] = ANY(tables) THEN
            EXECUTE format('CREATE INDEX ON %I.%I ', s, i[1]) || i[2];
        END IF;
    END LOOP;
END
$fn$;

DROP INDEX IF EXISTS readmodel.cdrs_destination_accepted_at_message_id_idx;
DROP INDEX IF EXISTS readmodel.cdrs_client_ref_accepted_at_message_id_idx;

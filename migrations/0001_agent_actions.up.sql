-- 0001: agent_actions (range-partitioned by event_time, one partition per
-- UTC month plus a default partition), the partition maintenance
-- functions, and consumer_offsets. See docs/schema.md.
--
-- Runs inside the transaction opened by `migrate up`: no BEGIN/COMMIT here.

CREATE TABLE agent_actions (
    event_id          uuid        NOT NULL,
    correlation_id    uuid        NOT NULL,
    session_id        uuid,
    agent_name        text        NOT NULL,
    action_type       text        NOT NULL,
    action_name       text        NOT NULL,
    action_details    jsonb       NOT NULL DEFAULT '{}',
    duration_ms       integer,
    debug_mode        boolean,
    project_path      text,
    project_name      text,
    working_directory text,
    event_time        timestamptz NOT NULL,
    extra             jsonb,
    kafka_topic       text        NOT NULL,
    kafka_partition   integer     NOT NULL,
    kafka_offset      bigint      NOT NULL,
    ingested_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT agent_actions_action_type_check
        CHECK (action_type IN ('tool_call', 'decision', 'error', 'success')),
    -- The partition key must be part of every unique constraint of a
    -- partitioned table, so (event_id, event_time) rather than event_id.
    CONSTRAINT agent_actions_pkey PRIMARY KEY (event_id, event_time)
) PARTITION BY RANGE (event_time);

-- Rows whose month has no partition yet land here, so no timestamp is ever
-- refused; aac_ensure_partitions() moves them out when it creates the month.
CREATE TABLE agent_actions_default PARTITION OF agent_actions DEFAULT;

-- Created on the parent: every partition, present or future, gets them.
CREATE INDEX agent_actions_agent_name_event_time_idx
    ON agent_actions (agent_name, event_time);
CREATE INDEX agent_actions_session_id_event_time_idx
    ON agent_actions (session_id, event_time) WHERE session_id IS NOT NULL;
CREATE INDEX agent_actions_project_name_event_time_idx
    ON agent_actions (project_name, event_time) WHERE project_name IS NOT NULL;
CREATE INDEX agent_actions_correlation_id_idx
    ON agent_actions (correlation_id);

COMMENT ON TABLE agent_actions IS
    'One row per AI-agent action event, partitioned by UTC month of event_time';
COMMENT ON COLUMN agent_actions.event_time IS 'The event''s own "timestamp" field';
COMMENT ON COLUMN agent_actions.extra IS 'Unknown top-level fields of the event, or NULL';
COMMENT ON COLUMN agent_actions.ingested_at IS 'When the consumer wrote the row';

-- aac_ensure_partitions(from_month, months): creates the monthly partitions
-- agent_actions_pYYYYMM for `months` UTC months starting with the month of
-- from_month, skipping those that exist. Rows of a new month that already
-- sit in the default partition are moved into the new partition in the same
-- transaction. Returns the names of the partitions it created.
CREATE FUNCTION aac_ensure_partitions(from_month date, months integer)
    RETURNS SETOF text
    LANGUAGE plpgsql
AS $fn$
DECLARE
    m        date;
    lo       timestamptz;
    hi       timestamptz;
    part     text;
    existing regclass;
    moved    bigint;
BEGIN
    IF from_month IS NULL OR months IS NULL OR months < 0 THEN
        RAISE EXCEPTION 'aac_ensure_partitions: from_month must not be null and months must be >= 0';
    END IF;
    FOR i IN 0 .. months - 1 LOOP
        m := (date_trunc('month', from_month) + make_interval(months => i))::date;
        -- Partition bounds are UTC midnights, whatever the session's TimeZone.
        lo := m::timestamp AT TIME ZONE 'UTC';
        hi := (m + interval '1 month')::timestamp AT TIME ZONE 'UTC';
        part := format('agent_actions_p%s', to_char(m, 'YYYYMM'));

        existing := to_regclass(format('%I', part));
        IF existing IS NOT NULL THEN
            IF NOT EXISTS (SELECT 1 FROM pg_inherits
                           WHERE inhrelid = existing
                             AND inhparent = 'agent_actions'::regclass) THEN
                RAISE EXCEPTION 'relation "%" exists but is not a partition of agent_actions', part;
            END IF;
            CONTINUE;
        END IF;

        -- Block writers (not readers) of agent_actions, parent first as
        -- inserts do, so no row can reach the default partition between the
        -- move below and the attach. Writers wait for the commit and then
        -- route into the new partition. ONLY: inserts through the parent
        -- lock the parent, so there is no need to lock every partition.
        LOCK TABLE ONLY agent_actions IN SHARE ROW EXCLUSIVE MODE;
        LOCK TABLE ONLY agent_actions_default IN ACCESS EXCLUSIVE MODE;

        -- Built standalone and attached, so rows can be moved in first:
        -- CREATE TABLE ... PARTITION OF would fail on them. The attach
        -- builds the parent's indexes and primary key on the filled table.
        EXECUTE format('CREATE TABLE %I (LIKE agent_actions INCLUDING DEFAULTS'
                       ' INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMPRESSION)', part);
        EXECUTE format('WITH d AS (DELETE FROM agent_actions_default'
                       ' WHERE event_time >= $1 AND event_time < $2 RETURNING *)'
                       ' INSERT INTO %I SELECT * FROM d', part)
            USING lo, hi;
        GET DIAGNOSTICS moved = ROW_COUNT;
        EXECUTE format('ALTER TABLE agent_actions ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                       part, lo, hi);
        IF moved > 0 THEN
            RAISE NOTICE 'moved % rows from agent_actions_default into %', moved, part;
        END IF;
        RETURN NEXT part;
    END LOOP;
END
$fn$;

-- aac_drop_partitions_older_than(cutoff): drops every monthly partition
-- whose whole range lies before cutoff (UTC midnight of that date), i.e.
-- whose upper bound is <= cutoff. Never touches the default partition.
-- Returns the names of the partitions it dropped.
CREATE FUNCTION aac_drop_partitions_older_than(cutoff date)
    RETURNS SETOF text
    LANGUAGE plpgsql
AS $fn$
DECLARE
    r record;
BEGIN
    IF cutoff IS NULL THEN
        RAISE EXCEPTION 'aac_drop_partitions_older_than: cutoff must not be null';
    END IF;
    FOR r IN
        SELECT c.oid::regclass AS rel, c.relname::text AS name,
               substring(pg_get_expr(c.relpartbound, c.oid) FROM $re$ TO \('([^']+)'\)$re$)::timestamptz AS hi
        FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'agent_actions'::regclass
        ORDER BY 3
    LOOP
        -- the default partition and MAXVALUE bounds give hi NULL: kept
        IF r.hi IS NOT NULL AND r.hi <= (cutoff::timestamp AT TIME ZONE 'UTC') THEN
            EXECUTE format('DROP TABLE %s', r.rel);
            RETURN NEXT r.name;
        END IF;
    END LOOP;
END
$fn$;

-- The pipeline stores the next offset to consume for each partition in the
-- same transaction as the rows it wrote: the offsets commit with the rows.
CREATE TABLE consumer_offsets (
    consumer_group  text        NOT NULL,
    topic           text        NOT NULL,
    kafka_partition integer     NOT NULL,
    next_offset     bigint      NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT consumer_offsets_pkey PRIMARY KEY (consumer_group, topic, kafka_partition)
);

-- The previous month through three months ahead. This makes the schema
-- depend on the date the migration ran; later months come from the service
-- or a scheduled aac_ensure_partitions() call.
SELECT count(*) FROM aac_ensure_partitions(
    ((date_trunc('month', now() AT TIME ZONE 'UTC') - interval '1 month'))::date, 5);

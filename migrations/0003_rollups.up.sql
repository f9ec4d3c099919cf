-- 0003: the analytics rollups, kept by the service in the transaction that
-- writes each batch's rows and offsets (docs/queries.md, consumer/rollup.c),
-- the dead letters and what was consumed per hour, the histogram functions,
-- the rebuild and the check, and the analytics views answered from the
-- rollups.
--
-- Runs inside the transaction opened by `migrate up`: no BEGIN/COMMIT here.
-- The 120 histogram columns b000..b119 and the expressions over them follow
-- one pattern: bucket k of aac_hist_bucket().

-- One row per UTC hour x agent x action_type x action_name x project: what
-- the documented questions count and sum (docs/queries.md says why this
-- grain). NULL project_name is a value of its own (NULLS NOT DISTINCT).
CREATE TABLE aac_rollup_hourly (
    hour           timestamptz NOT NULL,
    agent_name     text        NOT NULL,
    action_type    text        NOT NULL,
    action_name    text        NOT NULL,
    project_name   text,
    events         bigint      NOT NULL,
    timed_events   bigint      NOT NULL, -- events with a duration_ms
    duration_sum   bigint      NOT NULL, -- ms, over the timed events
    duration_min   integer,              -- NULL: no timed event
    duration_max   integer,
    first_event_at timestamptz NOT NULL,
    last_event_at  timestamptz NOT NULL,
    CONSTRAINT aac_rollup_hourly_key
        UNIQUE NULLS NOT DISTINCT (hour, agent_name, action_type, action_name, project_name)
);
CREATE INDEX aac_rollup_hourly_agent_idx ON aac_rollup_hourly (agent_name, hour);
CREATE INDEX aac_rollup_hourly_action_idx ON aac_rollup_hourly (action_name, hour);

COMMENT ON TABLE aac_rollup_hourly IS
    'Events per UTC hour, agent, action_type, action_name and project, kept exactly by the consumer';

-- The durations' histogram per UTC hour x action_name: bucket k counts the
-- timed events whose duration_ms has aac_hist_bucket() = k.
CREATE TABLE aac_rollup_durations_hourly (
    hour         timestamptz NOT NULL,
    action_name  text        NOT NULL,
    timed_events bigint      NOT NULL,
    duration_sum bigint      NOT NULL,
    duration_max integer     NOT NULL,
    b000 integer NOT NULL DEFAULT 0,
    b001 integer NOT NULL DEFAULT 0,
    b002 integer NOT NULL DEFAULT 0,
    b003 integer NOT NULL DEFAULT 0,
    b004 integer NOT NULL DEFAULT 0,
    b005 integer NOT NULL DEFAULT 0,
    b006 integer NOT NULL DEFAULT 0,
    b007 integer NOT NULL DEFAULT 0,
    b008 integer NOT NULL DEFAULT 0,
    b009 integer NOT NULL DEFAULT 0,
    b010 integer NOT NULL DEFAULT 0,
    b011 integer NOT NULL DEFAULT 0,
    b012 integer NOT NULL DEFAULT 0,
    b013 integer NOT NULL DEFAULT 0,
    b014 integer NOT NULL DEFAULT 0,
    b015 integer NOT NULL DEFAULT 0,
    b016 integer NOT NULL DEFAULT 0,
    b017 integer NOT NULL DEFAULT 0,
    b018 integer NOT NULL DEFAULT 0,
    b019 integer NOT NULL DEFAULT 0,
    b020 integer NOT NULL DEFAULT 0,
    b021 integer NOT NULL DEFAULT 0,
    b022 integer NOT NULL DEFAULT 0,
    b023 integer NOT NULL DEFAULT 0,
    b024 integer NOT NULL DEFAULT 0,
    b025 integer NOT NULL DEFAULT 0,
    b026 integer NOT NULL DEFAULT 0,
    b027 integer NOT NULL DEFAULT 0,
    b028 integer NOT NULL DEFAULT 0,
    b029 integer NOT NULL DEFAULT 0,
    b030 integer NOT NULL DEFAULT 0,
    b031 integer NOT NULL DEFAULT 0,
    b032 integer NOT NULL DEFAULT 0,
    b033 integer NOT NULL DEFAULT 0,
    b034 integer NOT NULL DEFAULT 0,
    b035 integer NOT NULL DEFAULT 0,
    b036 integer NOT NULL DEFAULT 0,
    b037 integer NOT NULL DEFAULT 0,
    b038 integer NOT NULL DEFAULT 0,
    b039 integer NOT NULL DEFAULT 0,
    b040 integer NOT NULL DEFAULT 0,
    b041 integer NOT NULL DEFAULT 0,
    b042 integer NOT NULL DEFAULT 0,
    b043 integer NOT NULL DEFAULT 0,
    b044 integer NOT NULL DEFAULT 0,
    b045 integer NOT NULL DEFAULT 0,
    b046 integer NOT NULL DEFAULT 0,
    b047 integer NOT NULL DEFAULT 0,
    b048 integer NOT NULL DEFAULT 0,
    b049 integer NOT NULL DEFAULT 0,
    b050 integer NOT NULL DEFAULT 0,
    b051 integer NOT NULL DEFAULT 0,
    b052 integer NOT NULL DEFAULT 0,
    b053 integer NOT NULL DEFAULT 0,
    b054 integer NOT NULL DEFAULT 0,
    b055 integer NOT NULL DEFAULT 0,
    b056 integer NOT NULL DEFAULT 0,
    b057 integer NOT NULL DEFAULT 0,
    b058 integer NOT NULL DEFAULT 0,
    b059 integer NOT NULL DEFAULT 0,
    b060 integer NOT NULL DEFAULT 0,
    b061 integer NOT NULL DEFAULT 0,
    b062 integer NOT NULL DEFAULT 0,
    b063 integer NOT NULL DEFAULT 0,
    b064 integer NOT NULL DEFAULT 0,
    b065 integer NOT NULL DEFAULT 0,
    b066 integer NOT NULL DEFAULT 0,
    b067 integer NOT NULL DEFAULT 0,
    b068 integer NOT NULL DEFAULT 0,
    b069 integer NOT NULL DEFAULT 0,
    b070 integer NOT NULL DEFAULT 0,
    b071 integer NOT NULL DEFAULT 0,
    b072 integer NOT NULL DEFAULT 0,
    b073 integer NOT NULL DEFAULT 0,
    b074 integer NOT NULL DEFAULT 0,
    b075 integer NOT NULL DEFAULT 0,
    b076 integer NOT NULL DEFAULT 0,
    b077 integer NOT NULL DEFAULT 0,
    b078 integer NOT NULL DEFAULT 0,
    b079 integer NOT NULL DEFAULT 0,
    b080 integer NOT NULL DEFAULT 0,
    b081 integer NOT NULL DEFAULT 0,
    b082 integer NOT NULL DEFAULT 0,
    b083 integer NOT NULL DEFAULT 0,
    b084 integer NOT NULL DEFAULT 0,
    b085 integer NOT NULL DEFAULT 0,
    b086 integer NOT NULL DEFAULT 0,
    b087 integer NOT NULL DEFAULT 0,
    b088 integer NOT NULL DEFAULT 0,
    b089 integer NOT NULL DEFAULT 0,
    b090 integer NOT NULL DEFAULT 0,
    b091 integer NOT NULL DEFAULT 0,
    b092 integer NOT NULL DEFAULT 0,
    b093 integer NOT NULL DEFAULT 0,
    b094 integer NOT NULL DEFAULT 0,
    b095 integer NOT NULL DEFAULT 0,
    b096 integer NOT NULL DEFAULT 0,
    b097 integer NOT NULL DEFAULT 0,
    b098 integer NOT NULL DEFAULT 0,
    b099 integer NOT NULL DEFAULT 0,
    b100 integer NOT NULL DEFAULT 0,
    b101 integer NOT NULL DEFAULT 0,
    b102 integer NOT NULL DEFAULT 0,
    b103 integer NOT NULL DEFAULT 0,
    b104 integer NOT NULL DEFAULT 0,
    b105 integer NOT NULL DEFAULT 0,
    b106 integer NOT NULL DEFAULT 0,
    b107 integer NOT NULL DEFAULT 0,
    b108 integer NOT NULL DEFAULT 0,
    b109 integer NOT NULL DEFAULT 0,
    b110 integer NOT NULL DEFAULT 0,
    b111 integer NOT NULL DEFAULT 0,
    b112 integer NOT NULL DEFAULT 0,
    b113 integer NOT NULL DEFAULT 0,
    b114 integer NOT NULL DEFAULT 0,
    b115 integer NOT NULL DEFAULT 0,
    b116 integer NOT NULL DEFAULT 0,
    b117 integer NOT NULL DEFAULT 0,
    b118 integer NOT NULL DEFAULT 0,
    b119 integer NOT NULL DEFAULT 0,
    PRIMARY KEY (hour, action_name)
);

COMMENT ON TABLE aac_rollup_durations_hourly IS
    'Histogram of duration_ms per UTC hour and action_name (aac_hist_bucket), kept exactly by the consumer';

-- Dead letters per hour they were committed (with the batch that
-- dead-lettered them: each source offset once) and reason, and what every
-- batch consumed in that hour, so that
--   messages = rows_inserted + duplicates + dead letters
-- holds for any hour and topic (docs/queries.md).
CREATE TABLE aac_dead_letters_hourly (
    hour         timestamptz NOT NULL,
    topic        text        NOT NULL,
    reason       text        NOT NULL,
    dead_letters bigint      NOT NULL,
    PRIMARY KEY (hour, topic, reason)
);

CREATE TABLE aac_ingest_hourly (
    hour          timestamptz NOT NULL,
    topic         text        NOT NULL,
    messages      bigint      NOT NULL, -- consumed and committed
    rows_inserted bigint      NOT NULL,
    duplicates    bigint      NOT NULL, -- valid events already stored (producer resends)
    PRIMARY KEY (hour, topic)
);

-- aac_hist_bucket(ms): the bucket of a duration: ms itself below 8, then
-- four buckets per power of two, 8 + (e - 3) * 4 + the two bits below the
-- top one (e), up to 119 for 2^31 - 1. consumer/rollup.c has the same.
CREATE FUNCTION aac_hist_bucket(ms integer) RETURNS integer
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $fn$
SELECT CASE WHEN ms < 8 THEN greatest(ms, 0)
            ELSE 8 + (e - 3) * 4 + ((ms >> (e - 2)) & 3) END
FROM (SELECT 32 - position('1' IN ms::bit(32)::text) AS e) s
$fn$;

-- aac_hist_mid(b): the value bucket b stands for, the middle of its bounds.
CREATE FUNCTION aac_hist_mid(b integer) RETURNS double precision
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $fn$
SELECT CASE WHEN b < 8 THEN b::double precision
            ELSE ((4 + (b - 8) % 4)::bigint << ((b - 8) / 4 + 1))
                 + (((1::bigint << ((b - 8) / 4 + 1)) - 1) / 2.0)::double precision END
$fn$;

-- aac_hist_percentile(h, p): the percentile p of the durations counted in
-- h (h[k + 1] counts bucket k), as percentile_cont computes it, each value
-- read as its bucket's middle: within 12.5 % of percentile_cont over the
-- exact values. NULL when h counts nothing.
CREATE FUNCTION aac_hist_percentile(h bigint[], p double precision) RETURNS double precision
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $fn$
DECLARE
    n    bigint := 0;
    seen bigint := 0;
    pos  double precision;
    k    bigint;
    f    double precision;
    v    double precision;
    w    double precision;
BEGIN
    IF h IS NULL OR p IS NULL THEN
        RETURN NULL;
    END IF;
    FOR i IN 1 .. coalesce(array_length(h, 1), 0) LOOP
        n := n + coalesce(h[i], 0);
    END LOOP;
    IF n = 0 THEN
        RETURN NULL;
    END IF;
    pos := least(greatest(p, 0), 1) * (n - 1);
    k := floor(pos);
    f := pos - k;
    FOR i IN 1 .. array_length(h, 1) LOOP
        seen := seen + coalesce(h[i], 0);
        IF v IS NULL AND k < seen THEN
            v := aac_hist_mid(i - 1);
        END IF;
        IF k + 1 < seen THEN
            w := aac_hist_mid(i - 1);
            EXIT;
        END IF;
    END LOOP;
    IF f = 0 OR w IS NULL THEN
        RETURN v;
    END IF;
    RETURN v + f * (w - v);
END
$fn$;

-- aac_rollups_rebuild(from_hour, to_hour): the rollups of the UTC hours in
-- [from_hour, to_hour) made again from the raw rows, in the caller's
-- transaction. The lock comes first: batches that committed before it are
-- in the raw rows read after it; a batch that commits later waits for the
-- rebuild's commit at its own rollup upsert and then adds its rows on top,
-- so no row counts twice or not at all while the service writes. Returns
-- the rollup rows written.
CREATE FUNCTION aac_rollups_rebuild(from_hour timestamptz, to_hour timestamptz) RETURNS bigint
    LANGUAGE plpgsql
AS $fn$
DECLARE
    n bigint;
BEGIN
    LOCK TABLE aac_rollup_hourly, aac_rollup_durations_hourly IN SHARE ROW EXCLUSIVE MODE;
    DELETE FROM aac_rollup_hourly WHERE hour >= from_hour AND hour < to_hour;
    DELETE FROM aac_rollup_durations_hourly WHERE hour >= from_hour AND hour < to_hour;
    INSERT INTO aac_rollup_hourly (hour, agent_name, action_type, action_name, project_name,
                                   events, timed_events, duration_sum, duration_min,
                                   duration_max, first_event_at, last_event_at)
    SELECT date_trunc('hour', event_time, 'UTC'), agent_name, action_type, action_name,
           project_name, count(*), count(duration_ms), coalesce(sum(duration_ms), 0),
           min(duration_ms), max(duration_ms), min(event_time), max(event_time)
    FROM agent_actions
    WHERE event_time >= from_hour AND event_time < to_hour
    GROUP BY 1, 2, 3, 4, 5;
    GET DIAGNOSTICS n = ROW_COUNT;
    INSERT INTO aac_rollup_durations_hourly (hour, action_name, timed_events, duration_sum,
                                             duration_max, b000, b001, b002, b003, b004, b005, b006, b007, b008, b009, b010, b011, b012, b013, b014, b015, b016, b017, b018, b019, b020, b021, b022, b023, b024, b025, b026, b027, b028, b029, b030, b031, b032, b033, b034, b035, b036, b037, b038, b039, b040, b041, b042, b043, b044, b045, b046, b047, b048, b049, b050, b051, b052, b053, b054, b055, b056, b057, b058, b059, b060, b061, b062, b063, b064, b065, b066, b067, b068, b069, b070, b071, b072, b073, b074, b075, b076, b077, b078, b079, b080, b081, b082, b083, b084, b085, b086, b087, b088, b089, b090, b091, b092, b093, b094, b095, b096, b097, b098, b099, b100, b101, b102, b103, b104, b105, b106, b107, b108, b109, b110, b111, b112, b113, b114, b115, b116, b117, b118, b119)
    -- Each duration's bucket is computed once, by the inner GROUP BY; the
    -- 120 columns are then read from the (hour, action, bucket) groups.
    -- 120 FILTERs over the rows themselves would call aac_hist_bucket 120
    -- times a row: a SQL function with a FROM is never inlined.
    SELECT g.hour, g.action_name, sum(g.events), sum(g.duration_sum), max(g.duration_max),
           coalesce(sum(g.events) FILTER (WHERE g.b = 0), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 1), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 2), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 3), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 4), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 5), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 6), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 7), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 8), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 9), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 10), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 11), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 12), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 13), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 14), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 15), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 16), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 17), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 18), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 19), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 20), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 21), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 22), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 23), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 24), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 25), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 26), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 27), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 28), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 29), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 30), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 31), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 32), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 33), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 34), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 35), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 36), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 37), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 38), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 39), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 40), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 41), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 42), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 43), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 44), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 45), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 46), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 47), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 48), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 49), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 50), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 51), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 52), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 53), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 54), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 55), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 56), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 57), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 58), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 59), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 60), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 61), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 62), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 63), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 64), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 65), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 66), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 67), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 68), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 69), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 70), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 71), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 72), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 73), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 74), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 75), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 76), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 77), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 78), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 79), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 80), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 81), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 82), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 83), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 84), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 85), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 86), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 87), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 88), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 89), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 90), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 91), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 92), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 93), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 94), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 95), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 96), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 97), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 98), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 99), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 100), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 101), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 102), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 103), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 104), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 105), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 106), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 107), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 108), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 109), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 110), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 111), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 112), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 113), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 114), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 115), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 116), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 117), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 118), 0)::integer,
           coalesce(sum(g.events) FILTER (WHERE g.b = 119), 0)::integer
    FROM (SELECT date_trunc('hour', event_time, 'UTC') AS hour, action_name,
                 aac_hist_bucket(duration_ms) AS b, count(*) AS events,
                 sum(duration_ms) AS duration_sum, max(duration_ms) AS duration_max
          FROM agent_actions
          WHERE event_time >= from_hour AND event_time < to_hour AND duration_ms IS NOT NULL
          GROUP BY 1, 2, 3) g
    GROUP BY g.hour, g.action_name;
    RETURN n;
END
$fn$;

-- aac_rollups_check(from_hour, to_hour): where the rollups of the UTC hours
-- in [from_hour, to_hour) differ from an aggregate over the raw rows: one
-- row per differing key, with the rollup's values and the raw rows' (NULL:
-- missing on that side). Empty when they agree. One statement: one
-- snapshot, so the two sides are read at the same moment.
CREATE FUNCTION aac_rollups_check(from_hour timestamptz, to_hour timestamptz)
    RETURNS TABLE (rollup text, hour timestamptz, key text, stored text, expected text)
    LANGUAGE sql STABLE
AS $fn$
WITH fine_raw AS (
    SELECT date_trunc('hour', event_time, 'UTC') AS hour, agent_name, action_type, action_name,
           project_name, count(*) AS events, count(duration_ms) AS timed_events,
           coalesce(sum(duration_ms), 0) AS duration_sum, min(duration_ms) AS duration_min,
           max(duration_ms) AS duration_max, min(event_time) AS first_event_at,
           max(event_time) AS last_event_at
    FROM agent_actions
    WHERE event_time >= from_hour AND event_time < to_hour
    GROUP BY 1, 2, 3, 4, 5),
fine_kept AS (
    SELECT hour, agent_name, action_type, action_name, project_name, events, timed_events,
           duration_sum, duration_min, duration_max, first_event_at, last_event_at
    FROM aac_rollup_hourly
    WHERE hour >= from_hour AND hour < to_hour),
dur_raw AS (
    -- each duration bucketed once (see aac_rollups_rebuild)
    SELECT g.hour, g.action_name, sum(g.events)::bigint AS timed_events,
           sum(g.duration_sum)::bigint AS duration_sum, max(g.duration_max) AS duration_max,
           ARRAY[coalesce(sum(g.events) FILTER (WHERE g.b = 0), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 1), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 2), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 3), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 4), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 5), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 6), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 7), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 8), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 9), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 10), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 11), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 12), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 13), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 14), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 15), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 16), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 17), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 18), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 19), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 20), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 21), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 22), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 23), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 24), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 25), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 26), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 27), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 28), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 29), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 30), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 31), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 32), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 33), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 34), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 35), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 36), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 37), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 38), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 39), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 40), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 41), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 42), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 43), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 44), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 45), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 46), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 47), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 48), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 49), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 50), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 51), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 52), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 53), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 54), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 55), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 56), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 57), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 58), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 59), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 60), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 61), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 62), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 63), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 64), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 65), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 66), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 67), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 68), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 69), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 70), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 71), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 72), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 73), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 74), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 75), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 76), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 77), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 78), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 79), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 80), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 81), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 82), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 83), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 84), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 85), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 86), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 87), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 88), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 89), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 90), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 91), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 92), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 93), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 94), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 95), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 96), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 97), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 98), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 99), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 100), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 101), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 102), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 103), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 104), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 105), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 106), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 107), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 108), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 109), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 110), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 111), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 112), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 113), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 114), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 115), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 116), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 117), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 118), 0), coalesce(sum(g.events) FILTER (WHERE g.b = 119), 0)]::bigint[] AS h
    FROM (SELECT date_trunc('hour', event_time, 'UTC') AS hour, action_name,
                 aac_hist_bucket(duration_ms) AS b, count(*) AS events,
                 sum(duration_ms) AS duration_sum, max(duration_ms) AS duration_max
          FROM agent_actions
          WHERE event_time >= from_hour AND event_time < to_hour AND duration_ms IS NOT NULL
          GROUP BY 1, 2, 3) g
    GROUP BY g.hour, g.action_name),
dur_kept AS (
    SELECT hour, action_name, timed_events, duration_sum, duration_max,
           ARRAY[b000, b001, b002, b003, b004, b005, b006, b007, b008, b009, b010, b011, b012, b013, b014, b015, b016, b017, b018, b019, b020, b021, b022, b023, b024, b025, b026, b027, b028, b029, b030, b031, b032, b033, b034, b035, b036, b037, b038, b039, b040, b041, b042, b043, b044, b045, b046, b047, b048, b049, b050, b051, b052, b053, b054, b055, b056, b057, b058, b059, b060, b061, b062, b063, b064, b065, b066, b067, b068, b069, b070, b071, b072, b073, b074, b075, b076, b077, b078, b079, b080, b081, b082, b083, b084, b085, b086, b087, b088, b089, b090, b091, b092, b093, b094, b095, b096, b097, b098, b099, b100, b101, b102, b103, b104, b105, b106, b107, b108, b109, b110, b111, b112, b113, b114, b115, b116, b117, b118, b119]::bigint[] AS h
    FROM aac_rollup_durations_hourly
    WHERE hour >= from_hour AND hour < to_hour)
SELECT 'aac_rollup_hourly', coalesce(k.hour, r.hour),
       concat_ws(' / ', coalesce(k.agent_name, r.agent_name), coalesce(k.action_type, r.action_type),
                 coalesce(k.action_name, r.action_name),
                 coalesce(k.project_name, r.project_name, '(no project)')),
       CASE WHEN k.hour IS NOT NULL THEN
           format('events=%s timed=%s sum=%s min=%s max=%s first=%s last=%s', k.events,
                  k.timed_events, k.duration_sum, k.duration_min, k.duration_max,
                  k.first_event_at, k.last_event_at) END,
       CASE WHEN r.hour IS NOT NULL THEN
           format('events=%s timed=%s sum=%s min=%s max=%s first=%s last=%s', r.events,
                  r.timed_events, r.duration_sum, r.duration_min, r.duration_max,
                  r.first_event_at, r.last_event_at) END
FROM fine_kept k
FULL JOIN fine_raw r
  ON (k.hour, k.agent_name, k.action_type, k.action_name) = (r.hour, r.agent_name, r.action_type, r.action_name)
 AND k.project_name IS NOT DISTINCT FROM r.project_name
WHERE (k.events, k.timed_events, k.duration_sum, k.duration_min, k.duration_max,
       k.first_event_at, k.last_event_at)
      IS DISTINCT FROM
      (r.events, r.timed_events, r.duration_sum, r.duration_min, r.duration_max,
       r.first_event_at, r.last_event_at)
UNION ALL
SELECT 'aac_rollup_durations_hourly', coalesce(k.hour, r.hour), coalesce(k.action_name, r.action_name),
       CASE WHEN k.hour IS NOT NULL THEN
           format('timed=%s sum=%s max=%s buckets=%s', k.timed_events, k.duration_sum,
                  k.duration_max, (SELECT string_agg(format('%s:%s', i - 1, c), ',')
                                   FROM unnest(k.h) WITH ORDINALITY AS u(c, i) WHERE c <> 0)) END,
       CASE WHEN r.hour IS NOT NULL THEN
           format('timed=%s sum=%s max=%s buckets=%s', r.timed_events, r.duration_sum,
                  r.duration_max, (SELECT string_agg(format('%s:%s', i - 1, c), ',')
                                   FROM unnest(r.h) WITH ORDINALITY AS u(c, i) WHERE c <> 0)) END
FROM dur_kept k
FULL JOIN dur_raw r ON (k.hour, k.action_name) = (r.hour, r.action_name)
WHERE (k.timed_events, k.duration_sum, k.duration_max, k.h)
      IS DISTINCT FROM (r.timed_events, r.duration_sum, r.duration_max, r.h)
ORDER BY 1, 2, 3
$fn$;

-- The analytics views of 0002 that the rollups can answer, with the same
-- names and columns, answered from them: their time grows with the
-- rollups' rows (one per hour and key), not with agent_actions
-- (docs/queries.md has the figures). aac_project_activity
-- loses `sessions`, which needs the raw rows: aac_project_sessions has it.
-- aac_action_durations' percentiles are now read from the histogram
-- (within 12.5 % of percentile_cont).

CREATE OR REPLACE VIEW aac_agent_hourly AS
SELECT hour,
       agent_name,
       sum(events)::bigint                                                      AS actions,
       coalesce(sum(events) FILTER (WHERE action_type = 'tool_call'), 0)::bigint AS tool_calls,
       coalesce(sum(events) FILTER (WHERE action_type = 'decision'), 0)::bigint  AS decisions,
       coalesce(sum(events) FILTER (WHERE action_type = 'error'), 0)::bigint     AS errors,
       coalesce(sum(events) FILTER (WHERE action_type = 'success'), 0)::bigint   AS successes,
       (sum(duration_sum) FILTER (WHERE timed_events > 0))::bigint               AS total_duration_ms
FROM aac_rollup_hourly
GROUP BY 1, 2;

CREATE OR REPLACE VIEW aac_agent_outcomes AS
SELECT agent_name,
       sum(events)::bigint                                                      AS actions,
       coalesce(sum(events) FILTER (WHERE action_type = 'success'), 0)::bigint   AS successes,
       coalesce(sum(events) FILTER (WHERE action_type = 'error'), 0)::bigint     AS errors,
       round(coalesce(sum(events) FILTER (WHERE action_type = 'success'), 0)
             / nullif(sum(events) FILTER (WHERE action_type IN ('success', 'error')), 0), 4)
                                                                                AS success_rate,
       round(coalesce(sum(events) FILTER (WHERE action_type = 'error'), 0)
             / nullif(sum(events) FILTER (WHERE action_type IN ('success', 'error')), 0), 4)
                                                                                AS error_rate,
       round(coalesce(sum(events) FILTER (WHERE action_type = 'error'), 0) / sum(events), 4)
                                                                                AS error_share,
       min(first_event_at)                                                      AS first_action,
       max(last_event_at)                                                       AS last_action
FROM aac_rollup_hourly
GROUP BY agent_name;

CREATE OR REPLACE VIEW aac_action_outcomes AS
SELECT action_name,
       sum(events)::bigint                                                      AS actions,
       coalesce(sum(events) FILTER (WHERE action_type = 'success'), 0)::bigint   AS successes,
       coalesce(sum(events) FILTER (WHERE action_type = 'error'), 0)::bigint     AS errors,
       round(coalesce(sum(events) FILTER (WHERE action_type = 'success'), 0)
             / nullif(sum(events) FILTER (WHERE action_type IN ('success', 'error')), 0), 4)
                                                                                AS success_rate,
       round(coalesce(sum(events) FILTER (WHERE action_type = 'error'), 0)
             / nullif(sum(events) FILTER (WHERE action_type IN ('success', 'error')), 0), 4)
                                                                                AS error_rate,
       round(coalesce(sum(events) FILTER (WHERE action_type = 'error'), 0) / sum(events), 4)
                                                                                AS error_share,
       count(DISTINCT agent_name)                                               AS agents
FROM aac_rollup_hourly
GROUP BY action_name;

CREATE OR REPLACE VIEW aac_action_durations AS
SELECT action_name,
       sum(timed_events)::bigint                                                AS timed_actions,
       aac_hist_percentile(ARRAY[sum(b000), sum(b001), sum(b002), sum(b003), sum(b004), sum(b005), sum(b006), sum(b007), sum(b008), sum(b009), sum(b010), sum(b011), sum(b012), sum(b013), sum(b014), sum(b015), sum(b016), sum(b017), sum(b018), sum(b019), sum(b020), sum(b021), sum(b022), sum(b023), sum(b024), sum(b025), sum(b026), sum(b027), sum(b028), sum(b029), sum(b030), sum(b031), sum(b032), sum(b033), sum(b034), sum(b035), sum(b036), sum(b037), sum(b038), sum(b039), sum(b040), sum(b041), sum(b042), sum(b043), sum(b044), sum(b045), sum(b046), sum(b047), sum(b048), sum(b049), sum(b050), sum(b051), sum(b052), sum(b053), sum(b054), sum(b055), sum(b056), sum(b057), sum(b058), sum(b059), sum(b060), sum(b061), sum(b062), sum(b063), sum(b064), sum(b065), sum(b066), sum(b067), sum(b068), sum(b069), sum(b070), sum(b071), sum(b072), sum(b073), sum(b074), sum(b075), sum(b076), sum(b077), sum(b078), sum(b079), sum(b080), sum(b081), sum(b082), sum(b083), sum(b084), sum(b085), sum(b086), sum(b087), sum(b088), sum(b089), sum(b090), sum(b091), sum(b092), sum(b093), sum(b094), sum(b095), sum(b096), sum(b097), sum(b098), sum(b099), sum(b100), sum(b101), sum(b102), sum(b103), sum(b104), sum(b105), sum(b106), sum(b107), sum(b108), sum(b109), sum(b110), sum(b111), sum(b112), sum(b113), sum(b114), sum(b115), sum(b116), sum(b117), sum(b118), sum(b119)]::bigint[], 0.50) AS p50_ms,
       aac_hist_percentile(ARRAY[sum(b000), sum(b001), sum(b002), sum(b003), sum(b004), sum(b005), sum(b006), sum(b007), sum(b008), sum(b009), sum(b010), sum(b011), sum(b012), sum(b013), sum(b014), sum(b015), sum(b016), sum(b017), sum(b018), sum(b019), sum(b020), sum(b021), sum(b022), sum(b023), sum(b024), sum(b025), sum(b026), sum(b027), sum(b028), sum(b029), sum(b030), sum(b031), sum(b032), sum(b033), sum(b034), sum(b035), sum(b036), sum(b037), sum(b038), sum(b039), sum(b040), sum(b041), sum(b042), sum(b043), sum(b044), sum(b045), sum(b046), sum(b047), sum(b048), sum(b049), sum(b050), sum(b051), sum(b052), sum(b053), sum(b054), sum(b055), sum(b056), sum(b057), sum(b058), sum(b059), sum(b060), sum(b061), sum(b062), sum(b063), sum(b064), sum(b065), sum(b066), sum(b067), sum(b068), sum(b069), sum(b070), sum(b071), sum(b072), sum(b073), sum(b074), sum(b075), sum(b076), sum(b077), sum(b078), sum(b079), sum(b080), sum(b081), sum(b082), sum(b083), sum(b084), sum(b085), sum(b086), sum(b087), sum(b088), sum(b089), sum(b090), sum(b091), sum(b092), sum(b093), sum(b094), sum(b095), sum(b096), sum(b097), sum(b098), sum(b099), sum(b100), sum(b101), sum(b102), sum(b103), sum(b104), sum(b105), sum(b106), sum(b107), sum(b108), sum(b109), sum(b110), sum(b111), sum(b112), sum(b113), sum(b114), sum(b115), sum(b116), sum(b117), sum(b118), sum(b119)]::bigint[], 0.95) AS p95_ms,
       aac_hist_percentile(ARRAY[sum(b000), sum(b001), sum(b002), sum(b003), sum(b004), sum(b005), sum(b006), sum(b007), sum(b008), sum(b009), sum(b010), sum(b011), sum(b012), sum(b013), sum(b014), sum(b015), sum(b016), sum(b017), sum(b018), sum(b019), sum(b020), sum(b021), sum(b022), sum(b023), sum(b024), sum(b025), sum(b026), sum(b027), sum(b028), sum(b029), sum(b030), sum(b031), sum(b032), sum(b033), sum(b034), sum(b035), sum(b036), sum(b037), sum(b038), sum(b039), sum(b040), sum(b041), sum(b042), sum(b043), sum(b044), sum(b045), sum(b046), sum(b047), sum(b048), sum(b049), sum(b050), sum(b051), sum(b052), sum(b053), sum(b054), sum(b055), sum(b056), sum(b057), sum(b058), sum(b059), sum(b060), sum(b061), sum(b062), sum(b063), sum(b064), sum(b065), sum(b066), sum(b067), sum(b068), sum(b069), sum(b070), sum(b071), sum(b072), sum(b073), sum(b074), sum(b075), sum(b076), sum(b077), sum(b078), sum(b079), sum(b080), sum(b081), sum(b082), sum(b083), sum(b084), sum(b085), sum(b086), sum(b087), sum(b088), sum(b089), sum(b090), sum(b091), sum(b092), sum(b093), sum(b094), sum(b095), sum(b096), sum(b097), sum(b098), sum(b099), sum(b100), sum(b101), sum(b102), sum(b103), sum(b104), sum(b105), sum(b106), sum(b107), sum(b108), sum(b109), sum(b110), sum(b111), sum(b112), sum(b113), sum(b114), sum(b115), sum(b116), sum(b117), sum(b118), sum(b119)]::bigint[], 0.99) AS p99_ms,
       round(sum(duration_sum) / sum(timed_events), 1)                          AS avg_ms,
       max(duration_max)                                                        AS max_ms
FROM aac_rollup_durations_hourly
GROUP BY action_name;
COMMENT ON VIEW aac_action_durations IS
    'Per action_name: p50, p95 and p99 of duration_ms read from the hourly histograms (within 12.5 % of percentile_cont), average and maximum';

DROP VIEW aac_project_activity;
CREATE VIEW aac_project_activity AS
SELECT project_name,
       min(first_event_at)                                                      AS first_action,
       max(last_event_at)                                                       AS last_action,
       sum(events)::bigint                                                      AS actions,
       count(DISTINCT agent_name)                                               AS agents,
       coalesce(sum(events) FILTER (WHERE action_type = 'tool_call'), 0)::bigint AS tool_calls,
       coalesce(sum(events) FILTER (WHERE action_type = 'decision'), 0)::bigint  AS decisions,
       coalesce(sum(events) FILTER (WHERE action_type = 'error'), 0)::bigint     AS errors,
       coalesce(sum(events) FILTER (WHERE action_type = 'success'), 0)::bigint   AS successes
FROM aac_rollup_hourly
GROUP BY project_name;

COMMENT ON VIEW aac_project_activity IS
    'Per project: first and last action, counts by action_type, agents (from the rollups)';

-- What aac_project_activity counted from the raw rows: distinct sessions.
CREATE VIEW aac_project_sessions AS
SELECT project_name, count(DISTINCT session_id) AS sessions
FROM agent_actions
GROUP BY project_name;

COMMENT ON VIEW aac_project_sessions IS
    'Per project: distinct sessions (raw rows: filter by event_time on a large table)';

-- Dead letters and what was consumed per hour, side by side.
CREATE VIEW aac_ingest_balance AS
SELECT i.hour, i.topic, i.messages, i.rows_inserted, i.duplicates,
       coalesce(d.dead_letters, 0)::bigint AS dead_letters,
       i.messages - i.rows_inserted - i.duplicates - coalesce(d.dead_letters, 0) AS unaccounted
FROM aac_ingest_hourly i
LEFT JOIN (SELECT hour, topic, sum(dead_letters) AS dead_letters
           FROM aac_dead_letters_hourly GROUP BY 1, 2) d USING (hour, topic);

COMMENT ON VIEW aac_ingest_balance IS
    'Per hour and topic: messages consumed = rows inserted + duplicates + dead letters (unaccounted is 0)';

-- Reverts 0003_rollups.up.sql: the views of 0002 over the raw rows again,
-- then the rollups and their functions dropped (their data is lost; the
-- raw rows keep everything it was made of).
DROP VIEW aac_ingest_balance;
DROP VIEW aac_project_sessions;
DROP VIEW aac_project_activity;
CREATE VIEW aac_project_activity AS
SELECT project_name,
       min(event_time)                                         AS first_action,
       max(event_time)                                         AS last_action,
       count(*)                                                AS actions,
       count(DISTINCT session_id)                              AS sessions,
       count(DISTINCT agent_name)                              AS agents,
       count(*) FILTER (WHERE action_type = 'tool_call')       AS tool_calls,
       count(*) FILTER (WHERE action_type = 'decision')        AS decisions,
       count(*) FILTER (WHERE action_type = 'error')           AS errors,
       count(*) FILTER (WHERE action_type = 'success')         AS successes
FROM agent_actions
GROUP BY project_name;

COMMENT ON VIEW aac_project_activity IS
    'Per project: first and last action, counts by action_type, sessions and agents';

CREATE OR REPLACE VIEW aac_agent_hourly AS
SELECT date_trunc('hour', event_time, 'UTC')                  AS hour,
       agent_name,
       count(*)                                               AS actions,
       count(*) FILTER (WHERE action_type = 'tool_call')      AS tool_calls,
       count(*) FILTER (WHERE action_type = 'decision')       AS decisions,
       count(*) FILTER (WHERE action_type = 'error')          AS errors,
       count(*) FILTER (WHERE action_type = 'success')        AS successes,
       sum(duration_ms)                                       AS total_duration_ms
FROM agent_actions
GROUP BY 1, 2;

CREATE OR REPLACE VIEW aac_agent_outcomes AS
SELECT agent_name,
       count(*)                                                AS actions,
       count(*) FILTER (WHERE action_type = 'success')         AS successes,
       count(*) FILTER (WHERE action_type = 'error')           AS errors,
       round(count(*) FILTER (WHERE action_type = 'success')::numeric
             / nullif(count(*) FILTER (WHERE action_type IN ('success', 'error')), 0), 4)
                                                               AS success_rate,
       round(count(*) FILTER (WHERE action_type = 'error')::numeric
             / nullif(count(*) FILTER (WHERE action_type IN ('success', 'error')), 0), 4)
                                                               AS error_rate,
       round(count(*) FILTER (WHERE action_type = 'error')::numeric / count(*), 4)
                                                               AS error_share,
       min(event_time)                                         AS first_action,
       max(event_time)                                         AS last_action
FROM agent_actions
GROUP BY agent_name;

CREATE OR REPLACE VIEW aac_action_outcomes AS
SELECT action_name,
       count(*)                                                AS actions,
       count(*) FILTER (WHERE action_type = 'success')         AS successes,
       count(*) FILTER (WHERE action_type = 'error')           AS errors,
       round(count(*) FILTER (WHERE action_type = 'success')::numeric
             / nullif(count(*) FILTER (WHERE action_type IN ('success', 'error')), 0), 4)
                                                               AS success_rate,
       round(count(*) FILTER (WHERE action_type = 'error')::numeric
             / nullif(count(*) FILTER (WHERE action_type IN ('success', 'error')), 0), 4)
                                                               AS error_rate,
       round(count(*) FILTER (WHERE action_type = 'error')::numeric / count(*), 4)
                                                               AS error_share,
       count(DISTINCT agent_name)                              AS agents
FROM agent_actions
GROUP BY action_name;

CREATE OR REPLACE VIEW aac_action_durations AS
SELECT action_name,
       count(duration_ms)                                             AS timed_actions,
       percentile_cont(0.50) WITHIN GROUP (ORDER BY duration_ms)      AS p50_ms,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms)      AS p95_ms,
       percentile_cont(0.99) WITHIN GROUP (ORDER BY duration_ms)      AS p99_ms,
       round(avg(duration_ms), 1)                                     AS avg_ms,
       max(duration_ms)                                               AS max_ms
FROM agent_actions
WHERE duration_ms IS NOT NULL
GROUP BY action_name;
COMMENT ON VIEW aac_action_durations IS
    'Per action_name: p50, p95 and p99 of duration_ms (percentile_cont), average and maximum';

DROP FUNCTION aac_rollups_check(timestamptz, timestamptz);
DROP FUNCTION aac_rollups_rebuild(timestamptz, timestamptz);
DROP FUNCTION aac_hist_percentile(bigint[], double precision);
DROP FUNCTION aac_hist_mid(integer);
DROP FUNCTION aac_hist_bucket(integer);
DROP TABLE aac_ingest_hourly;
DROP TABLE aac_dead_letters_hourly;
DROP TABLE aac_rollup_durations_hourly;
DROP TABLE aac_rollup_hourly;

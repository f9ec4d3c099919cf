-- 0002: the views analysts query (docs/queries.md).
--
-- No new index: each costs every insert (docs/schema.md), and these views
-- are served by the indexes of 0001 when filtered by agent, session or
-- project, and by partition pruning when filtered by event_time.
--
-- Plain views, not materialized: they always show what the consumer has
-- committed, cost nothing on insert, and need no refresh schedule. A view
-- that aggregates reads every row it covers, so on a large table filter
-- by agent, project, session or action (pushed down into the scan) and,
-- for time windows, see docs/queries.md.
--
-- Times are timestamptz; hour buckets are UTC hours. Rates are numeric
-- fractions rounded to 4 places, NULL when their denominator is 0.
--
-- Runs inside the transaction opened by `migrate up`: no BEGIN/COMMIT here.

-- Actions per agent per UTC hour, with the count of each action_type.
CREATE VIEW aac_agent_hourly AS
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

COMMENT ON VIEW aac_agent_hourly IS
    'Actions per agent per UTC hour, by action_type';

-- Success and error rates. An outcome is an action of type success or
-- error; tool_call and decision events are neither. success_rate and
-- error_rate are shares of the outcomes (they add up to 1);
-- error_share is errors over all actions.
CREATE VIEW aac_agent_outcomes AS
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

COMMENT ON VIEW aac_agent_outcomes IS
    'Per agent: successes and errors, their rates among outcomes, errors among all actions';

CREATE VIEW aac_action_outcomes AS
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

COMMENT ON VIEW aac_action_outcomes IS
    'Per action_name: successes and errors, their rates among outcomes, errors among all actions';

-- Duration percentiles per action_name over the actions that report a
-- duration (continuous percentiles: interpolated between the two nearest
-- values, as PostgreSQL's percentile_cont does).
CREATE VIEW aac_action_durations AS
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

-- Activity per project (rows without a project are one NULL row).
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

-- Activity per session (events without a session_id are left out). A
-- session normally has one agent and one project; `agents` shows when not,
-- and agent_name/project_name are then the alphabetically first.
CREATE VIEW aac_session_activity AS
SELECT session_id,
       min(agent_name)                                         AS agent_name,
       min(project_name)                                       AS project_name,
       count(DISTINCT agent_name)                              AS agents,
       min(event_time)                                         AS first_action,
       max(event_time)                                         AS last_action,
       max(event_time) - min(event_time)                       AS span,
       count(*)                                                AS actions,
       count(*) FILTER (WHERE action_type = 'tool_call')       AS tool_calls,
       count(*) FILTER (WHERE action_type = 'decision')        AS decisions,
       count(*) FILTER (WHERE action_type = 'error')           AS errors,
       count(*) FILTER (WHERE action_type = 'success')         AS successes
FROM agent_actions
WHERE session_id IS NOT NULL
GROUP BY session_id;

COMMENT ON VIEW aac_session_activity IS
    'Per session: agent, project, first and last action, counts by action_type';

-- Errors, newest first, with their details. Not aggregated, so a filter on
-- event_time prunes partitions: add one (and a LIMIT) on a large table.
CREATE VIEW aac_recent_errors AS
SELECT event_time,
       agent_name,
       action_name,
       action_details,
       duration_ms,
       session_id,
       project_name,
       correlation_id,
       event_id,
       kafka_topic,
       kafka_partition,
       kafka_offset
FROM agent_actions
WHERE action_type = 'error'
ORDER BY event_time DESC;

COMMENT ON VIEW aac_recent_errors IS
    'Error actions, newest first, with action_details and where they came from';

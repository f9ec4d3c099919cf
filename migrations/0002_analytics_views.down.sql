-- Reverts 0002_analytics_views.up.sql.
DROP VIEW aac_recent_errors;
DROP VIEW aac_session_activity;
DROP VIEW aac_project_activity;
DROP VIEW aac_action_durations;
DROP VIEW aac_action_outcomes;
DROP VIEW aac_agent_outcomes;
DROP VIEW aac_agent_hourly;

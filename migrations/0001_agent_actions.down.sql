-- Reverts 0001: drops agent_actions with all its partitions, the partition
-- functions and consumer_offsets. Destroys every stored event.
DROP FUNCTION aac_drop_partitions_older_than(date);
DROP FUNCTION aac_ensure_partitions(date, integer);
DROP TABLE consumer_offsets;
DROP TABLE agent_actions;

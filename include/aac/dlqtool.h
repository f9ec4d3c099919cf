/*
 * dlqtool: the operators' dead-letter command, `agent-actions-consumer dlq`:
 * its Kafka clients, the inspect and replay loops and what they report.
 *
 *   dlq inspect [FILTERS] [--json] [--show-value]
 *   dlq replay  [FILTERS] [--to TOPIC] [--dry-run] [--yes] [--max-replays N]
 *               [--group NAME] [--from-beginning]
 *
 * Both read the dead-letter topic (kafka.dlq_topic, or --topic) on every
 * partition from its low watermark to the high watermark seen at start, and
 * stop there: messages dead-lettered while the tool runs (a replayed
 * message failing again, say) are left for the next run. `inspect` prints
 * one bounded line (or JSON line) per selected message; `replay` publishes
 * the selected ones back to their original topic with the original key,
 * value and non-aac headers, plus aac.replayed.from and aac.replay.count,
 * through an idempotent acks=all producer, and waits for every delivery.
 * A message whose headers show it was already replayed --max-replays times
 * (default 1) is skipped, so a message that stays invalid cannot loop.
 *
 * `replay` remembers what it replayed, so the same replay run twice
 * publishes nothing the second time: the replay record, kept as the
 * committed offsets' metadata of a consumer group of its own on the
 * dead-letter topic (--group, default "<kafka.group_id>.replay"). It is
 * committed after each batch of confirmed deliveries. --from-beginning
 * replays recorded messages again. See docs/dead-letters.md.
 *
 * This module owns the command: its two Kafka clients' lifetimes (the
 * reader of dlqreader.h and the replay producer), the inspect and replay
 * loops, when the replay record is loaded and committed, and the summary.
 * The rules it applies are in modules of their own, the pure ones
 * unit-tested: the options and filters in dlqargs.h, reading and printing
 * a dead letter and its replay's headers in dlqletter.h, the replay record
 * in dlqrecord.h, the pass over the topic in dlqreader.h.
 */
#ifndef AAC_DLQTOOL_H
#define AAC_DLQTOOL_H

#include "aac/config.h"

/* `agent-actions-consumer dlq ...`: argv[0] is "dlq". Returns the exit
 * status: 0 done (every replayed message delivered), 1 failure (Kafka
 * unreachable, a delivery failed), 2 bad arguments. `cfg` may be NULL
 * only with --help. */
int aac_dlqtool_main(const aac_config_t *cfg, int argc, char **argv);

#endif

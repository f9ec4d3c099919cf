/*
 * fence_probe: one batch through aac_pgsink with a fence of the test's
 * choosing, for tests/integration/test_pgsink_fence.sh.
 *
 *   fence_probe BOOTSTRAP TOPIC EXPECTED_OLD NEXT REWIND
 *
 * Reads every message of partition 0 of TOPIC (they must be valid events),
 * makes them one batch, sets the fence of partition 0 to EXPECTED_OLD and
 * the offset it stores to NEXT (REWIND 1: the log started over), and
 * writes it with aac_pgsink_stage() and aac_pgsink_commit() into the
 * database the PG* environment names, group "fence-probe". Prints
 * "committed" (exit 0), "fenced" (exit 3), or the error (exit 1).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "aac/batch.h"
#include "aac/config.h"
#include "aac/event.h"
#include "aac/pgsink.h"

static rd_kafka_t *reader(const char *bootstrap, const char *topic)
{
    char err[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    if (rd_kafka_conf_set(c, "bootstrap.servers", bootstrap, err, sizeof(err)) ||
        rd_kafka_conf_set(c, "group.id", "fence-probe", err, sizeof(err)) ||
        rd_kafka_conf_set(c, "enable.partition.eof", "true", err, sizeof(err))) {
        fprintf(stderr, "fence_probe: %s\n", err);
        exit(1);
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof(err));
    if (!rk) {
        fprintf(stderr, "fence_probe: %s\n", err);
        exit(1);
    }
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    return rk;
}

int main(int argc, char **argv)
{
    char err[512];
    if (argc != 6) {
        fprintf(stderr, "usage: fence_probe BOOTSTRAP TOPIC EXPECTED_OLD NEXT REWIND\n");
        return 2;
    }
    const char *topic = argv[2];
    aac_config_t *cfg = aac_config_load(NULL, err, sizeof(err));
    if (!cfg) {
        fprintf(stderr, "fence_probe: %s\n", err);
        return 1;
    }
    aac_event_limits_t lim = {1 << 20, 32};
    aac_event_parser_t *parser = aac_event_parser_new(&lim);
    aac_batch_t *b = aac_batch_new(AAC_COPY_BINARY);
    rd_kafka_t *rk = reader(argv[1], topic);
    for (int idle = 0; idle < 100;) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m) {
            idle++;
            continue;
        }
        if (m->err) {
            bool eof = m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF;
            rd_kafka_message_destroy(m);
            if (eof)
                break;
            continue;
        }
        aac_event_t ev;
        aac_event_error_t ee;
        if (aac_event_parse(parser, topic, m->partition, m->offset, m->payload, m->len, &ev, &ee) !=
                AAC_REASON_NONE ||
            aac_batch_add_event(b, m, &ev) != 0) {
            fprintf(stderr, "fence_probe: message %lld is not a valid event\n",
                    (long long)m->offset);
            return 1;
        }
    }
    if (aac_batch_part_count(b) != 1) {
        fprintf(stderr, "fence_probe: no message read\n");
        return 1;
    }
    aac_batch_part_t *bp = aac_batch_parts(b);
    bp[0].expected_old = strtoll(argv[3], NULL, 10);
    bp[0].next = strtoll(argv[4], NULL, 10);
    bp[0].rewind = !strcmp(argv[5], "1");

    aac_pgsink_t *s = aac_pgsink_new(cfg);
    aac_pgsink_result_t res;
    int rc = 1;
    if (aac_pgsink_stage(s, b, &res) == 0 && aac_pgsink_commit(s, b, "fence-probe", &res) == 0) {
        printf("committed\n");
        rc = 0;
    } else if (res.fenced) {
        printf("fenced\n");
        rc = 3;
    } else {
        printf("error: %s\n", res.errstr);
    }
    aac_pgsink_destroy(s);
    aac_batch_destroy(b);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    aac_event_parser_destroy(parser);
    aac_config_destroy(cfg);
    return rc;
}

/*
 * dlqreader: one pass over the dead-letter topic (see dlqreader.h).
 *
 * _assign() reads where each partition starts (lo) and where the pass
 * stops (hi); a partition is done at its end (enable.partition.eof) or
 * once the message before hi is read, and the pass is over when none is
 * left. Messages of a partition already done are dropped.
 */
#include "aac/dlqreader.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aac/classify.h"
#include "aac/clock.h"
#include "aac/kafkaconf.h"
#include "aac/log.h"

#define META_TIMEOUT_MS 10000
#define IDLE_TIMEOUT_MS 30000 /* no message and no end of partition for this long: give up */
#define MAX_PARTITIONS  4096

struct aac_dlqreader_s {
    rd_kafka_t *rk;
    const char *topic;
    const struct rd_kafka_metadata *md; /* every topic, read at start */
    int32_t nparts;
    int64_t *lo;        /* per partition: where reading starts */
    int64_t *hi;        /* per partition: stop before this offset */
    bool *done;         /* per partition */
    int32_t left;       /* partitions not done */
    int64_t total;      /* messages expected, sum of hi - lo */
    bool polled;        /* _next() was called */
    int64_t idle_since; /* monotonic ms of the last message or event */
};

static rd_kafka_t *client_new(const aac_config_t *cfg, const char *group, char *errstr, size_t size)
{
    static const char *const defaults[][2] = {
        {"client.id", "agent-actions-consumer-dlq-reader"},
    };
    char err[512];
    rd_kafka_conf_t *conf = aac_kafkaconf_new(cfg, defaults, 1, NULL, errstr, size);
    if (!conf)
        return NULL;
    /* librdkafka wants a group for assign(); the reader never joins it (no
     * subscribe). For replay it is the replay group, where the record is
     * committed; inspect commits nothing. */
    if (aac_kafkaconf_set_forced(conf, group ? group : "agent-actions-consumer-dlq-tool", errstr,
                                 size) ||
        aac_kafkaconf_set(conf, "enable.partition.eof", "true", errstr, size) ||
        aac_kafkaconf_set(conf, "auto.offset.reset", "earliest", errstr, size))
        goto fail;
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (!rk) {
        snprintf(errstr, size, "could not create the dead-letter reader: %.400s", err);
        goto fail;
    }
    rd_kafka_poll_set_consumer(rk);
    return rk;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

aac_dlqreader_t *aac_dlqreader_new(const aac_config_t *cfg, const char *topic, const char *group,
                                   char *errstr, size_t size)
{
    aac_dlqreader_t *rd = calloc(1, sizeof(*rd));
    if (!rd) {
        snprintf(errstr, size, "out of memory");
        return NULL;
    }
    rd->topic = topic;
    if (!(rd->rk = client_new(cfg, group, errstr, size))) {
        free(rd);
        return NULL;
    }
    return rd;
}

void aac_dlqreader_destroy(aac_dlqreader_t *rd)
{
    if (!rd)
        return;
    rd_kafka_consumer_close(rd->rk);
    rd_kafka_destroy(rd->rk);
    if (rd->md)
        rd_kafka_metadata_destroy(rd->md);
    free(rd->hi);
    free(rd->lo);
    free(rd->done);
    free(rd);
}

/* The metadata of `name` in the cluster listing, NULL when absent. */
static const rd_kafka_metadata_topic_t *find_topic(const aac_dlqreader_t *rd, const char *name)
{
    for (int i = 0; rd->md && i < rd->md->topic_cnt; i++)
        if (!strcmp(rd->md->topics[i].topic, name))
            return &rd->md->topics[i];
    return NULL;
}

/* Lists the cluster's topics (all of them: asking for one by name may
 * auto-create it), finds the dead-letter topic's partitions and their
 * watermarks, and assigns the non-empty ones from their beginning. */
int aac_dlqreader_assign(aac_dlqreader_t *rd, char *errstr, size_t size)
{
    const rd_kafka_metadata_topic_t *mt;
    rd_kafka_topic_partition_list_t *l = NULL;
    rd_kafka_resp_err_t err;
    int rc = -1;

    err = rd_kafka_metadata(rd->rk, 1, NULL, &rd->md, META_TIMEOUT_MS);
    if (err) {
        rd->md = NULL;
        snprintf(errstr, size, "could not list the topics: %s", rd_kafka_err2str(err));
        return -1;
    }
    if (!(mt = find_topic(rd, rd->topic))) {
        snprintf(errstr, size, "topic %s does not exist", rd->topic);
        return -1;
    }
    if (mt->err) {
        snprintf(errstr, size, "could not read topic %s: %s", rd->topic, rd_kafka_err2str(mt->err));
        return -1;
    }
    rd->nparts = mt->partition_cnt;
    if (rd->nparts <= 0 || rd->nparts > MAX_PARTITIONS) {
        snprintf(errstr, size, "topic %s has %d partitions", rd->topic, rd->nparts);
        return -1;
    }
    rd->hi = calloc((size_t)rd->nparts, sizeof(*rd->hi));
    rd->lo = calloc((size_t)rd->nparts, sizeof(*rd->lo));
    rd->done = calloc((size_t)rd->nparts, sizeof(*rd->done));
    l = rd_kafka_topic_partition_list_new(rd->nparts);
    if (!rd->hi || !rd->lo || !rd->done || !l) {
        snprintf(errstr, size, "out of memory");
        goto out;
    }
    for (int32_t p = 0; p < rd->nparts; p++)
        rd->done[p] = true; /* until listed with messages */
    for (int i = 0; i < mt->partition_cnt; i++) {
        int32_t p = mt->partitions[i].id;
        int64_t lo, hi;
        if (p < 0 || p >= rd->nparts)
            continue;
        err = rd_kafka_query_watermark_offsets(rd->rk, rd->topic, p, &lo, &hi, META_TIMEOUT_MS);
        if (err) {
            snprintf(errstr, size, "could not read the offsets of %s partition %d: %s", rd->topic,
                     p, rd_kafka_err2str(err));
            goto out;
        }
        rd->hi[p] = hi;
        rd->lo[p] = lo;
        if (hi <= lo)
            continue;
        rd->done[p] = false;
        rd->left++;
        rd->total += hi - lo;
        rd_kafka_topic_partition_list_add(l, rd->topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    }
    if (l->cnt && (err = rd_kafka_assign(rd->rk, l))) {
        snprintf(errstr, size, "could not assign %s: %s", rd->topic, rd_kafka_err2str(err));
        goto out;
    }
    rc = 0;
out:
    if (l)
        rd_kafka_topic_partition_list_destroy(l);
    return rc;
}

int32_t aac_dlqreader_partitions(const aac_dlqreader_t *rd)
{
    return rd->nparts;
}

const int64_t *aac_dlqreader_starts(const aac_dlqreader_t *rd)
{
    return rd->lo;
}

int64_t aac_dlqreader_total(const aac_dlqreader_t *rd)
{
    return rd->total;
}

bool aac_dlqreader_topic_exists(const aac_dlqreader_t *rd, const char *topic)
{
    return find_topic(rd, topic) != NULL;
}

bool aac_dlqreader_done(const aac_dlqreader_t *rd)
{
    return rd->left <= 0;
}

static void mark_done(aac_dlqreader_t *rd, int32_t p)
{
    if (p >= 0 && p < rd->nparts && !rd->done[p]) {
        rd->done[p] = true;
        rd->left--;
    }
}

int aac_dlqreader_next(aac_dlqreader_t *rd, int timeout_ms, rd_kafka_message_t **out, char *errstr,
                       size_t size)
{
    *out = NULL;
    if (!rd->polled) {
        rd->polled = true;
        rd->idle_since = aac_mono_ms();
    }
    rd_kafka_message_t *rkm = rd_kafka_consumer_poll(rd->rk, timeout_ms);
    if (!rkm) {
        if (aac_mono_ms() - rd->idle_since > IDLE_TIMEOUT_MS) {
            snprintf(errstr, size,
                     "could not read %s: nothing received for %d s with %" PRId32
                     " partition(s) unfinished (broker unreachable?)",
                     rd->topic, IDLE_TIMEOUT_MS / 1000, rd->left);
            return -1;
        }
        return 0;
    }
    rd->idle_since = aac_mono_ms();
    if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        mark_done(rd, rkm->partition);
    } else if (rkm->err) {
        aac_class_t cls = aac_classify_kafka(rkm->err);
        if (cls == AAC_CLASS_FATAL || rkm->err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
            rkm->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
            snprintf(errstr, size, "could not read %s: %s", rd->topic,
                     rd_kafka_message_errstr(rkm));
            rd_kafka_message_destroy(rkm);
            return -1;
        }
        aac_warn("kafka error while reading", AAC_KV_STR("topic", rd->topic),
                 AAC_KV_STR("error", rd_kafka_err2name(rkm->err)));
    } else if (rkm->partition >= 0 && rkm->partition < rd->nparts && !rd->done[rkm->partition]) {
        if (rkm->offset + 1 >= rd->hi[rkm->partition])
            mark_done(rd, rkm->partition);
        *out = rkm; /* the caller's now */
        return 1;
    }
    rd_kafka_message_destroy(rkm);
    return 1;
}

rd_kafka_resp_err_t aac_dlqreader_committed(aac_dlqreader_t *rd, rd_kafka_topic_partition_list_t *l)
{
    return rd_kafka_committed(rd->rk, l, META_TIMEOUT_MS);
}

rd_kafka_resp_err_t aac_dlqreader_commit(aac_dlqreader_t *rd,
                                         const rd_kafka_topic_partition_list_t *l)
{
    return rd_kafka_commit(rd->rk, l, 0);
}

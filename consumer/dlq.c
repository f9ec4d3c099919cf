/*
 * dlq: dead letters, produced idempotently and tracked until committed.
 *
 * Each record is heap-allocated and passed to librdkafka as the message's
 * opaque, so the delivery report can mark it. A record forgotten while its
 * message is still in flight becomes an orphan and is freed by the report.
 * Records are found through a hash of (topic, partition, offset): a batch
 * of poison messages looks each of them up on every pass. A dead letter
 * goes to kafka.dlq_topic, or, when that is empty, to "<topic>.dlq" of its
 * source topic.
 *
 * Failed deliveries are logged one by one only for the first of every
 * DR_LOG_INTERVAL_MS, then counted, and the count logged by
 * aac_dlq_poll(): a batch of thousands of invalid events meeting an
 * unreachable dead-letter topic gives a few lines, not one per message.
 * Each is also counted, whichever thread served its report, until the
 * owner takes the count for its metrics (aac_dlq_take_failed): the module
 * knows no metrics, and calls nobody back.
 *
 * The headers a dead letter gets are built by aac_dlq_headers_add() from
 * a plain struct, without a message or a producer, so tests can check
 * them; their names are spelled once, in aac_dlq_headers.
 */
#include "aac/dlq.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aac/clock.h"
#include "aac/kafkaconf.h"
#include "aac/log.h"
#include "aac/mem.h"
#include "aac/rfc3339.h"
#include "aac/utf8.h"

#define DR_LOG_INTERVAL_MS 10000

typedef struct rec_s {
    char *topic; /* the source topic */
    uint64_t topic_hash;
    int32_t partition;
    int64_t offset;
    aac_dlq_state_t state;
    bool orphan;
} rec_t;

struct aac_dlq_s {
    rd_kafka_t *rk;
    /* the records: writer threads send and confirm, the consume thread
     * forgets, librdkafka's delivery reports come from whoever polls */
    pthread_mutex_t lock;
    char *topic; /* kafka.dlq_topic; "": each source topic's "<topic>.dlq" */
    char *group;
    rec_t **rec;
    size_t cnt, cap;
    rec_t **slot; /* open addressing, linear probing, at most half full */
    size_t slot_cnt;
    int last_err;
    int64_t dr_logged_ms;    /* when a failed delivery was last logged, 0: never */
    unsigned dr_unlogged;    /* failed deliveries since then, not logged */
    int dr_unlogged_err;     /* the error of the last of them */
    _Atomic uint64_t failed; /* failed deliveries not yet taken (aac_dlq_take_failed) */
};

static void rec_free(rec_t *r)
{
    if (r)
        free(r->topic);
    free(r);
}

static uint64_t topic_hash(const char *t)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *t; t++)
        h = (h ^ (unsigned char)*t) * 0x100000001b3ULL;
    return h;
}

static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
    aac_dlq_t *dlq = opaque;
    rec_t *r = rkm->_private;
    (void)rk;
    if (!r)
        return;
    pthread_mutex_lock(&dlq->lock);
    if (r->orphan) {
        rec_free(r);
    } else if (rkm->err) {
        r->state = AAC_DLQ_FAILED;
        dlq->last_err = rkm->err;
        atomic_fetch_add_explicit(&dlq->failed, 1, memory_order_relaxed);
        int64_t now = aac_mono_ms();
        if (dlq->dr_logged_ms && now - dlq->dr_logged_ms < DR_LOG_INTERVAL_MS) {
            dlq->dr_unlogged++; /* logged by aac_dlq_poll() */
            dlq->dr_unlogged_err = rkm->err;
        } else {
            dlq->dr_logged_ms = now;
            aac_warn("dead letter not delivered", AAC_KV_STR("topic", r->topic),
                     AAC_KV_INT("partition", r->partition), AAC_KV_INT("offset", r->offset),
                     AAC_KV_STR("error", rd_kafka_err2name(rkm->err)));
        }
    } else {
        r->state = AAC_DLQ_DELIVERED;
        dlq->last_err = 0;
    }
    pthread_mutex_unlock(&dlq->lock);
}

/* Logs the failed deliveries counted since the last line, at most once
 * every DR_LOG_INTERVAL_MS (always when `now` is 0). */
static void log_unlogged(aac_dlq_t *dlq, int64_t now)
{
    if (!dlq->dr_unlogged || (now && now - dlq->dr_logged_ms < DR_LOG_INTERVAL_MS))
        return;
    aac_warn("dead letters not delivered", AAC_KV_UINT("count", dlq->dr_unlogged),
             AAC_KV_STR("error", rd_kafka_err2name((rd_kafka_resp_err_t)dlq->dr_unlogged_err)));
    dlq->dr_unlogged = 0;
    dlq->dr_logged_ms = now ? now : aac_mono_ms();
}

/* Served by rd_kafka_poll() (aac_dlq_poll) on the consume thread. A fatal
 * error is read with rd_kafka_fatal_error() by aac_dlq_fatal(), and
 * reported by the caller as it stops (librdkafka logs its detail when it
 * is raised). The others (a broker unreachable, all brokers down) are
 * transient, retried by librdkafka, which sends an identical one at most
 * every 30 s per broker. */
static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL)
        return;
    aac_warn("dead-letter producer error",
             AAC_KV_STR("error", rd_kafka_err2name((rd_kafka_resp_err_t)err)),
             AAC_KV_STR("detail", reason));
}

aac_dlq_t *aac_dlq_new(const aac_config_t *cfg, char *errstr, size_t errstr_size)
{
    aac_dlq_t *dlq = calloc(1, sizeof(*dlq));
    rd_kafka_conf_t *conf = NULL;
    char err[512];

    if (dlq)
        pthread_mutex_init(&dlq->lock, NULL);
    if (!dlq || !(dlq->topic = strdup(cfg->kafka.dlq_topic)) ||
        !(dlq->group = strdup(cfg->kafka.group_id))) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    /* idempotent with acks=all, whatever the properties say */
    if (!(conf = aac_kafkaconf_producer(cfg, errstr, errstr_size)))
        goto fail;
    rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    rd_kafka_conf_set_opaque(conf, dlq);
    dlq->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!dlq->rk) {
        snprintf(errstr, errstr_size, "could not create the dead-letter producer: %.400s", err);
        goto fail;
    }
    return dlq;
fail:
    if (conf && !(dlq && dlq->rk))
        rd_kafka_conf_destroy(conf);
    aac_dlq_destroy(dlq);
    return NULL;
}

void aac_dlq_destroy(aac_dlq_t *dlq)
{
    if (!dlq)
        return;
    for (size_t i = 0; i < dlq->cnt; i++) {
        if (dlq->rec[i]->state == AAC_DLQ_IN_FLIGHT)
            dlq->rec[i]->orphan = true; /* freed by its delivery report */
        else
            rec_free(dlq->rec[i]);
    }
    dlq->cnt = 0;
    if (dlq->rk) {
        rd_kafka_flush(dlq->rk, 2000);
        rd_kafka_purge(dlq->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(dlq->rk, 100); /* serve the purged messages' reports */
        rd_kafka_destroy(dlq->rk);
    }
    log_unlogged(dlq, 0);
    free(dlq->rec);
    free(dlq->slot);
    free(dlq->topic);
    free(dlq->group);
    pthread_mutex_destroy(&dlq->lock);
    free(dlq);
}

static size_t slot_of(const aac_dlq_t *dlq, uint64_t th, int32_t partition, int64_t offset)
{
    uint64_t h = (uint64_t)offset * UINT64_C(0x9E3779B97F4A7C15) ^
                 (uint64_t)(uint32_t)partition * UINT64_C(0xC2B2AE3D27D4EB4F) ^ th;
    h ^= h >> 31;
    return (size_t)h & (dlq->slot_cnt - 1);
}

static void index_put(aac_dlq_t *dlq, rec_t *r)
{
    size_t i = slot_of(dlq, r->topic_hash, r->partition, r->offset);
    while (dlq->slot[i])
        i = (i + 1) & (dlq->slot_cnt - 1);
    dlq->slot[i] = r;
}

/* Re-indexes every record, in a table of `slots` (0: the current size). */
static int index_rebuild(aac_dlq_t *dlq, size_t slots)
{
    if (slots) {
        rec_t **n = calloc(slots, sizeof(*n));
        if (!n)
            return -1;
        free(dlq->slot);
        dlq->slot = n;
        dlq->slot_cnt = slots;
    } else if (dlq->slot_cnt) {
        memset(dlq->slot, 0, dlq->slot_cnt * sizeof(*dlq->slot));
    } else {
        return 0; /* no table yet, so no record either */
    }
    for (size_t i = 0; i < dlq->cnt; i++)
        index_put(dlq, dlq->rec[i]);
    return 0;
}

static rec_t *find(const aac_dlq_t *dlq, const char *topic, int32_t partition, int64_t offset)
{
    if (!dlq->slot_cnt)
        return NULL;
    uint64_t th = topic_hash(topic);
    for (size_t i = slot_of(dlq, th, partition, offset); dlq->slot[i];
         i = (i + 1) & (dlq->slot_cnt - 1)) {
        const rec_t *r = dlq->slot[i];
        if (r->partition == partition && r->offset == offset && r->topic_hash == th &&
            !strcmp(r->topic, topic))
            return dlq->slot[i];
    }
    return NULL;
}

aac_dlq_state_t aac_dlq_state(const aac_dlq_t *dlq, const char *topic, int32_t partition,
                              int64_t offset)
{
    aac_dlq_t *d = (aac_dlq_t *)dlq; /* the lock only */
    pthread_mutex_lock(&d->lock);
    const rec_t *r = find(dlq, topic, partition, offset);
    aac_dlq_state_t st = r ? r->state : AAC_DLQ_UNKNOWN;
    pthread_mutex_unlock(&d->lock);
    return st;
}

const aac_dlq_header_info_t aac_dlq_headers[AAC_DLQ_H__CNT] = {
    [AAC_DLQ_H_ORIGINAL_TOPIC] = {"aac.original.topic", "original_topic", false},
    [AAC_DLQ_H_ORIGINAL_PARTITION] = {"aac.original.partition", "original_partition", true},
    [AAC_DLQ_H_ORIGINAL_OFFSET] = {"aac.original.offset", "original_offset", true},
    [AAC_DLQ_H_ORIGINAL_TIMESTAMP] = {"aac.original.timestamp", "original_timestamp", true},
    [AAC_DLQ_H_CONSUMER_GROUP] = {"aac.consumer.group", "consumer_group", false},
    [AAC_DLQ_H_ERROR_CLASS] = {"aac.error.class", "class", false},
    [AAC_DLQ_H_ERROR_REASON] = {"aac.error.reason", "reason", false},
    [AAC_DLQ_H_ERROR_PATH] = {"aac.error.path", "path", false},
    [AAC_DLQ_H_ERROR_MESSAGE] = {"aac.error.message", "message", false},
    [AAC_DLQ_H_ATTEMPTS] = {"aac.attempts", "attempts", true},
    [AAC_DLQ_H_FAILED_AT] = {"aac.failed.at", "failed_at", false},
    [AAC_DLQ_H_SERVICE_VERSION] = {"aac.service.version", "service_version", false},
};

/* The length of s cut to at most `max` bytes without splitting a UTF-8
 * character (a byte that begins none counts as one). */
static size_t cut_len(const char *s, size_t max)
{
    size_t n = strlen(s), i = 0;
    if (n <= max)
        return n;
    while (i < n) {
        size_t k = aac_utf8_len((const unsigned char *)s + i, n - i);
        if (i + (k ? k : 1) > max)
            break;
        i += k ? k : 1;
    }
    return i;
}

static void add_str(rd_kafka_headers_t *h, aac_dlq_header_t which, const char *value, size_t max)
{
    if (!value)
        value = "";
    rd_kafka_header_add(h, aac_dlq_headers[which].name, -1, value, (ssize_t)cut_len(value, max));
}

static void add_int(rd_kafka_headers_t *h, aac_dlq_header_t which, int64_t value)
{
    char num[24];
    snprintf(num, sizeof(num), "%" PRId64, value);
    rd_kafka_header_add(h, aac_dlq_headers[which].name, -1, num, -1);
}

void aac_dlq_headers_add(rd_kafka_headers_t *h, const aac_dlq_letter_t *l)
{
    char ts[AAC_RFC3339_SIZE];
    add_str(h, AAC_DLQ_H_ORIGINAL_TOPIC, l->topic, SIZE_MAX);
    add_int(h, AAC_DLQ_H_ORIGINAL_PARTITION, l->partition);
    add_int(h, AAC_DLQ_H_ORIGINAL_OFFSET, l->offset);
    add_int(h, AAC_DLQ_H_ORIGINAL_TIMESTAMP, l->timestamp_ms);
    add_str(h, AAC_DLQ_H_CONSUMER_GROUP, l->group, SIZE_MAX);
    add_str(h, AAC_DLQ_H_ERROR_CLASS, aac_class_str(l->why.cls), SIZE_MAX);
    add_str(h, AAC_DLQ_H_ERROR_REASON, aac_reason_str(l->why.reason), SIZE_MAX);
    add_str(h, AAC_DLQ_H_ERROR_PATH, l->why.path, AAC_DLQ_TEXT_MAX);
    add_str(h, AAC_DLQ_H_ERROR_MESSAGE, l->why.message, AAC_DLQ_TEXT_MAX);
    add_int(h, AAC_DLQ_H_ATTEMPTS, l->why.attempts);
    aac_rfc3339_format(l->failed_at_us, 3, ts);
    add_str(h, AAC_DLQ_H_FAILED_AT, ts, SIZE_MAX);
    add_str(h, AAC_DLQ_H_SERVICE_VERSION, l->version, SIZE_MAX);
}

/* A new record of (topic, partition, offset), indexed, in state
 * AAC_DLQ_UNKNOWN; NULL when out of memory. */
static rec_t *rec_add(aac_dlq_t *dlq, const char *topic, int32_t partition, int64_t offset)
{
    rec_t *r;
    if (aac_grow((void **)&dlq->rec, &dlq->cap, dlq->cnt + 1, sizeof(*dlq->rec)) != 0)
        return NULL;
    if ((dlq->cnt + 1) * 2 > dlq->slot_cnt &&
        index_rebuild(dlq, dlq->slot_cnt ? dlq->slot_cnt * 2 : 128) != 0)
        return NULL;
    if (!(r = calloc(1, sizeof(*r))) || !(r->topic = strdup(topic))) {
        free(r);
        return NULL;
    }
    r->topic_hash = topic_hash(topic);
    r->partition = partition;
    r->offset = offset;
    dlq->rec[dlq->cnt++] = r;
    index_put(dlq, r);
    return r;
}

static int send_locked(aac_dlq_t *dlq, const rd_kafka_message_t *rkm, const aac_dlq_reason_t *why)
{
    const char *source = rd_kafka_topic_name(rkm->rkt);
    rec_t *r = find(dlq, source, rkm->partition, rkm->offset);
    rd_kafka_headers_t *orig = NULL, *h;
    rd_kafka_timestamp_type_t tstype;
    char own[300];

    if (r && (r->state == AAC_DLQ_IN_FLIGHT || r->state == AAC_DLQ_DELIVERED))
        return 0;
    if (!r && !(r = rec_add(dlq, source, rkm->partition, rkm->offset)))
        return RD_KAFKA_RESP_ERR__FAIL;
    /* the source's own "<topic>.dlq" when kafka.dlq_topic is empty */
    if (!*dlq->topic)
        snprintf(own, sizeof(own), "%s.dlq", source);
    const char *target = *dlq->topic ? dlq->topic : own;

    /* the original headers first, then where the message came from and why */
    if (rd_kafka_message_headers(rkm, &orig) == RD_KAFKA_RESP_ERR_NO_ERROR && orig)
        h = rd_kafka_headers_copy(orig);
    else
        h = rd_kafka_headers_new(AAC_DLQ_H__CNT);
    aac_dlq_letter_t l = {.topic = source,
                          .partition = rkm->partition,
                          .offset = rkm->offset,
                          .timestamp_ms = rd_kafka_message_timestamp(rkm, &tstype),
                          .group = dlq->group,
                          .why = *why,
                          .failed_at_us = aac_now_us(),
                          .version = AAC_VERSION};
    aac_dlq_headers_add(h, &l);

    rd_kafka_resp_err_t err = rd_kafka_producev(
        dlq->rk, RD_KAFKA_V_TOPIC(target), RD_KAFKA_V_KEY(rkm->key, rkm->key_len),
        RD_KAFKA_V_VALUE(rkm->payload, rkm->len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE(r), RD_KAFKA_V_END);
    if (err) {
        rd_kafka_headers_destroy(h); /* not taken on failure */
        r->state = AAC_DLQ_FAILED;
        dlq->last_err = err;
        return err;
    }
    r->state = AAC_DLQ_IN_FLIGHT;
    return 0;
}

int aac_dlq_send(aac_dlq_t *dlq, const rd_kafka_message_t *rkm, const aac_dlq_reason_t *why)
{
    pthread_mutex_lock(&dlq->lock);
    int err = send_locked(dlq, rkm, why);
    pthread_mutex_unlock(&dlq->lock);
    return err;
}

void aac_dlq_poll(aac_dlq_t *dlq, int timeout_ms)
{
    rd_kafka_poll(dlq->rk, timeout_ms);
    pthread_mutex_lock(&dlq->lock);
    log_unlogged(dlq, aac_mono_ms());
    pthread_mutex_unlock(&dlq->lock);
}

void aac_dlq_forget(aac_dlq_t *dlq, const char *topic, int32_t partition, int64_t next_offset)
{
    size_t o = 0;
    pthread_mutex_lock(&dlq->lock);
    for (size_t i = 0; i < dlq->cnt; i++) {
        rec_t *r = dlq->rec[i];
        bool all = !topic;
        if (all ||
            (r->partition == partition && r->offset < next_offset && !strcmp(r->topic, topic))) {
            if (r->state == AAC_DLQ_IN_FLIGHT)
                r->orphan = true;
            else
                rec_free(r);
            continue;
        }
        dlq->rec[o++] = r;
    }
    dlq->cnt = o;
    index_rebuild(dlq, 0); /* same size: cannot fail */
    pthread_mutex_unlock(&dlq->lock);
}

uint64_t aac_dlq_take_failed(aac_dlq_t *dlq)
{
    return atomic_exchange_explicit(&dlq->failed, 0, memory_order_relaxed);
}

int aac_dlq_last_error(const aac_dlq_t *dlq)
{
    aac_dlq_t *d = (aac_dlq_t *)dlq; /* the lock only */
    pthread_mutex_lock(&d->lock);
    int err = dlq->last_err;
    pthread_mutex_unlock(&d->lock);
    return err;
}

const char *aac_dlq_fatal_hint(int err)
{
    switch ((rd_kafka_resp_err_t)err) {
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
        return "allow the consumer's Kafka principal IdempotentWrite on the cluster and Write on "
               "the dead-letter topic, then restart";
    case RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE:
        return "the brokers do not support idempotent producers: use Kafka 0.11 or later";
    default:
        /* sequence desynchronization, unknown producer id, fenced: the
         * broker and this producer no longer agree on what was written */
        return "restart the service: a new dead-letter producer sends the dead letters not yet "
               "committed again (one may appear twice on the dead-letter topic)";
    }
}

int aac_dlq_fatal(const aac_dlq_t *dlq, char *errstr, size_t errstr_size, const char **hint)
{
    char why[512];
    rd_kafka_resp_err_t err = rd_kafka_fatal_error(dlq->rk, why, sizeof(why));
    if (!err)
        return 0;
    if (errstr && errstr_size)
        snprintf(errstr, errstr_size,
                 "cannot send dead letters: fatal error of the dead-letter producer: %s: %s",
                 rd_kafka_err2name(err), why);
    if (hint)
        *hint = aac_dlq_fatal_hint((int)err);
    return (int)err;
}

/*
 * fetchwake: wakes librdkafka's fetchers when its queue runs low (see
 * fetchwake.h for why, and why through the SASL credentials).
 */
#include "aac/fetchwake.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CRED_MAX 1024 /* longer credentials: no wakes (never seen in practice) */

struct aac_fetchwake_s {
    int interval_ms;
    size_t bound;        /* queued.max.messages.kbytes, in bytes */
    bool known;          /* the credentials to give back are known */
    char user[CRED_MAX]; /* sasl.username as configured, "" when unset */
    char pass[CRED_MAX]; /* sasl.password: a secret, never logged; wiped on destroy */
    rd_kafka_t *rk;      /* borrowed */
    rd_kafka_queue_t *q; /* the consumer's queue, held while attached */
    int64_t checked_ms;  /* the queue's length was last read then */
    bool checked_once;
};

/* `name`'s value in `conf` into buf ("" when unset); false when it does
 * not fit. */
static bool get(const rd_kafka_conf_t *conf, const char *name, char *buf, size_t size)
{
    size_t n = size;
    buf[0] = '\0';
    if (rd_kafka_conf_get(conf, name, buf, &n) != RD_KAFKA_CONF_OK)
        return false;
    return n <= size;
}

aac_fetchwake_t *aac_fetchwake_new(const rd_kafka_conf_t *conf, int interval_ms)
{
    aac_fetchwake_t *fw = calloc(1, sizeof(*fw));
    if (!fw)
        return NULL;
    fw->interval_ms = interval_ms;
    char proto[64], kb[32];
    fw->bound = get(conf, "queued.max.messages.kbytes", kb, sizeof(kb))
                    ? (size_t)strtoull(kb, NULL, 10) * 1024
                    : 0;
    if (!get(conf, "security.protocol", proto, sizeof(proto)))
        return fw;
    bool user = get(conf, "sasl.username", fw->user, sizeof(fw->user));
    bool pass = get(conf, "sasl.password", fw->pass, sizeof(fw->pass));
    if (strncasecmp(proto, "sasl", 4) != 0) {
        /* no SASL: the credentials are never used, and stay unset */
        fw->user[0] = fw->pass[0] = '\0';
        fw->known = true;
    } else {
        /* given back unchanged, or not at all */
        fw->known = user && pass && fw->user[0] && fw->pass[0];
    }
    return fw;
}

bool aac_fetchwake_enabled(const aac_fetchwake_t *fw)
{
    return fw && fw->known && fw->interval_ms > 0;
}

void aac_fetchwake_attach(aac_fetchwake_t *fw, rd_kafka_t *rk)
{
    aac_fetchwake_detach(fw);
    fw->rk = rk;
    if (aac_fetchwake_enabled(fw))
        fw->q = rd_kafka_queue_get_consumer(rk);
}

void aac_fetchwake_detach(aac_fetchwake_t *fw)
{
    if (!fw)
        return;
    if (fw->q)
        rd_kafka_queue_destroy(fw->q);
    fw->q = NULL;
    fw->rk = NULL;
}

size_t aac_fetchwake_low(const aac_fetchwake_t *fw, size_t mean_bytes)
{
    size_t low = fw->bound / 2 / (mean_bytes ? mean_bytes : 1024);
    return low ? low : 1; /* an empty queue always wants the fetchers */
}

bool aac_fetchwake_tick(aac_fetchwake_t *fw, int64_t now_ms, uint64_t took, uint64_t took_bytes)
{
    if (!fw || !fw->q)
        return false;
    /* the length takes the queue's lock: read once an interval, not per
     * message */
    if (fw->checked_once && now_ms - fw->checked_ms < fw->interval_ms)
        return false;
    fw->checked_ms = now_ms;
    fw->checked_once = true;
    size_t mean = took ? (size_t)(took_bytes / took) : 0;
    if (rd_kafka_queue_length(fw->q) >= aac_fetchwake_low(fw, mean))
        return false;
    rd_kafka_error_t *err = rd_kafka_sasl_set_credentials(fw->rk, fw->user, fw->pass);
    if (err) { /* only refused for NULL arguments, which these are not */
        rd_kafka_error_destroy(err);
        return false;
    }
    return true;
}

void aac_fetchwake_destroy(aac_fetchwake_t *fw)
{
    if (!fw)
        return;
    aac_fetchwake_detach(fw);
    explicit_bzero(fw->pass, sizeof(fw->pass));
    explicit_bzero(fw->user, sizeof(fw->user));
    free(fw);
}

/*
 * kstats: librdkafka statistics JSON to per-partition consumer lag and
 * broker reachability (see kstats.h).
 *
 * The document is a few kilobytes every statistics.interval.ms (5 s by
 * default), so yajl's tree parser is plenty; the hot path (events) uses the
 * SAX parser in event.c instead.
 *
 *   brokers.<name>.{nodeid, state, source}
 *   topics.<topic>.partitions.<id>.consumer_lag   (-1: unknown)
 *
 * Partition "-1" is librdkafka's unassigned-partition placeholder; the
 * "logical" GroupCoordinator and "internal" brokers are not connections of
 * their own and are not counted.
 */
#include "aac/kstats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_tree.h>

static yajl_val member(yajl_val obj, const char *key)
{
    if (!YAJL_IS_OBJECT(obj))
        return NULL;
    for (size_t i = 0; i < obj->u.object.len; i++)
        if (!strcmp(obj->u.object.keys[i], key))
            return obj->u.object.values[i];
    return NULL;
}

static const char *string_of(yajl_val v)
{
    const char *s = YAJL_IS_STRING(v) ? YAJL_GET_STRING(v) : NULL;
    return s ? s : "";
}

static void read_brokers(yajl_val brokers, aac_kstats_t *out)
{
    if (!YAJL_IS_OBJECT(brokers))
        return;
    for (size_t i = 0; i < brokers->u.object.len; i++) {
        yajl_val b = brokers->u.object.values[i];
        const char *src = string_of(member(b, "source"));
        if (strcmp(src, "configured") && strcmp(src, "learned"))
            continue;
        out->brokers++;
        if (!strcmp(string_of(member(b, "state")), "UP"))
            out->brokers_up++;
    }
}

static void read_partitions(const char *topic, yajl_val parts, aac_kstats_t *out)
{
    if (!YAJL_IS_OBJECT(parts))
        return;
    for (size_t i = 0; i < parts->u.object.len && out->lag_cnt < AAC_KSTATS_MAX_PARTITIONS; i++) {
        yajl_val p = parts->u.object.values[i];
        yajl_val id = member(p, "partition"), lag = member(p, "consumer_lag");
        if (!YAJL_IS_INTEGER(id) || !YAJL_IS_INTEGER(lag))
            continue;
        long long pid = YAJL_GET_INTEGER(id), l = YAJL_GET_INTEGER(lag);
        if (pid < 0 || pid > INT32_MAX || l < 0)
            continue;
        aac_kstats_lag_t *e = &out->lag[out->lag_cnt++];
        snprintf(e->topic, sizeof(e->topic), "%s", topic);
        e->partition = (int32_t)pid;
        e->lag = (int64_t)l;
    }
}

int aac_kstats_parse(const char *json, size_t len, const char *topic, aac_kstats_t *out,
                     char *errstr, size_t errstr_size)
{
    char perr[128];
    int rc = -1;
    yajl_val root = NULL;
    /* yajl_tree_parse wants a NUL-terminated string */
    char *text = malloc(len + 1);

    memset(out, 0, sizeof(*out));
    if (!text) {
        snprintf(errstr, errstr_size, "could not parse statistics: out of memory");
        return -1;
    }
    memcpy(text, json, len);
    text[len] = '\0';
    perr[0] = '\0';
    root = yajl_tree_parse(text, perr, sizeof(perr));
    if (!root) {
        for (char *c = perr; *c; c++)
            if (*c == '\n')
                *c = ' ';
        snprintf(errstr, errstr_size, "could not parse statistics: %s",
                 perr[0] ? perr : "invalid JSON");
        goto out;
    }
    if (!YAJL_IS_OBJECT(root) || !member(root, "brokers")) {
        snprintf(errstr, errstr_size, "could not parse statistics: not a statistics object");
        goto out;
    }
    read_brokers(member(root, "brokers"), out);
    yajl_val topics = member(root, "topics");
    if (topic) {
        read_partitions(topic, member(member(topics, topic), "partitions"), out);
    } else if (YAJL_IS_OBJECT(topics)) {
        for (size_t i = 0; i < topics->u.object.len; i++)
            read_partitions(topics->u.object.keys[i],
                            member(topics->u.object.values[i], "partitions"), out);
    }
    rc = 0;
out:
    yajl_tree_free(root);
    free(text);
    return rc;
}

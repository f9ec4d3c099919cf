/*
 * config: loading and checking the configuration.
 *
 * `params` below is the single description of every key. From it come the
 * libcyaml schema (built at load time: each section is a mapping whose
 * fields are loaded as strings), the defaults, the bounds, the environment
 * variable names and the redaction of secrets. Values are converted and
 * checked here rather than by libcyaml so that every error, wherever the
 * value came from (file, environment, default), reads the same way and
 * names the key, the file and the line.
 *
 * libcyaml 1.3 has no free-form mappings, so the librdkafka property maps
 * are declared CYAML_IGNORE in the schema and read by a pass with libyaml,
 * run before libcyaml's, which also records each key's line, catches
 * duplicate keys (libcyaml keeps the last one silently) and reports
 * malformed YAML with its line.
 *
 * Order of work (aac_config_load): defaults, the file (load_file: the
 * libyaml pass, then the libcyaml pass), the environment (apply_env),
 * then the checks that need every source (check_required,
 * check_properties, check_liveness, settle_dlq_topic). librdkafka's own
 * judgement of the properties is kafkaconf's (aac_kafkaconf_check), as
 * this module does not link librdkafka.
 */
#include "aac/config.h"
#include "aac/secretfile.h"
#include "aac/utf8.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cyaml/cyaml.h>
#include <yaml.h>

extern char **environ;

typedef enum {
    P_STRING,
    P_INT,
    P_DOUBLE,
    P_BOOL,
    P_LOGLEVEL,
    P_LOGFORMAT,
    P_FRAMING,
    P_MAP
} ptype_t;

#define F_SECRET   0x1 /* never printed */
#define F_REQUIRED 0x2 /* may not be empty */

typedef struct param_s {
    const char *section;
    const char *key;
    ptype_t type;
    size_t offset;
    const char *def;
    double min, max;
    unsigned flags;
} param_t;

#define OFF(f) offsetof(aac_config_t, f)

/* The documentation of each key lives in config/agent-actions-consumer.yaml;
 * test_config checks that file against this table. */
static const param_t params[] = {
    {"kafka", "bootstrap_servers", P_STRING, OFF(kafka.bootstrap_servers), "localhost:9092", 0, 0,
     F_REQUIRED},
    {"kafka", "group_id", P_STRING, OFF(kafka.group_id), "agent-actions-consumer", 0, 0,
     F_REQUIRED},
    {"kafka", "topic", P_STRING, OFF(kafka.topic), "agent-actions", 0, 0, F_REQUIRED},
    {"kafka", "dlq_topic", P_STRING, OFF(kafka.dlq_topic), "", 0, 0, 0},
    {"kafka", "properties", P_MAP, OFF(kafka.properties), NULL, 0, 0, 0},
    {"kafka", "consumer_properties", P_MAP, OFF(kafka.consumer_properties), NULL, 0, 0, 0},
    {"kafka", "producer_properties", P_MAP, OFF(kafka.producer_properties), NULL, 0, 0, 0},
    {"kafka", "fetch_wake_ms", P_INT, OFF(kafka.fetch_wake_ms), "20", 0, 1000, 0},
    {"postgres", "host", P_STRING, OFF(postgres.host), "", 0, 0, 0},
    {"postgres", "port", P_INT, OFF(postgres.port), "0", 0, 65535, 0},
    {"postgres", "dbname", P_STRING, OFF(postgres.dbname), "", 0, 0, 0},
    {"postgres", "user", P_STRING, OFF(postgres.user), "", 0, 0, 0},
    {"postgres", "password", P_STRING, OFF(postgres.password), "", 0, 0, F_SECRET},
    {"postgres", "password_file", P_STRING, OFF(postgres.password_file), "", 0, 0, 0},
    {"postgres", "sslmode", P_STRING, OFF(postgres.sslmode), "", 0, 0, 0},
    /* a connection URI, below each key above that has a value (pgconn.h) */
    {"postgres", "uri", P_STRING, OFF(postgres.uri), "", 0, 0, F_SECRET},
    {"postgres", "uri_file", P_STRING, OFF(postgres.uri_file), "", 0, 0, 0},
    {"postgres", "sslrootcert", P_STRING, OFF(postgres.sslrootcert), "", 0, 0, 0},
    {"postgres", "sslcert", P_STRING, OFF(postgres.sslcert), "", 0, 0, 0},
    {"postgres", "sslkey", P_STRING, OFF(postgres.sslkey), "", 0, 0, 0},
    {"postgres", "sslcrl", P_STRING, OFF(postgres.sslcrl), "", 0, 0, 0},
    {"postgres", "application_name", P_STRING, OFF(postgres.application_name),
     "agent-actions-consumer", 0, 0, 0},
    {"postgres", "connect_timeout_s", P_INT, OFF(postgres.connect_timeout_s), "10", 1, 3600, 0},
    {"postgres", "statement_timeout_ms", P_INT, OFF(postgres.statement_timeout_ms), "60000", 0,
     86400000, 0},
    {"postgres", "lock_timeout_ms", P_INT, OFF(postgres.lock_timeout_ms), "10000", 0, 86400000, 0},
    /* Linux caps TCP_KEEPIDLE and TCP_KEEPINTVL at 32767 s, TCP_KEEPCNT at 127 */
    {"postgres", "keepalives_idle_s", P_INT, OFF(postgres.keepalives_idle_s), "10", 1, 32767, 0},
    {"postgres", "keepalives_interval_s", P_INT, OFF(postgres.keepalives_interval_s), "5", 1, 32767,
     0},
    {"postgres", "keepalives_count", P_INT, OFF(postgres.keepalives_count), "3", 1, 127, 0},
    {"postgres", "tcp_user_timeout_ms", P_INT, OFF(postgres.tcp_user_timeout_ms), "20000", 0,
     3600000, 0},
    {"postgres", "binary_copy", P_BOOL, OFF(postgres.binary_copy), "true", 0, 0, 0},
    /* "": the directory installed with the binary (aac_migrate_default_dir) */
    {"postgres", "migrations_dir", P_STRING, OFF(postgres.migrations_dir), "", 0, 0, 0},
    {"batch", "max_events", P_INT, OFF(batch.max_events), "5000", 1, 1000000, 0},
    {"batch", "max_bytes", P_INT, OFF(batch.max_bytes), "16777216", 65536, 1073741824, 0},
    {"batch", "linger_ms", P_INT, OFF(batch.linger_ms), "0", 0, 60000, 0},
    {"batch", "writers", P_INT, OFF(batch.writers), "2", 1, 8, 0},
    {"batch", "max_in_flight", P_INT, OFF(batch.max_in_flight), "2", 1, 16, 0},
    {"retry", "max_attempts", P_INT, OFF(retry.max_attempts), "5", 1, 1000, 0},
    {"retry", "initial_backoff_ms", P_INT, OFF(retry.initial_backoff_ms), "100", 1, 3600000, 0},
    {"retry", "multiplier", P_DOUBLE, OFF(retry.multiplier), "2", 1, 100, 0},
    {"retry", "max_backoff_ms", P_INT, OFF(retry.max_backoff_ms), "30000", 1, 3600000, 0},
    {"retry", "jitter", P_BOOL, OFF(retry.jitter), "true", 0, 0, 0},
    {"event", "max_message_bytes", P_INT, OFF(event.max_message_bytes), "1048576", 1024,
     64 * 1024 * 1024, 0},
    {"event", "max_depth", P_INT, OFF(event.max_depth), "32", 1, 1000, 0},
    {"event", "framing", P_FRAMING, OFF(event.framing), "auto", 0, 0, 0},
    {"http", "enabled", P_BOOL, OFF(http.enabled), "true", 0, 0, 0},
    {"http", "address", P_STRING, OFF(http.address), "0.0.0.0", 0, 0, F_REQUIRED},
    {"http", "port", P_INT, OFF(http.port), "8080", 0, 65535, 0},
    /* above the longest legal wait: aac_config_longest_wait_ms */
    {"http", "liveness_timeout_ms", P_INT, OFF(http.liveness_timeout_ms), "90000", 100, 90000000,
     0},
    {"http", "request_timeout_ms", P_INT, OFF(http.request_timeout_ms), "5000", 100, 600000, 0},
    {"log", "level", P_LOGLEVEL, OFF(log.level), "info", 0, 0, 0},
    {"log", "format", P_LOGFORMAT, OFF(log.format), "logfmt", 0, 0, 0},
    {"service", "shutdown_timeout_ms", P_INT, OFF(service.shutdown_timeout_ms), "10000", 100,
     600000, 0},
    {"partitions", "months_ahead", P_INT, OFF(partitions.months_ahead), "3", 0, 120, 0},
    {"partitions", "retention_months", P_INT, OFF(partitions.retention_months), "0", 0, 1200, 0},
    {"partitions", "upkeep_interval_s", P_INT, OFF(partitions.upkeep_interval_s), "21600", 1,
     604800, 0},
    {"memory", "max_mb", P_INT, OFF(memory.max_mb), "64", 16, 65536, 0},
    {"rollups", "enabled", P_BOOL, OFF(rollups.enabled), "true", 0, 0, 0},
    {"rollups", "retention_months", P_INT, OFF(rollups.retention_months), "60", 0, 1200, 0},
};
#define PARAM_CNT (sizeof(params) / sizeof(params[0]))

/* Property names that hold secrets, matched as substrings. */
static const char *const secret_words[] = {"password", "secret", "key", "token",
                                           "oauthbearer.config"};

/* Where a scalar came from, for error messages. */
typedef struct origin_s {
    const char *file; /* NULL: default or environment */
    const char *env;  /* the variable, when from the environment */
    size_t line;      /* 0 when unknown */
} origin_t;

/* What the libyaml pass learned about the file. */
typedef struct yaml_index_s {
    size_t line[PARAM_CNT]; /* line of each key, 0 when absent */
    struct {
        char path[128]; /* "section" or "section.key" */
        size_t line;
    } keys[128]; /* every key of the first two levels, for unknown-key errors */
    size_t key_cnt;
} yaml_index_t;

static size_t index_line(const yaml_index_t *idx, const char *path)
{
    for (size_t i = 0; i < idx->key_cnt; i++)
        if (!strcmp(idx->keys[i].path, path))
            return idx->keys[i].line;
    return 0;
}

static void errf(char *errstr, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void errf(char *errstr, size_t size, const char *fmt, ...)
{
    va_list ap;
    if (!size)
        return;
    va_start(ap, fmt);
    vsnprintf(errstr, size, fmt, ap);
    va_end(ap);
}

static void where(char *buf, size_t size, const origin_t *o)
{
    if (o->env)
        snprintf(buf, size, "environment variable %s", o->env);
    else if (o->file && o->line)
        snprintf(buf, size, "%s:%zu", o->file, o->line);
    else if (o->file)
        snprintf(buf, size, "%s", o->file);
    else
        snprintf(buf, size, "built-in default");
}

/* --- property lists ------------------------------------------------------ */

const char *aac_kvlist_get(const aac_kvlist_t *l, const char *key)
{
    for (size_t i = 0; i < l->cnt; i++)
        if (strcmp(l->kv[i].key, key) == 0)
            return l->kv[i].value;
    return NULL;
}

/* Sets key to value, replacing an earlier value (environment over file). */
static int kvlist_set(aac_kvlist_t *l, const char *key, const char *value)
{
    char *v = strdup(value);
    if (!v)
        return -1;
    for (size_t i = 0; i < l->cnt; i++) {
        if (strcmp(l->kv[i].key, key) == 0) {
            free(l->kv[i].value);
            l->kv[i].value = v;
            return 0;
        }
    }
    aac_kv_t *kv = realloc(l->kv, (l->cnt + 1) * sizeof(*kv));
    if (!kv) {
        free(v);
        return -1;
    }
    l->kv = kv;
    l->kv[l->cnt].file = NULL;
    l->kv[l->cnt].key = strdup(key);
    if (!l->kv[l->cnt].key) {
        free(v);
        return -1;
    }
    l->kv[l->cnt].value = v;
    l->cnt++;
    return 0;
}

static void kvlist_free(aac_kvlist_t *l)
{
    for (size_t i = 0; i < l->cnt; i++) {
        free(l->kv[i].key);
        if (l->kv[i].file) /* a secret from a file: wiped */
            aac_secretfile_free(l->kv[i].value);
        else
            free(l->kv[i].value);
        free(l->kv[i].file);
    }
    free(l->kv);
    l->kv = NULL;
    l->cnt = 0;
}

bool aac_config_is_secret_property(const char *name)
{
    for (size_t i = 0; i < sizeof(secret_words) / sizeof(secret_words[0]); i++)
        if (strstr(name, secret_words[i]))
            return true;
    return false;
}

/* --- typed conversion ----------------------------------------------------- */

/* One setter per type: parses text into dst, or says in `why` what was
 * wrong with it (convert adds where the value came from and its key).
 * SET_NOMEM: out of memory, which is no fault of the value. */
#define SET_NOMEM (-2)

typedef int (*setter_t)(const param_t *p, const char *text, void *dst, char *why, size_t n);

static int set_string(const param_t *p, const char *text, void *dst, char *why, size_t n)
{
    char **sp = dst;
    if ((p->flags & F_REQUIRED) && !*text) {
        snprintf(why, n, "a value is required");
        return -1;
    }
    char *s = strdup(text);
    if (!s)
        return SET_NOMEM;
    free(*sp);
    *sp = s;
    return 0;
}

static int set_int(const param_t *p, const char *text, void *dst, char *why, size_t n)
{
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (!*text || *end || errno || isspace((unsigned char)*text)) {
        snprintf(why, n, "expected an integer, got \"%.40s\"", text);
        return -1;
    }
    if ((double)v < p->min || (double)v > p->max) {
        snprintf(why, n, "%lld is out of range (%.0f to %.0f)", v, p->min, p->max);
        return -1;
    }
    *(int *)dst = (int)v;
    return 0;
}

static int set_double(const param_t *p, const char *text, void *dst, char *why, size_t n)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (!*text || *end || errno || !isfinite(v) || isspace((unsigned char)*text)) {
        snprintf(why, n, "expected a number, got \"%.40s\"", text);
        return -1;
    }
    if (v < p->min || v > p->max) {
        snprintf(why, n, "%g is out of range (%g to %g)", v, p->min, p->max);
        return -1;
    }
    *(double *)dst = v;
    return 0;
}

static int set_bool(const param_t *p, const char *text, void *dst, char *why, size_t n)
{
    static const char *const words[2][4] = {{"false", "no", "off", "0"},
                                            {"true", "yes", "on", "1"}};
    (void)p;
    for (int v = 0; v < 2; v++) {
        for (int i = 0; i < 4; i++) {
            if (!strcmp(text, words[v][i])) {
                *(bool *)dst = v;
                return 0;
            }
        }
    }
    snprintf(why, n, "expected true or false, got \"%.40s\"", text);
    return -1;
}

static int set_loglevel(const param_t *p, const char *text, void *dst, char *why, size_t n)
{
    (void)p;
    if (aac_log_level_parse(text, dst) != 0) {
        snprintf(why, n, "expected one of debug, info, warn, error, off, got \"%.40s\"", text);
        return -1;
    }
    return 0;
}

static int set_logformat(const param_t *p, const char *text, void *dst, char *why, size_t n)
{
    (void)p;
    if (aac_log_format_parse(text, dst) != 0) {
        snprintf(why, n, "expected logfmt or json, got \"%.40s\"", text);
        return -1;
    }
    return 0;
}

static int set_framing(const param_t *p, const char *text, void *dst, char *why, size_t n)
{
    (void)p;
    if (aac_event_framing_parse(text, dst) != 0) {
        snprintf(why, n, "expected auto, none or confluent, got \"%.40s\"", text);
        return -1;
    }
    return 0;
}

/* P_MAP has none: property maps are filled entry by entry (kvlist_set). */
static const setter_t setters[] = {
    [P_STRING] = set_string,   [P_INT] = set_int,           [P_DOUBLE] = set_double,
    [P_BOOL] = set_bool,       [P_LOGLEVEL] = set_loglevel, [P_LOGFORMAT] = set_logformat,
    [P_FRAMING] = set_framing,
};

/* Sets parameter p of cfg from text, which came from o. */
static int convert(aac_config_t *cfg, const param_t *p, const char *text, const origin_t *o,
                   char *errstr, size_t size)
{
    char loc[512], why[256];
    if (p->type == P_MAP)
        return 0;
    int rc = setters[p->type](p, text, (char *)cfg + p->offset, why, sizeof(why));
    if (rc == SET_NOMEM) {
        errf(errstr, size, "config: out of memory");
    } else if (rc != 0) {
        where(loc, sizeof(loc), o);
        errf(errstr, size, "config: %s: %s.%s: %s", loc, p->section, p->key, why);
    }
    return rc ? -1 : 0;
}

/* --- the libyaml pass ----------------------------------------------------- */

static const param_t *param_find(const char *section, const char *key)
{
    for (size_t i = 0; i < PARAM_CNT; i++)
        if (!strcmp(params[i].section, section) && !strcmp(params[i].key, key))
            return &params[i];
    return NULL;
}

/* Where the libyaml pass is in the document. Mappings nest: depth 1 holds
 * the sections, depth 2 their keys, depth 3 a property map's entries;
 * whatever lies deeper, or in a sequence, is skipped (libcyaml reports it
 * when it is not allowed there). */
typedef struct walk_s {
    aac_config_t *cfg;
    const char *path;
    yaml_index_t *idx;
    char *errstr;
    size_t size;
    int depth;             /* mapping depth */
    bool expect_key[4];    /* per depth: the next scalar is a key */
    int skip;              /* nesting inside a value we do not look into */
    char section[128];     /* the current key at depth 1 */
    char key[128];         /* ... at depth 2 */
    char seen[3][64][128]; /* keys seen at depths 1 to 3, for duplicates */
    size_t seen_cnt[3];
    const param_t *map; /* the property map whose entries depth 3 holds */
    char mapkey[256];   /* the current property name */
} walk_t;

/* The key `v` at line `line`: refused when seen before in its mapping. */
static int walk_check_duplicate(walk_t *w, const char *v, size_t line)
{
    int d = w->depth;
    for (size_t i = 0; i < w->seen_cnt[d - 1]; i++) {
        if (!strcmp(w->seen[d - 1][i], v)) {
            errf(w->errstr, w->size, "config: %s:%zu: %s%s%s%s%s: duplicate key", w->path, line,
                 d > 1 ? w->section : "", d > 1 ? "." : "", d > 2 ? w->key : "", d > 2 ? "." : "",
                 v);
            return -1;
        }
    }
    if (w->seen_cnt[d - 1] < 64)
        snprintf(w->seen[d - 1][w->seen_cnt[d - 1]++], 128, "%s", v);
    return 0;
}

static int walk_key(walk_t *w, const char *v, size_t line)
{
    yaml_index_t *idx = w->idx;
    w->expect_key[w->depth] = false;
    if (walk_check_duplicate(w, v, line) != 0)
        return -1;
    if (w->depth <= 2 && idx->key_cnt < sizeof(idx->keys) / sizeof(idx->keys[0])) {
        bool sub = w->depth == 2;
        snprintf(idx->keys[idx->key_cnt].path, sizeof(idx->keys[0].path), "%.60s%s%.60s",
                 sub ? w->section : v, sub ? "." : "", sub ? v : "");
        idx->keys[idx->key_cnt++].line = line;
    }
    if (w->depth == 1) {
        snprintf(w->section, sizeof(w->section), "%s", v);
    } else if (w->depth == 2) {
        snprintf(w->key, sizeof(w->key), "%s", v);
        const param_t *p = param_find(w->section, w->key);
        if (p)
            idx->line[p - params] = line;
        w->map = p && p->type == P_MAP ? p : NULL;
    } else {
        snprintf(w->mapkey, sizeof(w->mapkey), "%s", v);
        if (w->map && !*v) {
            errf(w->errstr, w->size, "config: %s:%zu: %s.%s: empty property name", w->path, line,
                 w->section, w->key);
            return -1;
        }
    }
    return 0;
}

/* A property's value is given to librdkafka, which takes strings only. */
static int walk_not_scalar(walk_t *w, size_t line, const char *got)
{
    errf(w->errstr, w->size,
         "config: %s:%zu: %s.%s.%s: wrong type: expected a scalar value, got a %s", w->path, line,
         w->section, w->key, w->mapkey, got);
    return -1;
}

/* A property map given something else than a mapping (libcyaml ignores
 * the maps, so nothing else would say so). */
static int walk_not_map(walk_t *w, size_t line, const char *got)
{
    errf(w->errstr, w->size, "config: %s:%zu: %s.%s: wrong type: expected a mapping, got a %s",
         w->path, line, w->section, w->key, got);
    return -1;
}

static bool is_null(const yaml_event_t *ev)
{
    const char *v = (const char *)ev->data.scalar.value;
    return ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
           (!*v || !strcmp(v, "~") || !strcmp(v, "null"));
}

static int walk_value(walk_t *w, const yaml_event_t *ev, size_t line)
{
    const char *v = (const char *)ev->data.scalar.value;
    if (w->depth == 2 && w->map && !is_null(ev))
        return walk_not_map(w, line, "scalar");
    if (w->depth == 3 && w->map) {
        aac_kvlist_t *l = (aac_kvlist_t *)(void *)((char *)w->cfg + w->map->offset);
        if (kvlist_set(l, w->mapkey, v) != 0) {
            errf(w->errstr, w->size, "config: out of memory");
            return -1;
        }
    }
    if (w->depth > 0)
        w->expect_key[w->depth] = true;
    return 0;
}

static int walk_event(walk_t *w, const yaml_event_t *ev)
{
    size_t line = ev->start_mark.line + 1;
    if (w->skip) {
        if (ev->type == YAML_MAPPING_START_EVENT || ev->type == YAML_SEQUENCE_START_EVENT)
            w->skip++;
        else if (ev->type == YAML_MAPPING_END_EVENT || ev->type == YAML_SEQUENCE_END_EVENT)
            w->skip--;
        return 0;
    }
    switch (ev->type) {
    case YAML_MAPPING_START_EVENT:
        if (w->depth >= 3) {
            if (w->map)
                return walk_not_scalar(w, line, "mapping");
            w->skip = 1;
            w->expect_key[w->depth] = true;
            return 0;
        }
        w->depth++;
        w->expect_key[w->depth] = true;
        w->seen_cnt[w->depth - 1] = 0;
        return 0;
    case YAML_MAPPING_END_EVENT:
        if (w->depth == 3)
            w->map = NULL;
        w->depth--;
        if (w->depth > 0)
            w->expect_key[w->depth] = true;
        return 0;
    case YAML_SEQUENCE_START_EVENT:
        if (w->map && w->depth == 2 && !w->expect_key[2])
            return walk_not_map(w, line, "sequence");
        if (w->map && w->depth == 3 && !w->expect_key[3])
            return walk_not_scalar(w, line, "sequence");
        w->skip = 1;
        if (w->depth > 0)
            w->expect_key[w->depth] = true;
        return 0;
    case YAML_SCALAR_EVENT: {
        const char *v = (const char *)ev->data.scalar.value;
        if (w->depth == 0 || !w->expect_key[w->depth])
            return walk_value(w, ev, line);
        return walk_key(w, v, line);
    }
    default:
        return 0;
    }
}

/* Walks the document: records each known key's line, rejects duplicate
 * keys, and loads the property maps into cfg. Runs before the libcyaml
 * pass, so that malformed YAML is reported with its line. */
static int yaml_pass(aac_config_t *cfg, const char *path, FILE *fp, yaml_index_t *idx, char *errstr,
                     size_t size)
{
    yaml_parser_t parser;
    yaml_event_t ev;
    walk_t *w = calloc(1, sizeof(*w));
    int rc = 0;

    if (!w || !yaml_parser_initialize(&parser)) {
        free(w);
        errf(errstr, size, "config: out of memory");
        return -1;
    }
    w->cfg = cfg;
    w->path = path;
    w->idx = idx;
    w->errstr = errstr;
    w->size = size;
    yaml_parser_set_input_file(&parser, fp);
    for (;;) {
        if (!yaml_parser_parse(&parser, &ev)) {
            errf(errstr, size, "config: %s:%zu: malformed YAML: %s", path,
                 parser.problem_mark.line + 1, parser.problem ? parser.problem : "parse error");
            rc = -1;
            break;
        }
        bool end = ev.type == YAML_STREAM_END_EVENT;
        if (!end)
            rc = walk_event(w, &ev);
        yaml_event_delete(&ev);
        if (end || rc != 0)
            break;
    }
    yaml_parser_delete(&parser);
    free(w);
    return rc;
}

/* --- the libcyaml pass ---------------------------------------------------- */

typedef struct schema_s {
    cyaml_schema_field_t *top_fields;
    cyaml_schema_field_t *sec_fields[PARAM_CNT]; /* per section, NULL-key terminated */
    const char *sections[PARAM_CNT];
    size_t sec_cnt;
    size_t sec_size[PARAM_CNT]; /* fields per section (params, incl. maps) */
    cyaml_schema_value_t top;
    cyaml_schema_value_t str;
} schema_t;

static size_t section_index(const schema_t *s, const char *name)
{
    for (size_t i = 0; i < s->sec_cnt; i++)
        if (strcmp(s->sections[i], name) == 0)
            return i;
    return SIZE_MAX;
}

static void schema_free(schema_t *s)
{
    for (size_t i = 0; i < s->sec_cnt; i++)
        free(s->sec_fields[i]);
    free(s->top_fields);
}

/* Builds a schema in which section i loads into an array of char *, one per
 * parameter of that section in table order; maps are ignored here. */
static int schema_build(schema_t *s)
{
    memset(s, 0, sizeof(*s));
    s->str.type = CYAML_STRING;
    s->str.flags = CYAML_FLAG_POINTER;
    s->str.data_size = 1;
    s->str.string.min = 0;
    s->str.string.max = CYAML_UNLIMITED;

    for (size_t i = 0; i < PARAM_CNT; i++) {
        if (section_index(s, params[i].section) == SIZE_MAX)
            s->sections[s->sec_cnt++] = params[i].section;
    }
    s->top_fields = calloc(s->sec_cnt + 1, sizeof(*s->top_fields));
    if (!s->top_fields)
        return -1;
    for (size_t si = 0; si < s->sec_cnt; si++) {
        size_t n = 0;
        for (size_t i = 0; i < PARAM_CNT; i++)
            if (strcmp(params[i].section, s->sections[si]) == 0)
                n++;
        s->sec_fields[si] = calloc(n + 1, sizeof(cyaml_schema_field_t));
        if (!s->sec_fields[si])
            return -1;
        s->sec_size[si] = n;
        size_t j = 0;
        for (size_t i = 0; i < PARAM_CNT; i++) {
            if (strcmp(params[i].section, s->sections[si]) != 0)
                continue;
            cyaml_schema_field_t *f = &s->sec_fields[si][j];
            f->key = params[i].key;
            f->data_offset = (uint32_t)(j * sizeof(char *));
            if (params[i].type == P_MAP) {
                f->value.type = CYAML_IGNORE;
                f->value.flags = CYAML_FLAG_OPTIONAL;
            } else {
                f->value = s->str;
                f->value.flags = CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL;
            }
            j++;
        }
        cyaml_schema_field_t *t = &s->top_fields[si];
        t->key = s->sections[si];
        t->data_offset = (uint32_t)(si * sizeof(void *));
        t->value.type = CYAML_MAPPING;
        t->value.flags = CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL;
        t->value.data_size = (uint32_t)(n * sizeof(char *));
        t->value.mapping.fields = s->sec_fields[si];
    }
    s->top.type = CYAML_MAPPING;
    s->top.flags = CYAML_FLAG_POINTER;
    s->top.data_size = (uint32_t)(s->sec_cnt * sizeof(void *));
    s->top.mapping.fields = s->top_fields;
    return 0;
}

/* --- libcyaml's errors ------------------------------------------------------ */

/* libcyaml reports an error only as text, through its log callback: a
 * message ("Load: Unexpected key: x") followed by a backtrace of the fields
 * it was in, innermost first ("in mapping field 'x' (line: 2, column: 3)").
 * cyaml_log_cb keeps the message and the innermost field with its line;
 * cyaml_error turns them into the line every other error has,
 * "config: FILE:LINE: KEY: what is wrong", taking full key paths from the
 * libyaml pass's index. Scraping text is fragile, so every case falls back
 * to libcyaml's own words, and test_config covers each one. */
typedef struct cylog_s {
    char msg[256];
    char field[128];
    size_t line;
    bool have_line;
} cylog_t;

#define CY_UNEXPECTED_KEY "Unexpected key: "

static void cyaml_log_cb(cyaml_log_t level, void *ctx, const char *fmt, va_list args)
{
    cylog_t *cl = ctx;
    char buf[512];
    if (level < CYAML_LOG_ERROR)
        return;
    vsnprintf(buf, sizeof(buf), fmt, args);
    buf[strcspn(buf, "\n")] = '\0';
    const char *in = strstr(buf, "in mapping field '");
    if (in) {
        size_t line = 0, col = 0;
        const char *ln = strstr(in, "(line: ");
        if (ln && sscanf(ln, "(line: %zu, column: %zu)", &line, &col) >= 1 && !cl->have_line) {
            /* the first backtrace entry is the innermost field */
            const char *name = in + strlen("in mapping field '");
            size_t len = strcspn(name, "'");
            snprintf(cl->field, sizeof(cl->field), "%.*s", (int)len, name);
            cl->line = line;
            cl->have_line = true;
        }
        return;
    }
    if (strstr(buf, "in mapping") || strstr(buf, "in sequence") || strstr(buf, "Backtrace"))
        return;
    if (!cl->msg[0]) {
        const char *m = strncmp(buf, "Load: ", 6) == 0 ? buf + 6 : buf;
        snprintf(cl->msg, sizeof(cl->msg), "%.*s", (int)(sizeof(cl->msg) - 1), m);
    }
}

/* "Unexpected key: x": names the key by its full path, at its own line. */
static void cyaml_unknown_key(char *errstr, size_t size, const char *path, const yaml_index_t *idx,
                              const cylog_t *cl)
{
    char kp[200];
    const char *uk = cl->msg + strlen(CY_UNEXPECTED_KEY);
    if (cl->have_line)
        snprintf(kp, sizeof(kp), "%.60s.%.120s", cl->field, uk);
    else
        snprintf(kp, sizeof(kp), "%.120s", uk);
    size_t ln = index_line(idx, kp);
    if (ln)
        errf(errstr, size, "config: %s:%zu: %s: unknown key", path, ln, kp);
    else
        errf(errstr, size, "config: %s: %s: unknown key", path, kp);
}

/* libcyaml names the innermost field, at the line of the value it refused:
 * the key of that name at that line, or else the nearest one above it
 * (a mapping value starts below its key), gives its full path and line. */
static const char *cyaml_field(const yaml_index_t *idx, const cylog_t *cl, size_t *line)
{
    const char *full = cl->field;
    *line = cl->line;
    for (size_t k = 0, best = 0; k < idx->key_cnt; k++) {
        const char *kp = idx->keys[k].path, *dot = strchr(kp, '.');
        size_t ln = idx->keys[k].line;
        if (strcmp(dot ? dot + 1 : kp, cl->field) != 0 || ln > cl->line || ln < best)
            continue;
        best = *line = ln;
        full = kp;
    }
    return full;
}

static void cyaml_error(char *errstr, size_t size, const char *path, const yaml_index_t *idx,
                        const cylog_t *cl, cyaml_err_t err)
{
    if (!strncmp(cl->msg, CY_UNEXPECTED_KEY, strlen(CY_UNEXPECTED_KEY))) {
        cyaml_unknown_key(errstr, size, path, idx, cl);
    } else if (cl->have_line) {
        size_t line;
        const char *full = cyaml_field(idx, cl, &line);
        const char *what = cyaml_strerror(err);
        if (err == CYAML_ERR_INVALID_VALUE || err == CYAML_ERR_UNEXPECTED_EVENT)
            what = strchr(full, '.') ? "wrong type: expected a scalar value here"
                                     : "wrong type: expected a mapping here";
        errf(errstr, size, "config: %s:%zu: %s: %s", path, line, full, what);
    } else if (strstr(cl->msg, "Expecting MAPPING")) {
        errf(errstr, size,
             "config: %s:1: wrong type: the document must be a mapping of sections "
             "(kafka, postgres, batch, ...)",
             path);
    } else {
        errf(errstr, size, "config: %s: %s%s%s", path, cyaml_strerror(err), cl->msg[0] ? ": " : "",
             cl->msg);
    }
}

/* Converts the strings libcyaml loaded, section by section, in table order
 * (the schema's layout). */
static int convert_doc(aac_config_t *cfg, const schema_t *schema, void **doc, const char *path,
                       const yaml_index_t *idx, char *errstr, size_t size)
{
    for (size_t si = 0; doc && si < schema->sec_cnt; si++) {
        char **sec = doc[si];
        size_t j = 0;
        if (!sec)
            continue;
        for (size_t i = 0; i < PARAM_CNT; i++) {
            if (strcmp(params[i].section, schema->sections[si]) != 0)
                continue;
            if (params[i].type != P_MAP && sec[j]) {
                origin_t o = {.file = path, .line = idx->line[i]};
                if (convert(cfg, &params[i], sec[j], &o, errstr, size) != 0)
                    return -1;
            }
            j++;
        }
    }
    return 0;
}

/* Loads the file's scalars with libcyaml, through the schema derived from
 * the table, and converts them. */
static int cyaml_pass(aac_config_t *cfg, const char *path, const yaml_index_t *idx, char *errstr,
                      size_t size)
{
    schema_t schema;
    cylog_t cl = {0};
    const cyaml_config_t cc = {
        .log_fn = cyaml_log_cb,
        .log_ctx = &cl,
        .mem_fn = cyaml_mem,
        .log_level = CYAML_LOG_ERROR,
        .flags = CYAML_CFG_DEFAULT,
    };
    void **doc = NULL;
    int rc = -1;

    if (schema_build(&schema) != 0) {
        errf(errstr, size, "config: out of memory");
    } else {
        cyaml_err_t err = cyaml_load_file(path, &cc, &schema.top, (void **)&doc, NULL);
        if (err != CYAML_OK)
            cyaml_error(errstr, size, path, idx, &cl, err);
        else
            rc = convert_doc(cfg, &schema, doc, path, idx, errstr, size);
    }
    if (doc)
        cyaml_free(&cc, &schema.top, doc, 0);
    schema_free(&schema);
    return rc;
}

/* Sets *blank when fp holds nothing but white space: a valid configuration
 * of defaults (libyaml and libcyaml see no document in it). -1 when fp
 * cannot be read (a directory opens, but reads fail). */
static int read_blank(FILE *fp, bool *blank)
{
    int c;
    while ((c = fgetc(fp)) != EOF)
        if (!isspace(c))
            break;
    if (ferror(fp))
        return -1;
    rewind(fp);
    *blank = c == EOF;
    return 0;
}

/* Reads the file at path into cfg: libyaml first (malformed YAML and
 * duplicate keys get their line; the property maps), then libcyaml. */
static int load_file(aac_config_t *cfg, const char *path, yaml_index_t *idx, char *errstr,
                     size_t size)
{
    FILE *fp = fopen(path, "r");
    bool blank = false;
    int rc = 0;
    if (!fp || read_blank(fp, &blank) != 0) {
        errf(errstr, size, "config: cannot read %s: %s", path, strerror(errno));
        if (fp)
            fclose(fp);
        return -1;
    }
    if (!blank) {
        rc = yaml_pass(cfg, path, fp, idx, errstr, size);
        if (rc == 0)
            rc = cyaml_pass(cfg, path, idx, errstr, size);
    }
    fclose(fp);
    return rc;
}

/* --- defaults and the environment ------------------------------------------ */

static void env_name(char *buf, size_t size, const char *section, const char *key)
{
    size_t o = (size_t)snprintf(buf, size, "AAC_%s_%s", section, key);
    for (size_t i = 0; i < o && i < size; i++)
        buf[i] = (char)toupper((unsigned char)buf[i]);
}

/* Applies AAC_<SECTION>_<KEY> variables and AAC_KAFKA_*PROPERTIES_<NAME>.
 * An AAC_ variable under a known section that names no key is an error: a
 * typo must not silently leave a default in force. */
static int apply_env(aac_config_t *cfg, char *errstr, size_t size)
{
    char name[256];
    for (char **e = environ; *e; e++) {
        const char *var = *e;
        const char *eq = strchr(var, '=');
        if (!eq || strncmp(var, "AAC_", 4) != 0)
            continue;
        size_t nlen = (size_t)(eq - var);
        const char *val = eq + 1;
        bool section_known = false, matched = false;
        for (size_t i = 0; i < PARAM_CNT && !matched; i++) {
            const param_t *p = &params[i];
            char prefix[64];
            env_name(prefix, sizeof(prefix), p->section, "");
            if (nlen > strlen(prefix) && !strncmp(var, prefix, strlen(prefix)))
                section_known = true;
            env_name(name, sizeof(name), p->section, p->key);
            if (p->type == P_MAP) {
                size_t pl = strlen(name);
                if (nlen > pl + 1 && !strncmp(var, name, pl) && var[pl] == '_') {
                    char prop[256];
                    size_t k = 0;
                    for (const char *c = var + pl + 1; c < eq && k + 1 < sizeof(prop); c++)
                        prop[k++] = *c == '_' ? '.' : (char)tolower((unsigned char)*c);
                    prop[k] = '\0';
                    /* ..._FILE: the property NAME_file (a secret from a file) */
                    if (k > 5 && !strcmp(prop + k - 5, ".file"))
                        prop[k - 5] = '_';
                    aac_kvlist_t *l = (aac_kvlist_t *)(void *)((char *)cfg + p->offset);
                    if (kvlist_set(l, prop, val) != 0) {
                        errf(errstr, size, "config: out of memory");
                        return -1;
                    }
                    matched = true;
                }
                continue;
            }
            if (strlen(name) == nlen && !strncmp(var, name, nlen)) {
                origin_t o = {.env = name};
                if (convert(cfg, p, val, &o, errstr, size) != 0)
                    return -1;
                matched = true;
            }
        }
        if (!matched && section_known) {
            errf(errstr, size, "config: environment variable %.*s: unknown setting", (int)nlen,
                 var);
            return -1;
        }
    }
    return 0;
}

const char *const aac_config_forced_consumer[AAC_CONFIG_FORCED_CONSUMER_CNT][2] = {
    {"enable.auto.commit", "false"},
    {"enable.auto.offset.store", "false"},
};

const char *const aac_config_forced_producer[AAC_CONFIG_FORCED_PRODUCER_CNT][2] = {
    {"enable.idempotence", "true"},
    {"acks", "all"},
};

/* Refuses, in `l` (named `list`), a forced setting with another value than
 * its own (compared without case: librdkafka reads "False" as false). */
static int check_forced(const aac_kvlist_t *l, const char *list, const char *const (*forced)[2],
                        size_t cnt, const char *why, char *errstr, size_t size)
{
    for (size_t i = 0; i < cnt; i++) {
        const char *v = aac_kvlist_get(l, forced[i][0]);
        if (v && strcasecmp(v, forced[i][1]) != 0) {
            errf(errstr, size, "config: kafka.%s: %s cannot be changed: %s, which needs %s=%s",
                 list, forced[i][0], why, forced[i][0], forced[i][1]);
            return -1;
        }
    }
    return 0;
}

static int check_properties(aac_config_t *cfg, char *errstr, size_t size)
{
    static const char consumer_why[] = "offsets are stored in PostgreSQL with the rows",
                      producer_why[] = "a dead letter is written once and durably";
    const aac_kvlist_t *lists[] = {&cfg->kafka.properties, &cfg->kafka.consumer_properties,
                                   &cfg->kafka.producer_properties};
    static const char *const names[] = {"properties", "consumer_properties", "producer_properties"};
    for (size_t l = 0; l < 3; l++) {
        if (l != 2 && check_forced(lists[l], names[l], aac_config_forced_consumer,
                                   AAC_CONFIG_FORCED_CONSUMER_CNT, consumer_why, errstr, size))
            return -1;
        if (l != 1 && check_forced(lists[l], names[l], aac_config_forced_producer,
                                   AAC_CONFIG_FORCED_PRODUCER_CNT, producer_why, errstr, size))
            return -1;
        for (const char *const *k = (const char *const[]){"bootstrap.servers", "group.id", NULL};
             l != 2 && *k; k++) {
            if (aac_kvlist_get(lists[l], *k)) {
                errf(errstr, size, "config: kafka: set %s with kafka.%s, not as a property", *k,
                     !strcmp(*k, "group.id") ? "group_id" : "bootstrap_servers");
                return -1;
            }
        }
    }
    return 0;
}

static int apply_defaults(aac_config_t *cfg, char *errstr, size_t size)
{
    const origin_t o = {0};
    for (size_t i = 0; i < PARAM_CNT; i++)
        if (convert(cfg, &params[i], params[i].def, &o, errstr, size) != 0)
            return -1;
    return 0;
}

/* Required values may come from any source: checked once all are applied. */
static int check_required(const aac_config_t *cfg, const char *path, const yaml_index_t *idx,
                          char *errstr, size_t size)
{
    for (size_t i = 0; i < PARAM_CNT; i++) {
        const param_t *p = &params[i];
        if (p->type != P_STRING || !(p->flags & F_REQUIRED) ||
            **(char *const *)(const void *)((const char *)cfg + p->offset))
            continue;
        char envn[128];
        env_name(envn, sizeof(envn), p->section, p->key);
        if (path && idx->line[i])
            errf(errstr, size, "config: %s:%zu: %s.%s: a value is required", path, idx->line[i],
                 p->section, p->key);
        else
            errf(errstr, size, "config: %s.%s: a value is required (or set %s)", p->section, p->key,
                 envn);
        return -1;
    }
    return 0;
}

int64_t aac_config_longest_wait_ms(const aac_config_t *cfg, const char **which)
{
    /* A host that vanished: a call waiting for an answer ends when the
     * keepalive probes go unanswered (the first after idle, then one every
     * interval, count of them); with tcp_user_timeout set, Linux drops the
     * connection once it has heard nothing for that long, at a probe, and
     * data not acknowledged after that long. */
    int64_t idle = (int64_t)cfg->postgres.keepalives_idle_s * 1000,
            interval = (int64_t)cfg->postgres.keepalives_interval_s * 1000,
            user = cfg->postgres.tcp_user_timeout_ms;
    int64_t vanished = user ? idle + interval : idle + interval * cfg->postgres.keepalives_count;
    bool by_user = user && user >= vanished;
    if (by_user)
        vanished = user;
    const struct {
        int64_t ms;
        const char *name;
    } waits[] = {
        {cfg->postgres.statement_timeout_ms, "postgres.statement_timeout_ms"},
        {(int64_t)cfg->postgres.connect_timeout_s * 1000, "postgres.connect_timeout_s"},
        {vanished, by_user ? "postgres.tcp_user_timeout_ms" : "postgres.keepalives_*"},
        {AAC_CONFIG_DEAD_LETTER_WAIT_MS, "the wait for a batch's dead letters"},
    };
    size_t longest = 0;
    for (size_t i = 1; i < sizeof(waits) / sizeof(waits[0]); i++)
        if (waits[i].ms > waits[longest].ms)
            longest = i;
    if (which)
        *which = waits[longest].name;
    return waits[longest].ms;
}

/* /health must not fail while the service waits as it may: a liveness
 * probe would kill it in the middle of a legal write. */
static int check_liveness(const aac_config_t *cfg, char *errstr, size_t size)
{
    const char *which;
    int64_t wait = aac_config_longest_wait_ms(cfg, &which);
    int64_t need = wait + AAC_CONFIG_LIVENESS_MARGIN_MS;
    if (cfg->http.liveness_timeout_ms >= need)
        return 0;
    bool setting = !strncmp(which, "postgres.", 9);
    errf(errstr, size,
         "config: http.liveness_timeout_ms: %d is below %" PRId64 ": the service may wait %" PRId64
         " ms in one call (%s), and /health must not fail meanwhile; raise it%s%s",
         cfg->http.liveness_timeout_ms, need, wait, which, setting ? ", or lower " : "",
         setting ? which : "");
    return -1;
}

/* A topic name Kafka accepts: 1 to 249 of [a-zA-Z0-9._-], not "." or "..". */
static bool topic_name_ok(const char *t)
{
    size_t n = strlen(t);
    if (!n || n > 249 || !strcmp(t, ".") || !strcmp(t, ".."))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)t[i]) && !strchr("._-", t[i]))
            return false;
    return true;
}

/* kafka.topic: one or more topics and ^regex patterns (librdkafka's
 * subscription), comma-separated, each trimmed. */
static int split_topics(aac_config_t *cfg, char *errstr, size_t size)
{
    const char *p = cfg->kafka.topic;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        while (n && isspace((unsigned char)*p)) {
            p++;
            n--;
        }
        while (n && isspace((unsigned char)p[n - 1]))
            n--;
        if (!n) {
            errf(errstr, size, "config: kafka.topic: an empty entry in \"%s\"", cfg->kafka.topic);
            return -1;
        }
        if (cfg->kafka.topic_cnt >= AAC_CONFIG_MAX_TOPICS) {
            errf(errstr, size, "config: kafka.topic: more than %d topics and patterns",
                 AAC_CONFIG_MAX_TOPICS);
            return -1;
        }
        char *t = strndup(p, n);
        char **l = realloc(cfg->kafka.topics, (cfg->kafka.topic_cnt + 1) * sizeof(*l));
        if (!t || !l) {
            free(t);
            if (l)
                cfg->kafka.topics = l;
            errf(errstr, size, "config: out of memory");
            return -1;
        }
        cfg->kafka.topics = l;
        l[cfg->kafka.topic_cnt++] = t;
        if (t[0] != '^' && !topic_name_ok(t)) {
            errf(errstr, size,
                 "config: kafka.topic: \"%s\" is not a topic name (1 to 249 of a-z, A-Z, 0-9, "
                 "'.', '_', '-'; a regular expression begins with '^')",
                 t);
            return -1;
        }
        if (t[0] == '^' && n < 2) {
            errf(errstr, size, "config: kafka.topic: \"^\" alone is no pattern");
            return -1;
        }
        p = end ? end + 1 : p + n;
    }
    if (!cfg->kafka.topic_cnt) {
        errf(errstr, size, "config: kafka.topic: no topic given");
        return -1;
    }
    return 0;
}

/* kafka.dlq_topic "" stands for "<topic>.dlq" of each source topic (fixed
 * at load when kafka.topic is one plain topic); it must differ from every
 * topic consumed. */
static int settle_dlq_topic(aac_config_t *cfg, char *errstr, size_t size)
{
    if (split_topics(cfg, errstr, size) != 0)
        return -1;
    bool one = cfg->kafka.topic_cnt == 1 && cfg->kafka.topics[0][0] != '^';
    if (!*cfg->kafka.dlq_topic && one) {
        size_t n = strlen(cfg->kafka.topics[0]) + 5;
        char *d = malloc(n);
        if (!d) {
            errf(errstr, size, "config: out of memory");
            return -1;
        }
        snprintf(d, n, "%s.dlq", cfg->kafka.topics[0]);
        free(cfg->kafka.dlq_topic);
        cfg->kafka.dlq_topic = d;
    }
    for (size_t i = 0; i < cfg->kafka.topic_cnt; i++) {
        const char *t = cfg->kafka.topics[i];
        if (t[0] != '^' && aac_config_is_dlq_topic(cfg, t)) {
            errf(errstr, size,
                 "config: kafka.dlq_topic: must differ from kafka.topic (\"%s\" is a "
                 "dead-letter topic: kafka.dlq_topic, or any name ending in .dlq while it is "
                 "empty), or rejected messages would be consumed again",
                 t);
            return -1;
        }
    }
    return 0;
}

const char *aac_config_dlq_topic(const aac_config_t *cfg, const char *source, char *buf,
                                 size_t size)
{
    if (*cfg->kafka.dlq_topic)
        return cfg->kafka.dlq_topic;
    snprintf(buf, size, "%s.dlq", source);
    return buf;
}

bool aac_config_is_dlq_topic(const aac_config_t *cfg, const char *topic)
{
    size_t n = strlen(topic);
    if (*cfg->kafka.dlq_topic)
        return !strcmp(topic, cfg->kafka.dlq_topic);
    /* each source topic has its own "<topic>.dlq" */
    return n > 4 && !strcmp(topic + n - 4, ".dlq");
}

/* --- secrets from files --------------------------------------------------- */

#define FILE_SUFFIX     "_file"
#define FILE_SUFFIX_LEN 5

/* The property maps and their keys, for the NAME_file properties. */
static const struct {
    size_t offset;
    const char *name;
} prop_lists[] = {
    {OFF(kafka.properties), "kafka.properties"},
    {OFF(kafka.consumer_properties), "kafka.consumer_properties"},
    {OFF(kafka.producer_properties), "kafka.producer_properties"},
};

/* Replaces entry i of l, NAME_file, by NAME holding the content of the
 * file it names (librdkafka reads its configuration once, at start). */
static int read_property_file(aac_kvlist_t *l, size_t i, const char *list, char *errstr,
                              size_t size)
{
    aac_kv_t *kv = &l->kv[i];
    size_t klen = strlen(kv->key) - FILE_SUFFIX_LEN;
    char setting[320], why[512];

    snprintf(setting, sizeof(setting), "%s.%s", list, kv->key);
    for (size_t j = 0; j < l->cnt; j++) {
        if (j != i && strlen(l->kv[j].key) == klen && !strncmp(l->kv[j].key, kv->key, klen)) {
            errf(errstr, size, "config: %s: %.*s and %s are both set; keep one", list, (int)klen,
                 kv->key, kv->key);
            return -1;
        }
    }
    if (!*kv->value) {
        errf(errstr, size, "config: %s: the name of a file is required", setting);
        return -1;
    }
    char *secret =
        aac_secretfile_load(setting, kv->value, AAC_SECRETFILE_MAX_PROPERTY, why, sizeof(why));
    if (!secret) {
        errf(errstr, size, "config: %s", why);
        return -1;
    }
    /* the entry becomes NAME, its value the secret, its file the name */
    kv->key[klen] = '\0';
    kv->file = kv->value;
    kv->value = secret;
    return 0;
}

/* Every property NAME_file of the three maps, read. */
static int read_property_files(aac_config_t *cfg, char *errstr, size_t size)
{
    for (size_t m = 0; m < sizeof(prop_lists) / sizeof(prop_lists[0]); m++) {
        aac_kvlist_t *l = (aac_kvlist_t *)(void *)((char *)cfg + prop_lists[m].offset);
        for (size_t i = 0; i < l->cnt; i++) {
            const char *k = l->kv[i].key;
            size_t n = strlen(k);
            if (n > FILE_SUFFIX_LEN && !strcmp(k + n - FILE_SUFFIX_LEN, FILE_SUFFIX) &&
                read_property_file(l, i, prop_lists[m].name, errstr, size) != 0)
                return -1;
        }
    }
    return 0;
}

/* The postgres files, checked now so that a wrong name is a configuration
 * error at start rather than a connection failure retried for ever: the
 * secret files are read (and wiped; pgconn reads them again for each
 * connection), the certificate files opened. */
static int check_postgres_files(const aac_config_t *cfg, char *errstr, size_t size)
{
    const struct {
        const char *key;
        const char *path;
        bool secret;
    } files[] = {
        {"postgres.password_file", cfg->postgres.password_file, true},
        {"postgres.uri_file", cfg->postgres.uri_file, true},
        {"postgres.sslrootcert", cfg->postgres.sslrootcert, false},
        {"postgres.sslcert", cfg->postgres.sslcert, false},
        {"postgres.sslkey", cfg->postgres.sslkey, false},
        {"postgres.sslcrl", cfg->postgres.sslcrl, false},
    };
    char buf[AAC_SECRETFILE_MAX_PASSWORD + 1], why[512];

    if (*cfg->postgres.uri && *cfg->postgres.uri_file) {
        errf(errstr, size, "config: postgres.uri and postgres.uri_file are both set; keep one");
        return -1;
    }
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        const char *path = files[i].path;
        if (!*path)
            continue;
        if (files[i].secret) {
            long n = aac_secretfile_read(files[i].key, path, buf, sizeof(buf), why, sizeof(why));
            explicit_bzero(buf, sizeof(buf));
            if (n < 0) {
                errf(errstr, size, "config: %s", why);
                return -1;
            }
            continue;
        }
        /* libpq 16 takes sslrootcert=system for the system's CAs */
        if (!strcmp(files[i].key, "postgres.sslrootcert") && !strcmp(path, "system"))
            continue;
        FILE *fp = fopen(path, "r");
        if (!fp) {
            errf(errstr, size, "config: could not open %s \"%s\": %s", files[i].key, path,
                 strerror(errno));
            return -1;
        }
        fclose(fp);
    }
    return 0;
}

/* --- public ------------------------------------------------------------- */

aac_config_t *aac_config_load(const char *path, char *errstr, size_t errstr_size)
{
    aac_config_t *cfg = calloc(1, sizeof(*cfg));
    yaml_index_t *idx = calloc(1, sizeof(*idx));

    if (!cfg || !idx) {
        errf(errstr, errstr_size, "config: out of memory");
    } else if (apply_defaults(cfg, errstr, errstr_size) == 0 &&
               (!path || load_file(cfg, path, idx, errstr, errstr_size) == 0) &&
               apply_env(cfg, errstr, errstr_size) == 0 &&
               check_required(cfg, path, idx, errstr, errstr_size) == 0 &&
               read_property_files(cfg, errstr, errstr_size) == 0 &&
               check_properties(cfg, errstr, errstr_size) == 0 &&
               check_liveness(cfg, errstr, errstr_size) == 0 &&
               settle_dlq_topic(cfg, errstr, errstr_size) == 0 &&
               check_postgres_files(cfg, errstr, errstr_size) == 0) {
        free(idx);
        return cfg;
    }
    free(idx);
    aac_config_destroy(cfg);
    return NULL;
}

void aac_config_destroy(aac_config_t *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < PARAM_CNT; i++) {
        char *dst = (char *)cfg + params[i].offset;
        if (params[i].type == P_STRING)
            free(*(char **)(void *)dst);
        else if (params[i].type == P_MAP)
            kvlist_free((aac_kvlist_t *)(void *)dst);
    }
    for (size_t i = 0; i < cfg->kafka.topic_cnt; i++)
        free(cfg->kafka.topics[i]);
    free(cfg->kafka.topics);
    free(cfg);
}

/* Writes a YAML double-quoted scalar with the one escaper, which knows
 * what YAML may not carry raw; an ill-formed UTF-8 byte (only the
 * environment can bring one) is written as U+FFFD, as YAML has no way to
 * write a byte. */
static void put_quoted(FILE *out, const char *s)
{
    aac_utf8_fput_quoted(out, s, strlen(s), AAC_UTF8_ESC_YAML);
}

/* Writes a property name: plain when it is a plain word of the kind
 * librdkafka uses (socket.timeout.ms), else quoted, as a file may name
 * anything (a name with ": " or " #" would otherwise change the YAML). */
static void put_key(FILE *out, const char *k)
{
    bool plain = isalnum((unsigned char)*k);
    for (const char *c = k; plain && *c; c++)
        plain = isalnum((unsigned char)*c) || *c == '.' || *c == '_' || *c == '-';
    if (plain)
        fputs(k, out);
    else
        put_quoted(out, k);
}

/* A property read from a file, as the NAME_file that named it. */
static void put_property_file(FILE *out, const aac_kv_t *kv)
{
    size_t n = strlen(kv->key) + FILE_SUFFIX_LEN + 1;
    char *k = malloc(n);
    if (k) {
        snprintf(k, n, "%s%s", kv->key, FILE_SUFFIX);
        put_key(out, k);
        free(k);
    } else {
        put_quoted(out, kv->key); /* out of memory: the name alone, still no secret */
    }
    fputs(": ", out);
    put_quoted(out, kv->file);
}

void aac_config_dump(const aac_config_t *cfg, FILE *out)
{
    const char *cur = NULL;
    for (size_t i = 0; i < PARAM_CNT; i++) {
        const param_t *p = &params[i];
        const char *src = (const char *)cfg + p->offset;
        if (!cur || strcmp(cur, p->section) != 0) {
            fprintf(out, "%s:\n", p->section);
            cur = p->section;
        }
        fprintf(out, "  %s:", p->key);
        switch (p->type) {
        case P_STRING: {
            const char *s = *(char *const *)(const void *)src;
            fputc(' ', out);
            if ((p->flags & F_SECRET) && *s)
                fputs("\"[redacted]\"", out);
            else
                put_quoted(out, s);
            break;
        }
        case P_INT:
            fprintf(out, " %d", *(const int *)(const void *)src);
            break;
        case P_DOUBLE:
            fprintf(out, " %g", *(const double *)(const void *)src);
            break;
        case P_BOOL:
            fprintf(out, " %s", *(const bool *)(const void *)src ? "true" : "false");
            break;
        case P_LOGLEVEL:
            fprintf(out, " %s", aac_log_level_str(*(const aac_log_level_t *)(const void *)src));
            break;
        case P_LOGFORMAT:
            fprintf(out, " %s", aac_log_format_str(*(const aac_log_format_t *)(const void *)src));
            break;
        case P_FRAMING:
            fprintf(out, " %s",
                    aac_event_framing_str(*(const aac_event_framing_t *)(const void *)src));
            break;
        case P_MAP: {
            const aac_kvlist_t *l = (const aac_kvlist_t *)(const void *)src;
            if (!l->cnt)
                fputs(" {}", out);
            for (size_t k = 0; k < l->cnt; k++) {
                fputs("\n    ", out);
                if (l->kv[k].file) { /* read from a file: the file's name */
                    put_property_file(out, &l->kv[k]);
                    continue;
                }
                put_key(out, l->kv[k].key);
                fputs(": ", out);
                if (aac_config_is_secret_property(l->kv[k].key))
                    fputs("\"[redacted]\"", out);
                else
                    put_quoted(out, l->kv[k].value);
            }
            break;
        }
        }
        fputc('\n', out);
    }
}

void aac_config_list_env(FILE *out)
{
    char name[256];
    fprintf(out, "%s\n", AAC_CONFIG_ENV_PATH);
    for (size_t i = 0; i < PARAM_CNT; i++) {
        env_name(name, sizeof(name), params[i].section, params[i].key);
        fprintf(out, "%s%s\n", name, params[i].type == P_MAP ? "_<NAME>" : "");
    }
}

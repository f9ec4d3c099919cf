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
 * are declared CYAML_IGNORE in the schema and read in a second pass with
 * libyaml, which also records each key's line and catches duplicate keys
 * (libcyaml keeps the last one silently).
 */
#include "aac/config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cyaml/cyaml.h>
#include <yaml.h>

extern char **environ;

typedef enum { P_STRING, P_INT, P_DOUBLE, P_BOOL, P_LOGLEVEL, P_LOGFORMAT, P_MAP } ptype_t;

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
    {"postgres", "host", P_STRING, OFF(postgres.host), "", 0, 0, 0},
    {"postgres", "port", P_INT, OFF(postgres.port), "0", 0, 65535, 0},
    {"postgres", "dbname", P_STRING, OFF(postgres.dbname), "", 0, 0, 0},
    {"postgres", "user", P_STRING, OFF(postgres.user), "", 0, 0, 0},
    {"postgres", "password", P_STRING, OFF(postgres.password), "", 0, 0, F_SECRET},
    {"postgres", "password_file", P_STRING, OFF(postgres.password_file), "", 0, 0, 0},
    {"postgres", "sslmode", P_STRING, OFF(postgres.sslmode), "", 0, 0, 0},
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
    {"http", "enabled", P_BOOL, OFF(http.enabled), "true", 0, 0, 0},
    {"http", "address", P_STRING, OFF(http.address), "0.0.0.0", 0, 0, F_REQUIRED},
    {"http", "port", P_INT, OFF(http.port), "8080", 0, 65535, 0},
    {"http", "liveness_timeout_ms", P_INT, OFF(http.liveness_timeout_ms), "30000", 100, 3600000, 0},
    {"http", "request_timeout_ms", P_INT, OFF(http.request_timeout_ms), "5000", 100, 600000, 0},
    {"log", "level", P_LOGLEVEL, OFF(log.level), "info", 0, 0, 0},
    {"log", "format", P_LOGFORMAT, OFF(log.format), "logfmt", 0, 0, 0},
    {"service", "shutdown_timeout_ms", P_INT, OFF(service.shutdown_timeout_ms), "10000", 100,
     600000, 0},
    {"partitions", "months_ahead", P_INT, OFF(partitions.months_ahead), "3", 0, 120, 0},
    {"partitions", "retention_months", P_INT, OFF(partitions.retention_months), "0", 0, 1200, 0},
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
        free(l->kv[i].value);
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

static int convert(aac_config_t *cfg, const param_t *p, const char *text, const origin_t *o,
                   char *errstr, size_t size)
{
    char *dst = (char *)cfg + p->offset;
    char loc[512];
    char *end;

    where(loc, sizeof(loc), o);
    switch (p->type) {
    case P_STRING: {
        char **sp = (char **)(void *)dst;
        if ((p->flags & F_REQUIRED) && !*text) {
            errf(errstr, size, "config: %s: %s.%s: a value is required", loc, p->section, p->key);
            return -1;
        }
        char *s = strdup(text);
        if (!s) {
            errf(errstr, size, "config: out of memory");
            return -1;
        }
        free(*sp);
        *sp = s;
        return 0;
    }
    case P_INT: {
        errno = 0;
        long long v = strtoll(text, &end, 10);
        if (!*text || *end || errno || isspace((unsigned char)*text)) {
            errf(errstr, size, "config: %s: %s.%s: expected an integer, got \"%.40s\"", loc,
                 p->section, p->key, text);
            return -1;
        }
        if ((double)v < p->min || (double)v > p->max) {
            errf(errstr, size, "config: %s: %s.%s: %lld is out of range (%.0f to %.0f)", loc,
                 p->section, p->key, v, p->min, p->max);
            return -1;
        }
        *(int *)(void *)dst = (int)v;
        return 0;
    }
    case P_DOUBLE: {
        errno = 0;
        double v = strtod(text, &end);
        if (!*text || *end || errno || !isfinite(v) || isspace((unsigned char)*text)) {
            errf(errstr, size, "config: %s: %s.%s: expected a number, got \"%.40s\"", loc,
                 p->section, p->key, text);
            return -1;
        }
        if (v < p->min || v > p->max) {
            errf(errstr, size, "config: %s: %s.%s: %g is out of range (%g to %g)", loc, p->section,
                 p->key, v, p->min, p->max);
            return -1;
        }
        *(double *)(void *)dst = v;
        return 0;
    }
    case P_BOOL: {
        bool v;
        if (!strcmp(text, "true") || !strcmp(text, "yes") || !strcmp(text, "on") ||
            !strcmp(text, "1"))
            v = true;
        else if (!strcmp(text, "false") || !strcmp(text, "no") || !strcmp(text, "off") ||
                 !strcmp(text, "0"))
            v = false;
        else {
            errf(errstr, size, "config: %s: %s.%s: expected true or false, got \"%.40s\"", loc,
                 p->section, p->key, text);
            return -1;
        }
        *(bool *)(void *)dst = v;
        return 0;
    }
    case P_LOGLEVEL: {
        aac_log_level_t lv;
        if (aac_log_level_parse(text, &lv) != 0) {
            errf(errstr, size,
                 "config: %s: %s.%s: expected one of debug, info, warn, error, off, got "
                 "\"%.40s\"",
                 loc, p->section, p->key, text);
            return -1;
        }
        *(aac_log_level_t *)(void *)dst = lv;
        return 0;
    }
    case P_LOGFORMAT: {
        aac_log_format_t lf;
        if (aac_log_format_parse(text, &lf) != 0) {
            errf(errstr, size, "config: %s: %s.%s: expected logfmt or json, got \"%.40s\"", loc,
                 p->section, p->key, text);
            return -1;
        }
        *(aac_log_format_t *)(void *)dst = lf;
        return 0;
    }
    case P_MAP:
        break;
    }
    return 0;
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

/* Collects libcyaml's error lines: the message and the innermost line. */
typedef struct cylog_s {
    char msg[256];
    char field[128];
    size_t line;
    bool have_line;
} cylog_t;

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

static const char *cyaml_hint(const cylog_t *cl, cyaml_err_t err)
{
    if (!strncmp(cl->msg, "Unexpected key: ", 16))
        return "unknown key";
    if (err == CYAML_ERR_INVALID_VALUE || err == CYAML_ERR_UNEXPECTED_EVENT)
        return "wrong type: expected a scalar value here";
    return cyaml_strerror(err);
}

/* --- the libyaml pass ----------------------------------------------------- */

static const param_t *param_find(const char *section, const char *key)
{
    for (size_t i = 0; i < PARAM_CNT; i++)
        if (!strcmp(params[i].section, section) && !strcmp(params[i].key, key))
            return &params[i];
    return NULL;
}

/* Walks the document: records each known key's line, rejects duplicate
 * keys, and loads the property maps into cfg. Structure errors are left to
 * the libcyaml pass, which runs first. */
static int yaml_pass(aac_config_t *cfg, const char *path, FILE *fp, yaml_index_t *idx, char *errstr,
                     size_t size)
{
    yaml_parser_t parser;
    yaml_event_t ev;
    int rc = -1;
    int depth = 0; /* mapping depth */
    bool expect_key[4] = {0};
    char section[128] = "", key[128] = "";
    char seen[3][64][128]; /* keys seen at depths 1..2 (+ map entries) */
    size_t seen_cnt[3] = {0};
    const param_t *map = NULL;
    char mapkey[256] = "";
    size_t mapkey_line = 0;
    int skip = 0; /* nesting inside a value we do not look into */

    if (!yaml_parser_initialize(&parser)) {
        errf(errstr, size, "config: out of memory");
        return -1;
    }
    yaml_parser_set_input_file(&parser, fp);
    for (;;) {
        if (!yaml_parser_parse(&parser, &ev)) {
            errf(errstr, size, "config: %s:%zu: malformed YAML: %s", path,
                 parser.problem_mark.line + 1, parser.problem ? parser.problem : "parse error");
            goto done;
        }
        yaml_event_type_t t = ev.type;
        size_t line = ev.start_mark.line + 1;
        if (t == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        if (skip) {
            if (t == YAML_MAPPING_START_EVENT || t == YAML_SEQUENCE_START_EVENT)
                skip++;
            else if (t == YAML_MAPPING_END_EVENT || t == YAML_SEQUENCE_END_EVENT)
                skip--;
            yaml_event_delete(&ev);
            continue;
        }
        switch (t) {
        case YAML_MAPPING_START_EVENT:
            if (depth >= 3) {
                /* a mapping as a property's value: librdkafka takes strings */
                if (map) {
                    errf(errstr, size,
                         "config: %s:%zu: %s.%s.%s: wrong type: expected a scalar value, got a "
                         "mapping",
                         path, line, section, key, mapkey);
                    goto done;
                }
                skip = 1;
                expect_key[depth] = true;
                break;
            }
            depth++;
            expect_key[depth] = true;
            if (depth <= 3)
                seen_cnt[depth - 1] = 0;
            break;
        case YAML_MAPPING_END_EVENT:
            if (depth == 3)
                map = NULL;
            depth--;
            if (depth > 0)
                expect_key[depth] = true;
            break;
        case YAML_SEQUENCE_START_EVENT:
            if (depth == 3 && !expect_key[3]) {
                errf(errstr, size,
                     "config: %s:%zu: %s.%s.%s: wrong type: expected a scalar value, got a "
                     "sequence",
                     path, line, section, key, mapkey);
                goto done;
            }
            skip = 1;
            if (depth > 0)
                expect_key[depth] = true;
            break;
        case YAML_SCALAR_EVENT: {
            const char *v = (const char *)ev.data.scalar.value;
            if (depth == 0 || !expect_key[depth]) {
                /* a value */
                if (depth == 3 && map) {
                    aac_kvlist_t *l = (aac_kvlist_t *)(void *)((char *)cfg + map->offset);
                    if (kvlist_set(l, mapkey, v) != 0) {
                        errf(errstr, size, "config: out of memory");
                        goto done;
                    }
                }
                if (depth > 0)
                    expect_key[depth] = true;
                break;
            }
            /* a key */
            expect_key[depth] = false;
            if (depth <= 3) {
                for (size_t i = 0; i < seen_cnt[depth - 1]; i++) {
                    if (!strcmp(seen[depth - 1][i], v)) {
                        errf(errstr, size, "config: %s:%zu: %s%s%s%s%s: duplicate key", path, line,
                             depth > 1 ? section : "", depth > 1 ? "." : "", depth > 2 ? key : "",
                             depth > 2 ? "." : "", v);
                        goto done;
                    }
                }
                if (seen_cnt[depth - 1] < 64)
                    snprintf(seen[depth - 1][seen_cnt[depth - 1]++], 128, "%s", v);
            }
            if (depth <= 2 && idx->key_cnt < sizeof(idx->keys) / sizeof(idx->keys[0])) {
                snprintf(idx->keys[idx->key_cnt].path, sizeof(idx->keys[0].path), "%.60s%s%.60s",
                         depth == 2 ? section : v, depth == 2 ? "." : "", depth == 2 ? v : "");
                idx->keys[idx->key_cnt++].line = line;
            }
            if (depth == 1) {
                snprintf(section, sizeof(section), "%s", v);
            } else if (depth == 2) {
                snprintf(key, sizeof(key), "%s", v);
                const param_t *p = param_find(section, key);
                if (p) {
                    idx->line[p - params] = line;
                    map = p->type == P_MAP ? p : NULL;
                } else {
                    map = NULL;
                }
            } else if (depth == 3) {
                snprintf(mapkey, sizeof(mapkey), "%s", v);
                mapkey_line = line;
                if (map && !*v) {
                    errf(errstr, size, "config: %s:%zu: %s.%s: empty property name", path,
                         mapkey_line, section, key);
                    goto done;
                }
            }
            break;
        }
        default:
            break;
        }
        yaml_event_delete(&ev);
    }
    rc = 0;
done:
    if (rc != 0)
        yaml_event_delete(&ev);
    yaml_parser_delete(&parser);
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

/* Settings the exactly-once design depends on: refused if changed. */
static const char *const forced_consumer_props[][2] = {
    {"enable.auto.commit", "false"},
    {"enable.auto.offset.store", "false"},
};

static int check_properties(aac_config_t *cfg, char *errstr, size_t size)
{
    const aac_kvlist_t *lists[] = {&cfg->kafka.properties, &cfg->kafka.consumer_properties};
    for (size_t l = 0; l < 2; l++) {
        for (size_t i = 0; i < 2; i++) {
            const char *v = aac_kvlist_get(lists[l], forced_consumer_props[i][0]);
            if (v && strcmp(v, forced_consumer_props[i][1]) != 0) {
                errf(errstr, size,
                     "config: kafka: %s cannot be changed: offsets are stored in PostgreSQL "
                     "with the rows, which needs %s=%s",
                     forced_consumer_props[i][0], forced_consumer_props[i][0],
                     forced_consumer_props[i][1]);
                return -1;
            }
        }
        for (const char *const *k = (const char *const[]){"bootstrap.servers", "group.id", NULL};
             *k; k++) {
            if (aac_kvlist_get(lists[l], *k)) {
                errf(errstr, size, "config: kafka: set %s with kafka.%s, not as a property", *k,
                     !strcmp(*k, "group.id") ? "group_id" : "bootstrap_servers");
                return -1;
            }
        }
    }
    return 0;
}

/* --- public ------------------------------------------------------------- */

aac_config_t *aac_config_load(const char *path, char *errstr, size_t errstr_size)
{
    aac_config_t *cfg = calloc(1, sizeof(*cfg));
    schema_t schema;
    void **doc = NULL;
    yaml_index_t idx;
    FILE *fp = NULL;
    bool schema_ok = false;
    int ok = 0;

    memset(&idx, 0, sizeof(idx));
    if (!cfg) {
        errf(errstr, errstr_size, "config: out of memory");
        return NULL;
    }
    for (size_t i = 0; i < PARAM_CNT; i++) {
        origin_t o = {0};
        if (params[i].type == P_MAP)
            continue;
        if (convert(cfg, &params[i], params[i].def, &o, errstr, errstr_size) != 0)
            goto fail;
    }

    if (path) {
        fp = fopen(path, "r");
        if (!fp) {
            errf(errstr, errstr_size, "config: cannot read %s: %s", path, strerror(errno));
            goto fail;
        }
        if (schema_build(&schema) != 0) {
            errf(errstr, errstr_size, "config: out of memory");
            goto fail;
        }
        schema_ok = true;

        /* an empty file is a valid configuration of defaults */
        int c = fgetc(fp);
        bool empty = true;
        while (c != EOF) {
            if (!isspace(c)) {
                empty = false;
                break;
            }
            c = fgetc(fp);
        }
        rewind(fp);

        if (!empty) {
            cylog_t cl = {0};
            cyaml_config_t cc = {
                .log_fn = cyaml_log_cb,
                .log_ctx = &cl,
                .mem_fn = cyaml_mem,
                .log_level = CYAML_LOG_ERROR,
                .flags = CYAML_CFG_DEFAULT,
            };
            /* libyaml first: malformed YAML and duplicate keys get their line */
            if (yaml_pass(cfg, path, fp, &idx, errstr, errstr_size) != 0)
                goto fail;
            cyaml_err_t err = cyaml_load_file(path, &cc, &schema.top, (void **)&doc, NULL);
            if (err != CYAML_OK) {
                if (!strncmp(cl.msg, "Unexpected key: ", 16)) {
                    /* name the unknown key itself, at its own line */
                    char kp[200];
                    const char *uk = cl.msg + 16;
                    if (cl.have_line)
                        snprintf(kp, sizeof(kp), "%.60s.%.120s", cl.field, uk);
                    else
                        snprintf(kp, sizeof(kp), "%.120s", uk);
                    size_t ln = index_line(&idx, kp);
                    if (ln)
                        errf(errstr, errstr_size, "config: %s:%zu: %s: unknown key", path, ln, kp);
                    else
                        errf(errstr, errstr_size, "config: %s: %s: unknown key", path, kp);
                } else if (cl.have_line) {
                    /* libcyaml names the innermost field; find its full path */
                    const char *full = cl.field;
                    for (size_t k = 0; k < idx.key_cnt; k++) {
                        const char *dot = strchr(idx.keys[k].path, '.');
                        if (idx.keys[k].line == cl.line && dot && !strcmp(dot + 1, cl.field))
                            full = idx.keys[k].path;
                    }
                    errf(errstr, errstr_size, "config: %s:%zu: %s: %s", path, cl.line, full,
                         cyaml_hint(&cl, err));
                } else if (strstr(cl.msg, "Expecting MAPPING")) {
                    errf(errstr, errstr_size,
                         "config: %s:1: wrong type: the document must be a mapping of sections "
                         "(kafka, postgres, batch, ...)",
                         path);
                } else
                    errf(errstr, errstr_size, "config: %s: %s%s%s", path, cyaml_strerror(err),
                         cl.msg[0] ? ": " : "", cl.msg);
                goto fail;
            }
            for (size_t si = 0; doc && si < schema.sec_cnt; si++) {
                char **sec = doc[si];
                size_t j = 0;
                if (!sec)
                    continue;
                for (size_t i = 0; i < PARAM_CNT; i++) {
                    if (strcmp(params[i].section, schema.sections[si]) != 0)
                        continue;
                    if (params[i].type != P_MAP && sec[j]) {
                        origin_t o = {.file = path, .line = idx.line[i]};
                        if (convert(cfg, &params[i], sec[j], &o, errstr, errstr_size) != 0)
                            goto fail;
                    }
                    j++;
                }
            }
        }
    }

    if (apply_env(cfg, errstr, errstr_size) != 0)
        goto fail;
    /* required values may come from any source; check once all are applied */
    for (size_t i = 0; i < PARAM_CNT; i++) {
        const param_t *p = &params[i];
        if (p->type == P_STRING && (p->flags & F_REQUIRED) &&
            !**(char **)(void *)((char *)cfg + p->offset)) {
            char envn[128];
            env_name(envn, sizeof(envn), p->section, p->key);
            if (path && idx.line[i])
                errf(errstr, errstr_size, "config: %s:%zu: %s.%s: a value is required", path,
                     idx.line[i], p->section, p->key);
            else
                errf(errstr, errstr_size, "config: %s.%s: a value is required (or set %s)",
                     p->section, p->key, envn);
            goto fail;
        }
    }
    if (check_properties(cfg, errstr, errstr_size) != 0)
        goto fail;
    if (!*cfg->kafka.dlq_topic) {
        size_t n = strlen(cfg->kafka.topic) + 5;
        char *d = malloc(n);
        if (!d) {
            errf(errstr, errstr_size, "config: out of memory");
            goto fail;
        }
        snprintf(d, n, "%s.dlq", cfg->kafka.topic);
        free(cfg->kafka.dlq_topic);
        cfg->kafka.dlq_topic = d;
    }
    if (!strcmp(cfg->kafka.dlq_topic, cfg->kafka.topic)) {
        errf(errstr, errstr_size,
             "config: kafka.dlq_topic: must differ from kafka.topic (\"%s\"), or rejected "
             "messages would be consumed again",
             cfg->kafka.topic);
        goto fail;
    }
    ok = 1;
fail:
    if (doc)
        cyaml_free(&(cyaml_config_t){.mem_fn = cyaml_mem, .log_level = CYAML_LOG_ERROR},
                   &schema.top, doc, 0);
    if (schema_ok)
        schema_free(&schema);
    if (fp)
        fclose(fp);
    if (!ok) {
        aac_config_destroy(cfg);
        return NULL;
    }
    return cfg;
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
    free(cfg);
}

/* Writes a YAML double-quoted scalar. */
static void put_quoted(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20)
            fprintf(out, "\\x%02x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
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
        case P_MAP: {
            const aac_kvlist_t *l = (const aac_kvlist_t *)(const void *)src;
            if (!l->cnt)
                fputs(" {}", out);
            for (size_t k = 0; k < l->cnt; k++) {
                fprintf(out, "\n    %s: ", l->kv[k].key);
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

/*
 * validate: the `validate` subcommand. Checks JSON lines (files or standard
 * input) with exactly the parser the consumer runs, so a producer's
 * developer sees the verdict, reason code, path and message the service
 * would give, and with --normalized what it would store.
 *
 * Each line is treated as the value of the message at topic "validate",
 * partition 0, offset <line number - 1>: that origin derives event_id when
 * a line has none. Lines are read into a buffer of event.max_message_bytes;
 * a longer line is reported as too_large and skipped to its end, so memory
 * stays bounded whatever the input. Blank lines are skipped: they are not
 * messages.
 *
 * event.framing does not apply: a line is JSON text, and a Confluent frame
 * (binary, its schema id may hold a newline byte) cannot be one. Lines are
 * read as plain JSON (framing none) whatever the configuration says, so a
 * line starting with byte 0x00 is nul_character here.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aac/event.h"
#include "aac/rfc3339.h"
#include "aac/utf8.h"
#include "aac/uuid.h"
#include "aac/validate.h"

typedef struct vopts_s {
    bool json;
    bool normalized;
} vopts_t;

static void usage(FILE *out)
{
    fputs("usage: agent-actions-consumer [--config FILE] validate [--json] [--normalized] "
          "[FILE...]\n"
          "\n"
          "Checks each line of each FILE (standard input when none, or for \"-\") as one\n"
          "event message, with the parser the consumer uses and the limits of the\n"
          "configuration (event.max_message_bytes, event.max_depth).\n"
          "\n"
          "  (default)      one line per input line: FILE:LINE: OK, or\n"
          "                 FILE:LINE: REASON PATH: MESSAGE\n"
          "  --json         one JSON object per input line: {\"file\",\"line\",\"valid\",\n"
          "                 and \"reason\",\"path\",\"message\" when invalid}\n"
          "  --normalized   like --json, and valid lines also carry the fields as they\n"
          "                 would be stored (event_id, timestamp in UTC, project_name...)\n"
          "  --help         this text\n"
          "\n"
          "A line without event_id derives one from topic \"validate\", partition 0 and\n"
          "offset LINE-1. Lines are plain JSON: event.framing does not apply (a Confluent\n"
          "frame is binary, no line of text); validate the JSON your producer frames.\n"
          "Exit status: 0 all lines valid, 1 any invalid, 2 usage error or unreadable\n"
          "file. The contract: docs/event-contract.md.\n",
          out);
}

/* Writes s[0..n) as a JSON string (the one escaper, aac_utf8_escape). */
static void json_str(FILE *out, const char *s, size_t n)
{
    aac_utf8_fput_quoted(out, s, n, AAC_UTF8_ESC_JSON);
}

static void json_cstr(FILE *out, const char *s)
{
    json_str(out, s, strlen(s));
}

static void json_opt(FILE *out, const char *key, aac_str_t s)
{
    fprintf(out, ",\"%s\":", key);
    if (s.ptr)
        json_str(out, s.ptr, s.len);
    else
        fputs("null", out);
}

static void print_result(FILE *out, const vopts_t *o, const char *fname, long line, aac_reason_t r,
                         const aac_event_t *ev, const aac_event_error_t *err)
{
    if (!o->json && !o->normalized) {
        if (r == AAC_REASON_NONE)
            fprintf(out, "%s:%ld: OK\n", fname, line);
        else
            fprintf(out, "%s:%ld: %s %s: %s\n", fname, line, aac_reason_str(r), err->path,
                    err->message);
        return;
    }
    fputs("{\"file\":", out);
    json_cstr(out, fname);
    fprintf(out, ",\"line\":%ld,\"valid\":%s", line, r == AAC_REASON_NONE ? "true" : "false");
    if (r != AAC_REASON_NONE) {
        fputs(",\"reason\":", out);
        json_cstr(out, aac_reason_str(r));
        fputs(",\"path\":", out);
        json_cstr(out, err->path);
        fputs(",\"message\":", out);
        json_cstr(out, err->message);
    } else if (o->normalized) {
        char u[37], ts[32];
        aac_uuid_format(ev->event_id, u);
        fprintf(out, ",\"event_id\":\"%s\",\"event_id_derived\":%s", u,
                ev->event_id_derived ? "true" : "false");
        aac_uuid_format(ev->correlation_id, u);
        fprintf(out, ",\"correlation_id\":\"%s\"", u);
        if (ev->has_session_id) {
            aac_uuid_format(ev->session_id, u);
            fprintf(out, ",\"session_id\":\"%s\"", u);
        } else {
            fputs(",\"session_id\":null", out);
        }
        json_opt(out, "agent_name", ev->agent_name);
        fprintf(out, ",\"action_type\":\"%s\"", aac_action_type_str(ev->action_type));
        json_opt(out, "action_name", ev->action_name);
        /* raw JSON object text, as stored in the jsonb column */
        fprintf(out, ",\"action_details\":%.*s", (int)ev->action_details.len,
                ev->action_details.ptr);
        if (ev->has_duration_ms)
            fprintf(out, ",\"duration_ms\":%lld", (long long)ev->duration_ms);
        else
            fputs(",\"duration_ms\":null", out);
        fprintf(out, ",\"debug_mode\":%s",
                ev->debug_mode < 0 ? "null"
                : ev->debug_mode   ? "true"
                                   : "false");
        json_opt(out, "project_path", ev->project_path);
        json_opt(out, "project_name", ev->project_name);
        json_opt(out, "working_directory", ev->working_directory);
        aac_rfc3339_format(ev->timestamp_us, 6, ts);
        fprintf(out, ",\"timestamp\":\"%s\"", ts);
        if (ev->extra.len)
            fprintf(out, ",\"extra\":%.*s", (int)ev->extra.len, ev->extra.ptr);
        else
            fputs(",\"extra\":null", out);
        fprintf(out, ",\"extra_count\":%u", ev->extra_count);
    }
    fputs("}\n", out);
}

/* Reads one line (without its '\n') into buf[0..cap). Returns 1 with *len,
 * 0 at end of input, -1 on a read error. A line longer than cap sets
 * *overflow and is consumed to its end without being stored. */
static int read_line(FILE *in, char *buf, size_t cap, size_t *len, size_t *total, bool *overflow)
{
    size_t n = 0, t = 0;
    int c;
    *overflow = false;
    while ((c = getc_unlocked(in)) != EOF && c != '\n') {
        if (n < cap)
            buf[n++] = (char)c;
        else
            *overflow = true;
        t++;
    }
    if (ferror(in))
        return -1;
    if (c == EOF && t == 0)
        return 0;
    *len = n;
    *total = t;
    return 1;
}

static bool blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return false;
    return true;
}

/* Returns 0 all valid, 1 any invalid, 2 read error. */
static int validate_stream(aac_event_parser_t *p, size_t max, FILE *in, const char *fname,
                           char *buf, const vopts_t *o)
{
    int rc = 0;
    long line = 0;
    for (;;) {
        size_t len = 0, total = 0;
        bool overflow;
        int r = read_line(in, buf, max + 1, &len, &total, &overflow);
        if (r < 0) {
            fprintf(stderr, "validate: could not read %s: %s\n", fname, strerror(errno));
            return 2;
        }
        if (r == 0)
            break;
        line++;
        if (!overflow && len <= max && blank(buf, len))
            continue;
        aac_event_t ev;
        aac_event_error_t err;
        aac_reason_t reason;
        if (overflow || len > max) {
            /* the line was not kept in full: same verdict as the parser's
             * own size check, from the length alone */
            reason = AAC_REASON_TOO_LARGE;
            snprintf(err.path, sizeof err.path, "$");
            snprintf(err.message, sizeof err.message,
                     "message is %zu bytes, more than the limit of %zu (event.max_message_bytes)",
                     total, max);
        } else {
            reason = aac_event_parse(p, "validate", 0, line - 1, buf, len, &ev, &err);
        }
        print_result(stdout, o, fname, line, reason, &ev, &err);
        if (reason != AAC_REASON_NONE)
            rc = 1;
    }
    return rc;
}

int aac_validate_main(const aac_config_t *cfg, int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"normalized", no_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    vopts_t o = {false, false};
    int c;
    /* "+": options end at the first file name ("-" is stdin, "--" ends
     * them too); opterr = 0: the message is ours */
    opterr = 0;
    optind = 0;
    while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
        if (c == 'j') {
            o.json = true;
        } else if (c == 'n') {
            o.normalized = true;
        } else if (c == 'h') {
            usage(stdout);
            return 0;
        } else {
            if (optopt > 0x20 && optopt != 'j' && optopt != 'n')
                fprintf(stderr, "validate: unknown option \"-%c\"\n", optopt);
            else
                fprintf(stderr, "validate: unknown option \"%s\"\n", argv[optind - 1]);
            usage(stderr);
            return 2;
        }
    }
    int first = optind;

    aac_event_limits_t lim = {0, 0};
    if (cfg) {
        lim.max_message_bytes =
            cfg->event.max_message_bytes > 0 ? (size_t)cfg->event.max_message_bytes : 0;
        lim.max_depth = cfg->event.max_depth;
    }
    size_t max =
        lim.max_message_bytes ? lim.max_message_bytes : AAC_EVENT_DEFAULT_MAX_MESSAGE_BYTES;
    aac_event_parser_t *p = aac_event_parser_new(&lim);
    char *buf = malloc(max + 1);
    if (!p || !buf) {
        fprintf(stderr, "validate: out of memory\n");
        aac_event_parser_destroy(p);
        free(buf);
        return 2;
    }
    aac_event_parser_set_framing(p, AAC_EVENT_FRAMING_NONE); /* lines of text: see the top */

    int rc = 0;
    if (first >= argc) {
        rc = validate_stream(p, max, stdin, "-", buf, &o);
    } else {
        for (int i = first; i < argc; i++) {
            const char *f = argv[i];
            FILE *in = strcmp(f, "-") == 0 ? stdin : fopen(f, "rb");
            if (!in) {
                fprintf(stderr, "validate: could not open %s: %s\n", f, strerror(errno));
                rc = 2;
                continue;
            }
            int r = validate_stream(p, max, in, f, buf, &o);
            if (in != stdin)
                fclose(in);
            if (r > rc)
                rc = r;
        }
    }
    fflush(stdout);
    aac_event_parser_destroy(p);
    free(buf);
    return rc;
}

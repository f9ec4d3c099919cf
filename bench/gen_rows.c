/*
 * bench_gen_rows: synthetic agent_actions rows for bench/queries.sh, as
 * PostgreSQL COPY text on stdout, in the column order of --columns.
 *
 *   bench_gen_rows --rows N [--days D] [--end UNIX_SECONDS] [--seed S]
 *                  [--agents A] [--actions T] [--projects P]
 *   bench_gen_rows --columns      the column list for COPY ... (cols)
 *
 * Shaped like issue 20's sizing (40 agents, 150 action names, 12 projects,
 * 30 days), not uniform:
 *   - agents: activity Zipf-like (the busiest about 20 times the quietest);
 *     each uses 12 to 18 action names, picked by a global popularity (the
 *     core tools such as bash and read_file by most agents, most MCP tools
 *     by a few: about 134 of the 150 names are used), used Zipf-like within
 *     the agent; each works in one project (70 %) or two (75/25); two
 *     agents leave half their events without a project, the others 3 %
 *     (about 13 % NULL in all with seed 1);
 *   - action_type: about 71 % tool_call, 13 % decision, 10 % success and
 *     7 % error, the error share varying 0.2 to 3 times by agent and 0.3
 *     to 4 times by action name;
 *   - duration_ms: log-normal per action name (median 2 ms to 20 s, sigma
 *     0.6 to 1.4), clamped to 1 ms .. 10 min; NULL for 60 % of decisions
 *     and 3 % of the rest (about 10 % in all);
 *   - event_time: spread over the D days before --end (default now) with a
 *     daily cycle (busiest at 14:00 UTC, 35 % at night) and quieter
 *     weekends, in time order, except 0.2 % that arrive up to 2 hours late;
 *   - action_details: a JSON object of 100 to 400 bytes that depends on
 *     the action_type (a command, a file and a result preview, an error
 *     with its stderr, a decision's reasoning); a session is an agent's
 *     45 minutes, a task (correlation_id) its 20 seconds.
 * The same seed gives the same rows for the same --end. About 2 million
 * rows (1 GB) a second on one core: COPY, not this, limits a load.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_AGENTS        256
#define MAX_ACTIONS       1024
#define MAX_PROJECTS      16
#define MAX_AGENT_ACTIONS 18

static uint64_t rng_state;

static uint64_t next_u64(void)
{
    /* splitmix64: fast, and every seed gives a good stream */
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static double uniform(void)
{
    return (double)(next_u64() >> 11) * (1.0 / 9007199254740992.0);
}

static double normal(void)
{
    double u = uniform(), v = uniform();
    if (u < 1e-300)
        u = 1e-300;
    return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

static uint64_t mix(uint64_t a, uint64_t b)
{
    uint64_t z = a * 0x9E3779B97F4A7C15ULL ^ (b + 0x632BE59BD9B4E019ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* A version-4-shaped UUID from two 64-bit values. */
static char *put_uuid(char *o, uint64_t a, uint64_t b)
{
    static const char hex[] = "0123456789abcdef";
    a = (a & ~0xF000ULL) | 0x4000ULL;                        /* version 4 */
    b = (b & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL; /* variant */
    for (int i = 15; i >= 0; i--) {
        *o++ = hex[(a >> (i * 4)) & 15];
        if (i == 8 || i == 4)
            *o++ = '-';
    }
    *o++ = '-';
    for (int i = 15; i >= 0; i--) {
        *o++ = hex[(b >> (i * 4)) & 15];
        if (i == 12)
            *o++ = '-';
    }
    return o;
}

static char *put_str(char *o, const char *s)
{
    size_t n = strlen(s);
    memcpy(o, s, n);
    return o + n;
}

static char *put_uint(char *o, uint64_t v)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *o++ = tmp[--n];
    return o;
}

static const char *const words[] = {
    "the",     "build",   "failed",  "because", "module",  "import",   "cannot", "resolve",
    "symbol",  "test",    "passed",  "config",  "value",   "missing",  "retry",  "request",
    "timeout", "after",   "reading", "file",    "line",    "function", "return", "error",
    "handler", "queue",   "worker",  "commit",  "branch",  "merge",    "update", "schema",
    "index",   "query",   "latency", "cache",   "token",   "session",  "user",   "deploy",
    "release", "version", "patch",   "lint",    "warning", "unused",   "type",   "check"};

static char *put_text(char *o, int min_len, int max_len)
{
    int len = min_len + (int)(next_u64() % (uint64_t)(max_len - min_len + 1)), n = 0;
    while (n < len) {
        const char *w = words[next_u64() % (sizeof words / sizeof words[0])];
        size_t wl = strlen(w);
        if (n)
            *o++ = ' ', n++;
        memcpy(o, w, wl);
        o += wl;
        n += (int)wl;
    }
    return o;
}

typedef struct {
    char name[48];
    double weight;
    int actions[MAX_AGENT_ACTIONS];
    double action_cum[MAX_AGENT_ACTIONS];
    int n_actions;
    int project[2];
    double project2_share; /* 0: one project */
    int no_project;
    double error_mult;
    int partition;
} agent_t;

typedef struct {
    char name[64];
    double popularity;
    double log_median, sigma;
    double error_mult;
} action_t;

static int pick_cum(const double *cum, int n, double u)
{
    int lo = 0, hi = n - 1;
    while (lo < hi) {
        int m = (lo + hi) / 2;
        if (cum[m] < u)
            lo = m + 1;
        else
            hi = m;
    }
    return lo;
}

static char *put_ts(char *o, int64_t us)
{
    time_t s = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&s, &tm);
    o += strftime(o, 32, "%Y-%m-%d %H:%M:%S", &tm);
    *o++ = '.';
    unsigned frac = (unsigned)(us % 1000000);
    for (int d = 100000; d; d /= 10)
        *o++ = (char)('0' + frac / (unsigned)d % 10);
    return put_str(o, "+00");
}

int main(int argc, char **argv)
{
    long long rows = -1, seed = 1;
    double days = 30;
    int64_t end = (int64_t)time(NULL);
    int n_agents = 40, n_act = 150, n_proj = 12;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--columns")) {
            puts("event_id, correlation_id, session_id, agent_name, action_type, action_name, "
                 "action_details, duration_ms, debug_mode, project_path, project_name, "
                 "working_directory, event_time, kafka_topic, kafka_partition, kafka_offset");
            return 0;
        }
        if (!v)
            goto usage;
        if (!strcmp(a, "--rows"))
            rows = atoll(v);
        else if (!strcmp(a, "--days"))
            days = atof(v);
        else if (!strcmp(a, "--end"))
            end = (int64_t)atoll(v);
        else if (!strcmp(a, "--seed"))
            seed = atoll(v);
        else if (!strcmp(a, "--agents"))
            n_agents = atoi(v);
        else if (!strcmp(a, "--actions"))
            n_act = atoi(v);
        else if (!strcmp(a, "--projects"))
            n_proj = atoi(v);
        else
            goto usage;
        i++;
    }
    if (rows < 0 || days <= 0 || n_agents < 1 || n_agents > MAX_AGENTS || n_act < 20 ||
        n_act > MAX_ACTIONS || n_proj < 1 || n_proj > MAX_PROJECTS)
        goto usage;
    rng_state = (uint64_t)seed * 0x2545F4914F6CDD1DULL + 1;

    /* action names: core tools first (the most popular), then MCP tools */
    static const char *const core[] = {
        "bash",          "read_file", "edit_file",    "grep",          "write_file", "glob",
        "list_dir",      "run_tests", "git_diff",     "git_status",    "web_fetch",  "web_search",
        "git_commit",    "python",    "todo_write",   "task",          "git_log",    "make",
        "search_code",   "lint",      "format",       "compile",       "sql_query",  "http_request",
        "notebook_edit", "ask_user",  "docker_build", "kubectl_apply", "node",       "deploy"};
    static const char *const servers[] = {"github", "gitlab", "jira",       "slack",
                                          "linear", "sentry", "postgres",   "s3",
                                          "figma",  "notion", "confluence", "pagerduty"};
    static const char *const verbs[] = {"search",  "get",    "list",  "create", "update",
                                        "comment", "delete", "query", "upload", "run"};
    static action_t act[MAX_ACTIONS];
    int n_core = (int)(sizeof core / sizeof core[0]);
    for (int t = 0; t < n_act; t++) {
        if (t < n_core)
            snprintf(act[t].name, sizeof act[t].name, "%s", core[t]);
        else if (t - n_core < 120)
            snprintf(act[t].name, sizeof act[t].name, "mcp__%s__%s", servers[(t - n_core) % 12],
                     verbs[(t - n_core) / 12 % 10]);
        else
            snprintf(act[t].name, sizeof act[t].name, "mcp__%s__%s_%d", servers[(t - n_core) % 12],
                     verbs[(t - n_core) / 12 % 10], (t - n_core) / 120 + 1);
        act[t].popularity = 1.0 / pow(t + 1, 0.9);
        act[t].log_median = log(2.0) + uniform() * (log(20000.0) - log(2.0));
        act[t].sigma = 0.6 + 0.8 * uniform();
        act[t].error_mult = exp(log(0.3) + uniform() * (log(4.0) - log(0.3)));
    }
    static const char *const roles[] = {
        "code-reviewer", "test-writer", "planner",          "refactorer",      "doc-writer",
        "bug-triager",   "migrator",    "security-auditor", "release-manager", "researcher"};
    static const char *const projects[] = {
        "acme-api", "acme-web", "billing", "checkout",  "data-pipeline", "infra",
        "mobile",   "search",   "auth",    "analytics", "notifications", "docs-site",
        "p13",      "p14",      "p15",     "p16"};
    static agent_t ag[MAX_AGENTS];
    double agent_total = 0;
    double pop_total = 0;
    for (int t = 0; t < n_act; t++)
        pop_total += act[t].popularity;
    int rank[MAX_AGENTS]; /* activity rank of each agent: a shuffled 0..A-1 */
    for (int a = 0; a < n_agents; a++)
        rank[a] = a;
    for (int a = n_agents - 1; a > 0; a--) {
        int b = (int)(next_u64() % (uint64_t)(a + 1)), x = rank[a];
        rank[a] = rank[b];
        rank[b] = x;
    }
    for (int a = 0; a < n_agents; a++) {
        agent_t *g = &ag[a];
        snprintf(g->name, sizeof g->name, "%s-%d", roles[a % 10], a / 10 + 1);
        g->weight = 1.0 / pow(rank[a] + 1, 0.8);
        agent_total += g->weight;
        g->n_actions = 12 + (int)(next_u64() % 7);
        int have = 0;
        while (have < g->n_actions) { /* weighted, without replacement */
            double u = uniform() * pop_total, c = 0;
            int t = 0;
            for (; t < n_act - 1; t++) {
                c += act[t].popularity;
                if (c >= u)
                    break;
            }
            int dup = 0;
            for (int j = 0; j < have; j++)
                dup |= g->actions[j] == t;
            if (!dup)
                g->actions[have++] = t;
        }
        double c = 0;
        for (int j = 0; j < g->n_actions; j++)
            g->action_cum[j] = (c += 1.0 / (j + 1));
        for (int j = 0; j < g->n_actions; j++)
            g->action_cum[j] /= c;
        g->project[0] = (int)(next_u64() % (uint64_t)n_proj);
        g->project[1] = (int)(next_u64() % (uint64_t)n_proj);
        g->project2_share = uniform() < 0.3 && g->project[1] != g->project[0] ? 0.25 : 0;
        g->no_project = a % 20 == 7; /* half their events without one */
        g->error_mult = exp(log(0.2) + uniform() * (log(3.0) - log(0.2)));
        g->partition = (int)(mix(7, (uint64_t)a) % 6);
    }
    double agent_cum[MAX_AGENTS], c = 0;
    for (int a = 0; a < n_agents; a++)
        agent_cum[a] = (c += ag[a].weight / agent_total);
    agent_cum[n_agents - 1] = 1.0;

    /* hours: a daily cycle and quieter weekends; each hour's share of rows */
    int64_t span = (int64_t)(days * 86400.0);
    int64_t start = end - span;
    int64_t first_hour = start / 3600 * 3600;
    int n_hours = (int)((end - first_hour + 3599) / 3600);
    double *hw = calloc((size_t)n_hours + 1, sizeof *hw);
    double wsum = 0;
    for (int h = 0; h < n_hours; h++) {
        int64_t hs = first_hour + (int64_t)h * 3600;
        int64_t lo = hs < start ? start : hs, hi = hs + 3600 > end ? end : hs + 3600;
        int hod = (int)(hs / 3600 % 24), dow = (int)((hs / 86400 + 4) % 7); /* 0 = Sunday */
        double w = 0.35 + 0.65 * 0.5 * (1 + cos(2 * M_PI * (hod - 14) / 24.0));
        if (dow == 0 || dow == 6)
            w *= 0.5;
        hw[h] = w * (double)(hi - lo) / 3600.0;
        wsum += hw[h];
    }
    long long *part_offset = calloc(6, sizeof *part_offset);
    char *line = malloc(4096);
    static char outbuf[1 << 20];
    setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);
    long long done = 0;
    double cum = 0;
    for (int h = 0; h < n_hours && done < rows; h++) {
        cum += hw[h];
        long long upto = h == n_hours - 1 ? rows : (long long)llround((double)rows * cum / wsum);
        long long n = upto - done;
        int64_t hs = first_hour + (int64_t)h * 3600;
        int64_t lo = (hs < start ? start : hs) * 1000000,
                hi = (hs + 3600 > end ? end : hs + 3600) * 1000000;
        for (long long j = 0; j < n; j++, done++) {
            int64_t t = lo + (int64_t)(((double)j + uniform()) / (double)n * (double)(hi - lo));
            if (uniform() < 0.002) { /* late: up to 2 hours behind its neighbours */
                t -= (int64_t)(uniform() * 7200e6);
                if (t < start * 1000000)
                    t = start * 1000000;
            }
            if (t >= end * 1000000)
                t = end * 1000000 - 1;
            int a = pick_cum(agent_cum, n_agents, uniform());
            agent_t *g = &ag[a];
            int tool = g->actions[pick_cum(g->action_cum, g->n_actions, uniform())];
            action_t *ac = &act[tool];
            double pe = 0.035 * g->error_mult * ac->error_mult;
            if (pe > 0.6)
                pe = 0.6;
            double rest = 1 - pe, u = uniform();
            const char *type = u < pe                        ? "error"
                               : u < pe + rest * 0.72 / 0.95 ? "tool_call"
                               : u < pe + rest * 0.85 / 0.95 ? "decision"
                                                             : "success";
            int is_decision = type[0] == 'd', is_error = type[0] == 'e';
            long dur = -1;
            if (!(is_decision ? uniform() < 0.6 : uniform() < 0.03)) {
                double lm = is_decision ? log(50.0) : ac->log_median;
                double d = exp(lm + ac->sigma * normal());
                dur = d < 1 ? 1 : d > 600000 ? 600000 : (long)d;
            }
            int proj = -1;
            if (uniform() >= (g->no_project ? 0.5 : 0.03))
                proj = uniform() < g->project2_share ? g->project[1] : g->project[0];
            const char *pname = proj >= 0 ? projects[proj] : NULL;

            char *o = line;
            o = put_uuid(o, next_u64(), next_u64());
            *o++ = '\t';
            o = put_uuid(o, mix((uint64_t)a, (uint64_t)(t / 1000000 / 20)), mix(99, (uint64_t)a));
            *o++ = '\t';
            o = put_uuid(o, mix((uint64_t)a + 1000, (uint64_t)(t / 1000000 / 2700)),
                         mix(98, (uint64_t)a));
            *o++ = '\t';
            o = put_str(o, g->name);
            *o++ = '\t';
            o = put_str(o, type);
            *o++ = '\t';
            o = put_str(o, ac->name);
            *o++ = '\t';
            if (is_error) {
                o = put_str(o, "{\"error\": \"");
                o = put_text(o, 20, 80);
                o = put_str(o, "\", \"exit_code\": ");
                o = put_uint(o, 1 + next_u64() % 127);
                o = put_str(o, ", \"stderr_tail\": \"");
                o = put_text(o, 40, 220);
                o = put_str(o, "\"}");
            } else if (is_decision) {
                o = put_str(o, "{\"choice\": \"");
                o = put_str(o, words[next_u64() % (sizeof words / sizeof words[0])]);
                o = put_str(o, "\", \"reasoning\": \"");
                o = put_text(o, 60, 300);
                o = put_str(o, "\"}");
            } else if (!strcmp(ac->name, "bash")) {
                o = put_str(o, "{\"command\": \"");
                o = put_text(o, 10, 60);
                o = put_str(o, "\", \"result_preview\": \"");
                o = put_text(o, 30, 250);
                o = put_str(o, "\"}");
            } else {
                unsigned l0 = (unsigned)(next_u64() % 2000);
                o = put_str(o, "{\"file_path\": \"/home/dev/");
                o = put_str(o, pname ? pname : "scratch");
                o = put_str(o, "/src/module_");
                o = put_uint(o, next_u64() % 300);
                o = put_str(o, ".py\", \"line_range\": [");
                o = put_uint(o, l0);
                o = put_str(o, ", ");
                o = put_uint(o, l0 + 1 + next_u64() % 80);
                o = put_str(o, "], \"result_preview\": \"");
                o = put_text(o, 30, 250);
                o = put_str(o, "\"}");
            }
            *o++ = '\t';
            if (dur < 0)
                o = put_str(o, "\\N");
            else
                o = put_uint(o, (uint64_t)dur);
            *o++ = '\t';
            u = uniform();
            o = put_str(o, u < 0.95 ? "f" : u < 0.97 ? "t" : "\\N");
            *o++ = '\t';
            if (pname) {
                o = put_str(o, "/home/dev/");
                o = put_str(o, pname);
                *o++ = '\t';
                o = put_str(o, pname);
                *o++ = '\t';
                o = put_str(o, "/home/dev/");
                o = put_str(o, pname);
                o = put_str(o, "/src");
            } else {
                o = put_str(o, "\\N\t\\N\t\\N");
            }
            *o++ = '\t';
            o = put_ts(o, t);
            o = put_str(o, "\tagent-actions\t");
            o = put_uint(o, (uint64_t)g->partition);
            *o++ = '\t';
            o = put_uint(o, (uint64_t)part_offset[g->partition]++);
            *o++ = '\n';
            fwrite(line, 1, (size_t)(o - line), stdout);
        }
    }
    free(line);
    free(hw);
    free(part_offset);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        perror("bench_gen_rows: could not write");
        return 1;
    }
    return 0;
usage:
    fprintf(stderr,
            "usage: bench_gen_rows --rows N [--days D] [--end UNIX_SECONDS] [--seed S] "
            "[--agents A<=%d] [--actions T 20..%d] [--projects P<=%d] | --columns\n",
            MAX_AGENTS, MAX_ACTIONS, MAX_PROJECTS);
    return 2;
}

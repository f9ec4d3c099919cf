/*
 * timeacct: see include/aac/timeacct.h.
 *
 * One 64-bit word per account holds the activity in progress and the
 * moment it began: (since << CUR_BITS) | (activity + 1), 0 in the low bits
 * when none runs; times are nanoseconds modulo 2^59 (18 years), compared
 * as such. Whoever moves `since` forward charges the interval it closes,
 * to the activity the word held: the owner when it switches (to own[],
 * which only it writes), a reader when it counts the activity in progress
 * up to its read (to flushed[], added to atomically). Both move the word
 * with a compare-and-swap, never backwards, so every interval is charged
 * once, and since own[] and flushed[] only grow, so does every total a
 * reader adds up from them.
 *
 * Each account is on cache lines of its own: the consume thread and the
 * writers switch without touching each other's lines.
 */
#include "aac/timeacct.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "aac/clock.h"

#define CUR_BITS   5
#define CUR_MASK   ((UINT64_C(1) << CUR_BITS) - 1)
#define TIME_MASK  (UINT64_MAX >> CUR_BITS)
#define READ_TRIES 8 /* a reader's attempts to count the activity in progress */

_Static_assert(AAC_ACT__CNT < CUR_MASK, "the activity and 'none' fit in CUR_BITS");

struct aac_timeacct_thread_s {
    _Alignas(64) _Atomic uint64_t word;
    _Atomic bool started;
    uint32_t allowed; /* bit per activity of this thread */
    const aac_timeacct_t *ta;
    _Atomic uint64_t own[AAC_ACT__CNT];     /* charged by the owner */
    _Atomic uint64_t flushed[AAC_ACT__CNT]; /* charged by readers */
};

struct aac_timeacct_s {
    aac_timeacct_clock_fn clock;
    void *arg;
    aac_timeacct_thread_t th[AAC_TIMEACCT_THREADS];
};

static const char *const act_names[AAC_ACT__CNT] = {
    [AAC_ACT_OTHER] = "other",
    [AAC_ACT_IDLE] = "idle",
    [AAC_ACT_POLL] = "poll",
    [AAC_ACT_PARSE] = "parse",
    [AAC_ACT_SUBMIT] = "submit",
    [AAC_ACT_SETTLE] = "settle",
    [AAC_ACT_WAIT_WRITER] = "wait_writer",
    [AAC_ACT_REBALANCE] = "rebalance",
    [AAC_ACT_TURN] = "turn",
    [AAC_ACT_WAIT_KEYS] = "wait_keys",
    [AAC_ACT_COPY] = "copy",
    [AAC_ACT_DEAD_LETTERS] = "dead_letters",
    [AAC_ACT_WAIT_EARLIER] = "wait_earlier",
    [AAC_ACT_COMMIT] = "commit",
};

static const aac_activity_t consume_acts[] = {
    AAC_ACT_POLL,   AAC_ACT_IDLE,        AAC_ACT_PARSE,     AAC_ACT_SUBMIT,
    AAC_ACT_SETTLE, AAC_ACT_WAIT_WRITER, AAC_ACT_REBALANCE, AAC_ACT_OTHER,
};

static const aac_activity_t writer_acts[] = {
    AAC_ACT_IDLE,         AAC_ACT_TURN,         AAC_ACT_WAIT_KEYS, AAC_ACT_COPY,
    AAC_ACT_DEAD_LETTERS, AAC_ACT_WAIT_EARLIER, AAC_ACT_COMMIT,    AAC_ACT_OTHER,
};

static const char *const thread_names[AAC_TIMEACCT_THREADS] = {
    "consume",  "writer-0", "writer-1", "writer-2", "writer-3",
    "writer-4", "writer-5", "writer-6", "writer-7",
};
_Static_assert(AAC_TIMEACCT_THREADS == 9, "a name for every thread");

static int64_t mono_ns(void *arg)
{
    (void)arg;
    return aac_mono_ns();
}

aac_timeacct_t *aac_timeacct_new(aac_timeacct_clock_fn clock, void *arg)
{
    /* whole cache lines: sizeof is a multiple of the accounts' alignment */
    aac_timeacct_t *ta = aligned_alloc(_Alignof(aac_timeacct_t), sizeof(*ta));
    if (!ta)
        return NULL;
    memset(ta, 0, sizeof(*ta));
    aac_timeacct_set_clock(ta, clock, arg);
    for (int i = 0; i < AAC_TIMEACCT_THREADS; i++) {
        const aac_activity_t *acts;
        size_t n = aac_timeacct_activities(i, &acts);
        aac_timeacct_thread_t *th = &ta->th[i];
        th->ta = ta;
        for (size_t k = 0; k < n; k++)
            th->allowed |= 1u << acts[k];
        atomic_init(&th->word, 0);
        atomic_init(&th->started, false);
        for (int a = 0; a < AAC_ACT__CNT; a++) {
            atomic_init(&th->own[a], 0);
            atomic_init(&th->flushed[a], 0);
        }
    }
    return ta;
}

void aac_timeacct_destroy(aac_timeacct_t *ta)
{
    free(ta);
}

void aac_timeacct_set_clock(aac_timeacct_t *ta, aac_timeacct_clock_fn clock, void *arg)
{
    ta->clock = clock ? clock : mono_ns;
    ta->arg = clock ? arg : NULL;
}

aac_timeacct_thread_t *aac_timeacct_thread(aac_timeacct_t *ta, int i)
{
    if (!ta || i < 0 || i >= AAC_TIMEACCT_THREADS)
        return NULL;
    return &ta->th[i];
}

aac_timeacct_thread_t *aac_timeacct_writer(aac_timeacct_t *ta, int n)
{
    if (n < 0 || n >= AAC_TIMEACCT_WRITERS)
        return NULL;
    return aac_timeacct_thread(ta, 1 + n);
}

/* The clock, modulo 2^59. */
static uint64_t stamp(const aac_timeacct_t *ta)
{
    return (uint64_t)ta->clock(ta->arg) & TIME_MASK;
}

/* From `since` to `at`, modulo 2^59. */
static uint64_t elapsed(uint64_t since, uint64_t at)
{
    return (at - since) & TIME_MASK;
}

/* The later of two times modulo 2^59 (within half the range of each
 * other): `since` when the clock read before a reader moved it on. */
static uint64_t later(uint64_t t, uint64_t since)
{
    return elapsed(since, t) <= TIME_MASK / 2 ? t : since;
}

/* Moves th's word to (now or later, act + 1; 0: none) and charges what it
 * closes to own[]. Returns the activity + 1 it held, 0 when none. */
static unsigned owner_move(aac_timeacct_thread_t *th, unsigned next)
{
    uint64_t now = stamp(th->ta);
    uint64_t old = atomic_load_explicit(&th->word, memory_order_relaxed), since, at;
    do {
        since = old & CUR_MASK ? old >> CUR_BITS : now;
        at = later(now, since);
    } while (!atomic_compare_exchange_weak_explicit(&th->word, &old, at << CUR_BITS | next,
                                                    memory_order_relaxed, memory_order_relaxed));
    unsigned cur = (unsigned)(old & CUR_MASK);
    if (cur) {
        /* only this thread writes own[]: no read-modify-write needed */
        _Atomic uint64_t *c = &th->own[cur - 1];
        atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + elapsed(since, at),
                              memory_order_relaxed);
    }
    return cur;
}

aac_activity_t aac_timeacct_switch(aac_timeacct_thread_t *th, aac_activity_t act)
{
    if (!th)
        return AAC_ACT_OTHER;
    if ((unsigned)act >= AAC_ACT__CNT || !(th->allowed >> act & 1u))
        act = AAC_ACT_OTHER;
    unsigned cur = owner_move(th, (unsigned)act + 1);
    if (!atomic_load_explicit(&th->started, memory_order_relaxed))
        atomic_store_explicit(&th->started, true, memory_order_relaxed);
    return cur ? (aac_activity_t)(cur - 1) : AAC_ACT_OTHER;
}

void aac_timeacct_stop(aac_timeacct_thread_t *th)
{
    if (th)
        owner_move(th, 0);
}

/* Charges th's activity in progress up to `now`, to flushed[]. Gives up
 * after READ_TRIES when the word keeps moving (the owner switching: what
 * it closes, it charges itself). */
static void reader_flush(aac_timeacct_thread_t *th, uint64_t now)
{
    uint64_t old = atomic_load_explicit(&th->word, memory_order_relaxed);
    for (int i = 0; i < READ_TRIES; i++) {
        uint64_t cur = old & CUR_MASK, since = old >> CUR_BITS, at = later(now, since);
        if (!cur || at == since)
            return;
        if (atomic_compare_exchange_weak_explicit(&th->word, &old, at << CUR_BITS | cur,
                                                  memory_order_relaxed, memory_order_relaxed)) {
            atomic_fetch_add_explicit(&th->flushed[cur - 1], elapsed(since, at),
                                      memory_order_relaxed);
            return;
        }
    }
}

void aac_timeacct_read(aac_timeacct_t *ta, aac_timeacct_snapshot_t *out)
{
    memset(out, 0, sizeof(*out));
    if (!ta)
        return;
    for (int i = 0; i < AAC_TIMEACCT_THREADS; i++) {
        aac_timeacct_thread_t *th = &ta->th[i];
        out->started[i] = atomic_load_explicit(&th->started, memory_order_relaxed);
        if (!out->started[i])
            continue;
        reader_flush(th, stamp(ta));
        for (int a = 0; a < AAC_ACT__CNT; a++)
            out->ns[i][a] = atomic_load_explicit(&th->own[a], memory_order_relaxed) +
                            atomic_load_explicit(&th->flushed[a], memory_order_relaxed);
    }
}

const char *aac_activity_str(aac_activity_t act)
{
    return (unsigned)act < AAC_ACT__CNT ? act_names[act] : "other";
}

const char *aac_timeacct_thread_name(int i)
{
    return i >= 0 && i < AAC_TIMEACCT_THREADS ? thread_names[i] : "";
}

size_t aac_timeacct_activities(int i, const aac_activity_t **acts)
{
    if (i < 0 || i >= AAC_TIMEACCT_THREADS) {
        *acts = NULL;
        return 0;
    }
    if (i == AAC_TIMEACCT_CONSUME) {
        *acts = consume_acts;
        return sizeof(consume_acts) / sizeof(consume_acts[0]);
    }
    *acts = writer_acts;
    return sizeof(writer_acts) / sizeof(writer_acts[0]);
}

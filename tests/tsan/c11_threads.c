/*
 * c11_threads: C11 threads over pthreads, linked into the ThreadSanitizer
 * build only (AAC_TSAN).
 *
 * librdkafka creates its threads with thrd_create() and locks with
 * mtx_lock()/cnd_wait(). glibc implements those by calling its pthread
 * internals directly, past ThreadSanitizer's interceptors (GCC 12's libtsan
 * and clang 14's intercept neither): the first malloc() on an rdk: thread
 * then crashes TSan, and librdkafka's locking is invisible to it. Defined
 * here, in the executable, these win the symbol lookup over glibc's and
 * route every call through the intercepted pthread functions.
 * glibc's mtx_t, cnd_t, thrd_t and once_flag have the layout of the pthread
 * types they wrap.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <threads.h>

_Static_assert(sizeof(mtx_t) == sizeof(pthread_mutex_t), "mtx_t");
_Static_assert(sizeof(cnd_t) == sizeof(pthread_cond_t), "cnd_t");
_Static_assert(sizeof(thrd_t) == sizeof(pthread_t), "thrd_t");
_Static_assert(sizeof(once_flag) == sizeof(pthread_once_t), "once_flag");

typedef struct start_s {
    thrd_start_t fn;
    void *arg;
} start_t;

static int rc_of(int err)
{
    return err == 0           ? thrd_success
           : err == ENOMEM    ? thrd_nomem
           : err == ETIMEDOUT ? thrd_timedout
           : err == EBUSY     ? thrd_busy
                              : thrd_error;
}

static void *trampoline(void *p)
{
    start_t s = *(start_t *)p;
    free(p);
    return (void *)(intptr_t)s.fn(s.arg);
}

int thrd_create(thrd_t *thr, thrd_start_t func, void *arg)
{
    start_t *s = malloc(sizeof(*s));
    if (!s)
        return thrd_nomem;
    s->fn = func;
    s->arg = arg;
    int err = pthread_create((pthread_t *)thr, NULL, trampoline, s);
    if (err)
        free(s);
    return rc_of(err);
}

int thrd_join(thrd_t thr, int *res)
{
    void *r;
    int err = pthread_join((pthread_t)thr, &r);
    if (!err && res)
        *res = (int)(intptr_t)r;
    return rc_of(err);
}

int mtx_init(mtx_t *m, int type)
{
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    if (type & mtx_recursive)
        pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
    int err = pthread_mutex_init((pthread_mutex_t *)m, &a);
    pthread_mutexattr_destroy(&a);
    return rc_of(err);
}

int mtx_lock(mtx_t *m)
{
    return rc_of(pthread_mutex_lock((pthread_mutex_t *)m));
}

int mtx_unlock(mtx_t *m)
{
    return rc_of(pthread_mutex_unlock((pthread_mutex_t *)m));
}

void mtx_destroy(mtx_t *m)
{
    pthread_mutex_destroy((pthread_mutex_t *)m);
}

int cnd_init(cnd_t *c)
{
    return rc_of(pthread_cond_init((pthread_cond_t *)c, NULL));
}

int cnd_signal(cnd_t *c)
{
    return rc_of(pthread_cond_signal((pthread_cond_t *)c));
}

int cnd_broadcast(cnd_t *c)
{
    return rc_of(pthread_cond_broadcast((pthread_cond_t *)c));
}

int cnd_wait(cnd_t *c, mtx_t *m)
{
    return rc_of(pthread_cond_wait((pthread_cond_t *)c, (pthread_mutex_t *)m));
}

int cnd_timedwait(cnd_t *restrict c, mtx_t *restrict m, const struct timespec *restrict ts)
{
    return rc_of(pthread_cond_timedwait((pthread_cond_t *)c, (pthread_mutex_t *)m, ts));
}

void cnd_destroy(cnd_t *c)
{
    pthread_cond_destroy((pthread_cond_t *)c);
}

void call_once(once_flag *flag, void (*func)(void))
{
    pthread_once((pthread_once_t *)flag, func);
}

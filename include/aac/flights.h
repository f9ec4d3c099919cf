/*
 * flights: the batches closed and not yet settled, in the order they were
 * closed, and the rules of the order in which they commit.
 *
 * Pure state: no threads, no locks, no clock, no I/O. The writers module
 * (writers.h) keeps one under its mutex and is its only user in the
 * service; the unit tests drive it alone.
 *
 * The rules, each in one function here:
 * - a writer takes the oldest queued flight, and none while a failure
 *   halts them (aac_flights_take);
 * - a flight commits only once every earlier one committed, and is rolled
 *   back when an earlier one did not (aac_flights_order): no partition's
 *   offset ever moves past a batch that was not written;
 * - a flight that did not commit halts the writers until the consume
 *   thread decides: write it and every later one again
 *   (aac_flights_requeue), or take every batch out (aac_flights_drop);
 * - the consume thread settles committed flights oldest first
 *   (aac_flights_pop), and is handed the oldest flight's failure only
 *   when no writer is writing any more (aac_flights_failure);
 * - batches are changed or taken out only while no writer writes: the
 *   functions that do so refuse otherwise.
 */
#ifndef AAC_FLIGHTS_H
#define AAC_FLIGHTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aac/batch.h"
#include "aac/pgsink.h"

typedef enum {
    AAC_FLIGHT_QUEUED,  /* closed, waiting for a writer */
    AAC_FLIGHT_WRITING, /* a writer has it */
    AAC_FLIGHT_DONE,    /* written or not: see committed */
} aac_flight_state_t;

/* A closed batch on its way to PostgreSQL. The writer that takes it owns
 * the outcome fields until it is DONE; the consume thread reads them only
 * then. */
typedef struct aac_flight_s {
    aac_batch_t *batch;
    uint64_t seq; /* 1, 2, ...: the order the batches were closed in */
    aac_flight_state_t state;
    bool after_previous; /* shares a key with an earlier batch: written after it */
    bool turn_held;      /* its writer holds the batch's turn in PostgreSQL (writers.c) */
    /* the outcome of the last write */
    bool committed;
    bool cancelled;            /* rolled back because an earlier batch failed or a stop */
    bool dead_letters_pending; /* its dead letters were not confirmed */
    bool waited;               /* its commit waited for an earlier batch */
    bool counted;              /* this failure was already decided on (failpolicy.h) */
    int writer;                /* which writer had it last */
    aac_pgsink_result_t res;
    double secs; /* spent writing */
} aac_flight_t;

typedef struct aac_flights_s {
    aac_flight_t *ring;
    int cap, head, cnt;
    int max_in_flight;
    bool halted; /* a flight failed: writers take no new one */
    uint64_t next_seq;
} aac_flights_t;

/* Room for max_in_flight flights, and one more (a revocation or shutdown
 * closes what it holds). Returns 0, or -1 when out of memory. */
int aac_flights_init(aac_flights_t *fl, int max_in_flight);
/* Frees the ring; the batches still in it are the caller's (drop them
 * first). */
void aac_flights_free(aac_flights_t *fl);

int aac_flights_count(const aac_flights_t *fl);
/* Flights a writer is on. */
int aac_flights_writing(const aac_flights_t *fl);
/* The i-th oldest flight, i < count. */
aac_flight_t *aac_flights_at(const aac_flights_t *fl, int i);

/* Adds batch b as the newest flight, queued. `extra` allows one flight
 * over max_in_flight. Returns the flight, or NULL when there is no room
 * (b is not taken). */
aac_flight_t *aac_flights_push(aac_flights_t *fl, aac_batch_t *b, bool after_previous, bool extra);

/* The oldest queued flight, now WRITING, or NULL when none is queued or
 * the writers are halted. */
aac_flight_t *aac_flights_take(aac_flights_t *fl);

typedef enum {
    AAC_ORDER_GO,     /* every earlier flight committed */
    AAC_ORDER_WAIT,   /* some earlier flight is not done: *blocker, the oldest */
    AAC_ORDER_CANCEL, /* an earlier flight is done and did not commit */
} aac_order_t;

/* Whether flight f may commit now. A CANCEL wins over a WAIT: f cannot
 * commit before the consume thread decided on the failure. */
aac_order_t aac_flights_order(const aac_flights_t *fl, const aac_flight_t *f,
                              aac_flight_t **blocker);

/* The writer is done with f (its outcome filled in); a flight that did not
 * commit halts the writers. */
void aac_flights_finish(aac_flights_t *fl, aac_flight_t *f);

/* Takes the oldest flight out when it committed: copied to *out (whose
 * batch is then the caller's). Returns false otherwise. */
bool aac_flights_pop(aac_flights_t *fl, aac_flight_t *out);

/* The oldest flight when it is done and did not commit and no writer is
 * writing (a later flight still writing finishes first), else NULL. */
aac_flight_t *aac_flights_failure(const aac_flights_t *fl);

/* Every flight done is queued again and the writers go on. Refused (-1)
 * while a writer writes. */
int aac_flights_requeue(aac_flights_t *fl);

/* Takes every batch out, oldest first, into out[] (room for count), and
 * empties the ring. Refused (-1) while a writer writes: a writer's batch
 * is never reset under it. Returns the number of batches. */
int aac_flights_drop(aac_flights_t *fl, aac_batch_t **out);

#endif

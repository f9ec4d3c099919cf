/*
 * fetchwake: wakes librdkafka's fetchers when its queue runs low.
 *
 * librdkafka 2.0.2 (Debian 12's) stops fetching while its consumer queue
 * holds queued.max.messages.kbytes, and a broker thread that stopped looks
 * at the queue again only when something wakes it: a response, an
 * operation, or its one-second timer (fetch.queue.backoff.ms, which sets
 * that wait, came in 2.1.0). Over a backlog the consume thread empties a
 * 16 MB queue in about 0.4 s and then waits for the rest of the second: a
 * third of its time over a 1M backlog (docs/benchmark.md), whatever the
 * broker. A deeper queue hides the wait but costs its size in memory.
 *
 * The one public call of 2.0.2 that wakes every broker thread is
 * rd_kafka_sasl_set_credentials(): it sets the SASL username and password
 * for connections made later, then wakes the brokers. It is given the
 * credentials the consumer was created with, so nothing changes but the
 * wake. When those are not known (a SASL protocol without both
 * sasl.username and sasl.password), nothing is woken and librdkafka's
 * second stands.
 */
#ifndef AAC_FETCHWAKE_H
#define AAC_FETCHWAKE_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct aac_fetchwake_s aac_fetchwake_t;

/* Reads the credentials and the queue's bound (queued.max.messages.kbytes)
 * from the consumer's configuration, before rd_kafka_new() takes it.
 * interval_ms (0: never wake) is the least time between two wakes. NULL
 * when out of memory. */
aac_fetchwake_t *aac_fetchwake_new(const rd_kafka_conf_t *conf, int interval_ms);

/* Whether it will ever wake (interval_ms > 0 and the credentials known). */
bool aac_fetchwake_enabled(const aac_fetchwake_t *fw);

/* The consumer to watch and wake: its queue is held until detached. */
void aac_fetchwake_attach(aac_fetchwake_t *fw, rd_kafka_t *rk);

/* Lets the consumer's queue go, before the consumer is closed. */
void aac_fetchwake_detach(aac_fetchwake_t *fw);

/* The queue length, in messages, under which a wake is due: half the
 * queue's bound in messages of mean_bytes (1 KiB when 0: none seen yet),
 * and at least 1, so that the fetchers are at work again well before the
 * queue is empty. */
size_t aac_fetchwake_low(const aac_fetchwake_t *fw, size_t mean_bytes);

/* Called by the consume thread before it polls, with the count and bytes
 * of the messages taken so far: once every interval_ms at most, looks at
 * the queue, and wakes the fetchers when it holds fewer than
 * aac_fetchwake_low() messages of their mean size. Returns whether it
 * woke them. */
bool aac_fetchwake_tick(aac_fetchwake_t *fw, int64_t now_ms, uint64_t took, uint64_t took_bytes);

/* Detaches, wipes the credentials and frees. NULL-safe. */
void aac_fetchwake_destroy(aac_fetchwake_t *fw);

#endif

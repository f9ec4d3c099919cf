/*
 * http: health, readiness and Prometheus metrics over libevent (evhttp),
 * served from a thread of its own.
 *
 *   GET /health   liveness: 200 while the consume loop has polled within
 *                 http.liveness_timeout_ms, else 503
 *   GET /ready    readiness: 200 only when the consumer holds its group
 *                 membership, the broker is reachable, PostgreSQL answers
 *                 and consumption is not paused by an outage; else 503 with
 *                 the reasons
 *   GET /metrics  Prometheus text exposition format 0.0.4
 *
 * The HTTP thread reads the shared state only through
 * aac_metrics_snapshot() and renders outside any lock; the rule that
 * decides liveness and readiness is aac_metrics_health()'s.
 */
#ifndef AAC_HTTP_H
#define AAC_HTTP_H

#include <stddef.h>

#include "aac/config.h"
#include "aac/metrics.h"

typedef struct aac_http_s aac_http_t;

/* Binds http.address:http.port (port 0: any free port) and starts the
 * server thread. Returns NULL with the reason in errstr. `m` must outlive
 * the server. */
aac_http_t *aac_http_start(const aac_config_t *cfg, aac_metrics_t *m, char *errstr,
                           size_t errstr_size);

/* The port actually bound. */
int aac_http_port(const aac_http_t *h);

/* Stops the thread and frees everything. NULL-safe. */
void aac_http_stop(aac_http_t *h);

#endif

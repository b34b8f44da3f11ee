/*
 * http_metrics.c: the coordinator's HTTP plane (docs/operations.md "The
 * HTTP plane"): http.bind's listener and its routes, /metrics in the
 * Prometheus text format. Handlers run on the loop thread (core/http).
 */
#ifndef DCV_CO_HTTP_METRICS_H
#define DCV_CO_HTTP_METRICS_H

#include "coordinator/coord_int.h"

/* Listen on http.bind ("" = nothing to do). A non-loopback address is
 * refused (no authentication yet). 0, or negative errno with the reason. */
int co_http_start(struct dcv_coord *c, char *err, size_t errlen);
void co_http_free(struct dcv_coord *c);

#endif

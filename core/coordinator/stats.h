/*
 * stats.c: what /metrics counts since this coordinator process started
 * (Prometheus counters reset with the process, and rate() expects that):
 * jobs submitted and ended by state, attempts ended by outcome, and two
 * histograms by codec and encoder family, the time a job waited in the
 * queue before each placement and the run time of successful attempts.
 * Memory only, fed from the few places jobs change (attempts.c's
 * co_apply_ev, submit, dispatch, DONE); http_metrics.c renders it.
 */
#ifndef DCV_CO_STATS_H
#define DCV_CO_STATS_H

#include "coordinator/coord_int.h"

/* The histograms' bucket bounds, seconds, ascending. */
extern const double co_hist_bounds[CO_HIST_BOUNDS];

void co_stats_submitted(struct dcv_coord *c);
/* An event applied; state: the job's state after it (-1: not read, for an
 * event that cannot end a job). */
void co_stats_event(struct dcv_coord *c, int ev, int state);
/* Seconds in the queue before a placement on a device of this family. */
void co_stats_queue_wait(struct dcv_coord *c, const char *codec, const char *family,
                         double seconds);
/* Seconds from placement to DONE of a successful attempt. */
void co_stats_run_time(struct dcv_coord *c, const char *codec, const char *family,
                       double seconds);

#endif

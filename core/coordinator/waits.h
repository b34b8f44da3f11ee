/*
 * waits.c: why queued jobs wait (issue 11). Each dispatch pass notes, for
 * every queued job it considered and could not place, the scheduler's
 * explanation ("w1: no av1 encoder; w2: slots 2/2") and whether no online
 * worker could run the job at all (no device for its codec, depth or
 * encoder: "unschedulable"), with the wall time it first became so. The
 * admin plane shows it in `status`, `jobs` and `submit --wait`;
 * dispatch.c fails a job unschedulable for queue.unschedulable_timeout_s.
 *
 * Memory only (c->disp.waits): a restarted coordinator learns it again at
 * its first pass, and an unschedulable job's clock starts again then. An
 * entry not refreshed for WAIT_STALE_MS (the job left the queue, or
 * dispatch stopped considering it) is dropped by the cron.
 */
#ifndef DCV_CO_WAITS_H
#define DCV_CO_WAITS_H

#include <stdint.h>

#include "coordinator/coord_int.h"

#define CO_WAIT_WHY_MAX 1024

struct co_wait {
    struct co_wait *next;
    char id[DCV_PROTO_JOB_ID];
    char why[CO_WAIT_WHY_MAX]; /* the scheduler's words */
    int unschedulable;         /* no online worker has a device for it */
    int64_t since_ms;          /* wall ms it has been unschedulable since (0: it is not) */
    uint64_t seen;             /* monotonic ms of the last note */
};

/* Record the reason of this pass; returns the entry (NULL: out of memory). */
const struct co_wait *co_wait_note(struct dcv_coord *c, const char *id, const char *why,
                                   int unschedulable, int64_t wall);
/* The job was placed, failed or left the queue. */
void co_wait_clear(struct dcv_coord *c, const char *id);
/* NULL when nothing is known about the job. */
const struct co_wait *co_wait_find(const struct dcv_coord *c, const char *id);
/* "no worker can run it: w1: no av1 encoder" or "w1: slots 2/2" into buf,
 * the line `status` and `--wait` show for w (co_wait_find's; NULL, nothing
 * known, gives ""). With no worker online at all the registry's word ("no
 * worker online") is used. */
void co_wait_text(const struct dcv_coord *c, const struct co_wait *w, char *buf, size_t len);
void waits_cron(struct dcv_coord *c, uint64_t now);
void co_waits_free(struct dcv_coord *c);

#endif

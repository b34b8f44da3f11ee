/*
 * sessions.c: the cluster-wide GPU session table the scheduler reads:
 * our attempts per session key, other software's sessions from NVML
 * telemetry, and the holds after an -EBUSY. Read-only over c->att,
 * c->reg and c->holds; writes a job's placement fields. Called by
 * registry.c (re-attach), control.c (busy holds) and dispatch.c.
 */
#ifndef DCV_CO_SESSIONS_H
#define DCV_CO_SESSIONS_H

#include "coordinator/coord_int.h"

struct co_sess {
    struct dcv_sched_session *s;
    size_t n, cap;
    struct dcv_sched_gpu_obs *obs;
    char (*txt)[DCV_SCHED_KEY_MAX]; /* two per observation: key, phys */
};

/* exclude: a job id not to count (the one a device just refused), or NULL.
 * extra: room for keys the caller adds later. Sorted on return. */
int co_sessions_build(struct dcv_coord *c, const char *exclude, size_t extra, struct co_sess *t);
struct dcv_sched_session *co_sessions_slot(struct co_sess *t, const char *key);
void co_sessions_free(struct co_sess *t);
void co_job_place(struct co_job *j, const struct dcv_sched_worker *view,
                  const struct dcv_sched_device *dev);
void co_reattach_sessions(struct dcv_coord *c, const struct co_worker *w);
int co_hold_after_busy(struct dcv_coord *c, const char *job_id, const char *skey, const char *dev);

#endif

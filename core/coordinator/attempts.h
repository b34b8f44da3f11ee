/*
 * attempts.c: the base layer of the coordinator. It owns the attempts out
 * with workers (c->att.jobs), the GPU session-limit holds (c->holds), the
 * store-event wrapper and the two kicks: dispatch soon (through
 * c->att.dispatch, so this file calls no dispatch code) and the data-plane
 * pump timer. Every coordinator file may call these; attempts.c calls no
 * other coordinator module.
 */
#ifndef DCV_CO_ATTEMPTS_H
#define DCV_CO_ATTEMPTS_H

#include "coordinator/coord_int.h"

uint64_t co_now(void);
int64_t co_wall_ms(void);
struct co_job *co_job_find(struct dcv_coord *c, const char *id);
/* The record of job id, created empty when there is none; NULL on ENOMEM. */
struct co_job *co_job_add(struct dcv_coord *c, const char *id);
unsigned co_held_by(struct dcv_coord *c, const struct co_worker *w);
/* Attempts flagged stalled now (queue.stall_after, control.c). */
unsigned co_jobs_stalled(struct dcv_coord *c);
/* The attempt is over for this coordinator: forget it, abort its transfers. */
void co_job_release(struct dcv_coord *c, const char *job_id, int code, const char *reason);
/* dcv_store_apply, logging a refusal (debug when stale) or an error. */
int co_apply_ev(struct dcv_coord *c, const char *job_id, enum dcv_job_event ev, int attempt,
                const char *note, const char *worker, const char *session, const char *error,
                struct dcv_job *out);
void co_dispatch_soon(struct dcv_coord *c);
/* Re-arm the pump timer at the data-plane server's next deadline. */
void co_arm_pump(struct dcv_coord *c);
/* Session-limit holds: set one, drop expired ones (1 when one was dropped). */
int co_hold_set(struct dcv_coord *c, const char *key, uint32_t limit, uint64_t until);
int co_hold_expire(struct dcv_coord *c, uint64_t now);
void co_attempts_free(struct dcv_coord *c);

#endif

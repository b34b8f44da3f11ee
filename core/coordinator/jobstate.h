/*
 * The job state machine (DESIGN §5): an explicit transition table, pure (no
 * I/O, no clock), shared by the job store and anything that wants to know
 * whether a move is legal before asking the store to make it.
 *
 *   QUEUED -ASSIGN-> ASSIGNED -ACCEPT|START-> RUNNING [-VERIFY-> VERIFYING] -SUCCEED-> DONE
 *   retryable failures, lost workers and rejections go back to QUEUED with
 *   attempt+1 until max_attempts, then FAILED; REQUEUE_BUSY goes back to
 *   QUEUED on the same attempt. DONE/FAILED/CANCELLED are terminal; only an
 *   operator RETRY moves FAILED/CANCELLED back to QUEUED (new attempt).
 */
#ifndef DCV_JOBSTATE_H
#define DCV_JOBSTATE_H

#include <stddef.h>

enum dcv_job_state {
    DCV_JOB_QUEUED = 0,
    DCV_JOB_ASSIGNED,
    DCV_JOB_RUNNING,
    DCV_JOB_VERIFYING,
    DCV_JOB_DONE,
    DCV_JOB_FAILED,
    DCV_JOB_CANCELLED,
    DCV_JOB_STATE_COUNT
};

enum dcv_job_event {
    DCV_EV_ASSIGN = 0,      /* scheduler picked a worker: QUEUED -> ASSIGNED */
    DCV_EV_ACCEPT,          /* worker answered JOB with ACCEPT: ASSIGNED -> RUNNING */
    DCV_EV_REJECT,          /* worker answered REJECT: counts as a spent attempt */
    DCV_EV_PROGRESS,        /* no state change (ASSIGNED/RUNNING/VERIFYING) */
    DCV_EV_START,           /* worker reports it already runs it (re-attach): ASSIGNED -> RUNNING */
    DCV_EV_VERIFY,          /* output produced, being verified: RUNNING -> VERIFYING */
    DCV_EV_SUCCEED,         /* RUNNING|VERIFYING -> DONE */
    DCV_EV_FAIL_RETRYABLE,  /* -> QUEUED (attempt+1) or FAILED at max_attempts */
    DCV_EV_FAIL_PERMANENT,  /* -> FAILED (also from QUEUED: coordinator-side refusal) */
    DCV_EV_WORKER_LOST,     /* like FAIL_RETRYABLE, from ASSIGNED/RUNNING/VERIFYING */
    DCV_EV_CANCEL,          /* any non-terminal state -> CANCELLED */
    DCV_EV_RETRY,           /* operator: FAILED|CANCELLED -> QUEUED, new attempt */
    DCV_EV_REQUEUE_BUSY,    /* hardware -EBUSY: ASSIGNED|RUNNING -> QUEUED, same attempt */
    DCV_EV_COUNT
};

/* Upper-case names ("QUEUED", "FAIL_RETRYABLE"), the stored spelling; NULL for
 * out-of-range values. */
const char *dcv_job_state_name(enum dcv_job_state s);
const char *dcv_job_event_name(enum dcv_job_event e);
/* Case-insensitive parse; 0 or -EINVAL. */
int dcv_job_state_parse(const char *name, enum dcv_job_state *out);

/* The wire spelling of the admin plane ("queued", "cancelled"): the table,
 * one name (NULL out of range), and an exact-spelling parse (0 or -EINVAL). */
extern const char *const dcv_job_state_wire_names[DCV_JOB_STATE_COUNT];
const char *dcv_job_state_wire_name(enum dcv_job_state s);
int dcv_job_state_wire_parse(const char *name, enum dcv_job_state *out);
int dcv_job_event_parse(const char *name, enum dcv_job_event *out);

/* DONE, FAILED, CANCELLED. */
int dcv_job_state_is_terminal(enum dcv_job_state s);
/* ASSIGNED, RUNNING, VERIFYING: a worker holds an open attempt. */
int dcv_job_state_is_active(enum dcv_job_state s);

/*
 * Where `ev` takes a job in state `from` on attempt `attempt` (1-based) with
 * `max_attempts` allowed. On success *to and *next_attempt are set and 0 is
 * returned; an illegal move (or bad arguments) returns -EINVAL with a message
 * such as "job cannot go from DONE on CANCEL". *to == from for events that
 * change nothing (PROGRESS).
 */
int dcv_job_transition(enum dcv_job_state from, enum dcv_job_event ev, int attempt,
                       int max_attempts, enum dcv_job_state *to, int *next_attempt,
                       char *err, size_t errlen);

#endif

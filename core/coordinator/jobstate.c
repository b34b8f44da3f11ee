/* Job state machine: one table, one lookup. */
#include "coordinator/jobstate.h"
#include "errbuf.h"
#include "proto.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* What a table cell does with the attempt counter. */
enum move {
    ILLEGAL = 0,
    KEEP,          /* go to .to, same attempt */
    SPEND,         /* the attempt is used up: QUEUED with attempt+1, or FAILED at the limit */
    NEW_ATTEMPT,   /* operator retry: go to .to with attempt+1, whatever the limit */
};

struct cell {
    enum move move;
    enum dcv_job_state to;
};

#define K(s) { KEEP, DCV_JOB_##s }
#define SP { SPEND, DCV_JOB_QUEUED }
#define NA(s) { NEW_ATTEMPT, DCV_JOB_##s }

/* Cells not listed are ILLEGAL (zero-initialised). Terminal rows only hold RETRY. */
static const struct cell table[DCV_JOB_STATE_COUNT][DCV_EV_COUNT] = {
    [DCV_JOB_QUEUED] = {
        [DCV_EV_ASSIGN] = K(ASSIGNED),
        [DCV_EV_FAIL_PERMANENT] = K(FAILED),
        [DCV_EV_CANCEL] = K(CANCELLED),
    },
    [DCV_JOB_ASSIGNED] = {
        [DCV_EV_ACCEPT] = K(RUNNING),
        [DCV_EV_START] = K(RUNNING),
        [DCV_EV_REJECT] = SP,
        [DCV_EV_PROGRESS] = K(ASSIGNED),
        [DCV_EV_FAIL_RETRYABLE] = SP,
        [DCV_EV_FAIL_PERMANENT] = K(FAILED),
        [DCV_EV_WORKER_LOST] = SP,
        [DCV_EV_CANCEL] = K(CANCELLED),
        [DCV_EV_REQUEUE_BUSY] = K(QUEUED),
    },
    [DCV_JOB_RUNNING] = {
        [DCV_EV_PROGRESS] = K(RUNNING),
        [DCV_EV_VERIFY] = K(VERIFYING),
        [DCV_EV_SUCCEED] = K(DONE),
        [DCV_EV_FAIL_RETRYABLE] = SP,
        [DCV_EV_FAIL_PERMANENT] = K(FAILED),
        [DCV_EV_WORKER_LOST] = SP,
        [DCV_EV_CANCEL] = K(CANCELLED),
        [DCV_EV_REQUEUE_BUSY] = K(QUEUED),
    },
    [DCV_JOB_VERIFYING] = {
        [DCV_EV_PROGRESS] = K(VERIFYING),
        [DCV_EV_SUCCEED] = K(DONE),
        [DCV_EV_FAIL_RETRYABLE] = SP,
        [DCV_EV_FAIL_PERMANENT] = K(FAILED),
        [DCV_EV_WORKER_LOST] = SP,
        [DCV_EV_CANCEL] = K(CANCELLED),
    },
    [DCV_JOB_DONE] = { { ILLEGAL, DCV_JOB_DONE } },
    [DCV_JOB_FAILED] = {
        [DCV_EV_RETRY] = NA(QUEUED),
    },
    [DCV_JOB_CANCELLED] = {
        [DCV_EV_RETRY] = NA(QUEUED),
    },
};

/* The one state-name table, in its two spellings: stored (the store, its
 * history, logs) and wire (the admin plane's JSON, the CLI). */
/* The wire codec has its own copy of the count (proto must not include the
 * coordinator's headers); the two must agree. */
_Static_assert(DCV_JOB_STATE_COUNT == DCV_PROTO_STATE_COUNT, "wire state names follow enum dcv_job_state");

static const char *const state_names[DCV_JOB_STATE_COUNT] = {
    "QUEUED", "ASSIGNED", "RUNNING", "VERIFYING", "DONE", "FAILED", "CANCELLED",
};
const char *const dcv_job_state_wire_names[DCV_JOB_STATE_COUNT] = {
    "queued", "assigned", "running", "verifying", "done", "failed", "cancelled",
};

static const char *const event_names[DCV_EV_COUNT] = {
    "ASSIGN", "ACCEPT", "REJECT", "PROGRESS", "START", "VERIFY", "SUCCEED",
    "FAIL_RETRYABLE", "FAIL_PERMANENT", "WORKER_LOST", "CANCEL", "RETRY", "REQUEUE_BUSY",
};

const char *dcv_job_state_name(enum dcv_job_state s)
{
    return (unsigned)s < DCV_JOB_STATE_COUNT ? state_names[s] : NULL;
}

const char *dcv_job_state_wire_name(enum dcv_job_state s)
{
    return (unsigned)s < DCV_JOB_STATE_COUNT ? dcv_job_state_wire_names[s] : NULL;
}

const char *dcv_job_event_name(enum dcv_job_event e)
{
    return (unsigned)e < DCV_EV_COUNT ? event_names[e] : NULL;
}

int dcv_job_state_parse(const char *name, enum dcv_job_state *out)
{
    for (int i = 0; name && i < DCV_JOB_STATE_COUNT; i++)
        if (strcasecmp(name, state_names[i]) == 0) {
            *out = (enum dcv_job_state)i;
            return 0;
        }
    return -EINVAL;
}

int dcv_job_state_wire_parse(const char *name, enum dcv_job_state *out)
{
    for (int i = 0; name && i < DCV_JOB_STATE_COUNT; i++)
        if (strcmp(name, dcv_job_state_wire_names[i]) == 0) {
            *out = (enum dcv_job_state)i;
            return 0;
        }
    return -EINVAL;
}

int dcv_job_event_parse(const char *name, enum dcv_job_event *out)
{
    for (int i = 0; name && i < DCV_EV_COUNT; i++)
        if (strcasecmp(name, event_names[i]) == 0) {
            *out = (enum dcv_job_event)i;
            return 0;
        }
    return -EINVAL;
}

int dcv_job_state_is_terminal(enum dcv_job_state s)
{
    return s == DCV_JOB_DONE || s == DCV_JOB_FAILED || s == DCV_JOB_CANCELLED;
}

int dcv_job_state_is_active(enum dcv_job_state s)
{
    return s == DCV_JOB_ASSIGNED || s == DCV_JOB_RUNNING || s == DCV_JOB_VERIFYING;
}


int dcv_job_transition(enum dcv_job_state from, enum dcv_job_event ev, int attempt,
                       int max_attempts, enum dcv_job_state *to, int *next_attempt,
                       char *err, size_t errlen)
{
    const struct cell *c;

    if ((unsigned)from >= DCV_JOB_STATE_COUNT || (unsigned)ev >= DCV_EV_COUNT) {
        dcv_errf(err, errlen, "unknown job state %d or event %d", (int)from, (int)ev);
        return -EINVAL;
    }
    /* attempt may exceed max_attempts after operator retries, so only its sign is checked */
    if (attempt < 1 || max_attempts < 1 || !to || !next_attempt) {
        dcv_errf(err, errlen, "bad attempt %d of %d", attempt, max_attempts);
        return -EINVAL;
    }
    c = &table[from][ev];
    switch (c->move) {
    case KEEP:
        *to = c->to;
        *next_attempt = attempt;
        return 0;
    case SPEND:
        if (attempt >= max_attempts) {
            *to = DCV_JOB_FAILED;
            *next_attempt = attempt;
        } else {
            *to = DCV_JOB_QUEUED;
            *next_attempt = attempt + 1;
        }
        return 0;
    case NEW_ATTEMPT:
        if (attempt == INT_MAX) {
            dcv_errf(err, errlen, "job has no attempts left to number");
            return -EINVAL;
        }
        *to = c->to;
        *next_attempt = attempt + 1;
        return 0;
    case ILLEGAL:
    default:
        break;
    }
    dcv_errf(err, errlen, "job cannot go from %s on %s", state_names[from], event_names[ev]);
    return -EINVAL;
}

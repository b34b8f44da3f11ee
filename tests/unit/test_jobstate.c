/* Job state machine: every (state, event) pair against an independent
 * expectation written here as the spec reads, not copied from the table. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "coordinator/jobstate.h"
#include "tap.h"

/* The legal moves, one line each: "FROM EVENT TO", where TO may be
 * "SPEND" (QUEUED with attempt+1 below the limit, FAILED at it) or
 * "NEW:STATE" (STATE with attempt+1, whatever the limit). Everything not
 * listed must be refused. */
static const char *const legal[] = {
    "QUEUED ASSIGN ASSIGNED",
    "QUEUED FAIL_PERMANENT FAILED",
    "QUEUED CANCEL CANCELLED",
    "ASSIGNED ACCEPT RUNNING",
    "ASSIGNED START RUNNING",
    "ASSIGNED REJECT SPEND",
    "ASSIGNED PROGRESS ASSIGNED",
    "ASSIGNED FAIL_RETRYABLE SPEND",
    "ASSIGNED FAIL_PERMANENT FAILED",
    "ASSIGNED WORKER_LOST SPEND",
    "ASSIGNED CANCEL CANCELLED",
    "ASSIGNED REQUEUE_BUSY QUEUED",
    "RUNNING PROGRESS RUNNING",
    "RUNNING VERIFY VERIFYING",
    "RUNNING SUCCEED DONE",
    "RUNNING FAIL_RETRYABLE SPEND",
    "RUNNING FAIL_PERMANENT FAILED",
    "RUNNING WORKER_LOST SPEND",
    "RUNNING CANCEL CANCELLED",
    "RUNNING REQUEUE_BUSY QUEUED",
    "VERIFYING PROGRESS VERIFYING",
    "VERIFYING SUCCEED DONE",
    "VERIFYING FAIL_RETRYABLE SPEND",
    "VERIFYING FAIL_PERMANENT FAILED",
    "VERIFYING WORKER_LOST SPEND",
    "VERIFYING CANCEL CANCELLED",
    "FAILED RETRY NEW:QUEUED",
    "CANCELLED RETRY NEW:QUEUED",
};

static const char *const states[] = { "QUEUED", "ASSIGNED", "RUNNING", "VERIFYING",
                                      "DONE", "FAILED", "CANCELLED" };
static const char *const events[] = { "ASSIGN", "ACCEPT", "REJECT", "PROGRESS", "START",
                                      "VERIFY", "SUCCEED", "FAIL_RETRYABLE", "FAIL_PERMANENT",
                                      "WORKER_LOST", "CANCEL", "RETRY", "REQUEUE_BUSY" };
#define NSTATES (int)(sizeof states / sizeof states[0])
#define NEVENTS (int)(sizeof events / sizeof events[0])

/* Expected outcome for (from, ev) at attempt of max: 0 with *to and *next set, or -EINVAL. */
static int expect(const char *from, const char *ev, int attempt, int max, const char **to, int *next)
{
    char f[32], e[32], t[32];
    for (size_t i = 0; i < sizeof legal / sizeof legal[0]; i++) {
        if (sscanf(legal[i], "%31s %31s %31s", f, e, t) != 3)
            tap_bail("bad expectation line %s", legal[i]);
        if (strcmp(f, from) != 0 || strcmp(e, ev) != 0)
            continue;
        static char buf[32];
        if (strcmp(t, "SPEND") == 0) {
            *to = attempt < max ? "QUEUED" : "FAILED";
            *next = attempt < max ? attempt + 1 : attempt;
        } else if (strncmp(t, "NEW:", 4) == 0) {
            snprintf(buf, sizeof buf, "%s", t + 4);
            *to = buf;
            *next = attempt + 1;
        } else {
            snprintf(buf, sizeof buf, "%s", t);
            *to = buf;
            *next = attempt;
        }
        return 0;
    }
    return -EINVAL;
}

int main(void)
{
    /* attempt/max scenarios: first try, last try, past the limit after an operator retry */
    static const int scen[][2] = { { 1, 3 }, { 3, 3 }, { 5, 3 }, { 1, 1 } };
    char err[256];
    int pairs = 0;

    /* names both ways */
    for (int i = 0; i < NSTATES; i++) {
        enum dcv_job_state st;
        TAP_IS_STR(dcv_job_state_name((enum dcv_job_state)i), states[i], "state name");
        TAP_OK(dcv_job_state_parse(states[i], &st) == 0 && (int)st == i, "state %s parses", states[i]);
    }
    for (int i = 0; i < NEVENTS; i++) {
        enum dcv_job_event ev;
        TAP_IS_STR(dcv_job_event_name((enum dcv_job_event)i), events[i], "event name");
        TAP_OK(dcv_job_event_parse(events[i], &ev) == 0 && (int)ev == i, "event %s parses", events[i]);
    }
    TAP_IS_INT(DCV_JOB_STATE_COUNT, NSTATES, "state count matches the spec");
    TAP_IS_INT(DCV_EV_COUNT, NEVENTS, "event count matches the spec");
    {
        enum dcv_job_state st;
        enum dcv_job_event ev;
        TAP_OK(dcv_job_state_parse("running", &st) == 0 && st == DCV_JOB_RUNNING, "parse is case-insensitive");
        TAP_IS_INT(dcv_job_state_parse("BOGUS", &st), -EINVAL, "unknown state name refused");
        TAP_IS_INT(dcv_job_state_parse(NULL, &st), -EINVAL, "NULL state name refused");
        TAP_IS_INT(dcv_job_event_parse("", &ev), -EINVAL, "empty event name refused");
        TAP_OK(dcv_job_state_name(DCV_JOB_STATE_COUNT) == NULL, "out-of-range state has no name");
        TAP_OK(dcv_job_event_name((enum dcv_job_event)-1) == NULL, "negative event has no name");
    }

    /* exhaustive: every pair, every scenario */
    for (size_t sc = 0; sc < sizeof scen / sizeof scen[0]; sc++) {
        int attempt = scen[sc][0], max = scen[sc][1];
        for (int s = 0; s < NSTATES; s++)
            for (int e = 0; e < NEVENTS; e++) {
                const char *want_to = NULL;
                int want_next = -1;
                int want = expect(states[s], events[e], attempt, max, &want_to, &want_next);
                enum dcv_job_state to = DCV_JOB_STATE_COUNT;
                int next = -1;
                err[0] = '\0';
                int got = dcv_job_transition((enum dcv_job_state)s, (enum dcv_job_event)e, attempt, max,
                                             &to, &next, err, sizeof err);
                pairs++;
                if (want == 0) {
                    int ok = got == 0 && dcv_job_state_name(to) && strcmp(dcv_job_state_name(to), want_to) == 0 &&
                             next == want_next;
                    if (!tap_ok(ok, "%s --%s--> %s (attempt %d/%d)", states[s], events[e], want_to, attempt, max))
                        tap_diag("  got rc %d to %s next %d (%s), expected %s next %d", got,
                                 dcv_job_state_name(to) ? dcv_job_state_name(to) : "?", next, err,
                                 want_to, want_next);
                } else {
                    char msg[128];
                    snprintf(msg, sizeof msg, "job cannot go from %s on %s", states[s], events[e]);
                    int ok = got == -EINVAL && strcmp(err, msg) == 0;
                    if (!tap_ok(ok, "%s on %s refused (attempt %d/%d)", states[s], events[e], attempt, max))
                        tap_diag("  got rc %d, err '%s'", got, err);
                }
            }
    }
    TAP_IS_INT(pairs, 4 * NSTATES * NEVENTS, "every pair was checked");

    /* the properties the issue states, spelled out */
    {
        enum dcv_job_state to;
        int next;
        TAP_IS_INT(dcv_job_transition(DCV_JOB_DONE, DCV_EV_RETRY, 1, 3, &to, &next, err, sizeof err), -EINVAL,
                   "DONE is final even for RETRY");
        TAP_OK(dcv_job_transition(DCV_JOB_RUNNING, DCV_EV_REQUEUE_BUSY, 2, 3, &to, &next, err, sizeof err) == 0 &&
                   to == DCV_JOB_QUEUED && next == 2, "REQUEUE_BUSY keeps the attempt");
        TAP_OK(dcv_job_transition(DCV_JOB_RUNNING, DCV_EV_WORKER_LOST, 3, 3, &to, &next, err, sizeof err) == 0 &&
                   to == DCV_JOB_FAILED, "a lost worker on the last attempt fails the job");
        TAP_OK(dcv_job_transition(DCV_JOB_RUNNING, DCV_EV_PROGRESS, 1, 3, &to, &next, err, sizeof err) == 0 &&
                   to == DCV_JOB_RUNNING && next == 1, "PROGRESS changes nothing");
        /* bad arguments */
        TAP_IS_INT(dcv_job_transition(DCV_JOB_QUEUED, DCV_EV_ASSIGN, 0, 3, &to, &next, err, sizeof err), -EINVAL,
                   "attempt 0 refused");
        TAP_IS_INT(dcv_job_transition(DCV_JOB_QUEUED, DCV_EV_ASSIGN, 1, 0, &to, &next, err, sizeof err), -EINVAL,
                   "max_attempts 0 refused");
        TAP_IS_INT(dcv_job_transition((enum dcv_job_state)42, DCV_EV_ASSIGN, 1, 3, &to, &next, err, sizeof err),
                   -EINVAL, "out-of-range state refused");
        TAP_IS_INT(dcv_job_transition(DCV_JOB_QUEUED, (enum dcv_job_event)-3, 1, 3, &to, &next, err, sizeof err),
                   -EINVAL, "out-of-range event refused");
        TAP_IS_INT(dcv_job_transition(DCV_JOB_FAILED, DCV_EV_RETRY, 2147483647, 3, &to, &next, err, sizeof err),
                   -EINVAL, "attempt counter cannot overflow");
        TAP_IS_INT(dcv_job_transition(DCV_JOB_DONE, DCV_EV_CANCEL, 1, 3, &to, &next, NULL, 0), -EINVAL,
                   "NULL err buffer is fine");
    }
    return tap_done();
}

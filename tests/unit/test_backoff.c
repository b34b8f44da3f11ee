/*
 * Retry back-off (issue 4, item 3): the pure delay function, and the job
 * store applying it — a spent attempt waits, a busy requeue and an
 * operator's retry do not, and the dispatch listing leaves waiting jobs out
 * until they are due. A store migrated from schema 1 gets the column.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sqlite3.h>

#include "coordinator/store.h"
#include "tap.h"

static char dir[256];
static char err[512];

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_function(void)
{
    /* the upper end (rnd = d/2) and the lower end (rnd = 0) of each retry */
    TAP_IS_INT(dcv_retry_backoff_ms(1, 1000, 60000, 500), 1000, "retry 1: at most the base");
    TAP_IS_INT(dcv_retry_backoff_ms(1, 1000, 60000, 0), 500, "retry 1: at least half the base");
    TAP_IS_INT(dcv_retry_backoff_ms(2, 1000, 60000, 1000), 2000, "retry 2 doubles");
    TAP_IS_INT(dcv_retry_backoff_ms(3, 1000, 60000, 2000), 4000, "retry 3 doubles again");
    TAP_IS_INT(dcv_retry_backoff_ms(7, 1000, 60000, 30000), 60000, "retry 7 is capped (64 s > 60 s)");
    TAP_IS_INT(dcv_retry_backoff_ms(7, 1000, 60000, 0), 30000, "capped value keeps its jitter");
    TAP_IS_INT(dcv_retry_backoff_ms(1000, 1000, 60000, 30000), 60000,
               "a huge retry number neither overflows nor passes the cap");
    TAP_IS_INT(dcv_retry_backoff_ms(1, 5000, 2000, 1000), 2000, "a cap below the base wins");
    TAP_IS_INT(dcv_retry_backoff_ms(3, 0, 60000, 7), 0, "base 0: no back-off");
    TAP_IS_INT(dcv_retry_backoff_ms(3, 1000, 0, 7), 0, "cap 0: no back-off");
    TAP_IS_INT(dcv_retry_backoff_ms(0, 1000, 60000, 7), 0, "retry 0 (not a retry): no wait");

    /* every random value lands in [d/2, d]; and values do spread */
    int in_range = 1, distinct = 0;
    int64_t prev = -1;
    for (uint32_t rnd = 0; rnd < 5000; rnd += 7) {
        int64_t d = dcv_retry_backoff_ms(2, 1000, 60000, rnd * 2654435761u);
        if (d < 1000 || d > 2000)
            in_range = 0;
        if (d != prev)
            distinct++;
        prev = d;
    }
    TAP_OK(in_range, "jitter keeps retry 2 within [1000, 2000] ms");
    TAP_OK(distinct > 100, "jitter spreads the waits (%d distinct)", distinct);
}

static int count_cb(const struct dcv_job *j, void *ud)
{
    (void)j;
    (*(int *)ud)++;
    return 0;
}

static int due_count(struct dcv_store *s, int64_t now)
{
    int n = 0;
    if (dcv_store_list_due(s, now, 0, count_cb, &n, err, sizeof err) < 0)
        return -1;
    return n;
}

static struct dcv_job get(struct dcv_store *s, const char *id)
{
    struct dcv_job j;
    if (dcv_store_get(s, id, &j, err, sizeof err) < 0)
        tap_bail("get %s: %s", id, err);
    return j;
}

static void test_store(void)
{
    struct dcv_store *s;
    struct dcv_job j;
    struct dcv_job_new rq;
    char id[DCV_JOB_ID_LEN + 1];
    int created;
    int64_t t0, when;

    if (dcv_store_open(dir, &s, err, sizeof err) < 0)
        tap_bail("open: %s", err);
    dcv_store_set_backoff(s, 4000, 60000);
    memset(&rq, 0, sizeof rq);
    rq.max_attempts = 5;
    rq.profile_json = "{}";
    rq.input_json = "{}";
    if (dcv_store_submit(s, &rq, &j, &created, err, sizeof err) < 0)
        tap_bail("submit: %s", err);
    memcpy(id, j.id, sizeof id);
    dcv_job_clear(&j);
    TAP_IS_INT(due_count(s, wall_ms()), 1, "a new job is due at once");

    /* attempt 1 lost: waits 2..4 s */
    t0 = wall_ms();
    TAP_IS_INT(dcv_store_apply(s, id, DCV_EV_ASSIGN, 1, NULL, "w1", "s1", NULL, NULL, err, sizeof err), 0, "assign");
    TAP_IS_INT(dcv_store_apply(s, id, DCV_EV_WORKER_LOST, 1, NULL, NULL, NULL, "worker lost", NULL, err,
                               sizeof err), 0, "worker lost");
    j = get(s, id);
    TAP_OK(j.state == DCV_JOB_QUEUED && j.attempt == 2, "requeued on attempt 2");
    TAP_OK(j.not_before_ms >= t0 + 2000 && j.not_before_ms <= wall_ms() + 4000,
           "it waits 2..4 s (%lld ms)", (long long)(j.not_before_ms - t0));
    TAP_IS_INT(due_count(s, wall_ms()), 0, "the dispatch listing leaves it out now");
    TAP_IS_INT(due_count(s, j.not_before_ms), 1, "and lists it once it is due");
    TAP_IS_INT(dcv_store_next_due(s, wall_ms(), &when, err, sizeof err), 1, "next due found");
    TAP_IS_INT(when, j.not_before_ms, "next due is its time");
    int64_t first = j.not_before_ms - t0;
    dcv_job_clear(&j);

    /* attempt 2 fails retryably: waits twice as long (4..8 s) */
    t0 = wall_ms();
    TAP_IS_INT(dcv_store_apply(s, id, DCV_EV_ASSIGN, 2, NULL, "w2", "s2", NULL, NULL, err, sizeof err), 0, "assign 2");
    TAP_IS_INT(dcv_store_apply(s, id, DCV_EV_FAIL_RETRYABLE, 2, NULL, NULL, "s2", "nospace: disk full",
                               NULL, err, sizeof err), 0, "retryable failure");
    j = get(s, id);
    TAP_OK(j.not_before_ms >= t0 + 4000 && j.not_before_ms <= wall_ms() + 8000,
           "second retry waits 4..8 s (%lld ms; first %lld)", (long long)(j.not_before_ms - t0),
           (long long)first);
    dcv_job_clear(&j);

    /* busy: the same attempt, no wait of its own */
    TAP_IS_INT(dcv_store_apply(s, id, DCV_EV_ASSIGN, 3, NULL, "w1", "s3", NULL, NULL, err, sizeof err), 0, "assign 3");
    TAP_IS_INT(dcv_store_apply(s, id, DCV_EV_REQUEUE_BUSY, 3, NULL, NULL, "s3", "busy", NULL, err,
                               sizeof err), 0, "busy requeue");
    j = get(s, id);
    TAP_OK(j.state == DCV_JOB_QUEUED && j.attempt == 3 && j.not_before_ms == 0,
           "busy requeue: same attempt, due at once");
    dcv_job_clear(&j);
    TAP_IS_INT(dcv_store_next_due(s, wall_ms(), &when, err, sizeof err), 0, "nothing waits");

    /* the last attempt fails: FAILED; an operator's retry runs at once */
    TAP_IS_INT(dcv_store_apply(s, id, DCV_EV_FAIL_PERMANENT, 3, NULL, NULL, NULL, "input: bad", NULL,
                               err, sizeof err), 0, "permanent failure");
    TAP_IS_INT(dcv_store_apply(s, id, DCV_EV_RETRY, 3, NULL, NULL, NULL, NULL, NULL, err, sizeof err),
               0, "operator retry");
    j = get(s, id);
    TAP_OK(j.state == DCV_JOB_QUEUED && j.not_before_ms == 0, "operator retry: due at once");
    dcv_job_clear(&j);

    /* back-off off: a lost worker's job is due at once */
    dcv_store_set_backoff(s, 0, 60000);
    TAP_IS_INT(dcv_store_apply(s, id, DCV_EV_ASSIGN, 4, NULL, "w1", "s4", NULL, NULL, err, sizeof err), 0, "assign 4");
    TAP_IS_INT(dcv_store_apply(s, id, DCV_EV_WORKER_LOST, 4, NULL, NULL, NULL, "worker lost", NULL, err,
                               sizeof err), 0, "worker lost again");
    j = get(s, id);
    TAP_OK(j.state == DCV_JOB_QUEUED && j.not_before_ms == 0, "retry_backoff_ms 0: no wait");
    dcv_job_clear(&j);
    dcv_store_close(&s);
}

/* A store written by the first schema gets the column, 0 for its jobs. */
static void test_migration(void)
{
    char sub[300], path[400];
    struct dcv_store *s;
    sqlite3 *db;
    int n = 0;

    snprintf(sub, sizeof sub, "%s/v1", dir);
    mkdir(sub, 0700);
    snprintf(path, sizeof path, "%s/jobs.db", sub);
    if (sqlite3_open(path, &db) != SQLITE_OK ||
        sqlite3_exec(db,
                     "CREATE TABLE schema_version (version INTEGER NOT NULL);"
                     "INSERT INTO schema_version VALUES (1);"
                     "CREATE TABLE jobs (id TEXT PRIMARY KEY NOT NULL, idem_key TEXT UNIQUE,"
                     " created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL, state TEXT NOT NULL,"
                     " attempt INTEGER NOT NULL, max_attempts INTEGER NOT NULL,"
                     " prio_class INTEGER NOT NULL, priority INTEGER NOT NULL, profile TEXT NOT NULL,"
                     " input TEXT NOT NULL, output TEXT, last_error TEXT, worker TEXT, session TEXT);"
                     "CREATE TABLE attempts (job_id TEXT NOT NULL, seq INTEGER NOT NULL,"
                     " attempt INTEGER NOT NULL, worker TEXT, session TEXT,"
                     " started_ms INTEGER NOT NULL, ended_ms INTEGER, outcome TEXT, error TEXT,"
                     " PRIMARY KEY (job_id, seq));"
                     "INSERT INTO jobs VALUES ('0123456789abcdef0123456789abcdef', NULL, 1, 1,"
                     " 'QUEUED', 2, 3, 1, 0, '{}', '{}', NULL, NULL, NULL, NULL);",
                     NULL, NULL, NULL) != SQLITE_OK)
        tap_bail("cannot make a schema-1 store: %s", sqlite3_errmsg(db));
    sqlite3_close(db);
    TAP_IS_INT(dcv_store_open(sub, &s, err, sizeof err), 0, "a schema-1 store opens (migrated)");
    if (!s)
        return;
    TAP_IS_INT(dcv_store_list_due(s, wall_ms(), 0, count_cb, &n, err, sizeof err), 0, "list due");
    TAP_IS_INT(n, 1, "its queued job is due at once");
    dcv_store_close(&s);
}

int main(void)
{
    char cmd[300];

    tap_mkdtemp(dir, sizeof dir, "backoff");
    test_function();
    test_store();
    test_migration();
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        tap_diag("could not remove %s", dir);
    return tap_done();
}

/* Job store on a real SQLite file in a temp dir. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "coordinator/store.h"
#include "tap.h"

static char dir[256];
static char err[512];

static struct dcv_job_new req(const char *key, enum dcv_prio_class pc, int prio)
{
    struct dcv_job_new r;
    memset(&r, 0, sizeof r);
    r.idempotency_key = key;
    r.prio_class = pc;
    r.priority = prio;
    r.profile_json = "{\"video\":{\"codec\":\"h264\"}}";
    r.input_json = "{\"blob\":\"in\"}";
    return r;
}

/* Submit or bail; returns the new job's id in a rotating buffer. */
static const char *submit(struct dcv_store *s, const char *key, enum dcv_prio_class pc, int prio, int max)
{
    static char ids[16][DCV_JOB_ID_LEN + 1];
    static int next;
    struct dcv_job_new r = req(key, pc, prio);
    struct dcv_job j;
    int created;
    r.max_attempts = max;
    if (dcv_store_submit(s, &r, &j, &created, err, sizeof err) < 0)
        tap_bail("submit: %s", err);
    char *p = ids[next++ % 16];
    memcpy(p, j.id, sizeof j.id);
    dcv_job_clear(&j);
    return p;
}

static int apply(struct dcv_store *s, const char *id, enum dcv_job_event ev, int attempt, const char *worker,
                 const char *session, const char *error)
{
    err[0] = '\0';
    return dcv_store_apply(s, id, ev, attempt, NULL, worker, session, error, NULL, err, sizeof err);
}

static struct dcv_job get(struct dcv_store *s, const char *id)
{
    struct dcv_job j;
    if (dcv_store_get(s, id, &j, err, sizeof err) < 0)
        tap_bail("get %s: %s", id, err);
    return j;
}

static int state_of(struct dcv_store *s, const char *id, int *attempt)
{
    struct dcv_job j = get(s, id);
    int st = (int)j.state;
    if (attempt)
        *attempt = j.attempt;
    dcv_job_clear(&j);
    return st;
}

static size_t history_len(struct dcv_store *s, const char *id)
{
    struct dcv_transition *h;
    size_t n;
    if (dcv_store_history(s, id, &h, &n, err, sizeof err) < 0)
        tap_bail("history: %s", err);
    dcv_store_history_free(h, n);
    return n;
}

struct collect {
    char ids[32][DCV_JOB_ID_LEN + 1];
    int n;
};

static int collect_cb(const struct dcv_job *j, void *ud)
{
    struct collect *c = ud;
    if (c->n < 32)
        memcpy(c->ids[c->n++], j->id, sizeof j->id);
    return 0;
}

static void test_open(void)
{
    struct dcv_store *s = NULL;
    char path[512];
    struct stat sb;

    TAP_IS_INT(dcv_store_open("/nonexistent/dir", &s, err, sizeof err), -ENOENT, "open in a missing dir fails");
    TAP_HAS_STR(err, "/nonexistent/dir", "error names the dir");
    TAP_IS_INT(dcv_store_open("", &s, err, sizeof err), -EINVAL, "empty dir refused");
    TAP_IS_INT(dcv_store_open(dir, &s, err, sizeof err), 0, "open creates the store");
    snprintf(path, sizeof path, "%s/jobs.db", dir);
    TAP_OK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600, "store file is 0600");
    dcv_store_close(&s);

    /* check the pragmas through a second, independent connection */
    sqlite3 *db;
    sqlite3_stmt *st;
    TAP_IS_INT(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK, "sqlite opens the file");
    TAP_OK(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL) == SQLITE_OK &&
               sqlite3_step(st) == SQLITE_ROW && strcmp((const char *)sqlite3_column_text(st, 0), "wal") == 0,
           "journal mode is WAL");
    sqlite3_finalize(st);
    TAP_OK(sqlite3_prepare_v2(db, "SELECT max(version) FROM schema_version", -1, &st, NULL) == SQLITE_OK &&
               sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 6,
           "schema_version is 6 (log tails, blob facts, API tokens, listing indexes)");
    sqlite3_finalize(st);
    sqlite3_close(db);

    /* a newer schema than this program knows is refused, not clobbered */
    char sub[300];
    snprintf(sub, sizeof sub, "%s/newer", dir);
    mkdir(sub, 0700);
    snprintf(path, sizeof path, "%s/jobs.db", sub);
    if (sqlite3_open(path, &db) != SQLITE_OK ||
        sqlite3_exec(db, "CREATE TABLE schema_version (version INTEGER NOT NULL);"
                         "INSERT INTO schema_version VALUES (99)", NULL, NULL, NULL) != SQLITE_OK)
        tap_bail("cannot make a newer store");
    sqlite3_close(db);
    TAP_IS_INT(dcv_store_open(sub, &s, err, sizeof err), -EPROTONOSUPPORT, "newer schema refused");
    TAP_HAS_STR(err, "newer", "message says why");
    TAP_OK(s == NULL, "no handle on failure");
}

static void test_submit_get_list(struct dcv_store *s)
{
    struct dcv_job_new r = req(NULL, DCV_PRIO_NORMAL, 0);
    struct dcv_job j, g;
    int created = -1;

    r.output_json = "{\"container\":\"mkv\"}";
    TAP_IS_INT(dcv_store_submit(s, &r, &j, &created, err, sizeof err), 0, "submit");
    TAP_IS_INT(created, 1, "created");
    TAP_IS_INT(strlen(j.id), DCV_JOB_ID_LEN, "id is 32 chars");
    TAP_OK(strspn(j.id, "0123456789abcdef") == DCV_JOB_ID_LEN, "id is hex");
    TAP_IS_INT(j.state, DCV_JOB_QUEUED, "new job is QUEUED");
    TAP_IS_INT(j.attempt, 1, "attempt 1");
    TAP_IS_INT(j.max_attempts, 3, "default max_attempts 3");
    TAP_OK(j.created_ms > 0 && j.updated_ms == j.created_ms, "times set");
    TAP_OK(j.idempotency_key == NULL, "no key");
    TAP_IS_INT(dcv_store_get(s, j.id, &g, err, sizeof err), 0, "get");
    TAP_IS_STR(g.profile_json, r.profile_json, "profile round-trips");
    TAP_IS_STR(g.input_json, r.input_json, "input round-trips");
    TAP_IS_STR(g.output_json, r.output_json, "output round-trips");
    TAP_IS_INT(g.prio_class, DCV_PRIO_NORMAL, "class round-trips");
    dcv_job_clear(&g);

    struct dcv_job j2;
    TAP_IS_INT(dcv_store_submit(s, &r, &j2, &created, err, sizeof err), 0, "second submit");
    TAP_OK(strcmp(j.id, j2.id) != 0, "two submits without a key: two ids");
    TAP_IS_INT(apply(s, j2.id, DCV_EV_CANCEL, 1, NULL, NULL, NULL), 0, "cancel the second");

    struct collect c = { .n = 0 };
    TAP_IS_INT(dcv_store_list(s, -1, 0, 0, collect_cb, &c, err, sizeof err), 0, "list all");
    TAP_IS_INT(c.n, 2, "two jobs");
    TAP_OK(c.n == 2 && strcmp(c.ids[0], j.id) == 0 && strcmp(c.ids[1], j2.id) == 0, "creation order");
    c.n = 0;
    TAP_IS_INT(dcv_store_list(s, DCV_JOB_CANCELLED, 0, 0, collect_cb, &c, err, sizeof err), 0, "list cancelled");
    TAP_OK(c.n == 1 && strcmp(c.ids[0], j2.id) == 0, "state filter");
    c.n = 0;
    TAP_IS_INT(dcv_store_list(s, -1, 1, 1, collect_cb, &c, err, sizeof err), 0, "list limit/offset");
    TAP_OK(c.n == 1 && strcmp(c.ids[0], j2.id) == 0, "limit 1 offset 1 gives the second");
    TAP_IS_INT(dcv_store_list(s, 77, 0, 0, collect_cb, &c, err, sizeof err), -EINVAL, "bad state filter");

    TAP_IS_INT(dcv_store_get(s, "0123456789abcdef0123456789abcdef", &g, err, sizeof err), -ENOENT,
               "unknown id -> ENOENT");
    TAP_IS_INT(dcv_store_get(s, "../../etc/passwd", &g, err, sizeof err), -EINVAL, "non-hex id refused");
    TAP_IS_INT(dcv_store_get(s, "' OR 1=1 --", &g, err, sizeof err), -EINVAL, "SQL-ish id refused");
    /* clean up so the queue holds only what later tests put there */
    TAP_IS_INT(apply(s, j.id, DCV_EV_CANCEL, 1, NULL, NULL, NULL), 0, "cancel the first");
    dcv_job_clear(&j);
    dcv_job_clear(&j2);
}

static void test_idempotency(struct dcv_store *s)
{
    struct dcv_job_new r = req("cli-7f3a-retry", DCV_PRIO_NORMAL, 0);
    struct dcv_job a, b, c;
    int ca = -1, cb = -1, cc = -1;

    TAP_IS_INT(dcv_store_submit(s, &r, &a, &ca, err, sizeof err), 0, "keyed submit");
    TAP_IS_INT(ca, 1, "first: created");
    r.priority = 99; /* a retry carries the same key; whatever else it says, it is the same job */
    TAP_IS_INT(dcv_store_submit(s, &r, &b, &cb, err, sizeof err), 0, "same key again");
    TAP_IS_INT(cb, 0, "second: not created");
    TAP_IS_STR(b.id, a.id, "same id returned");
    TAP_IS_INT(b.priority, 0, "existing job returned unchanged");
    TAP_IS_STR(b.idempotency_key, "cli-7f3a-retry", "key stored");
    r.idempotency_key = "cli-other";
    TAP_IS_INT(dcv_store_submit(s, &r, &c, &cc, err, sizeof err), 0, "different key");
    TAP_OK(cc == 1 && strcmp(c.id, a.id) != 0, "different key: new job");

    int n = 0;
    struct collect col = { .n = 0 };
    dcv_store_list(s, DCV_JOB_QUEUED, 0, 0, collect_cb, &col, err, sizeof err);
    for (int i = 0; i < col.n; i++)
        n += strcmp(col.ids[i], a.id) == 0;
    TAP_IS_INT(n, 1, "exactly one job for the key");
    apply(s, a.id, DCV_EV_CANCEL, 1, NULL, NULL, NULL);
    apply(s, c.id, DCV_EV_CANCEL, 1, NULL, NULL, NULL);
    /* a terminal job still owns its key */
    r.idempotency_key = "cli-7f3a-retry";
    dcv_job_clear(&b);
    TAP_OK(dcv_store_submit(s, &r, &b, &cb, err, sizeof err) == 0 && cb == 0 && strcmp(b.id, a.id) == 0 &&
               b.state == DCV_JOB_CANCELLED, "key of a cancelled job still returns that job");
    dcv_job_clear(&a);
    dcv_job_clear(&b);
    dcv_job_clear(&c);
}

static void test_priority(struct dcv_store *s)
{
    const char *low = submit(s, NULL, DCV_PRIO_LOW, 100, 0);
    const char *n1 = submit(s, NULL, DCV_PRIO_NORMAL, 0, 0);
    const char *n2 = submit(s, NULL, DCV_PRIO_NORMAL, 5, 0);
    const char *n3 = submit(s, NULL, DCV_PRIO_NORMAL, 0, 0);
    const char *high = submit(s, NULL, DCV_PRIO_HIGH, -10, 0);
    const char *order[] = { high, n2, n1, n3, low };
    struct collect c = { .n = 0 };
    struct dcv_job j;

    TAP_IS_INT(dcv_store_list_queued(s, 0, 0, collect_cb, &c, err, sizeof err), 0, "queued list");
    TAP_IS_INT(c.n, 5, "five queued");
    for (int i = 0; i < 5 && i < c.n; i++)
        TAP_IS_STR(c.ids[i], order[i], "schedule order: class, priority, FIFO");
    for (int i = 0; i < 5; i++) {
        TAP_IS_INT(dcv_store_next_queued(s, &j, err, sizeof err), 1, "next queued found");
        TAP_IS_STR(j.id, order[i], "next_queued picks in order");
        TAP_IS_INT(apply(s, j.id, DCV_EV_ASSIGN, 1, "w1", "s1", NULL), 0, "assign it");
        dcv_job_clear(&j);
    }
    TAP_IS_INT(dcv_store_next_queued(s, &j, err, sizeof err), 0, "queue empty -> 0");
    for (int i = 0; i < 5; i++)
        apply(s, order[i], DCV_EV_CANCEL, 1, NULL, NULL, NULL);
}

static void test_lifecycle(struct dcv_store *s)
{
    const char *id = submit(s, NULL, DCV_PRIO_NORMAL, 0, 3);
    struct dcv_transition *h;
    struct dcv_attempt *a;
    struct dcv_job j;
    size_t n;

    TAP_IS_INT(apply(s, id, DCV_EV_ASSIGN, 1, NULL, NULL, NULL), -EINVAL, "ASSIGN without worker refused");
    TAP_IS_INT(dcv_store_apply(s, id, DCV_EV_ASSIGN, 1, "scheduler: least-loaded", "wA", "sessA", NULL, &j,
                               err, sizeof err), 0, "assign");
    TAP_OK(j.state == DCV_JOB_ASSIGNED && j.worker && strcmp(j.worker, "wA") == 0 && j.session &&
               strcmp(j.session, "sessA") == 0, "out reflects the assignment");
    dcv_job_clear(&j);
    TAP_IS_INT(apply(s, id, DCV_EV_ACCEPT, 1, "wA", "sessA", NULL), 0, "accept");
    TAP_IS_INT(apply(s, id, DCV_EV_PROGRESS, 1, "wA", "sessA", NULL), 0, "progress");
    TAP_IS_INT(apply(s, id, DCV_EV_VERIFY, 1, "wA", "sessA", NULL), 0, "verify");
    TAP_IS_INT(apply(s, id, DCV_EV_SUCCEED, 1, "wA", "sessA", NULL), 0, "succeed");
    TAP_IS_INT(state_of(s, id, NULL), DCV_JOB_DONE, "job DONE");

    TAP_IS_INT(dcv_store_history(s, id, &h, &n, err, sizeof err), 0, "history");
    TAP_IS_INT(n, 4, "four transitions (PROGRESS is not history)");
    if (n == 4) {
        TAP_OK(h[0].from == DCV_JOB_QUEUED && h[0].to == DCV_JOB_ASSIGNED && h[0].event == DCV_EV_ASSIGN &&
                   h[0].seq == 1 && h[0].attempt == 1, "h1 QUEUED->ASSIGNED");
        TAP_IS_STR(h[0].note, "scheduler: least-loaded", "note kept");
        TAP_OK(h[1].from == DCV_JOB_ASSIGNED && h[1].to == DCV_JOB_RUNNING && h[1].event == DCV_EV_ACCEPT,
               "h2 ASSIGNED->RUNNING");
        TAP_OK(h[2].to == DCV_JOB_VERIFYING && h[3].to == DCV_JOB_DONE && h[3].seq == 4, "h3, h4");
        TAP_OK(h[3].time_ms >= h[0].time_ms, "times ordered");
    }
    dcv_store_history_free(h, n);
    TAP_IS_INT(dcv_store_attempts(s, id, &a, &n, err, sizeof err), 0, "attempts");
    TAP_IS_INT(n, 1, "one attempt row");
    if (n == 1) {
        TAP_OK(a[0].attempt == 1 && strcmp(a[0].worker, "wA") == 0 && strcmp(a[0].session, "sessA") == 0,
               "attempt worker/session");
        TAP_OK(a[0].ended_ms >= a[0].started_ms && a[0].ended_ms > 0, "attempt closed");
        TAP_IS_STR(a[0].outcome, "done", "outcome done");
    }
    dcv_store_attempts_free(a, n);

    /* illegal: nothing recorded */
    TAP_IS_INT(apply(s, id, DCV_EV_CANCEL, 1, NULL, NULL, NULL), -EINVAL, "DONE on CANCEL refused");
    TAP_HAS_STR(err, "job cannot go from DONE on CANCEL", "illegal-move message");
    TAP_IS_INT(history_len(s, id), 4, "no history row for the illegal move");
    TAP_IS_INT(apply(s, id, DCV_EV_RETRY, 1, NULL, NULL, NULL), -EINVAL, "DONE on RETRY refused");
    TAP_IS_INT(apply(s, "0123456789abcdef0123456789abcdef", DCV_EV_CANCEL, 1, NULL, NULL, NULL), -ENOENT,
               "apply to unknown job -> ENOENT");
    TAP_IS_INT(dcv_store_history(s, "0123456789abcdef0123456789abcdef", &h, &n, err, sizeof err), -ENOENT,
               "history of unknown job -> ENOENT");
}

static void test_fencing(struct dcv_store *s)
{
    const char *id = submit(s, NULL, DCV_PRIO_NORMAL, 0, 3);
    int att;

    apply(s, id, DCV_EV_ASSIGN, 1, "wA", "sA", NULL);
    apply(s, id, DCV_EV_ACCEPT, 1, "wA", "sA", NULL);
    TAP_IS_INT(apply(s, id, DCV_EV_FAIL_RETRYABLE, 1, "wA", "sA", "encoder crashed"), 0, "retryable failure");
    TAP_IS_INT(state_of(s, id, &att), DCV_JOB_QUEUED, "back to QUEUED");
    TAP_IS_INT(att, 2, "attempt 2");
    apply(s, id, DCV_EV_ASSIGN, 2, "wB", "sB", NULL);
    apply(s, id, DCV_EV_ACCEPT, 2, "wB", "sB", NULL);
    size_t hl = history_len(s, id);
    struct dcv_job before = get(s, id);

    /* the old attempt's worker finally reports success */
    TAP_IS_INT(apply(s, id, DCV_EV_SUCCEED, 1, "wA", "sA", NULL), -ESTALE, "stale attempt -> ESTALE");
    TAP_HAS_STR(err, "stale", "message says stale");
    TAP_IS_INT(apply(s, id, DCV_EV_SUCCEED, 2, "wA", "sA", NULL), -ESTALE, "right attempt, wrong session -> ESTALE");
    TAP_IS_INT(apply(s, id, DCV_EV_CANCEL, 3, NULL, NULL, NULL), -ESTALE, "future attempt -> ESTALE");
    struct dcv_job after = get(s, id);
    TAP_OK(after.state == before.state && after.attempt == before.attempt && after.updated_ms == before.updated_ms &&
               strcmp(after.session, "sB") == 0, "nothing changed");
    TAP_IS_INT(history_len(s, id), hl, "no history row");
    TAP_IS_STR(after.last_error, "encoder crashed", "last error kept from attempt 1");
    dcv_job_clear(&before);
    dcv_job_clear(&after);
    TAP_IS_INT(apply(s, id, DCV_EV_SUCCEED, 2, "wB", "sB", NULL), 0, "current holder succeeds");
}

static void test_retries(struct dcv_store *s)
{
    const char *id = submit(s, NULL, DCV_PRIO_NORMAL, 0, 3);
    struct dcv_attempt *a;
    size_t n;
    int att = 0;

    for (int i = 1; i <= 3; i++) {
        apply(s, id, DCV_EV_ASSIGN, i, "w", "s", NULL);
        apply(s, id, DCV_EV_ACCEPT, i, "w", "s", NULL);
        TAP_IS_INT(apply(s, id, DCV_EV_FAIL_RETRYABLE, i, "w", "s", "transient"), 0, "retryable failure");
        TAP_IS_INT(state_of(s, id, &att), i < 3 ? DCV_JOB_QUEUED : DCV_JOB_FAILED,
                   i < 3 ? "requeued" : "FAILED after max_attempts");
    }
    TAP_IS_INT(att, 3, "attempt stays 3");
    TAP_IS_INT(dcv_store_attempts(s, id, &a, &n, err, sizeof err), 0, "attempts");
    TAP_IS_INT(n, 3, "three attempt rows");
    if (n == 3) {
        TAP_OK(a[0].attempt == 1 && a[1].attempt == 2 && a[2].attempt == 3, "numbered 1..3");
        TAP_IS_STR(a[0].outcome, "retryable", "first outcome retryable");
        TAP_IS_STR(a[2].outcome, "failed", "last outcome failed");
        TAP_IS_STR(a[2].error, "transient", "error text kept");
    }
    dcv_store_attempts_free(a, n);
    /* operator retry */
    TAP_IS_INT(apply(s, id, DCV_EV_RETRY, 3, NULL, NULL, NULL), 0, "operator retry of FAILED");
    TAP_IS_INT(state_of(s, id, &att), DCV_JOB_QUEUED, "QUEUED again");
    TAP_IS_INT(att, 4, "new attempt 4");

    /* permanent failure does not retry */
    const char *p = submit(s, NULL, DCV_PRIO_NORMAL, 0, 3);
    apply(s, p, DCV_EV_ASSIGN, 1, "w", "s", NULL);
    TAP_IS_INT(apply(s, p, DCV_EV_FAIL_PERMANENT, 1, "w", "s", "bad input"), 0, "permanent failure");
    TAP_IS_INT(state_of(s, p, NULL), DCV_JOB_FAILED, "FAILED at once");
    apply(s, id, DCV_EV_CANCEL, 4, NULL, NULL, NULL);
}

static void test_busy(struct dcv_store *s)
{
    const char *id = submit(s, NULL, DCV_PRIO_NORMAL, 0, 1);
    struct dcv_attempt *a;
    size_t n;
    int att;

    for (int i = 0; i < 3; i++) {
        apply(s, id, DCV_EV_ASSIGN, 1, "gpu", "s", NULL);
        apply(s, id, DCV_EV_ACCEPT, 1, "gpu", "s", NULL);
        TAP_IS_INT(apply(s, id, DCV_EV_REQUEUE_BUSY, 1, "gpu", "s", "nvenc: EBUSY"), 0, "requeue busy");
        TAP_IS_INT(state_of(s, id, &att), DCV_JOB_QUEUED, "QUEUED");
        TAP_IS_INT(att, 1, "attempt not spent (max_attempts 1)");
    }
    TAP_IS_INT(dcv_store_attempts(s, id, &a, &n, err, sizeof err), 0, "attempts");
    TAP_OK(n == 3 && a[0].attempt == 1 && a[2].attempt == 1 && a[2].seq == 3 && strcmp(a[1].outcome, "busy") == 0,
           "three rows for attempt 1, outcome busy");
    dcv_store_attempts_free(a, n);
    apply(s, id, DCV_EV_CANCEL, 1, NULL, NULL, NULL);
}

static void test_worker_lost(struct dcv_store *s)
{
    const char *a1 = submit(s, NULL, DCV_PRIO_NORMAL, 0, 3);
    const char *a2 = submit(s, NULL, DCV_PRIO_NORMAL, 0, 3);
    const char *old = submit(s, NULL, DCV_PRIO_NORMAL, 0, 3);
    const char *b = submit(s, NULL, DCV_PRIO_NORMAL, 0, 3);
    const char *q = submit(s, NULL, DCV_PRIO_NORMAL, 0, 3);
    int att;

    apply(s, a1, DCV_EV_ASSIGN, 1, "wA", "s2", NULL);
    apply(s, a1, DCV_EV_ACCEPT, 1, "wA", "s2", NULL);
    apply(s, a2, DCV_EV_ASSIGN, 1, "wA", "s2", NULL);
    apply(s, old, DCV_EV_ASSIGN, 1, "wA", "s1", NULL); /* same worker, an older session */
    apply(s, b, DCV_EV_ASSIGN, 1, "wB", "s9", NULL);
    apply(s, b, DCV_EV_ACCEPT, 1, "wB", "s9", NULL);

    TAP_IS_INT(dcv_store_requeue_running_of_worker(s, "wA", "s2", "heartbeat timeout", err, sizeof err), 2,
               "two jobs of wA/s2 requeued");
    TAP_OK(state_of(s, a1, &att) == DCV_JOB_QUEUED && att == 2, "a1 QUEUED attempt 2");
    TAP_OK(state_of(s, a2, &att) == DCV_JOB_QUEUED && att == 2, "a2 QUEUED attempt 2");
    TAP_IS_INT(state_of(s, old, NULL), DCV_JOB_ASSIGNED, "other session untouched");
    TAP_IS_INT(state_of(s, b, NULL), DCV_JOB_RUNNING, "other worker untouched");
    TAP_IS_INT(state_of(s, q, NULL), DCV_JOB_QUEUED, "queued job untouched");
    struct dcv_job j = get(s, a1);
    TAP_IS_STR(j.last_error, "worker lost", "last error says worker lost");
    dcv_job_clear(&j);
    TAP_IS_INT(dcv_store_requeue_running_of_worker(s, "wA", NULL, NULL, err, sizeof err), 1,
               "session NULL: every session of wA");
    TAP_IS_INT(dcv_store_requeue_running_of_worker(s, "wA", NULL, NULL, err, sizeof err), 0, "nothing left");
    TAP_IS_INT(dcv_store_requeue_running_of_worker(s, NULL, NULL, NULL, err, sizeof err), -EINVAL, "NULL worker refused");
    const char *all[] = { a1, a2, old, b, q };
    for (int i = 0; i < 5; i++) {
        state_of(s, all[i], &att);
        apply(s, all[i], DCV_EV_CANCEL, att, NULL, NULL, NULL);
    }
}

static void test_hostile(struct dcv_store *s)
{
    static char big[DCV_STORE_TEXT_MAX + 2];
    char key[DCV_STORE_KEY_MAX + 2];
    struct dcv_job_new r;
    struct dcv_job j;
    int created;
    struct collect before = { .n = 0 }, after = { .n = 0 };

    dcv_store_list(s, -1, 0, 0, collect_cb, &before, err, sizeof err);
    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    r = req(key, DCV_PRIO_NORMAL, 0);
    TAP_IS_INT(dcv_store_submit(s, &r, &j, &created, err, sizeof err), -EINVAL, "129-byte key refused");
    TAP_HAS_STR(err, "idempotency key", "message names the key");
    key[DCV_STORE_KEY_MAX] = '\0';
    r = req(key, DCV_PRIO_NORMAL, 0);
    TAP_IS_INT(dcv_store_submit(s, &r, &j, &created, err, sizeof err), 0, "128-byte key accepted");
    apply(s, j.id, DCV_EV_CANCEL, 1, NULL, NULL, NULL);
    dcv_job_clear(&j);

    r = req("a\0b", DCV_PRIO_NORMAL, 0);
    r.idempotency_key_len = 3;
    TAP_IS_INT(dcv_store_submit(s, &r, &j, &created, err, sizeof err), -EINVAL, "NUL in key refused");
    TAP_HAS_STR(err, "NUL", "message says NUL");
    r = req("with space", DCV_PRIO_NORMAL, 0);
    TAP_IS_INT(dcv_store_submit(s, &r, &j, &created, err, sizeof err), -EINVAL, "space in key refused");
    r = req("k\n", DCV_PRIO_NORMAL, 0);
    TAP_IS_INT(dcv_store_submit(s, &r, &j, &created, err, sizeof err), -EINVAL, "control char in key refused");
    r = req("", DCV_PRIO_NORMAL, 0);
    TAP_IS_INT(dcv_store_submit(s, &r, &j, &created, err, sizeof err), -EINVAL, "empty key refused");

    memset(big, 'x', sizeof big - 1);
    r = req(NULL, DCV_PRIO_NORMAL, 0);
    r.profile_json = big;
    TAP_IS_INT(dcv_store_submit(s, &r, &j, &created, err, sizeof err), -EINVAL, "64 KiB+1 profile refused");
    TAP_HAS_STR(err, "profile", "message names the profile");
    r = req(NULL, DCV_PRIO_NORMAL, 0);
    r.input_json = "{\"a\":\"b\0c\"}";
    r.input_json_len = 11;
    TAP_IS_INT(dcv_store_submit(s, &r, &j, &created, err, sizeof err), -EINVAL, "NUL inside input JSON refused");
    r = req(NULL, DCV_PRIO_NORMAL, 0);
    r.output_json = big;
    TAP_IS_INT(dcv_store_submit(s, &r, &j, &created, err, sizeof err), -EINVAL, "oversized output refused");
    r = req(NULL, DCV_PRIO_NORMAL, 0);
    r.profile_json = NULL;
    TAP_IS_INT(dcv_store_submit(s, &r, &j, &created, err, sizeof err), -EINVAL, "missing profile refused");
    r = req(NULL, (enum dcv_prio_class)7, 0);
    TAP_IS_INT(dcv_store_submit(s, &r, &j, &created, err, sizeof err), -EINVAL, "bad class refused");
    r = req(NULL, DCV_PRIO_NORMAL, 0);
    r.max_attempts = -1;
    TAP_IS_INT(dcv_store_submit(s, &r, &j, &created, err, sizeof err), -EINVAL, "negative max_attempts refused");
    TAP_IS_INT(dcv_store_submit(s, NULL, &j, &created, err, sizeof err), -EINVAL, "NULL request refused");

    /* SQL metacharacters are data, not code */
    r = req("k');DROP/**/TABLE/**/jobs;--", DCV_PRIO_NORMAL, 0);
    r.profile_json = "'; DELETE FROM jobs; --";
    TAP_IS_INT(dcv_store_submit(s, &r, &j, &created, err, sizeof err), 0, "quotes are just data");
    struct dcv_job g = get(s, j.id);
    TAP_IS_STR(g.profile_json, "'; DELETE FROM jobs; --", "stored verbatim");
    TAP_IS_STR(g.idempotency_key, "k');DROP/**/TABLE/**/jobs;--", "key stored verbatim");
    dcv_job_clear(&g);
    apply(s, j.id, DCV_EV_CANCEL, 1, NULL, NULL, NULL);
    dcv_job_clear(&j);

    const char *id = submit(s, NULL, DCV_PRIO_NORMAL, 0, 0);
    TAP_IS_INT(dcv_store_apply(s, id, DCV_EV_CANCEL, 1, big, NULL, NULL, NULL, NULL, err, sizeof err), -EINVAL,
               "oversized note refused");
    TAP_IS_INT(dcv_store_apply(s, id, (enum dcv_job_event)99, 1, NULL, NULL, NULL, NULL, NULL, err, sizeof err),
               -EINVAL, "unknown event refused");
    TAP_IS_INT(state_of(s, id, NULL), DCV_JOB_QUEUED, "job unchanged");
    apply(s, id, DCV_EV_CANCEL, 1, NULL, NULL, NULL);
    dcv_store_list(s, -1, 0, 0, collect_cb, &after, err, sizeof err);
    TAP_IS_INT(after.n, before.n + 3, "only the accepted submits made jobs");
}

/* A child submits and dies the instant submit returns: the job must be on
 * disk, because that return is what a coordinator acknowledges. */
static void test_durability(int use_kill)
{
    int pfd[2];
    pid_t pid;
    char id[DCV_JOB_ID_LEN + 1] = "";
    int status;

    if (pipe(pfd) < 0)
        tap_bail("pipe");
    pid = fork();
    if (pid < 0)
        tap_bail("fork");
    if (pid == 0) {
        struct dcv_store *cs;
        struct dcv_job_new r = req(use_kill ? "durable-kill" : "durable-exit", DCV_PRIO_HIGH, 7);
        struct dcv_job j;
        int created;
        char e[256];
        close(pfd[0]);
        if (dcv_store_open(dir, &cs, e, sizeof e) < 0 || dcv_store_submit(cs, &r, &j, &created, e, sizeof e) < 0)
            _exit(2);
        /* no close, no free: the process vanishes like a crashed coordinator */
        if (write(pfd[1], j.id, DCV_JOB_ID_LEN) != DCV_JOB_ID_LEN)
            _exit(3);
        if (use_kill)
            raise(SIGKILL);
        _exit(0);
    }
    close(pfd[1]);
    ssize_t got = read(pfd[0], id, DCV_JOB_ID_LEN);
    close(pfd[0]);
    waitpid(pid, &status, 0);
    TAP_IS_INT(got, DCV_JOB_ID_LEN, use_kill ? "SIGKILLed child sent an id" : "_exited child sent an id");
    if (use_kill)
        TAP_OK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "child died by SIGKILL");
    else
        TAP_OK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child _exited");

    struct dcv_store *s;
    struct dcv_job j;
    TAP_IS_INT(dcv_store_open(dir, &s, err, sizeof err), 0, "parent reopens");
    TAP_IS_INT(dcv_store_get(s, id, &j, err, sizeof err), 0, "acknowledged job is on disk");
    TAP_OK(j.prio_class == DCV_PRIO_HIGH && j.priority == 7 && j.state == DCV_JOB_QUEUED, "with its fields");
    dcv_job_clear(&j);
    apply(s, id, DCV_EV_CANCEL, 1, NULL, NULL, NULL);
    dcv_store_close(&s);
}

static void test_reopen(void)
{
    struct dcv_store *s;
    const char *id;
    char keep[DCV_JOB_ID_LEN + 1];
    struct dcv_job j;
    size_t hl;
    int created;

    if (dcv_store_open(dir, &s, err, sizeof err) < 0)
        tap_bail("open: %s", err);
    id = submit(s, "reopen-key", DCV_PRIO_LOW, 3, 5);
    memcpy(keep, id, sizeof keep);
    apply(s, keep, DCV_EV_ASSIGN, 1, "wR", "sR", NULL);
    apply(s, keep, DCV_EV_ACCEPT, 1, "wR", "sR", NULL);
    hl = history_len(s, keep);
    dcv_store_close(&s);

    TAP_IS_INT(dcv_store_open(dir, &s, err, sizeof err), 0, "reopen");
    j = get(s, keep);
    TAP_OK(j.state == DCV_JOB_RUNNING && j.max_attempts == 5 && j.priority == 3 && j.prio_class == DCV_PRIO_LOW &&
               strcmp(j.worker, "wR") == 0, "job survives reopen");
    dcv_job_clear(&j);
    TAP_IS_INT(history_len(s, keep), hl, "history survives reopen");
    struct dcv_job_new r = req("reopen-key", DCV_PRIO_NORMAL, 0);
    TAP_OK(dcv_store_submit(s, &r, &j, &created, err, sizeof err) == 0 && created == 0 && strcmp(j.id, keep) == 0,
           "idempotency key survives reopen");
    dcv_job_clear(&j);
    TAP_IS_INT(dcv_store_requeue_running_of_worker(s, "wR", "sR", "coordinator restart grace", err, sizeof err), 1,
               "requeue after restart");
    dcv_store_close(&s);
}


struct ids_ud {
    int n;
    char ids[8][DCV_JOB_ID_LEN + 1];
};

static int collect_ids(const struct dcv_job *j, void *ud)
{
    struct ids_ud *u = ud;
    if (u->n < 8)
        memcpy(u->ids[u->n], j->id, sizeof j->id);
    u->n++;
    return 0;
}

/* The coordinator service's additions: active listing, counts, output
 * record, re-attach under a new session. A fresh store so counts are exact. */
static void test_coordinator_additions(void)
{
    struct dcv_store *s;
    struct ids_ud u;
    struct dcv_attempt *a;
    struct dcv_job j;
    char sub[300];
    int64_t n;
    size_t na;

    snprintf(sub, sizeof sub, "%s/additions", dir);
    if (mkdir(sub, 0700) < 0 || dcv_store_open(sub, &s, err, sizeof err) < 0)
        tap_bail("open additions store: %s", err);
    const char *a1 = submit(s, NULL, DCV_PRIO_NORMAL, 0, 3);
    const char *a2 = submit(s, NULL, DCV_PRIO_NORMAL, 0, 3);
    const char *a3 = submit(s, NULL, DCV_PRIO_NORMAL, 0, 3);
    TAP_IS_INT(apply(s, a1, DCV_EV_ASSIGN, 1, "w1", "s1", NULL), 0, "additions: assign a1 to w1");
    TAP_IS_INT(apply(s, a2, DCV_EV_ASSIGN, 1, "w2", "s2", NULL), 0, "additions: assign a2 to w2");
    TAP_IS_INT(apply(s, a2, DCV_EV_ACCEPT, 1, NULL, "s2", NULL), 0, "additions: a2 runs");

    memset(&u, 0, sizeof u);
    TAP_IS_INT(dcv_store_list_active(s, "w1", collect_ids, &u, err, sizeof err), 0, "list_active w1");
    TAP_OK(u.n == 1 && strcmp(u.ids[0], a1) == 0, "list_active w1: only its job (%d)", u.n);
    memset(&u, 0, sizeof u);
    TAP_IS_INT(dcv_store_list_active(s, NULL, collect_ids, &u, err, sizeof err), 0, "list_active all");
    TAP_OK(u.n == 2 && strcmp(u.ids[0], a1) == 0 && strcmp(u.ids[1], a2) == 0,
           "list_active all: the two held jobs, oldest first (%d)", u.n);
    memset(&u, 0, sizeof u);
    TAP_IS_INT(dcv_store_list_active(s, "nobody", collect_ids, &u, err, sizeof err), 0,
               "list_active unknown worker");
    TAP_IS_INT(u.n, 0, "list_active unknown worker: none");

    TAP_IS_INT(dcv_store_count(s, -1, &n, err, sizeof err), 0, "count all");
    TAP_IS_INT(n, 3, "count all = 3");
    TAP_IS_INT(dcv_store_count(s, DCV_JOB_QUEUED, &n, err, sizeof err), 0, "count queued");
    TAP_IS_INT(n, 1, "count queued = 1");
    TAP_IS_INT(dcv_store_count(s, 99, &n, err, sizeof err), -EINVAL, "count bad state");

    TAP_IS_INT(dcv_store_set_output(s, a3, "{\"file\":\"out-1\"}", err, sizeof err), 0, "set_output");
    j = get(s, a3);
    TAP_IS_STR(j.output_json, "{\"file\":\"out-1\"}", "output recorded");
    TAP_IS_INT(j.state, DCV_JOB_QUEUED, "set_output changes no state");
    dcv_job_clear(&j);
    TAP_IS_INT(dcv_store_set_output(s, "0123456789abcdef0123456789abcdef", "{}", err, sizeof err),
               -ENOENT, "set_output unknown job");
    TAP_IS_INT(dcv_store_set_output(s, a3, NULL, err, sizeof err), -EINVAL, "set_output needs text");

    /* Re-attach a1 (held by w1/s1) under session s9. */
    TAP_IS_INT(dcv_store_set_session(s, a1, 2, "w1", "s9", err, sizeof err), -ESTALE,
               "set_session: wrong attempt is stale");
    TAP_IS_INT(dcv_store_set_session(s, a1, 1, "w2", "s9", err, sizeof err), -ESTALE,
               "set_session: other worker is stale");
    TAP_IS_INT(dcv_store_set_session(s, a3, 1, "w1", "s9", err, sizeof err), -ESTALE,
               "set_session: queued job is stale");
    TAP_IS_INT(dcv_store_set_session(s, a1, 1, "w1", "s9", err, sizeof err), 0, "set_session");
    TAP_IS_INT(apply(s, a1, DCV_EV_START, 1, NULL, "s1", NULL), -ESTALE,
               "old session is fenced off after re-attach");
    TAP_IS_INT(apply(s, a1, DCV_EV_START, 1, NULL, "s9", NULL), 0, "new session starts it");
    if (dcv_store_attempts(s, a1, &a, &na, err, sizeof err) < 0)
        tap_bail("attempts: %s", err);
    TAP_OK(na == 1 && a[0].session && strcmp(a[0].session, "s9") == 0,
           "open attempt row moved to the new session");
    dcv_store_attempts_free(a, na);
    dcv_store_close(&s);
}

/* A failed attempt's log tail (issue 11, item 10): kept with the newest row
 * of the attempt, read back with the attempts; a store of the previous
 * schema (2) gains the column on open and keeps its rows. */
static void test_log_tail(void)
{
    struct dcv_store *s = NULL;
    struct dcv_attempt *a = NULL;
    char sub[300], path[400], big[DCV_STORE_LOG_MAX + 2];
    const char *id;
    sqlite3 *db;
    size_t n = 0;

    snprintf(sub, sizeof sub, "%s/v2", dir);
    mkdir(sub, 0700);
    if (dcv_store_open(sub, &s, err, sizeof err) < 0)
        tap_bail("open: %s", err);
    id = submit(s, NULL, DCV_PRIO_NORMAL, 0, 3);
    apply(s, id, DCV_EV_ASSIGN, 1, "w1", "s", NULL);
    apply(s, id, DCV_EV_FAIL_RETRYABLE, 1, "w1", "s", "input: old failure");
    dcv_store_close(&s);
    /* back to schema 2, as a coordinator before this change left it */
    snprintf(path, sizeof path, "%s/jobs.db", sub);
    if (sqlite3_open(path, &db) != SQLITE_OK ||
        sqlite3_exec(db, "DROP INDEX jobs_state_created; DROP INDEX jobs_submitter;"
                         "DROP TABLE api_tokens; DROP INDEX jobs_upload; DROP INDEX jobs_ended; DROP TABLE blob_facts;"
                         "ALTER TABLE attempts DROP COLUMN log_tail;"
                         "DELETE FROM schema_version WHERE version >= 3", NULL, NULL, NULL) != SQLITE_OK)
        tap_bail("cannot make a schema 2 store: %s", sqlite3_errmsg(db));
    sqlite3_close(db);

    TAP_IS_INT(dcv_store_open(sub, &s, err, sizeof err), 0, "a schema 2 store opens (upgraded through 3, 4, 5 and 6)");
    if (!s)
        return;
    TAP_OK(dcv_store_attempts(s, id, &a, &n, err, sizeof err) == 0 && n == 1 && !a[0].log_tail &&
               a[0].error && strcmp(a[0].error, "input: old failure") == 0,
           "its attempt rows read back, without a tail");
    dcv_store_attempts_free(a, n);
    apply(s, id, DCV_EV_ASSIGN, 2, "w2", "s2", NULL);
    apply(s, id, DCV_EV_FAIL_RETRYABLE, 2, "w2", "s2", "encode: broke");
    TAP_IS_INT(dcv_store_set_attempt_log(s, id, 2, "info job: starting\nerror job: encode: broke",
                                         err, sizeof err),
               0, "a tail is kept with attempt 2");
    TAP_OK(dcv_store_attempts(s, id, &a, &n, err, sizeof err) == 0 && n == 2 && !a[0].log_tail &&
               a[1].log_tail && strcmp(a[1].log_tail, "info job: starting\nerror job: encode: broke") == 0,
           "... on attempt 2's row only");
    dcv_store_attempts_free(a, n);
    TAP_IS_INT(dcv_store_set_attempt_log(s, id, 7, "x", err, sizeof err), -ENOENT,
               "no attempt 7: -ENOENT");
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    TAP_IS_INT(dcv_store_set_attempt_log(s, id, 2, big, err, sizeof err), -EINVAL,
               "a tail over DCV_STORE_LOG_MAX bytes is refused");
    TAP_IS_INT(dcv_store_set_attempt_log(s, "nothex", 2, "x", err, sizeof err), -EINVAL,
               "a bad job id is refused");
    dcv_store_close(&s);
}

int main(void)
{
    struct dcv_store *s;
    const char *base = getenv("TMPDIR");

    snprintf(dir, sizeof dir, "%s/dcv-store-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(dir))
        tap_bail("mkdtemp");

    test_open();
    if (dcv_store_open(dir, &s, err, sizeof err) < 0)
        tap_bail("open: %s", err);
    test_submit_get_list(s);
    test_idempotency(s);
    test_priority(s);
    test_lifecycle(s);
    test_fencing(s);
    test_retries(s);
    test_busy(s);
    test_worker_lost(s);
    test_hostile(s);
    dcv_store_close(&s);
    test_durability(0);
    test_durability(1);
    test_reopen();
    test_coordinator_additions();
    test_log_tail();

    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        tap_diag("could not remove %s", dir);
    return tap_done();
}

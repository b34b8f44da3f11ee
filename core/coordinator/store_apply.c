/* The job store's state changes: events through the jobstate table with the
 * attempt fence, the attempt and history rows, retry back-off; and reading
 * the history and attempts back. */
#include "coordinator/store_int.h"
#include "errbuf.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/* ---- apply ---- */

static const char *outcome_of(enum dcv_job_event ev, enum dcv_job_state to)
{
    switch (ev) {
    case DCV_EV_SUCCEED: return "done";
    case DCV_EV_FAIL_PERMANENT: return "failed";
    case DCV_EV_FAIL_RETRYABLE: return to == DCV_JOB_FAILED ? "failed" : "retryable";
    case DCV_EV_REJECT: return "rejected";
    case DCV_EV_WORKER_LOST: return "worker-lost";
    case DCV_EV_CANCEL: return "cancelled";
    case DCV_EV_REQUEUE_BUSY: return "busy";
    default: return "ended";
    }
}

int64_t dcv_retry_backoff_ms(int retry, int32_t base_ms, int32_t max_ms, uint32_t rnd)
{
    int64_t d;

    if (retry < 1 || base_ms <= 0 || max_ms <= 0)
        return 0;
    d = base_ms;
    /* Doubling stops at the cap, so no shift can overflow. */
    for (int i = 1; i < retry && d < max_ms; i++)
        d *= 2;
    if (d > max_ms)
        d = max_ms;
    /* "Equal jitter": half fixed, half random. Jobs requeued together (one
     * worker lost with many jobs) spread out, and no wait exceeds the cap. */
    return d - d / 2 + (int64_t)(rnd % (uint32_t)(d / 2 + 1));
}

void dcv_store_set_backoff(struct dcv_store *s, int32_t base_ms, int32_t max_ms)
{
    s->backoff_ms = base_ms > 0 ? base_ms : 0;
    s->backoff_max_ms = max_ms > 0 ? max_ms : 0;
}

/* When a job that goes to `to` on `ev` may be dispatched again: -1 keeps
 * the stored value (the job is not (re)queued), 0 at once. Only a spent
 * attempt waits: a busy requeue has its own pause on the worker, and an
 * operator's retry means now. */
static int64_t not_before_of(const struct dcv_store *s, enum dcv_job_event ev,
                             enum dcv_job_state to, int spent_attempt, int64_t now)
{
    uint32_t rnd = 0;
    int64_t d;

    if (to != DCV_JOB_QUEUED)
        return -1;
    if (ev != DCV_EV_FAIL_RETRYABLE && ev != DCV_EV_WORKER_LOST && ev != DCV_EV_REJECT)
        return 0;
    if (getrandom(&rnd, sizeof rnd, GRND_NONBLOCK) != (ssize_t)sizeof rnd)
        rnd = (uint32_t)now;
    d = dcv_retry_backoff_ms(spent_attempt, s->backoff_ms, s->backoff_max_ms, rnd);
    return d > 0 ? now + d : 0;
}

static int next_seq(struct dcv_store *s, const char *table_sql, const char *id, int *seq,
                    char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int r, rc;

    if ((r = sto_prep(s, table_sql, &st, err, errlen)) < 0)
        return r;
    if ((rc = sto_bind_text(st, 1, id)) != SQLITE_OK)
        r = sto_db_fail(s, rc, "bind", err, errlen);
    else if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        *seq = sqlite3_column_int(st, 0) + 1;
        r = 0;
    } else
        r = sto_db_fail(s, rc, "next sequence", err, errlen);
    sqlite3_finalize(st);
    return r;
}

/* The body of apply, inside the caller's transaction. */
static int apply_locked(struct dcv_store *s, const char *id, enum dcv_job_event ev,
                        int expected_attempt, const char *note, const char *worker,
                        const char *session, const char *error_text, char *err, size_t errlen)
{
    struct dcv_job job;
    enum dcv_job_state to;
    sqlite3_stmt *st;
    int next_attempt, seq, r, rc;
    int64_t now = sto_now_ms();
    int was_active, is_active;

    if ((r = sto_load_job(s, id, &job, err, errlen)) < 0)
        return r;
    if (expected_attempt != job.attempt) {
        dcv_errf(err, errlen, "stale %s for job %s: attempt %d, job is on attempt %d",
               dcv_job_event_name(ev), id, expected_attempt, job.attempt);
        r = -ESTALE;
        goto out;
    }
    was_active = dcv_job_state_is_active(job.state);
    if (was_active && ev != DCV_EV_ASSIGN && session && job.session && strcmp(session, job.session) != 0) {
        dcv_errf(err, errlen, "stale %s for job %s: session %s, job is held by session %s",
               dcv_job_event_name(ev), id, session, job.session);
        r = -ESTALE;
        goto out;
    }
    if ((r = dcv_job_transition(job.state, ev, job.attempt, job.max_attempts, &to, &next_attempt,
                                err, errlen)) < 0)
        goto out;
    if (ev == DCV_EV_ASSIGN && !worker) {
        dcv_errf(err, errlen, "ASSIGN needs a worker");
        r = -EINVAL;
        goto out;
    }
    is_active = dcv_job_state_is_active(to);

    if (ev == DCV_EV_PROGRESS) {
        /* Heartbeat-rate event: keep the history readable, only touch the clock. */
        if ((r = sto_prep(s, "UPDATE jobs SET updated_ms = ?2 WHERE id = ?1", &st, err, errlen)) < 0)
            goto out;
        if ((rc = sto_bind_text(st, 1, id)) != SQLITE_OK || (rc = sqlite3_bind_int64(st, 2, now)) != SQLITE_OK) {
            sqlite3_finalize(st);
            r = sto_db_fail(s, rc, "bind", err, errlen);
            goto out;
        }
        r = sto_step_done(s, st, "update job", err, errlen);
        goto out;
    }

    /* Close the open attempt when the worker lets go of the job. */
    if (was_active && !is_active) {
        if ((r = sto_prep(s,
                      "UPDATE attempts SET ended_ms = ?2, outcome = ?3, error = ?4 "
                      "WHERE job_id = ?1 AND ended_ms IS NULL",
                      &st, err, errlen)) < 0)
            goto out;
        if ((rc = sto_bind_text(st, 1, id)) != SQLITE_OK || (rc = sqlite3_bind_int64(st, 2, now)) != SQLITE_OK ||
            (rc = sto_bind_text(st, 3, outcome_of(ev, to))) != SQLITE_OK ||
            (rc = sto_bind_text(st, 4, error_text)) != SQLITE_OK) {
            sqlite3_finalize(st);
            r = sto_db_fail(s, rc, "bind", err, errlen);
            goto out;
        }
        if ((r = sto_step_done(s, st, "close attempt", err, errlen)) < 0)
            goto out;
    }
    /* Open one when a worker takes it. */
    if (ev == DCV_EV_ASSIGN) {
        if ((r = next_seq(s, "SELECT coalesce(max(seq), 0) FROM attempts WHERE job_id = ?", id, &seq,
                          err, errlen)) < 0)
            goto out;
        if ((r = sto_prep(s,
                      "INSERT INTO attempts (job_id, seq, attempt, worker, session, started_ms) "
                      "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                      &st, err, errlen)) < 0)
            goto out;
        if ((rc = sto_bind_text(st, 1, id)) != SQLITE_OK || (rc = sqlite3_bind_int(st, 2, seq)) != SQLITE_OK ||
            (rc = sqlite3_bind_int(st, 3, job.attempt)) != SQLITE_OK ||
            (rc = sto_bind_text(st, 4, worker)) != SQLITE_OK || (rc = sto_bind_text(st, 5, session)) != SQLITE_OK ||
            (rc = sqlite3_bind_int64(st, 6, now)) != SQLITE_OK) {
            sqlite3_finalize(st);
            r = sto_db_fail(s, rc, "bind", err, errlen);
            goto out;
        }
        if ((r = sto_step_done(s, st, "open attempt", err, errlen)) < 0)
            goto out;
    }

    if ((r = sto_prep(s,
                  "UPDATE jobs SET state = ?2, attempt = ?3, updated_ms = ?4,"
                  " last_error = CASE WHEN ?5 IS NULL THEN last_error ELSE ?5 END,"
                  " worker = CASE WHEN ?6 THEN ?7 ELSE worker END,"
                  " session = CASE WHEN ?6 THEN ?8 ELSE session END,"
                  " not_before_ms = CASE WHEN ?9 < 0 THEN not_before_ms ELSE ?9 END"
                  " WHERE id = ?1",
                  &st, err, errlen)) < 0)
        goto out;
    if ((rc = sto_bind_text(st, 1, id)) != SQLITE_OK ||
        (rc = sto_bind_text(st, 2, dcv_job_state_name(to))) != SQLITE_OK ||
        (rc = sqlite3_bind_int(st, 3, next_attempt)) != SQLITE_OK ||
        (rc = sqlite3_bind_int64(st, 4, now)) != SQLITE_OK ||
        (rc = sto_bind_text(st, 5, error_text)) != SQLITE_OK ||
        (rc = sqlite3_bind_int(st, 6, ev == DCV_EV_ASSIGN)) != SQLITE_OK ||
        (rc = sto_bind_text(st, 7, worker)) != SQLITE_OK || (rc = sto_bind_text(st, 8, session)) != SQLITE_OK ||
        (rc = sqlite3_bind_int64(st, 9, not_before_of(s, ev, to, job.attempt, now))) != SQLITE_OK) {
        sqlite3_finalize(st);
        r = sto_db_fail(s, rc, "bind", err, errlen);
        goto out;
    }
    if ((r = sto_step_done(s, st, "update job", err, errlen)) < 0)
        goto out;

    if ((r = next_seq(s, "SELECT coalesce(max(seq), 0) FROM history WHERE job_id = ?", id, &seq, err,
                      errlen)) < 0)
        goto out;
    if ((r = sto_prep(s,
                  "INSERT INTO history (job_id, seq, from_state, to_state, event, attempt, time_ms, note) "
                  "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                  &st, err, errlen)) < 0)
        goto out;
    if ((rc = sto_bind_text(st, 1, id)) != SQLITE_OK || (rc = sqlite3_bind_int(st, 2, seq)) != SQLITE_OK ||
        (rc = sto_bind_text(st, 3, dcv_job_state_name(job.state))) != SQLITE_OK ||
        (rc = sto_bind_text(st, 4, dcv_job_state_name(to))) != SQLITE_OK ||
        (rc = sto_bind_text(st, 5, dcv_job_event_name(ev))) != SQLITE_OK ||
        (rc = sqlite3_bind_int(st, 6, job.attempt)) != SQLITE_OK ||
        (rc = sqlite3_bind_int64(st, 7, now)) != SQLITE_OK || (rc = sto_bind_text(st, 8, note)) != SQLITE_OK) {
        sqlite3_finalize(st);
        r = sto_db_fail(s, rc, "bind", err, errlen);
        goto out;
    }
    r = sto_step_done(s, st, "record history", err, errlen);
out:
    dcv_job_clear(&job);
    return r;
}

int dcv_store_apply(struct dcv_store *s, const char *job_id, enum dcv_job_event ev,
                    int expected_attempt, const char *note, const char *worker,
                    const char *session, const char *error_text, struct dcv_job *out,
                    char *err, size_t errlen)
{
    int r;

    if (out)
        memset(out, 0, sizeof *out);
    if ((r = sto_check_job_id(job_id, err, errlen)) < 0 ||
        (r = sto_check_opt("note", note, DCV_STORE_TEXT_MAX, err, errlen)) < 0 ||
        (r = sto_check_opt("worker", worker, DCV_STORE_NAME_MAX, err, errlen)) < 0 ||
        (r = sto_check_opt("session", session, DCV_STORE_NAME_MAX, err, errlen)) < 0 ||
        (r = sto_check_opt("error text", error_text, DCV_STORE_TEXT_MAX, err, errlen)) < 0)
        return r;
    if (!dcv_job_event_name(ev)) {
        dcv_errf(err, errlen, "unknown job event %d", (int)ev);
        return -EINVAL;
    }
    if ((r = sto_begin(s, err, errlen)) < 0)
        return r;
    if ((r = apply_locked(s, job_id, ev, expected_attempt, note, worker, session, error_text, err,
                          errlen)) < 0 ||
        (r = sto_commit(s, err, errlen)) < 0) {
        sto_rollback(s);
        return r;
    }
    return out ? sto_load_job(s, job_id, out, err, errlen) : 0;
}

int dcv_store_requeue_running_of_worker(struct dcv_store *s, const char *worker, const char *session,
                                        const char *note, char *err, size_t errlen)
{
    struct { char id[DCV_JOB_ID_LEN + 1]; int attempt; } *ids = NULL, *tmp;
    size_t n = 0, cap = 0;
    sqlite3_stmt *st;
    int r, rc, count = 0;

    if (!worker) {
        dcv_errf(err, errlen, "requeue: no worker given");
        return -EINVAL;
    }
    if ((r = sto_check_opt("worker", worker, DCV_STORE_NAME_MAX, err, errlen)) < 0 ||
        (r = sto_check_opt("session", session, DCV_STORE_NAME_MAX, err, errlen)) < 0 ||
        (r = sto_check_opt("note", note, DCV_STORE_TEXT_MAX, err, errlen)) < 0)
        return r;
    if ((r = sto_begin(s, err, errlen)) < 0)
        return r;
    if ((r = sto_prep(s,
                  "SELECT id, attempt FROM jobs WHERE worker = ?1 AND (?2 IS NULL OR session = ?2)"
                  " AND state IN ('ASSIGNED', 'RUNNING', 'VERIFYING') ORDER BY created_ms, rowid",
                  &st, err, errlen)) < 0)
        goto fail;
    if ((rc = sto_bind_text(st, 1, worker)) != SQLITE_OK || (rc = sto_bind_text(st, 2, session)) != SQLITE_OK) {
        sqlite3_finalize(st);
        r = sto_db_fail(s, rc, "bind", err, errlen);
        goto fail;
    }
    /* Collect first: the updates below must not run under an open SELECT on the same rows. */
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *id = sqlite3_column_text(st, 0);
        if (!id || strlen((const char *)id) != DCV_JOB_ID_LEN)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            if (!(tmp = realloc(ids, cap * sizeof *ids))) {
                sqlite3_finalize(st);
                dcv_errf(err, errlen, "requeue: out of memory");
                r = -ENOMEM;
                goto fail;
            }
            ids = tmp;
        }
        memcpy(ids[n].id, id, DCV_JOB_ID_LEN + 1);
        ids[n++].attempt = sqlite3_column_int(st, 1);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        r = sto_db_fail(s, rc, "find worker's jobs", err, errlen);
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        if ((r = apply_locked(s, ids[i].id, DCV_EV_WORKER_LOST, ids[i].attempt, note, NULL, NULL,
                              "worker lost", err, errlen)) < 0)
            goto fail;
        count++;
    }
    if ((r = sto_commit(s, err, errlen)) < 0)
        goto fail;
    free(ids);
    return count;
fail:
    sto_rollback(s);
    free(ids);
    return r;
}

/* ---- history / attempts ---- */

void dcv_store_history_free(struct dcv_transition *h, size_t n)
{
    for (size_t i = 0; h && i < n; i++)
        free(h[i].note);
    free(h);
}

void dcv_store_attempts_free(struct dcv_attempt *a, size_t n)
{
    for (size_t i = 0; a && i < n; i++) {
        free(a[i].worker);
        free(a[i].session);
        free(a[i].outcome);
        free(a[i].error);
        free(a[i].log_tail);
    }
    free(a);
}

/* Prepare a per-job SELECT and check the job exists (so an unknown id is
 * -ENOENT, not an empty list). */
static int per_job_query(struct dcv_store *s, const char *id, const char *sql, sqlite3_stmt **st,
                         char *err, size_t errlen)
{
    struct dcv_job job;
    int r, rc;

    if ((r = sto_check_job_id(id, err, errlen)) < 0 || (r = sto_load_job(s, id, &job, err, errlen)) < 0)
        return r;
    dcv_job_clear(&job);
    if ((r = sto_prep(s, sql, st, err, errlen)) < 0)
        return r;
    if ((rc = sto_bind_text(*st, 1, id)) != SQLITE_OK) {
        sqlite3_finalize(*st);
        return sto_db_fail(s, rc, "bind", err, errlen);
    }
    return 0;
}

/* Grow *arr (elements of size sz) to hold one more; 0 or -ENOMEM. */
static int grow(void **arr, size_t *cap, size_t n, size_t sz)
{
    if (n < *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : 8;
    void *p = realloc(*arr, nc * sz);
    if (!p)
        return -ENOMEM;
    memset((char *)p + n * sz, 0, (nc - n) * sz);
    *arr = p;
    *cap = nc;
    return 0;
}

int dcv_store_history(struct dcv_store *s, const char *job_id, struct dcv_transition **out, size_t *n,
                      char *err, size_t errlen)
{
    struct dcv_transition *h = NULL;
    size_t cnt = 0, cap = 0;
    sqlite3_stmt *st;
    int r, rc;

    *out = NULL;
    *n = 0;
    if ((r = per_job_query(s, job_id,
                           "SELECT seq, from_state, to_state, event, attempt, time_ms, note "
                           "FROM history WHERE job_id = ? ORDER BY seq",
                           &st, err, errlen)) < 0)
        return r;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        void *arr = h;
        if ((r = grow(&arr, &cap, cnt, sizeof *h)) < 0)
            break;
        h = arr;
        struct dcv_transition *t = &h[cnt++];
        t->seq = sqlite3_column_int(st, 0);
        if (dcv_job_state_parse((const char *)sqlite3_column_text(st, 1), &t->from) < 0 ||
            dcv_job_state_parse((const char *)sqlite3_column_text(st, 2), &t->to) < 0 ||
            dcv_job_event_parse((const char *)sqlite3_column_text(st, 3), &t->event) < 0) {
            r = -EBADMSG;
            break;
        }
        t->attempt = sqlite3_column_int(st, 4);
        t->time_ms = sqlite3_column_int64(st, 5);
        if ((r = sto_col_dup(st, 6, &t->note)) < 0)
            break;
    }
    if (r == 0 && rc != SQLITE_DONE)
        r = sto_db_fail(s, rc, "read history", err, errlen);
    else if (r == -ENOMEM)
        dcv_errf(err, errlen, "history: out of memory");
    else if (r == -EBADMSG)
        dcv_errf(err, errlen, "job store: malformed history row");
    sqlite3_finalize(st);
    if (r < 0) {
        dcv_store_history_free(h, cnt);
        return r;
    }
    *out = h;
    *n = cnt;
    return 0;
}

int dcv_store_attempts(struct dcv_store *s, const char *job_id, struct dcv_attempt **out, size_t *n,
                       char *err, size_t errlen)
{
    struct dcv_attempt *a = NULL;
    size_t cnt = 0, cap = 0;
    sqlite3_stmt *st;
    int r, rc;

    *out = NULL;
    *n = 0;
    if ((r = per_job_query(s, job_id,
                           "SELECT seq, attempt, worker, session, started_ms, ended_ms, outcome, error, log_tail "
                           "FROM attempts WHERE job_id = ? ORDER BY seq",
                           &st, err, errlen)) < 0)
        return r;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        void *arr = a;
        if ((r = grow(&arr, &cap, cnt, sizeof *a)) < 0)
            break;
        a = arr;
        struct dcv_attempt *t = &a[cnt++];
        t->seq = sqlite3_column_int(st, 0);
        t->attempt = sqlite3_column_int(st, 1);
        t->started_ms = sqlite3_column_int64(st, 4);
        t->ended_ms = sqlite3_column_int64(st, 5);
        if ((r = sto_col_dup(st, 2, &t->worker)) < 0 || (r = sto_col_dup(st, 3, &t->session)) < 0 ||
            (r = sto_col_dup(st, 6, &t->outcome)) < 0 || (r = sto_col_dup(st, 7, &t->error)) < 0 ||
            (r = sto_col_dup(st, 8, &t->log_tail)) < 0)
            break;
    }
    if (r == 0 && rc != SQLITE_DONE)
        r = sto_db_fail(s, rc, "read attempts", err, errlen);
    else if (r < 0)
        dcv_errf(err, errlen, "attempts: out of memory");
    sqlite3_finalize(st);
    if (r < 0) {
        dcv_store_attempts_free(a, cnt);
        return r;
    }
    *out = a;
    *n = cnt;
    return 0;
}

int dcv_store_set_attempt_log(struct dcv_store *s, const char *job_id, int attempt,
                              const char *log_tail, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int r, rc;

    if ((r = sto_check_job_id(job_id, err, errlen)) < 0 ||
        (r = sto_check_opt("log tail", log_tail, DCV_STORE_LOG_MAX, err, errlen)) < 0)
        return r;
    if ((r = sto_prep(s,
                      "UPDATE attempts SET log_tail = ?3 WHERE job_id = ?1 AND seq = "
                      "(SELECT max(seq) FROM attempts WHERE job_id = ?1 AND attempt = ?2)",
                      &st, err, errlen)) < 0)
        return r;
    if ((rc = sto_bind_text(st, 1, job_id)) != SQLITE_OK ||
        (rc = sqlite3_bind_int(st, 2, attempt)) != SQLITE_OK ||
        (rc = sto_bind_text(st, 3, log_tail)) != SQLITE_OK) {
        sqlite3_finalize(st);
        return sto_db_fail(s, rc, "bind", err, errlen);
    }
    if ((r = sto_step_done(s, st, "keep the attempt's log", err, errlen)) < 0)
        return r;
    if (sqlite3_changes(s->db) == 0) {
        dcv_errf(err, errlen, "job %s has no attempt %d", job_id, attempt);
        return -ENOENT;
    }
    return 0;
}

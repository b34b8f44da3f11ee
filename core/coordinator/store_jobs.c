/* The job store's reads and plain writes: get, the listings, submit, and the
 * coordinator's output and re-attach updates. State changes are store_apply.c. */
#include "coordinator/store_int.h"
#include "errbuf.h"
#include "rand.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_MAX_ATTEMPTS 3
#define MAX_ATTEMPTS_LIMIT 1000

/* ---- reads ---- */

/* Load one job by id inside or outside a transaction: 0, -ENOENT, -errno. */
int sto_load_job(struct dcv_store *s, const char *id, struct dcv_job *out, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int r, rc;

    if ((r = sto_prep(s, "SELECT " JOB_COLS " FROM jobs WHERE id = ?", &st, err, errlen)) < 0)
        return r;
    if ((rc = sto_bind_text(st, 1, id)) != SQLITE_OK) {
        r = sto_db_fail(s, rc, "bind", err, errlen);
    } else if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        r = sto_row_to_job(st, out, err, errlen);
    } else if (rc == SQLITE_DONE) {
        dcv_errf(err, errlen, "no job %s", id);
        r = -ENOENT;
    } else {
        r = sto_db_fail(s, rc, "read job", err, errlen);
    }
    sqlite3_finalize(st);
    return r;
}

int dcv_store_get(struct dcv_store *s, const char *job_id, struct dcv_job *out, char *err, size_t errlen)
{
    int r;
    memset(out, 0, sizeof *out);
    if ((r = sto_check_job_id(job_id, err, errlen)) < 0)
        return r;
    return sto_load_job(s, job_id, out, err, errlen);
}

/* Run a prepared job SELECT, calling cb per row. Finalizes st. */
static int each_job(struct dcv_store *s, sqlite3_stmt *st, dcv_store_job_cb cb, void *ud, char *err,
                    size_t errlen)
{
    struct dcv_job job;
    int rc, r = 0;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if ((r = sto_row_to_job(st, &job, err, errlen)) < 0)
            break;
        r = cb(&job, ud);
        dcv_job_clear(&job);
        if (r != 0)
            break;
    }
    if (r == 0 && rc != SQLITE_DONE)
        r = sto_db_fail(s, rc, "list jobs", err, errlen);
    sqlite3_finalize(st);
    return r;
}

int dcv_store_list(struct dcv_store *s, int state, int limit, int offset, dcv_store_job_cb cb,
                   void *ud, char *err, size_t errlen)
{
    return dcv_store_list_order(s, state, 0, limit, offset, cb, ud, err, errlen);
}

/* The submitter recorded in a job's input (jobrec.c); indexed (schema 6). */
#define OWNER_OF "json_extract(input, '$.submitter')"

/* WHERE for a state (?1) and an owner (?2), each optional: separate
 * statements per shape, so SQLite uses the matching index instead of the
 * scan a "?1 IS NULL OR ..." would plan. */
static void where_of(int state, const char *owner, char *out, size_t len)
{
    snprintf(out, len, "%s%s%s", state >= 0 || owner ? " WHERE " : "",
             state >= 0 ? "state = ?1" : "",
             owner ? (state >= 0 ? " AND " OWNER_OF " = ?2" : OWNER_OF " = ?2") : "");
}

static int bind_filter(sqlite3_stmt *st, int state, const char *owner)
{
    int rc = SQLITE_OK;
    if (state >= 0)
        rc = sto_bind_text(st, 1, dcv_job_state_name((enum dcv_job_state)state));
    if (rc == SQLITE_OK && owner)
        rc = sto_bind_text(st, 2, owner);
    return rc;
}

int dcv_store_list_owned(struct dcv_store *s, int state, const char *owner, int newest_first,
                         int limit, int offset, dcv_store_job_cb cb, void *ud, char *err,
                         size_t errlen)
{
    sqlite3_stmt *st;
    char where[160], sql[sizeof JOB_COLS + 400];
    int r, rc;

    if (!cb || offset < 0 || (state >= 0 && !dcv_job_state_name((enum dcv_job_state)state))) {
        dcv_errf(err, errlen, "job list: bad state filter, offset or callback");
        return -EINVAL;
    }
    where_of(state, owner, where, sizeof where);
    snprintf(sql, sizeof sql,
             "SELECT " JOB_COLS " FROM jobs%s ORDER BY created_ms%s, rowid%s LIMIT ?3 OFFSET ?4",
             where, newest_first ? " DESC" : "", newest_first ? " DESC" : "");
    if ((r = sto_prep(s, sql, &st, err, errlen)) < 0)
        return r;
    if ((rc = bind_filter(st, state, owner)) != SQLITE_OK ||
        (rc = sqlite3_bind_int(st, 3, limit > 0 ? limit : -1)) != SQLITE_OK ||
        (rc = sqlite3_bind_int(st, 4, offset)) != SQLITE_OK) {
        sqlite3_finalize(st);
        return sto_db_fail(s, rc, "bind", err, errlen);
    }
    return each_job(s, st, cb, ud, err, errlen);
}

int dcv_store_list_order(struct dcv_store *s, int state, int newest_first, int limit, int offset,
                         dcv_store_job_cb cb, void *ud, char *err, size_t errlen)
{
    return dcv_store_list_owned(s, state, NULL, newest_first, limit, offset, cb, ud, err, errlen);
}

/* Queued jobs whose back-off ended by `due` (INT64_MAX: all of them), in
 * scheduling order. */
static int list_queued(struct dcv_store *s, int64_t due, int limit, int offset,
                       dcv_store_job_cb cb, void *ud, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int r, rc;

    if (!cb || offset < 0) {
        dcv_errf(err, errlen, "queued list: bad offset or callback");
        return -EINVAL;
    }
    if ((r = sto_prep(s,
                  "SELECT " JOB_COLS " FROM jobs WHERE state = 'QUEUED' AND not_before_ms <= ?3"
                  " ORDER BY prio_class DESC, priority DESC, created_ms, rowid LIMIT ?1 OFFSET ?2",
                  &st, err, errlen)) < 0)
        return r;
    if ((rc = sqlite3_bind_int(st, 1, limit > 0 ? limit : -1)) != SQLITE_OK ||
        (rc = sqlite3_bind_int(st, 2, offset)) != SQLITE_OK ||
        (rc = sqlite3_bind_int64(st, 3, due)) != SQLITE_OK) {
        sqlite3_finalize(st);
        return sto_db_fail(s, rc, "bind", err, errlen);
    }
    return each_job(s, st, cb, ud, err, errlen);
}

int dcv_store_list_queued(struct dcv_store *s, int limit, int offset, dcv_store_job_cb cb, void *ud,
                          char *err, size_t errlen)
{
    return list_queued(s, INT64_MAX, limit, offset, cb, ud, err, errlen);
}

int dcv_store_list_due(struct dcv_store *s, int64_t now, int limit, dcv_store_job_cb cb, void *ud,
                       char *err, size_t errlen)
{
    return list_queued(s, now, limit, 0, cb, ud, err, errlen);
}

int dcv_store_list_queue_page(struct dcv_store *s, int64_t now, int limit, int offset,
                              dcv_store_job_cb cb, void *ud, char *err, size_t errlen)
{
    return list_queued(s, now, limit, offset, cb, ud, err, errlen);
}

int dcv_store_next_due(struct dcv_store *s, int64_t now, int64_t *when, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int r, rc;

    *when = 0;
    if ((r = sto_prep(s, "SELECT min(not_before_ms) FROM jobs WHERE state = 'QUEUED' AND not_before_ms > ?1",
                  &st, err, errlen)) < 0)
        return r;
    if ((rc = sqlite3_bind_int64(st, 1, now)) != SQLITE_OK) {
        sqlite3_finalize(st);
        return sto_db_fail(s, rc, "bind", err, errlen);
    }
    if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
        r = sto_db_fail(s, rc, "next due", err, errlen);
    } else if (sqlite3_column_type(st, 0) == SQLITE_NULL) {
        r = 0;
    } else {
        *when = sqlite3_column_int64(st, 0);
        r = 1;
    }
    sqlite3_finalize(st);
    return r;
}

struct first_ud {
    struct dcv_job *out;
    int err;
};

static int take_first(const struct dcv_job *job, void *ud)
{
    struct first_ud *f = ud;
    struct dcv_job *o = f->out;
    /* Deep copy: the listed job is cleared after the callback. */
    *o = *job;
    o->idempotency_key = o->profile_json = o->input_json = o->output_json = NULL;
    o->last_error = o->worker = o->session = NULL;
#define DUP(field)                                                  \
    if (job->field && !(o->field = strdup(job->field))) {           \
        dcv_job_clear(o);                                           \
        f->err = -ENOMEM;                                           \
        return 1;                                                   \
    }
    DUP(idempotency_key) DUP(profile_json) DUP(input_json) DUP(output_json)
    DUP(last_error) DUP(worker) DUP(session)
#undef DUP
    return 1;
}

int dcv_store_next_queued(struct dcv_store *s, struct dcv_job *out, char *err, size_t errlen)
{
    struct first_ud f = { out, 0 };
    int r;

    memset(out, 0, sizeof *out);
    r = dcv_store_list_queued(s, 1, 0, take_first, &f, err, errlen);
    if (r < 0)
        return r;
    if (f.err < 0) {
        dcv_errf(err, errlen, "job store: out of memory");
        return f.err;
    }
    return r; /* 1: found (take_first stops the listing), 0: none */
}

/* ---- submit ---- */

static int find_by_key(struct dcv_store *s, const char *key, size_t keylen, struct dcv_job *out,
                       char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int r, rc;

    if ((r = sto_prep(s, "SELECT " JOB_COLS " FROM jobs WHERE idem_key = ?", &st, err, errlen)) < 0)
        return r;
    if ((rc = sqlite3_bind_text(st, 1, key, (int)keylen, SQLITE_TRANSIENT)) != SQLITE_OK)
        r = sto_db_fail(s, rc, "bind", err, errlen);
    else if ((rc = sqlite3_step(st)) == SQLITE_ROW)
        r = sto_row_to_job(st, out, err, errlen) < 0 ? -EBADMSG : 1;
    else if (rc == SQLITE_DONE)
        r = 0;
    else
        r = sto_db_fail(s, rc, "find idempotency key", err, errlen);
    sqlite3_finalize(st);
    return r;
}

int dcv_store_submit(struct dcv_store *s, const struct dcv_job_new *req, struct dcv_job *out,
                     int *created, char *err, size_t errlen)
{
    size_t klen, plen, ilen, olen;
    char id[DCV_JOB_ID_LEN + 1];
    sqlite3_stmt *st;
    int64_t now;
    int max_attempts, r, rc;

    memset(out, 0, sizeof *out);
    *created = 0;
    if (!req) {
        dcv_errf(err, errlen, "submit: no request");
        return -EINVAL;
    }
    if ((r = sto_check_text("idempotency key", req->idempotency_key, req->idempotency_key_len,
                        DCV_STORE_KEY_MAX, 0, &klen, err, errlen)) < 0 ||
        (req->idempotency_key && (r = sto_check_key(req->idempotency_key, klen, err, errlen)) < 0) ||
        (r = sto_check_text("profile JSON", req->profile_json, req->profile_json_len, DCV_STORE_TEXT_MAX,
                        1, &plen, err, errlen)) < 0 ||
        (r = sto_check_text("input description", req->input_json, req->input_json_len,
                        DCV_STORE_TEXT_MAX, 1, &ilen, err, errlen)) < 0 ||
        (r = sto_check_text("output description", req->output_json, req->output_json_len,
                        DCV_STORE_TEXT_MAX, 0, &olen, err, errlen)) < 0)
        return r;
    if (!dcv_prio_class_name(req->prio_class)) {
        dcv_errf(err, errlen, "submit: unknown priority class %d", (int)req->prio_class);
        return -EINVAL;
    }
    max_attempts = req->max_attempts ? req->max_attempts : DEFAULT_MAX_ATTEMPTS;
    if (max_attempts < 1 || max_attempts > MAX_ATTEMPTS_LIMIT) {
        dcv_errf(err, errlen, "submit: max_attempts must be 1..%d", MAX_ATTEMPTS_LIMIT);
        return -EINVAL;
    }
    if ((r = dcv_random_hex(id, DCV_JOB_ID_LEN / 2, err, errlen)) < 0)
        return r;

    if ((r = sto_begin(s, err, errlen)) < 0)
        return r;
    if (req->idempotency_key) {
        r = find_by_key(s, req->idempotency_key, klen, out, err, errlen);
        if (r != 0) {
            sto_rollback(s);
            return r < 0 ? r : 0; /* existing job: *created stays 0 */
        }
    }
    now = sto_now_ms();
    if ((r = sto_prep(s,
                  "INSERT INTO jobs (id, idem_key, created_ms, updated_ms, state, attempt, "
                  "max_attempts, prio_class, priority, profile, input, output) "
                  "VALUES (?1, ?2, ?3, ?3, 'QUEUED', 1, ?4, ?5, ?6, ?7, ?8, ?9)",
                  &st, err, errlen)) < 0)
        goto fail;
    if ((rc = sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT)) != SQLITE_OK ||
        (rc = req->idempotency_key
                  ? sqlite3_bind_text(st, 2, req->idempotency_key, (int)klen, SQLITE_TRANSIENT)
                  : sqlite3_bind_null(st, 2)) != SQLITE_OK ||
        (rc = sqlite3_bind_int64(st, 3, now)) != SQLITE_OK ||
        (rc = sqlite3_bind_int(st, 4, max_attempts)) != SQLITE_OK ||
        (rc = sqlite3_bind_int(st, 5, (int)req->prio_class)) != SQLITE_OK ||
        (rc = sqlite3_bind_int(st, 6, req->priority)) != SQLITE_OK ||
        (rc = sqlite3_bind_text(st, 7, req->profile_json, (int)plen, SQLITE_TRANSIENT)) != SQLITE_OK ||
        (rc = sqlite3_bind_text(st, 8, req->input_json, (int)ilen, SQLITE_TRANSIENT)) != SQLITE_OK ||
        (rc = req->output_json
                  ? sqlite3_bind_text(st, 9, req->output_json, (int)olen, SQLITE_TRANSIENT)
                  : sqlite3_bind_null(st, 9)) != SQLITE_OK) {
        sqlite3_finalize(st);
        r = sto_db_fail(s, rc, "bind", err, errlen);
        goto fail;
    }
    if ((r = sto_step_done(s, st, "insert job", err, errlen)) < 0)
        goto fail;
    if ((r = sto_commit(s, err, errlen)) < 0)
        goto fail;
    *created = 1;
    /* Committed: a failure to read it back is reported but the job exists. */
    return sto_load_job(s, id, out, err, errlen);
fail:
    sto_rollback(s);
    return r;
}

/* ---- additions for the coordinator service ---- */

int dcv_store_list_active(struct dcv_store *s, const char *worker, dcv_store_job_cb cb, void *ud,
                          char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int r, rc;

    if (!cb) {
        dcv_errf(err, errlen, "active list: no callback");
        return -EINVAL;
    }
    if ((r = sto_check_opt("worker", worker, DCV_STORE_NAME_MAX, err, errlen)) < 0)
        return r;
    if ((r = sto_prep(s,
                  "SELECT " JOB_COLS " FROM jobs WHERE state IN ('ASSIGNED', 'RUNNING', 'VERIFYING')"
                  " AND (?1 IS NULL OR worker = ?1) ORDER BY created_ms, rowid",
                  &st, err, errlen)) < 0)
        return r;
    if ((rc = sto_bind_text(st, 1, worker)) != SQLITE_OK) {
        sqlite3_finalize(st);
        return sto_db_fail(s, rc, "bind", err, errlen);
    }
    return each_job(s, st, cb, ud, err, errlen);
}

int dcv_store_count_owned(struct dcv_store *s, int state, const char *owner, int64_t *n,
                          char *err, size_t errlen)
{
    sqlite3_stmt *st;
    char where[160], sql[256];
    int r, rc;

    *n = 0;
    if (state >= 0 && !dcv_job_state_name((enum dcv_job_state)state)) {
        dcv_errf(err, errlen, "job count: bad state filter");
        return -EINVAL;
    }
    where_of(state, owner, where, sizeof where);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM jobs%s", where);
    if ((r = sto_prep(s, sql, &st, err, errlen)) < 0)
        return r;
    if ((rc = bind_filter(st, state, owner)) != SQLITE_OK)
        r = sto_db_fail(s, rc, "bind", err, errlen);
    else if ((rc = sqlite3_step(st)) == SQLITE_ROW)
        *n = sqlite3_column_int64(st, 0);
    else
        r = sto_db_fail(s, rc, "count jobs", err, errlen);
    sqlite3_finalize(st);
    return r;
}

int dcv_store_count(struct dcv_store *s, int state, int64_t *n, char *err, size_t errlen)
{
    return dcv_store_count_owned(s, state, NULL, n, err, errlen);
}

int dcv_store_set_output(struct dcv_store *s, const char *job_id, const char *output_json,
                         char *err, size_t errlen)
{
    sqlite3_stmt *st;
    size_t olen;
    int r, rc;

    if ((r = sto_check_job_id(job_id, err, errlen)) < 0 ||
        (r = sto_check_text("output description", output_json, 0, DCV_STORE_TEXT_MAX, 1, &olen, err,
                        errlen)) < 0)
        return r;
    if ((r = sto_prep(s, "UPDATE jobs SET output = ?2 WHERE id = ?1", &st, err, errlen)) < 0)
        return r;
    if ((rc = sto_bind_text(st, 1, job_id)) != SQLITE_OK ||
        (rc = sqlite3_bind_text(st, 2, output_json, (int)olen, SQLITE_TRANSIENT)) != SQLITE_OK) {
        sqlite3_finalize(st);
        return sto_db_fail(s, rc, "bind", err, errlen);
    }
    if ((r = sto_step_done(s, st, "record output", err, errlen)) < 0)
        return r;
    if (sqlite3_changes(s->db) == 0) {
        dcv_errf(err, errlen, "no job %s", job_id);
        return -ENOENT;
    }
    return 0;
}

int dcv_store_set_session(struct dcv_store *s, const char *job_id, int attempt,
                          const char *worker, const char *session, char *err, size_t errlen)
{
    struct dcv_job job;
    sqlite3_stmt *st;
    int r, rc;

    if ((r = sto_check_job_id(job_id, err, errlen)) < 0)
        return r;
    if (!worker || !session || !*worker || !*session) {
        dcv_errf(err, errlen, "re-attach needs a worker and a session");
        return -EINVAL;
    }
    if ((r = sto_check_opt("worker", worker, DCV_STORE_NAME_MAX, err, errlen)) < 0 ||
        (r = sto_check_opt("session", session, DCV_STORE_NAME_MAX, err, errlen)) < 0)
        return r;
    if ((r = sto_begin(s, err, errlen)) < 0)
        return r;
    if ((r = sto_load_job(s, job_id, &job, err, errlen)) < 0)
        goto fail;
    if (job.attempt != attempt || !dcv_job_state_is_active(job.state) || !job.worker ||
        strcmp(job.worker, worker) != 0) {
        dcv_errf(err, errlen, "stale re-attach of job %s attempt %d by %s", job_id, attempt, worker);
        dcv_job_clear(&job);
        r = -ESTALE;
        goto fail;
    }
    dcv_job_clear(&job);
    if ((r = sto_prep(s, "UPDATE jobs SET session = ?2 WHERE id = ?1", &st, err, errlen)) < 0)
        goto fail;
    if ((rc = sto_bind_text(st, 1, job_id)) != SQLITE_OK || (rc = sto_bind_text(st, 2, session)) != SQLITE_OK) {
        sqlite3_finalize(st);
        r = sto_db_fail(s, rc, "bind", err, errlen);
        goto fail;
    }
    if ((r = sto_step_done(s, st, "re-attach job", err, errlen)) < 0)
        goto fail;
    if ((r = sto_prep(s, "UPDATE attempts SET session = ?2 WHERE job_id = ?1 AND ended_ms IS NULL", &st,
                  err, errlen)) < 0)
        goto fail;
    if ((rc = sto_bind_text(st, 1, job_id)) != SQLITE_OK || (rc = sto_bind_text(st, 2, session)) != SQLITE_OK) {
        sqlite3_finalize(st);
        r = sto_db_fail(s, rc, "bind", err, errlen);
        goto fail;
    }
    if ((r = sto_step_done(s, st, "re-attach attempt", err, errlen)) < 0)
        goto fail;
    if ((r = sto_commit(s, err, errlen)) < 0)
        goto fail;
    return 0;
fail:
    sto_rollback(s);
    return r;
}

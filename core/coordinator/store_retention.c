/* The job store's records about blobs, for retention and removal (store_retention.h). */
#include "coordinator/store_retention.h"
#include "coordinator/store_int.h"
#include "errbuf.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define ENDED "('DONE', 'FAILED', 'CANCELLED')"
#define UPLOAD_OF(j) "json_extract(" j ".input, '$.kind') = 'upload'"
#define XFER_OF(j) "json_extract(" j ".input, '$.xfer_id')"

/* Prepare sql and bind ?1 text (may be NULL: not bound) and ?2.. int64s. */
static int prep_bind(struct dcv_store *s, const char *sql, const char *text, const int64_t *v,
                     int nv, sqlite3_stmt **st, char *err, size_t errlen)
{
    int r, rc = SQLITE_OK, i0 = text ? 2 : 1;

    if ((r = sto_prep(s, sql, st, err, errlen)) < 0)
        return r;
    if (text)
        rc = sto_bind_text(*st, 1, text);
    for (int i = 0; i < nv && rc == SQLITE_OK; i++)
        rc = sqlite3_bind_int64(*st, i0 + i, v[i]);
    if (rc != SQLITE_OK) {
        r = sto_db_fail(s, rc, "bind", err, errlen);
        sqlite3_finalize(*st);
        *st = NULL;
        return r;
    }
    return 0;
}

static int exec_bound(struct dcv_store *s, const char *sql, const char *text, const int64_t *v,
                      int nv, const char *what, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int r = prep_bind(s, sql, text, v, nv, &st, err, errlen);
    return r < 0 ? r : sto_step_done(s, st, what, err, errlen);
}

int dcv_store_blob_facts(struct dcv_store *s, const char *job_id, struct dcv_blob_facts *out,
                         char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int r, rc;

    memset(out, 0, sizeof *out);
    if ((r = sto_check_job_id(job_id, err, errlen)) < 0 ||
        (r = prep_bind(s, "SELECT downloaded_ms, input_removed_ms, output_removed_ms "
                          "FROM blob_facts WHERE job_id = ?1", job_id, NULL, 0, &st, err,
                       errlen)) < 0)
        return r;
    if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        out->downloaded_ms = sqlite3_column_int64(st, 0);
        out->input_removed_ms = sqlite3_column_int64(st, 1);
        out->output_removed_ms = sqlite3_column_int64(st, 2);
    }
    r = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : sto_db_fail(s, rc, "read blob facts", err, errlen);
    sqlite3_finalize(st);
    return r;
}

/* Set one fact column of a job to when_ms where it is still 0. */
static int note(struct dcv_store *s, const char *job_id, const char *col, int64_t when_ms,
                char *err, size_t errlen)
{
    char sql[400];
    int r;

    if ((r = sto_check_job_id(job_id, err, errlen)) < 0)
        return r;
    snprintf(sql, sizeof sql,
             "INSERT INTO blob_facts (job_id, %s) SELECT id, ?2 FROM jobs WHERE id = ?1 "
             "ON CONFLICT (job_id) DO UPDATE SET %s = excluded.%s WHERE %s = 0", col, col, col, col);
    return exec_bound(s, sql, job_id, &when_ms, 1, col, err, errlen);
}

int dcv_store_note_downloaded(struct dcv_store *s, const char *job_id, int64_t when_ms, char *err,
                              size_t errlen)
{
    return note(s, job_id, "downloaded_ms", when_ms, err, errlen);
}

int dcv_store_note_output_removed(struct dcv_store *s, const char *job_id, int64_t when_ms,
                                  char *err, size_t errlen)
{
    return note(s, job_id, "output_removed_ms", when_ms, err, errlen);
}

int dcv_store_note_upload_removed(struct dcv_store *s, int64_t xfer_id, int64_t when_ms,
                                  char *err, size_t errlen)
{
    const int64_t v[2] = { xfer_id, when_ms };
    return exec_bound(s,
                      "INSERT INTO blob_facts (job_id, input_removed_ms) SELECT j.id, ?2 "
                      "FROM jobs j WHERE " UPLOAD_OF("j") " AND " XFER_OF("j") " = ?1 "
                      "ON CONFLICT (job_id) DO UPDATE SET input_removed_ms = "
                      "excluded.input_removed_ms WHERE input_removed_ms = 0",
                      NULL, v, 2, "record the input's removal", err, errlen);
}

int dcv_store_upload_refs(struct dcv_store *s, int64_t xfer_id, int64_t *jobs, int64_t *live,
                          char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int r, rc;

    *jobs = *live = 0;
    if ((r = prep_bind(s, "SELECT count(*), coalesce(sum(coalesce(f.input_removed_ms, 0) = 0), 0) "
                          "FROM jobs j LEFT JOIN blob_facts f ON f.job_id = j.id "
                          "WHERE " UPLOAD_OF("j") " AND " XFER_OF("j") " = ?1",
                       NULL, &xfer_id, 1, &st, err, errlen)) < 0)
        return r;
    if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        *jobs = sqlite3_column_int64(st, 0);
        *live = sqlite3_column_int64(st, 1);
        r = 0;
    } else {
        r = sto_db_fail(s, rc, "count the jobs of an upload", err, errlen);
    }
    sqlite3_finalize(st);
    return r;
}

int dcv_store_outputs_due(struct dcv_store *s, int64_t cutoff_ms, int need_download,
                          dcv_store_output_cb cb, void *ud, char *err, size_t errlen)
{
    const int64_t v[2] = { cutoff_ms, need_download };
    sqlite3_stmt *st;
    int r, rc;

    if ((r = prep_bind(s, "SELECT j.id, j.output FROM jobs j "
                          "LEFT JOIN blob_facts f ON f.job_id = j.id "
                          "WHERE j.state = 'DONE' AND coalesce(f.output_removed_ms, 0) = 0 "
                          "AND max(j.updated_ms, coalesce(f.downloaded_ms, 0)) <= ?1 "
                          "AND (?2 = 0 OR coalesce(f.downloaded_ms, 0) > 0) "
                          "ORDER BY j.updated_ms",
                       NULL, v, 2, &st, err, errlen)) < 0)
        return r;
    r = 0;
    while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(st, 0);
        const char *out = (const char *)sqlite3_column_text(st, 1);
        if (id)
            r = cb(id, out, ud);
    }
    if (r == 0 && rc != SQLITE_DONE)
        r = sto_db_fail(s, rc, "list outputs due", err, errlen);
    sqlite3_finalize(st);
    return r;
}

int dcv_store_uploads_due(struct dcv_store *s, int64_t cutoff_ms, dcv_store_upload_cb cb,
                          void *ud, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int r, rc;

    if ((r = prep_bind(s, "SELECT " XFER_OF("j") " AS x FROM jobs j "
                          "LEFT JOIN blob_facts f ON f.job_id = j.id "
                          "WHERE " UPLOAD_OF("j") " GROUP BY x "
                          "HAVING sum(j.state NOT IN " ENDED ") = 0 AND max(j.updated_ms) <= ?1 "
                          "AND min(coalesce(f.input_removed_ms, 0)) = 0",
                       NULL, &cutoff_ms, 1, &st, err, errlen)) < 0)
        return r;
    r = 0;
    while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW)
        if (sqlite3_column_int64(st, 0) > 0)
            r = cb(sqlite3_column_int64(st, 0), ud);
    if (r == 0 && rc != SQLITE_DONE)
        r = sto_db_fail(s, rc, "list uploads due", err, errlen);
    sqlite3_finalize(st);
    return r;
}

int dcv_store_list_ended(struct dcv_store *s, int64_t before_ms, dcv_store_job_cb cb, void *ud,
                         char *err, size_t errlen)
{
    struct dcv_job job;
    sqlite3_stmt *st;
    int r, rc;

    if ((r = prep_bind(s, "SELECT " JOB_COLS " FROM jobs WHERE state IN " ENDED
                          " AND updated_ms < ?1 ORDER BY updated_ms, id",
                       NULL, &before_ms, 1, &st, err, errlen)) < 0)
        return r;
    r = 0;
    while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if ((r = sto_row_to_job(st, &job, err, errlen)) < 0)
            break;
        r = cb(&job, ud);
        dcv_job_clear(&job);
    }
    if (r == 0 && rc != SQLITE_DONE)
        r = sto_db_fail(s, rc, "list ended jobs", err, errlen);
    sqlite3_finalize(st);
    return r;
}

int dcv_store_delete_ended(struct dcv_store *s, const char *job_id, char *err, size_t errlen)
{
    struct dcv_job job;
    int r;

    if ((r = sto_check_job_id(job_id, err, errlen)) < 0)
        return r;
    if ((r = sto_begin(s, err, errlen)) < 0)
        return r;
    if ((r = sto_load_job(s, job_id, &job, err, errlen)) < 0)
        goto fail;
    if (!dcv_job_state_is_terminal(job.state)) {
        r = dcv_err(err, errlen, -EBUSY, "job %s is %s", job_id, dcv_job_state_wire_name(job.state));
        dcv_job_clear(&job);
        goto fail;
    }
    dcv_job_clear(&job);
    if ((r = exec_bound(s, "DELETE FROM jobs WHERE id = ?1", job_id, NULL, 0, "delete job", err,
                        errlen)) < 0 ||
        (r = sto_commit(s, err, errlen)) < 0)
        goto fail;
    return 0;
fail:
    sto_rollback(s);
    return r;
}

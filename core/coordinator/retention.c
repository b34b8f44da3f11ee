/*
 * Blob retention, removing ended jobs, and the orphan sweep (retention.h).
 */
#include "coordinator/retention.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <json-c/json.h>

#include "coordinator/attempts.h"
#include "coordinator/jobrec.h"
#include "coordinator/store_retention.h"
#include "errbuf.h"
#include "log.h"

#define PASS_MAX 256                    /* removals per pass: the loop stays responsive */
#define SWEEP_EVERY_MS (3600u * 1000u)  /* the orphan sweep, after the first turn's */

int co_blob_held(struct dcv_coord *c, const char *path)
{
    for (const struct co_download *d = c->dp.downloads; d; d = d->next)
        if (strcmp(d->path, path) == 0 && (d->active || !d->fetched))
            return 1;
    for (const struct co_rx *x = c->dp.rxs; x; x = x->next)
        if (strcmp(x->final_path, path) == 0)
            return 1;
    return 0;
}

/* The output file a done job's description names ("" none). */
static void output_file(const char *output_json, char *out, size_t len)
{
    struct co_output rec;
    out[0] = '\0';
    if (co_output_parse(output_json, &rec) == 0)
        copy_str(out, len, rec.file);
}

/* ---- the pass ------------------------------------------------------------------ */

struct due {
    char (*ids)[DCV_PROTO_JOB_ID];
    int64_t *xfers;
    size_t n;
};

static int take_output(const char *job_id, const char *output_json, void *ud)
{
    struct due *d = ud;
    (void)output_json;
    copy_str(d->ids[d->n++], DCV_PROTO_JOB_ID, job_id);
    return d->n >= PASS_MAX;
}

static int take_upload(int64_t xfer_id, void *ud)
{
    struct due *d = ud;
    d->xfers[d->n++] = xfer_id;
    return d->n >= PASS_MAX;
}

static void remove_output(struct dcv_coord *c, const char *job_id)
{
    struct dcv_job job;
    char err[512], file[64], path[PATH_MAX];
    int64_t bytes = 0;

    if (dcv_store_get(c->store, job_id, &job, err, sizeof err) < 0)
        return;
    output_file(job.output_json, file, sizeof file);
    dcv_job_clear(&job);
    if (file[0] && dcv_blobs_job_path(c->blobs, job_id, file, 0, path, sizeof path, err,
                                      sizeof err) == 0 && co_blob_held(c, path))
        return; /* a `get` registered it: it may be fetched within the hour */
    if (dcv_store_note_output_removed(c->store, job_id, co_wall_ms(), err, sizeof err) < 0) {
        dcv_log(DCV_LOG_WARN, CO_LOG, "retention: job %s: %s", job_id, err);
        return;
    }
    if (dcv_blobs_remove_job(c->blobs, job_id, &bytes) < 0)
        dcv_log(DCV_LOG_WARN, CO_LOG, "retention: job %s: its files could not all be removed "
                "(the sweep tries again)", job_id);
    dcv_log(DCV_LOG_INFO, CO_LOG, "retention: job %s: output removed (%" PRId64 " bytes)", job_id,
            bytes);
}

static void remove_upload(struct dcv_coord *c, int64_t xfer_id)
{
    char err[512], path[PATH_MAX];
    int64_t bytes = 0;

    if (dcv_blobs_upload_path(c->blobs, xfer_id, path, sizeof path) < 0 || co_blob_held(c, path))
        return;
    if (dcv_store_note_upload_removed(c->store, xfer_id, co_wall_ms(), err, sizeof err) < 0) {
        dcv_log(DCV_LOG_WARN, CO_LOG, "retention: upload %" PRId64 ": %s", xfer_id, err);
        return;
    }
    if (dcv_blobs_remove(path, &bytes) < 0)
        dcv_log(DCV_LOG_WARN, CO_LOG, "retention: upload %" PRId64 ": %s: %s", xfer_id, path,
                strerror(errno));
    dcv_log(DCV_LOG_INFO, CO_LOG, "retention: input upload %" PRId64 " removed (%" PRId64
            " bytes): every job that named it ended", xfer_id, bytes);
}

/* Find first, then remove: the store is not written under an open query. */
static void pass(struct dcv_coord *c)
{
    const struct dcv_settings *s = c->set;
    char ids[PASS_MAX][DCV_PROTO_JOB_ID], err[512];
    int64_t xfers[PASS_MAX], now = co_wall_ms();
    struct due d = { ids, xfers, 0 };

    if (s->keep_outputs_s > 0 &&
        dcv_store_outputs_due(c->store, now - s->keep_outputs_s * 1000,
                              s->keep_outputs_until_downloaded, take_output, &d, err,
                              sizeof err) < 0)
        dcv_log(DCV_LOG_WARN, CO_LOG, "retention: %s", err);
    for (size_t i = 0; i < d.n; i++)
        remove_output(c, ids[i]);
    d.n = 0;
    if (s->keep_inputs_s > 0 &&
        dcv_store_uploads_due(c->store, now - s->keep_inputs_s * 1000, take_upload, &d, err,
                              sizeof err) < 0)
        dcv_log(DCV_LOG_WARN, CO_LOG, "retention: %s", err);
    for (size_t i = 0; i < d.n; i++)
        remove_upload(c, xfers[i]);
}

/* ---- the orphan sweep ------------------------------------------------------------ */

/* An upload no record needs: named by no job (never submitted, or its jobs
 * were removed) once a sender could no longer mean to use it, or named only
 * by jobs that say it was removed (a crash between the two steps). */
static int drop_upload(struct dcv_coord *c, const char *name, int64_t mtime_s)
{
    char err[256], path[PATH_MAX], *end;
    int64_t jobs, live, xfer;

    errno = 0;
    xfer = strtoll(name, &end, 10);
    if (errno || *end || xfer <= 0 || dcv_blobs_upload_path(c->blobs, xfer, path, sizeof path) < 0 ||
        co_blob_held(c, path) ||
        dcv_store_upload_refs(c->store, xfer, &jobs, &live, err, sizeof err) < 0)
        return 0;
    if (jobs == 0)
        return (int64_t)time(NULL) - mtime_s >= c->set->part_max_age_s;
    return live == 0;
}

/* A job's file no record needs: its job is gone, or ended and this is not
 * its output (an earlier attempt's, or one retention removed). */
static int drop_job_file(struct dcv_coord *c, const char *job_id, const char *name)
{
    struct dcv_blob_facts f;
    struct dcv_job job;
    char err[256], file[64], path[PATH_MAX];
    int r, keep;

    if ((r = dcv_store_get(c->store, job_id, &job, err, sizeof err)) == -ENOENT)
        return 1;
    if (r < 0)
        return 0; /* unreadable: not ours to judge */
    output_file(job.output_json, file, sizeof file);
    keep = !dcv_job_state_is_terminal(job.state) ||
           dcv_store_blob_facts(c->store, job_id, &f, err, sizeof err) < 0 ||
           (job.state == DCV_JOB_DONE && strcmp(name, file) == 0 && !f.output_removed_ms);
    dcv_job_clear(&job);
    if (!keep && dcv_blobs_job_path(c->blobs, job_id, name, 0, path, sizeof path, err,
                                    sizeof err) == 0 && co_blob_held(c, path))
        keep = 1;
    return !keep;
}

static int sweep_drop(void *ud, const char *job_id, const char *name, int64_t mtime_s)
{
    struct dcv_coord *c = ud;
    return job_id ? drop_job_file(c, job_id, name) : drop_upload(c, name, mtime_s);
}

static void sweep(struct dcv_coord *c, const char *when)
{
    struct dcv_blobs_sweep_ops ops = { sweep_drop, c };
    unsigned n = 0;
    int64_t bytes = 0;
    char err[512];

    if (dcv_blobs_sweep(c->blobs, &ops, &n, &bytes, err, sizeof err) < 0)
        dcv_log(DCV_LOG_WARN, CO_LOG, "blob sweep: %s", err);
    else if (n)
        dcv_log(DCV_LOG_INFO, CO_LOG, "blob sweep (%s): removed %u file(s) no job needs, %" PRId64
                " bytes", when, n, bytes);
}

/* Often enough that a blob outlives its time by at most a quarter of it,
 * between once a second and once a minute. */
static uint64_t pass_period_ms(const struct dcv_settings *s)
{
    int64_t k = s->keep_inputs_s;
    uint64_t p;
    if (s->keep_outputs_s > 0 && (k == 0 || s->keep_outputs_s < k))
        k = s->keep_outputs_s;
    p = (uint64_t)k * 250u;
    return p < 1000 ? 1000 : p > 60000 ? 60000 : p;
}

void retention_cron(struct dcv_coord *c, uint64_t now)
{
    if (!c->ret.swept || now - c->ret.swept >= SWEEP_EVERY_MS) {
        sweep(c, c->ret.swept ? "hourly" : "start-up");
        c->ret.swept = now ? now : 1;
    }
    if ((c->set->keep_inputs_s > 0 || c->set->keep_outputs_s > 0) &&
        now - c->ret.last >= pass_period_ms(c->set)) {
        c->ret.last = now;
        pass(c);
    }
}

/* ---- removing ended jobs ---------------------------------------------------------- */

int co_job_blobs(struct dcv_coord *c, const struct dcv_job *j, struct co_job_blobs *out)
{
    struct co_input in;
    struct stat st;
    char err[256];
    int64_t jobs = 0, live = 0;

    memset(out, 0, sizeof *out);
    out->own_bytes = dcv_blobs_job_bytes(c->blobs, j->id);
    if (co_input_parse(c, j->input_json, &in, err, sizeof err) < 0 || in.kind != DCV_SUBMIT_UPLOAD)
        return 0;
    out->xfer_id = in.xfer_id;
    if (stat(in.path, &st) == 0)
        out->input_bytes = st.st_size;
    if (dcv_store_upload_refs(c->store, in.xfer_id, &jobs, &live, err, sizeof err) < 0)
        return -EIO;
    out->input_shared = jobs > 1;
    return 0;
}

int co_job_remove(struct dcv_coord *c, const char *job_id, int64_t *bytes, char *err,
                  size_t errlen)
{
    struct co_job_blobs jb;
    struct dcv_job job;
    char path[PATH_MAX];
    int64_t jobs = 0, live = 0;
    int r;

    *bytes = 0;
    if ((r = dcv_store_get(c->store, job_id, &job, err, errlen)) < 0)
        return r;
    if (!dcv_job_state_is_terminal(job.state)) {
        r = dcv_err(err, errlen, -EBUSY, "job %s is %s: cancel it first (distconvctl cancel %s)",
                    job.id, dcv_job_state_wire_name(job.state), job.id);
        goto out;
    }
    for (const struct co_download *d = c->dp.downloads; d; d = d->next)
        if (d->active && strcmp(d->job_id, job.id) == 0) {
            r = dcv_err(err, errlen, -EAGAIN, "job %s: a download of its %s is under way: try "
                        "again when it ends", job.id, d->output ? "output" : "input");
            goto out;
        }
    if ((r = co_job_blobs(c, &job, &jb)) < 0) {
        r = dcv_err(err, errlen, r, "job %s: cannot tell which jobs share its input", job.id);
        goto out;
    }
    /* The record first: a crash after it leaves files the sweep takes. */
    if ((r = dcv_store_delete_ended(c->store, job.id, err, errlen)) < 0)
        goto out;
    for (struct co_download **pp = &c->dp.downloads, *d; (d = *pp);) {
        if (strcmp(d->job_id, job.id) == 0) {
            *pp = d->next;
            free(d);
        } else {
            pp = &d->next;
        }
    }
    if (dcv_blobs_remove_job(c->blobs, job.id, bytes) < 0)
        dcv_log(DCV_LOG_WARN, CO_LOG, "job %s: its files could not all be removed (the sweep "
                "tries again)", job.id);
    if (jb.xfer_id && dcv_blobs_upload_path(c->blobs, jb.xfer_id, path, sizeof path) == 0 &&
        dcv_store_upload_refs(c->store, jb.xfer_id, &jobs, &live, err, errlen) == 0 && jobs == 0 &&
        !co_blob_held(c, path))
        (void)dcv_blobs_remove(path, bytes);
    dcv_log(DCV_LOG_INFO, CO_LOG, "job %s removed (%" PRId64 " bytes freed%s)", job.id, *bytes,
            jb.xfer_id && jobs > 0 ? "; its input stays for the other jobs that name it" : "");
    r = 0;
out:
    dcv_job_clear(&job);
    return r;
}

/*
 * The data plane (dataplane.h): the transfer server's callbacks map
 * transfers to blob files; abandoned parts are collected.
 */
#include "coordinator/dataplane.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "auth.h"
#include "coordinator/attempts.h"
#include "coordinator/jobrec.h"
#include "coordinator/store_retention.h"
#include "errbuf.h"
#include "log.h"

static struct co_rx *rx_new(struct dcv_coord *c, int purpose, const char *final_path,
                            const struct dcv_proto_xfer_open *o)
{
    struct co_rx *x = calloc(1, sizeof *x);
    if (!x)
        return NULL;
    x->purpose = purpose;
    copy_str(x->final_path, sizeof x->final_path, final_path);
    x->xfer_id = o->blob.xfer_id;
    x->size = o->blob.size;
    copy_str(x->sha, sizeof x->sha, o->blob.sha256);
    copy_str(x->job_id, sizeof x->job_id, o->fence.job_id);
    x->attempt = (int)o->fence.attempt;
    x->next = c->dp.rxs;
    if (c->dp.rxs)
        c->dp.rxs->prev = x;
    c->dp.rxs = x;
    return x;
}

static void rx_free(struct dcv_coord *c, struct co_rx *x)
{
    if (x->prev)
        x->prev->next = x->next;
    else
        c->dp.rxs = x->next;
    if (x->next)
        x->next->prev = x->prev;
    free(x);
}

/* Free space left for the job store after a received file is whole: the
 * WAL and its checkpoints need a little room to record the outcome. */
#define BLOB_DISK_MARGIN ((int64_t)256 * 1024)

/* Bytes an unprivileged writer may still put on fd's / path's filesystem; -1 unknown. */
static int64_t free_bytes(int fd)
{
    struct statvfs sv;
    return fstatvfs(fd, &sv) == 0 ? (int64_t)sv.f_bavail * (int64_t)sv.f_frsize : -1;
}

static int64_t free_bytes_at(const char *path)
{
    struct statvfs sv;
    return statvfs(path, &sv) == 0 ? (int64_t)sv.f_bavail * (int64_t)sv.f_frsize : -1;
}

static int refuse(int *code, int what, char *msg, size_t msglen, const char *text)
{
    *code = what;
    copy_str(msg, msglen, text);
    return what == DCV_CODE_STALE ? -ESTALE : -EINVAL;
}

/* A restarted coordinator has the job in its store, assigned to exactly
 * this attempt and session, but the worker has not said HELLO (re-attach)
 * yet: the peer should ask again shortly, not give the attempt up. */
static int awaiting_reattach(struct dcv_coord *c, const struct dcv_proto_fence *f)
{
    struct dcv_job job;
    char err[256];
    int yes = 0;

    if (co_job_find(c, f->job_id) || dcv_store_get(c->store, f->job_id, &job, err, sizeof err) < 0)
        return 0;
    yes = (job.state == DCV_JOB_ASSIGNED || job.state == DCV_JOB_RUNNING) &&
          job.attempt == f->attempt && job.session && strcmp(job.session, f->session) == 0;
    dcv_job_clear(&job);
    return yes;
}

/* Fill a re-attached job's input from its stored description (see
 * CO_XFER_ADOPT): the path and size from the store, the digest from the
 * store or else the one the JOB carried (the FETCH repeats it; the copy
 * is checked against it end to end). */
static int adopt_input(struct dcv_coord *c, struct co_job *j, const struct dcv_proto_xfer_open *o,
                       char *err, size_t errlen)
{
    struct dcv_job job;
    struct co_input in;
    struct stat st;
    int r;

    if ((r = dcv_store_get(c->store, j->id, &job, err, errlen)) < 0)
        return r;
    r = co_input_parse(c, job.input_json, &in, err, errlen);
    dcv_job_clear(&job);
    if (r < 0)
        return r;
    if (stat(in.path, &st) < 0)
        return dcv_err(err, errlen, -errno, "input %s: %s", in.path, strerror(errno));
    j->in_xfer = o->blob.xfer_id;
    j->in_size = in.size >= 0 ? in.size : st.st_size;
    copy_str(j->in_path, sizeof j->in_path, in.path);
    copy_str(j->in_sha, sizeof j->in_sha, in.sha[0] ? in.sha : o->blob.sha256);
    dcv_log(DCV_LOG_INFO, CO_LOG, "job %s: input xfer %" PRId64 " adopted after the restart",
            j->id, o->blob.xfer_id);
    return 0;
}

/* The job a data-plane transfer of purpose input/output belongs to (*jp),
 * when its fence names the current attempt and session and the
 * connection's identity (`user`, "" without authentication) is the worker
 * holding it: 0. Else refuse()'s value with the refusal in *code/msg (busy
 * while a restarted coordinator waits for the re-attach). `what` names the
 * act in the log. */
static int job_xfer_holder(struct dcv_coord *c, const struct dcv_proto_xfer_open *o,
                           const char *user, const char *what, struct co_job **jp, int *code,
                           char *msg, size_t msglen)
{
    struct co_job *j = co_job_find(c, o->fence.job_id);

    if (!j && awaiting_reattach(c, &o->fence))
        return refuse(code, DCV_CODE_BUSY, msg, msglen,
                      "coordinator restarted: the worker has not re-attached the job yet");
    if (!j || j->attempt != o->fence.attempt || strcmp(j->session, o->fence.session) != 0)
        return refuse(code, DCV_CODE_STALE, msg, msglen,
                      "not the job's current attempt and session");
    if (user[0] && strcmp(user, j->worker) != 0) {
        dcv_log(DCV_LOG_WARN, CO_LOG, "job %s: %s by %s, but worker %s holds the attempt: "
                "refused", j->id, what, user, j->worker);
        return refuse(code, DCV_CODE_PROTOCOL, msg, msglen,
                      "permission denied: another worker holds this attempt");
    }
    *jp = j;
    return 0;
}

static int xs_offer(void *ud, const struct dcv_tx_peer *peer, const struct dcv_proto_xfer_open *o,
                    struct dcv_xsrv_file *f, int *code, char *msg, size_t msglen)
{
    struct dcv_coord *c = ud;
    char path[PATH_MAX], err[512], rsha[DCV_PROTO_SHA], file[32];
    struct co_job *j = NULL;
    struct co_rx *x;
    int64_t rsize, uid;
    int r, committed = 0;
    const char *user = dcv_sock_user(c->data, &uid);
    (void)peer;

    if (o->purpose == DCV_PURPOSE_UPLOAD &&
        !(dcv_auth_role(dcv_net_auth(c->net), user, uid) & (DCV_AUTH_SUBMITTER | DCV_AUTH_OPERATOR))) {
        dcv_log(DCV_LOG_WARN, CO_LOG, "upload refused: %s is not a submitter or operator", user);
        return refuse(code, DCV_CODE_PROTOCOL, msg, msglen,
                      "permission denied: uploads are for submitters and operators");
    }
    if (o->purpose == DCV_PURPOSE_UPLOAD) {
        if (o->fence.job_id[0])
            return refuse(code, DCV_CODE_PROTOCOL, msg, msglen, "uploads carry no fence");
        if (dcv_blobs_upload_path(c->blobs, o->blob.xfer_id, path, sizeof path) < 0)
            return refuse(code, DCV_CODE_INTERNAL, msg, msglen, "path too long");
        if (dcv_blobs_read_record(path, &rsize, rsha) == 0) {
            if (rsize != o->blob.size || strcmp(rsha, o->blob.sha256) != 0)
                return refuse(code, DCV_CODE_PROTOCOL, msg, msglen,
                              "this xfer_id already holds another file: pick a new one");
            /* The same file again: a client that lost our COMMIT. Every
             * byte is here, so the server re-hashes it and COMMITs at once
             * instead of receiving it all again into a new part. */
            committed = 1;
        }
    } else if (o->purpose == DCV_PURPOSE_OUTPUT) {
        if ((r = job_xfer_holder(c, o, user, "output offered", &j, code, msg, msglen)) < 0)
            return r;
        if (j->out_state == 1)
            return refuse(code, DCV_CODE_PROTOCOL, msg, msglen,
                          "an output transfer of this attempt is in progress");
        snprintf(file, sizeof file, "out-%d", j->attempt);
        if (dcv_blobs_job_path(c->blobs, j->id, file, 1, path, sizeof path, err, sizeof err) < 0)
            return refuse(code, DCV_CODE_IO, msg, msglen, err);
    } else {
        return refuse(code, DCV_CODE_PROTOCOL, msg, msglen, "OFFER is for uploads and outputs");
    }
    if (committed) {
        if ((f->fd = open(path, O_RDWR | O_CLOEXEC)) < 0)
            return refuse(code, DCV_CODE_IO, msg, msglen, strerror(errno));
        f->durable = o->blob.size;
    } else if ((r = dcv_blobs_open_part(path, o->blob.size, o->blob.sha256, &f->fd, &f->durable,
                                        err, sizeof err)) < 0) {
        if (r == -ENOSPC || r == -EDQUOT)
            dcv_blobs_discard_part(path);
        return refuse(code, r == -ENOSPC || r == -EDQUOT ? DCV_CODE_NOSPACE : DCV_CODE_IO, msg,
                      msglen, err);
    }
    /* Refuse up front what cannot fit, rather than fill the disk the job
     * store shares and fail at the last chunk: the sender hears `nospace`
     * at once, and nothing is left behind. */
    if (!committed && (rsize = free_bytes(f->fd)) >= 0 &&
        rsize - BLOB_DISK_MARGIN < o->blob.size - f->durable) {
        snprintf(err, sizeof err, "coordinator disk full: %" PRId64 " more bytes needed, %" PRId64
                 " free", o->blob.size - f->durable, rsize);
        close(f->fd);
        f->fd = -1;
        if (f->durable == 0)
            dcv_blobs_discard_part(path);
        dcv_log(DCV_LOG_WARN, CO_LOG, "%s xfer %" PRId64 " refused: %s",
                o->purpose == DCV_PURPOSE_UPLOAD ? "upload" : "output", o->blob.xfer_id, err);
        return refuse(code, DCV_CODE_NOSPACE, msg, msglen, err);
    }
    if (!(x = rx_new(c, o->purpose, path, o))) {
        close(f->fd);
        f->fd = -1;
        return refuse(code, DCV_CODE_INTERNAL, msg, msglen, "out of memory");
    }
    x->committed = committed;
    f->size = o->blob.size;
    copy_str(f->sha256, sizeof f->sha256, o->blob.sha256);
    f->user = x;
    if (j) {
        j->out_state = 1;
        j->out_xfer = o->blob.xfer_id;
        j->out_size = o->blob.size;
        copy_str(j->out_sha, sizeof j->out_sha, o->blob.sha256);
    }
    /* A resume is worth a line: it says how much did not travel again. */
    dcv_log(f->durable > 0 ? DCV_LOG_INFO : DCV_LOG_DEBUG, CO_LOG,
            "receiving %s xfer %" PRId64 " (%" PRId64 " bytes, %" PRId64 " kept)",
            o->purpose == DCV_PURPOSE_UPLOAD ? "upload" : "output", o->blob.xfer_id,
            o->blob.size, f->durable);
    return 0;
}

static void xs_received(void *ud, const struct dcv_proto_xfer_open *o, void *user, int ok,
                        const char *reason)
{
    struct dcv_coord *c = ud;
    struct co_rx *x = user;
    struct co_job *j = NULL;
    char err[512];
    (void)o;

    if (!x)
        return;
    if (x->purpose == DCV_PURPOSE_OUTPUT) {
        j = co_job_find(c, x->job_id);
        if (j && j->attempt != x->attempt)
            j = NULL;
    }
    if (ok && !x->committed &&
        dcv_blobs_commit_part(x->final_path, x->size, x->sha, err, sizeof err) < 0) {
        dcv_log(DCV_LOG_ERROR, CO_LOG, "xfer %" PRId64 ": %s", x->xfer_id, err);
        ok = 0;
    }
    if (ok)
        dcv_log(DCV_LOG_INFO, CO_LOG, "%s xfer %" PRId64 " committed (%" PRId64 " bytes)",
                x->purpose == DCV_PURPOSE_UPLOAD ? "upload" : "output", x->xfer_id, x->size);
    else
        dcv_log(DCV_LOG_INFO, CO_LOG, "%s xfer %" PRId64 " ended: %s",
                x->purpose == DCV_PURPOSE_UPLOAD ? "upload" : "output", x->xfer_id,
                reason ? reason : "failed");
    /* A failed receive keeps its part: the sender may resume it. Not when
     * the rest cannot fit on the disk any more (it filled up under us):
     * then the part only holds space other transfers and the job store
     * need, and a resume would fail the same way. */
    if (!ok) {
        char part[PATH_MAX + 8];
        struct stat st;
        int64_t avail;
        snprintf(part, sizeof part, "%s.part", x->final_path);
        if (stat(part, &st) == 0 && (avail = free_bytes_at(part)) >= 0 &&
            avail - BLOB_DISK_MARGIN < x->size - st.st_size) {
            dcv_log(DCV_LOG_WARN, CO_LOG, "xfer %" PRId64 ": disk full, part of %lld bytes removed",
                    x->xfer_id, (long long)st.st_size);
            dcv_blobs_discard_part(x->final_path);
        }
    }
    if (j && j->out_xfer == x->xfer_id)
        j->out_state = ok ? 2 : 0;
    rx_free(c, x);
}

/* The download a FETCH names, no longer under way (NULL: not a download). */
static struct co_download *sent_done(struct dcv_coord *c, const struct dcv_proto_xfer_open *o)
{
    struct co_download *d = c->dp.downloads;
    if (o->purpose != DCV_PURPOSE_DOWNLOAD)
        return NULL;
    while (d && d->xfer_id != o->blob.xfer_id)
        d = d->next;
    if (d && d->active > 0)
        d->active--;
    return d;
}

static int xs_fetch(void *ud, const struct dcv_tx_peer *peer, const struct dcv_proto_xfer_open *o,
                    struct dcv_xsrv_file *f, int *code, char *msg, size_t msglen)
{
    struct dcv_coord *c = ud;
    const char *path = NULL, *sha = NULL;
    int64_t size = -1, uid;
    struct stat st;
    const char *user = dcv_sock_user(c->data, &uid);
    (void)peer;

    if (o->purpose == DCV_PURPOSE_INPUT) {
        struct co_job *j = NULL;
        char err[512];
        int r = job_xfer_holder(c, o, user, "input fetched", &j, code, msg, msglen);
        if (r < 0)
            return r;
        if (j->in_xfer == CO_XFER_ADOPT && o->blob.xfer_id > 0 &&
            adopt_input(c, j, o, err, sizeof err) < 0)
            return refuse(code, DCV_CODE_IO, msg, msglen, err);
        if (!j->in_xfer || j->in_xfer != o->blob.xfer_id)
            return refuse(code, DCV_CODE_PROTOCOL, msg, msglen,
                          "xfer_id is not this attempt's input");
        path = j->in_path;
        size = j->in_size;
        sha = j->in_sha;
    } else if (o->purpose == DCV_PURPOSE_DOWNLOAD) {
        struct co_download *d;
        if (o->fence.job_id[0])
            return refuse(code, DCV_CODE_PROTOCOL, msg, msglen, "downloads carry no fence");
        if (!(dcv_auth_role(dcv_net_auth(c->net), user, uid) &
              (DCV_AUTH_SUBMITTER | DCV_AUTH_OPERATOR))) {
            dcv_log(DCV_LOG_WARN, CO_LOG, "download refused: %s is not a submitter or operator",
                    user);
            return refuse(code, DCV_CODE_PROTOCOL, msg, msglen,
                          "permission denied: downloads are for submitters and operators");
        }
        for (d = c->dp.downloads; d && d->xfer_id != o->blob.xfer_id; d = d->next)
            ;
        if (!d)
            return refuse(code, DCV_CODE_PROTOCOL, msg, msglen,
                          "unknown download xfer_id: ask `get` for one");
        d->expires = co_now() + CO_DOWNLOAD_TTL_MS;
        d->active++; /* until xs_sent */
        path = d->path;
        size = d->size;
        sha = d->sha;
    } else {
        return refuse(code, DCV_CODE_PROTOCOL, msg, msglen, "FETCH is for inputs and downloads");
    }
    if ((f->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 ||
        fstat(f->fd, &st) < 0 || (size >= 0 && st.st_size != size)) {
        int e = errno;
        if (f->fd >= 0)
            close(f->fd);
        f->fd = -1;
        sent_done(c, o);
        return refuse(code, DCV_CODE_INPUT, msg, msglen,
                      e == ENOENT ? "the file is no longer on the coordinator"
                                  : "the file changed since it was registered");
    }
    f->size = st.st_size;
    copy_str(f->sha256, sizeof f->sha256, sha);
    f->user = NULL;
    return 0;
}

/* A download's FETCH ended: whole (ok, not a range read) is the output's
 * first download for retention (storage.keep_outputs_until_downloaded). */
static void xs_sent(void *ud, const struct dcv_proto_xfer_open *o, void *user, int ok,
                    const char *reason)
{
    struct dcv_coord *c = ud;
    struct co_download *d = sent_done(c, o);
    char err[256];
    (void)user;
    (void)reason;

    if (d && ok && !o->range)
        d->fetched = 1;
    if (d && ok && !o->range && d->output && d->job_id[0] &&
        dcv_store_note_downloaded(c->store, d->job_id, co_wall_ms(), err, sizeof err) < 0)
        dcv_log(DCV_LOG_WARN, CO_LOG, "job %s: recording its download: %s", d->job_id, err);
}

const struct dcv_xsrv_cbs co_xsrv_cbs = {
    .on_offer = xs_offer,
    .on_fetch = xs_fetch,
    .on_received = xs_received,
    .on_sent = xs_sent,
};

void co_on_data(struct dcv_coord *c, const struct dcv_tx_peer *from, const struct dcv_proto_msg *m)
{
    dcv_xsrv_input(c->xsrv, from, m, co_now());
}

static int gc_upload_busy(void *ud, int64_t xfer_id)
{
    struct dcv_coord *c = ud;
    for (struct co_rx *x = c->dp.rxs; x; x = x->next)
        if (x->xfer_id == xfer_id && x->purpose == DCV_PURPOSE_UPLOAD)
            return 1;
    return 0;
}

/* An output part is kept while its attempt may still send the rest: the
 * job is held on exactly that attempt (a re-attached worker resumes it
 * after a coordinator restart). */
static int gc_output_keep(void *ud, const char *job_id, int attempt)
{
    struct dcv_coord *c = ud;
    struct dcv_job job;
    char err[256];
    int keep;

    for (struct co_rx *x = c->dp.rxs; x; x = x->next)
        if (x->purpose == DCV_PURPOSE_OUTPUT && x->attempt == attempt &&
            strcmp(x->job_id, job_id) == 0)
            return 1;
    if (dcv_store_get(c->store, job_id, &job, err, sizeof err) < 0)
        return 1; /* unknown or unreadable: not ours to judge */
    keep = dcv_job_state_is_active(job.state) && job.attempt == attempt;
    dcv_job_clear(&job);
    return keep;
}

void co_gc_sweep(struct dcv_coord *c, const char *when)
{
    struct dcv_blobs_gc_ops ops = { gc_upload_busy, gc_output_keep, c };
    unsigned n = 0;
    int64_t bytes = 0;
    char err[512];

    c->dp.gc_last = co_now();
    if (dcv_blobs_gc(c->blobs, c->set->part_max_age_s, &ops, &n, &bytes, err, sizeof err) < 0)
        dcv_log(DCV_LOG_WARN, CO_LOG, "garbage collection: %s", err);
    else if (n)
        dcv_log(DCV_LOG_INFO, CO_LOG, "garbage collection (%s): removed %u abandoned part file(s), "
                "%" PRId64 " bytes", when, n, bytes);
}

/* Sweep often enough that a part outlives its age limit by at most half
 * of it, and at least every 10 minutes. */
static uint64_t gc_period_ms(const struct dcv_coord *c)
{
    uint64_t p = (uint64_t)c->set->part_max_age_s * 500u;
    return p < 1000 ? 1000 : p > 600000 ? 600000 : p;
}

void dataplane_cron(struct dcv_coord *c, uint64_t now)
{
    if (now - c->dp.gc_last >= gc_period_ms(c))
        co_gc_sweep(c, "periodic");
    for (struct co_download **pp = &c->dp.downloads, *d; (d = *pp);) {
        if (now > d->expires && !d->active) {
            *pp = d->next;
            free(d);
        } else {
            pp = &d->next;
        }
    }
    if (dcv_xsrv_deadline(c->xsrv) <= now) {
        dcv_xsrv_pump(c->xsrv, now);
        co_arm_pump(c);
    }
}

/* After the data-plane server is gone (its callbacks hold these). */
void co_dataplane_free(struct dcv_coord *c)
{
    while (c->dp.rxs)
        rx_free(c, c->dp.rxs);
    while (c->dp.downloads) {
        struct co_download *d = c->dp.downloads;
        c->dp.downloads = d->next;
        free(d);
    }
}

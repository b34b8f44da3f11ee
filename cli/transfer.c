/*
 * distconvctl's data plane (docs/protocol.md §7): the data endpoint from
 * `info`, uploads for submit and downloads for get and submit -o, with
 * progress lines; the transfers themselves are core/xfer/client.c's.
 */
#include "ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "ui.h"
#include "xfer/client.h"

/* ---- data plane ---------------------------------------------------------------------- */

/* The data endpoint from `info`, as this client reaches it. */
static int data_endpoint(struct ctl *c, char *out, size_t len)
{
    struct dcv_proto_args a;
    json_object *body;
    const char *ep;
    int r;

    ctl_args_init(&a);
    if ((r = ctl_call(c, DCV_VERB_INFO, &a, NULL, &body, NULL)) != EXIT_OK)
        return r;
    ep = dcv_json_str(body, "data_endpoint", NULL);
    if (!ep || !strstr(ep, "://")) {
        json_object_put(body);
        ctl_errorf("the coordinator's info names no data endpoint");
        return EXIT_FAILED;
    }
    r = dcv_endpoint_for_peer(ep, c->endpoint, out, len);
    json_object_put(body);
    if (r < 0) {
        ctl_errorf("data endpoint too long");
        return EXIT_FAILED;
    }
    dcv_log(DCV_LOG_DEBUG, "ctl", "data endpoint %s", out);
    return EXIT_OK;
}

static void xcli_params(const struct ctl *c, struct dcv_xcli_params *p)
{
    memset(p, 0, sizeof *p);
    p->chunk_max = c->s->chunk_size > 0 ? (uint32_t)c->s->chunk_size : 0;
    p->credit_chunks = c->s->credit_chunks > 0 ? (uint32_t)c->s->credit_chunks : 0;
    p->cancel = &g_cancel;
}

/* Exit code for a failed transfer. */
static int xfer_failed(const char *what, const char *ep, int r, const char *err)
{
    if (r == -ECANCELED)
        return EXIT_INTERRUPTED;
    ctl_errorf("%s via %s: %s", what, ep, err);
    return r == -ETIMEDOUT ? EXIT_UNREACHABLE : EXIT_FAILED;
}

static void on_bytes(int64_t done, int64_t total, void *ud)
{
    dcv_progress_bytes(ud, done, total);
}

/* Upload fd to the coordinator; fills blob (xfer_id, sha256; size is the
 * caller's). The library hashes the file and picks the xfer_id; a
 * timed-out transfer is retried with the same xfer_id, which resumes where
 * the coordinator's durable bytes end. */
int transfer_upload(struct ctl *c, int fd, struct dcv_proto_blob *blob)
{
    char ep[DCV_ENDPOINT_MAX], err[1024] = "";
    enum dcv_progress_style st = c->o->json ? DCV_PROGRESS_NONE : dcv_progress_style_auto(c->o->quiet);
    struct dcv_xcli_params p;
    struct dcv_progress_line pl;
    int64_t size = -1;
    int rc, r;

    /* SHA-256 first, with progress (a large file takes a while). */
    dcv_progress_begin(&pl, st, "hash");
    r = dcv_xcli_sha256_fd_progress(fd, &size, blob->sha256, on_bytes, &pl, &g_cancel, err,
                                    sizeof err);
    dcv_progress_end(&pl);
    if (r == -ECANCELED)
        return EXIT_INTERRUPTED;
    if (r < 0) {
        ctl_errorf("%s", err);
        return EXIT_FAILED;
    }
    if (size != blob->size) {
        ctl_errorf("the file changed size while it was read (%lld of %lld bytes)", (long long)size,
                   (long long)blob->size);
        return EXIT_FAILED;
    }
    if ((rc = data_endpoint(c, ep, sizeof ep)) != EXIT_OK)
        return rc;
    blob->xfer_id = 0; /* the library picks one, kept for the retries */
    xcli_params(c, &p);
    r = -ETIMEDOUT;
    for (int t = 1; t <= c->ac.tries && r == -ETIMEDOUT; t++) {
        struct dcv_xcli *x = NULL;
        int abort_code = -1;

        r = dcv_xcli_open(c->net, ep, &p, &x, err, sizeof err);
        if (r < 0)
            break;
        dcv_progress_begin(&pl, st, "upload");
        r = dcv_xcli_send_file(x, DCV_PURPOSE_UPLOAD, NULL, fd, blob, on_bytes, &pl, &abort_code,
                               err, sizeof err);
        dcv_progress_end(&pl);
        dcv_xcli_close(&x);
        if (r == -ETIMEDOUT && t < c->ac.tries)
            dcv_log(DCV_LOG_WARN, "ctl", "upload try %d: %s; resuming", t, err);
    }
    if (r < 0)
        return xfer_failed("upload", ep, r, err);
    return EXIT_OK;
}

/*
 * Download a job's output (or input) to `out`: written to OUT.part and
 * renamed when the transfer is complete and its SHA-256 checked, so OUT is
 * either the whole verified file or untouched.
 */
int transfer_download(struct ctl *c, const char *job_id, int what_input, const char *out)
{
    struct dcv_proto_args a;
    struct dcv_proto_blob blob;
    struct dcv_xcli_params p;
    struct dcv_xcli *x = NULL;
    struct dcv_progress_line pl;
    enum dcv_progress_style st = c->o->json ? DCV_PROGRESS_NONE : dcv_progress_style_auto(c->o->quiet);
    json_object *body;
    char ep[DCV_ENDPOINT_MAX], err[1024] = "", *part = NULL, *raw = NULL;
    int rc, r, fd, abort_code = -1;
    struct stat sb;

    if (stat(out, &sb) == 0 && S_ISDIR(sb.st_mode))
        return ctl_usage_error("-o %s: is a directory", out);
    ctl_args_init(&a);
    snprintf(a.job_id, sizeof a.job_id, "%s", job_id);
    a.what = what_input ? 1 : 0;
    if ((rc = ctl_call(c, DCV_VERB_GET, &a, NULL, &body, &raw)) != EXIT_OK)
        return rc;
    memset(&blob, 0, sizeof blob);
    blob.xfer_id = dcv_json_int(body, "xfer_id", 0);
    blob.size = dcv_json_int(body, "size", -1);
    snprintf(blob.sha256, sizeof blob.sha256, "%s", dcv_json_str(body, "sha256", ""));
    json_object_put(body);
    if (blob.xfer_id <= 0) {
        free(raw);
        ctl_errorf("the coordinator's get reply has no xfer_id");
        return EXIT_FAILED;
    }
    if ((rc = data_endpoint(c, ep, sizeof ep)) != EXIT_OK) {
        free(raw);
        return rc;
    }
    if (asprintf(&part, "%s.part", out) < 0) {
        free(raw);
        ctl_errorf("out of memory");
        return EXIT_FAILED;
    }
    fd = open(part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) {
        ctl_errorf("cannot create %s: %s", part, strerror(errno));
        free(part);
        free(raw);
        return EXIT_FAILED;
    }
    xcli_params(c, &p);
    r = dcv_xcli_open(c->net, ep, &p, &x, err, sizeof err);
    if (r == 0) {
        dcv_progress_begin(&pl, st, "download");
        r = dcv_xcli_fetch_file(x, DCV_PURPOSE_DOWNLOAD, NULL, &blob, fd, on_bytes, &pl,
                                &abort_code, err, sizeof err);
        dcv_progress_end(&pl);
        dcv_xcli_close(&x);
    }
    if (close(fd) < 0 && r == 0)
        r = dcv_err(err, sizeof err, -errno, "close %s: %s", part, strerror(errno));
    if (r == 0 && rename(part, out) < 0)
        r = dcv_err(err, sizeof err, -errno, "rename %s to %s: %s", part, out, strerror(errno));
    if (r < 0) {
        unlink(part);
        free(part);
        free(raw);
        return xfer_failed("download", ep, r, err);
    }
    free(part);
    if (c->o->json && c->o->cmd == CMD_GET)
        ctl_print_raw(raw);
    else if (!c->o->quiet) {
        char sz[32];
        dcv_fmt_bytes(sz, sizeof sz, blob.size);
        fprintf(stderr, "wrote %s (%s, sha256 %.16s...)\n", out, sz, blob.sha256);
    }
    free(raw);
    return EXIT_OK;
}

/*
 * The storage side of the admin plane (docs/protocol.md §8): `rm` and
 * `purge` of ended jobs, the blob usage and retention settings `info`
 * shows, and what a job's record says about its removed blobs. The work is
 * retention.c's; this file turns it into replies.
 */
#include "coordinator/admin_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include "coordinator/jobrec.h"
#include "coordinator/retention.h"
#include "coordinator/store_retention.h"
#include "config.h"

#define PURGE_LIST_MAX 2000 /* jobs listed in a purge reply; count and bytes cover all */

static void utc_text(int64_t ms, char *buf, size_t len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (!gmtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(buf, len, "%" PRId64 " ms", ms);
}

void admin_job_facts(struct dcv_coord *c, const struct dcv_job *j, json_object *o)
{
    struct dcv_blob_facts f;
    char err[256];

    if (!dcv_job_state_is_terminal(j->state) ||
        dcv_store_blob_facts(c->store, j->id, &f, err, sizeof err) < 0)
        return;
    if (f.downloaded_ms)
        json_object_object_add(o, "downloaded_ms", json_object_new_int64(f.downloaded_ms));
    if (f.input_removed_ms)
        json_object_object_add(o, "input_removed_ms", json_object_new_int64(f.input_removed_ms));
    if (f.output_removed_ms)
        json_object_object_add(o, "output_removed_ms", json_object_new_int64(f.output_removed_ms));
}

int admin_blob_removed(struct dcv_coord *c, const char *job_id, int input, char *msg, size_t len)
{
    struct dcv_blob_facts f;
    char err[256], when[64];
    int64_t at;

    if (dcv_store_blob_facts(c->store, job_id, &f, err, sizeof err) < 0)
        return 0;
    if (!(at = input ? f.input_removed_ms : f.output_removed_ms))
        return 0;
    utc_text(at, when, sizeof when);
    snprintf(msg, len, "its %s was removed by the retention policy (storage.%s) at %s",
             input ? "input" : "output", input ? "keep_inputs" : "keep_outputs", when);
    return 1;
}

/* ---- rm ------------------------------------------------------------------------ */

static int remove_status(int r)
{
    return r == -ENOENT ? 404 : r == -EBUSY || r == -EAGAIN || r == -EINVAL ? 400 : 500;
}

void admin_rm(struct req_ctx *x)
{
    json_object *body;
    char err[512];
    int64_t bytes = 0;
    int r;

    if ((r = co_job_remove(x->c, x->rq->args.job_id, &bytes, err, sizeof err)) < 0) {
        FAILR(x, remove_status(r), "%s", err);
        return;
    }
    if ((body = json_object_new_object())) {
        json_object_object_add(body, "job_id", jstr(x->rq->args.job_id));
        json_object_object_add(body, "removed", json_object_new_boolean(1));
        json_object_object_add(body, "bytes", json_object_new_int64(bytes));
    }
    admin_reply(x->c, x->peer, x->rq->req_id, body ? 200 : 500, "coordinator out of memory", body);
}

/* ---- purge --------------------------------------------------------------------- */

struct purge_job {
    char id[DCV_PROTO_JOB_ID];
    char name[DCV_PROTO_HOST * 2];
    enum dcv_job_state state;
    int64_t ended_ms;
    struct co_job_blobs b;
};

struct purge_list {
    struct dcv_coord *c;
    struct purge_job *v;
    size_t n, cap;
};

static int purge_take(const struct dcv_job *j, void *ud)
{
    struct purge_list *l = ud;
    struct co_input in;
    char err[256];

    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        struct purge_job *v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    struct purge_job *p = &l->v[l->n++];
    memset(p, 0, sizeof *p);
    copy_str(p->id, sizeof p->id, j->id);
    if (co_input_parse(l->c, j->input_json, &in, err, sizeof err) == 0)
        copy_str(p->name, sizeof p->name, in.name);
    p->state = j->state;
    p->ended_ms = j->updated_ms;
    return co_job_blobs(l->c, j, &p->b) < 0 ? -EIO : 0;
}

/* A dry run's bytes: the job's own files, and its upload once, when every
 * job naming the upload is in the list (else it stays for the others). */
static int64_t dry_bytes(struct dcv_coord *c, const struct purge_list *l, size_t i)
{
    const struct purge_job *p = &l->v[i];
    int64_t jobs = 0, live = 0, in_list = 0;
    char err[256];

    if (!p->b.xfer_id)
        return p->b.own_bytes;
    for (size_t k = 0; k < l->n; k++)
        if (l->v[k].b.xfer_id == p->b.xfer_id) {
            if (k < i)
                return p->b.own_bytes; /* counted with the first */
            in_list++;
        }
    if (dcv_store_upload_refs(c->store, p->b.xfer_id, &jobs, &live, err, sizeof err) < 0 ||
        in_list < jobs)
        return p->b.own_bytes;
    return p->b.own_bytes + p->b.input_bytes;
}

void admin_purge(struct req_ctx *x)
{
    const struct dcv_proto_args *a = &x->rq->args;
    struct purge_list l = { x->c, NULL, 0, 0 };
    json_object *body = NULL, *arr = NULL, *skipped = NULL;
    int64_t total = 0, count = 0;
    char err[512];
    int r;

    if ((r = dcv_store_list_ended(x->c->store, a->before_ms, purge_take, &l, err, sizeof err)) < 0) {
        FAILR(x, 500, "%s", r == -ENOMEM ? "coordinator out of memory" : err);
        goto out;
    }
    if (!(body = json_object_new_object()) || !(arr = json_object_new_array()) ||
        !(skipped = json_object_new_array())) {
        FAILR(x, 500, "coordinator out of memory");
        goto out;
    }
    for (size_t i = 0; i < l.n; i++) {
        struct purge_job *p = &l.v[i];
        int64_t bytes = 0;
        json_object *e;

        if (a->dry_run) {
            bytes = dry_bytes(x->c, &l, i);
        } else if ((r = co_job_remove(x->c, p->id, &bytes, err, sizeof err)) < 0) {
            if ((e = json_object_new_object())) {
                json_object_object_add(e, "job_id", jstr(p->id));
                json_object_object_add(e, "error", jstr(err));
                json_object_array_add(skipped, e);
            }
            continue;
        }
        count++;
        total += bytes;
        if (json_object_array_length(arr) >= PURGE_LIST_MAX || !(e = json_object_new_object()))
            continue;
        json_object_object_add(e, "job_id", jstr(p->id));
        json_object_object_add(e, "name", jstr(p->name));
        json_object_object_add(e, "state", jstr(dcv_job_state_wire_name(p->state)));
        json_object_object_add(e, "ended_ms", json_object_new_int64(p->ended_ms));
        json_object_object_add(e, "bytes", json_object_new_int64(bytes));
        json_object_array_add(arr, e);
    }
    json_object_object_add(body, "dry_run", json_object_new_boolean(a->dry_run));
    json_object_object_add(body, "before_ms", json_object_new_int64(a->before_ms));
    json_object_object_add(body, "count", json_object_new_int64(count));
    json_object_object_add(body, "bytes", json_object_new_int64(total));
    if ((int64_t)json_object_array_length(arr) < count)
        json_object_object_add(body, "truncated", json_object_new_boolean(1));
    json_object_object_add(body, "jobs", arr);
    json_object_object_add(body, "skipped", skipped);
    arr = skipped = NULL;
    admin_reply(x->c, x->peer, x->rq->req_id, 200, NULL, body);
    body = NULL;
out:
    json_object_put(arr);
    json_object_put(skipped);
    json_object_put(body);
    free(l.v);
}

/* ---- info ---------------------------------------------------------------------- */

static json_object *count_bytes(int64_t n, int64_t bytes)
{
    json_object *o = json_object_new_object();
    if (o) {
        json_object_object_add(o, "count", json_object_new_int64(n));
        json_object_object_add(o, "bytes", json_object_new_int64(bytes));
    }
    return o;
}

void admin_info_storage(struct dcv_coord *c, json_object *body)
{
    const struct dcv_settings *s = c->set;
    struct dcv_blobs_usage u;
    struct statvfs sv;
    json_object *o, *fs;
    char err[512], d[32];

    if (!body || !(o = json_object_new_object()))
        return;
    if (dcv_blobs_usage(c->blobs, &u, err, sizeof err) == 0) {
        json_object_object_add(o, "inputs", count_bytes(u.inputs, u.input_bytes));
        json_object_object_add(o, "outputs", count_bytes(u.outputs, u.output_bytes));
        json_object_object_add(o, "parts", count_bytes(u.parts, u.part_bytes));
    } else {
        json_object_object_add(o, "error", jstr(err));
    }
    dcv_duration_format(s->keep_inputs_s, d, sizeof d);
    json_object_object_add(o, "keep_inputs", jstr(d));
    dcv_duration_format(s->keep_outputs_s, d, sizeof d);
    json_object_object_add(o, "keep_outputs", jstr(d));
    json_object_object_add(o, "keep_outputs_until_downloaded",
                           json_object_new_boolean(s->keep_outputs_until_downloaded));
    if (statvfs(c->state_dir, &sv) == 0 && (fs = json_object_new_object())) {
        json_object_object_add(fs, "path", jstr(c->state_dir));
        json_object_object_add(fs, "free_bytes",
                               json_object_new_int64((int64_t)sv.f_bavail * (int64_t)sv.f_frsize));
        json_object_object_add(fs, "size_bytes",
                               json_object_new_int64((int64_t)sv.f_blocks * (int64_t)sv.f_frsize));
        json_object_object_add(o, "filesystem", fs);
    }
    json_object_object_add(body, "storage", o);
}

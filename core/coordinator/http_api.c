/*
 * /api/v1 (docs/api.md): each route builds the admin plane's REQUEST from
 * the URL, query and body, decodes it with the wire codec (so a field has
 * the same rule and the same error text as over zmq) and runs the verb
 * through co_admin_call() with the caller's identity: one implementation,
 * one permission table, two planes.
 */
#include "coordinator/http.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "build-config.h"
#include "coordinator/admin.h"
#include "coordinator/attempts.h"
#include "coordinator/jobstate.h"
#include "coordinator/registry.h"
#include "coordinator/store.h"
#include "log.h"

void co_api_json(struct dcv_http_reply *out, int status, json_object *body)
{
    const char *text;

    if (!body) {
        dcv_http_error(out, 500, "coordinator out of memory");
        return;
    }
    text = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    out->body = text ? malloc(strlen(text) + 2) : NULL;
    if (!out->body) {
        json_object_put(body);
        dcv_http_error(out, 500, "coordinator out of memory");
        return;
    }
    out->len = (size_t)sprintf(out->body, "%s\n", text);
    out->status = status;
    out->content_type = "application/json";
    json_object_put(body);
}

/* Run verb with args (taken) as the caller; ok is the status of a 200.
 * ok 201 (submit): 201 for a new job, 200 when the idempotency key found
 * an old one (the body's "created"). */
static void run_verb(struct dcv_coord *c, const struct dcv_http_req *rq, int verb,
                     json_object *args, const char *idem, int ok, struct dcv_http_reply *out)
{
    struct dcv_proto_request *prq = NULL;
    struct co_admin_res res;
    json_object *req = json_object_new_object();
    const char *text;
    char err[1024];

    if (!req || !args) {
        json_object_put(req);
        json_object_put(args);
        dcv_http_error(out, 500, "coordinator out of memory");
        return;
    }
    json_object_object_add(req, "req_id", json_object_new_string("http"));
    json_object_object_add(req, "verb", json_object_new_string(dcv_proto_verb_name(verb)));
    if (idem)
        json_object_object_add(req, "idempotency_key", json_object_new_string(idem));
    json_object_object_add(req, "args", args);
    text = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    if (!(prq = calloc(1, sizeof *prq))) {
        json_object_put(req);
        dcv_http_error(out, 500, "coordinator out of memory");
        return;
    }
    if (dcv_proto_decode(DCV_PLANE_ADMIN, DCV_CMD_REQUEST, text, strlen(text), prq, err,
                         sizeof err) < 0) {
        json_object_put(req);
        free(prq);
        dcv_http_error(out, 400, "%s", err);
        return;
    }
    json_object_put(req);
    co_admin_call(c, rq->who.name, rq->who.roles, prq, &res);
    free(prq);
    if (res.status >= 400) {
        json_object_put(res.body);
        dcv_http_error(out, res.status, "%s", res.error);
        return;
    }
    if (res.status == 200 && ok == 201) {
        json_object *created;
        if (res.body && json_object_object_get_ex(res.body, "created", &created) &&
            !json_object_get_boolean(created))
            ok = 200;
    }
    co_api_json(out, res.status == 200 ? ok : res.status,
                res.body ? res.body : json_object_new_object());
}

static json_object *args_with(const char *key, const char *value)
{
    json_object *a = json_object_new_object();
    if (a && key)
        json_object_object_add(a, key, json_object_new_string(value ? value : ""));
    return a;
}

/* ---- cluster --------------------------------------------------------------------- */

void co_api_cluster(void *ud, const struct dcv_http_req *rq, struct dcv_http_reply *out)
{
    struct dcv_coord *c = ud;
    json_object *o = json_object_new_object(), *jobs = json_object_new_object(),
                *w = json_object_new_object();
    int64_t online = 0, offline = 0, draining = 0, busy = 0, slots = 0, used = 0;
    char err[256], url[160];

    (void)rq;
    if (!o || !jobs || !w) {
        json_object_put(o);
        json_object_put(jobs);
        json_object_put(w);
        dcv_http_error(out, 500, "coordinator out of memory");
        return;
    }
    for (int s = 0; s < DCV_JOB_STATE_COUNT; s++) {
        int64_t n = 0;
        if (dcv_store_count(c->store, s, &n, err, sizeof err) < 0) {
            json_object_put(o);
            json_object_put(jobs);
            json_object_put(w);
            dcv_http_error(out, 500, "%s", err);
            return;
        }
        json_object_object_add(jobs, dcv_job_state_wire_name(s), json_object_new_int64(n));
    }
    for (struct co_worker *k = c->reg.workers; k; k = k->next) {
        if (!k->online) {
            offline++;
            continue;
        }
        online++;
        draining += k->admin_drain || (k->has_tel && k->tel.draining);
        busy += k->has_tel && k->tel.busy;
        slots += k->slots;
        used += co_held_by(c, k);
    }
    json_object_object_add(w, "online", json_object_new_int64(online));
    json_object_object_add(w, "offline", json_object_new_int64(offline));
    json_object_object_add(w, "draining", json_object_new_int64(draining));
    json_object_object_add(w, "busy", json_object_new_int64(busy));
    json_object_object_add(w, "slots", json_object_new_int64(slots));
    json_object_object_add(w, "slots_used", json_object_new_int64(used));
    json_object_object_add(o, "version", json_object_new_string(PACKAGE_VERSION));
    json_object_object_add(o, "coordinator_epoch", json_object_new_string(c->epoch));
    snprintf(url, sizeof url, "%s://%s/", c->web.tls_cert ? "https" : "http", c->set->http_bind);
    json_object_object_add(o, "http_url", json_object_new_string(url));
    json_object_object_add(o, "jobs", jobs);
    json_object_object_add(o, "workers", w);
    co_api_json(out, 200, o);
}

/* ---- workers ------------------------------------------------------------------------ */

void co_api_workers(void *ud, const struct dcv_http_req *rq, struct dcv_http_reply *out)
{
    run_verb(ud, rq, DCV_VERB_WORKERS, json_object_new_object(), NULL, 200, out);
}

void co_api_worker(void *ud, const struct dcv_http_req *rq, struct dcv_http_reply *out)
{
    run_verb(ud, rq, DCV_VERB_WORKER, args_with("worker_id", rq->param[0]), NULL, 200, out);
}

void co_api_drain(void *ud, const struct dcv_http_req *rq, struct dcv_http_reply *out)
{
    run_verb(ud, rq, DCV_VERB_DRAIN, args_with("worker_id", rq->param[0]), NULL, 200, out);
}

void co_api_undrain(void *ud, const struct dcv_http_req *rq, struct dcv_http_reply *out)
{
    run_verb(ud, rq, DCV_VERB_UNDRAIN, args_with("worker_id", rq->param[0]), NULL, 200, out);
}

/* ---- jobs --------------------------------------------------------------------------- */

/* A query argument that must be a whole number: into args, or 400. */
static int query_int(const struct dcv_http_req *rq, const char *key, json_object *args,
                     struct dcv_http_reply *out)
{
    const char *v = dcv_http_query(rq, key);
    char *end;
    long long n;

    if (!v)
        return 0;
    errno = 0;
    n = strtoll(v, &end, 10);
    if (!*v || *end || errno) {
        dcv_http_error(out, 400, "%s: expected a whole number, got \"%.64s\"", key, v);
        return -EINVAL;
    }
    json_object_object_add(args, key, json_object_new_int64(n));
    return 0;
}

void co_api_jobs(void *ud, const struct dcv_http_req *rq, struct dcv_http_reply *out)
{
    json_object *args = json_object_new_object();
    const char *state = dcv_http_query(rq, "state");

    if (!args) {
        dcv_http_error(out, 500, "coordinator out of memory");
        return;
    }
    if (state && *state)
        json_object_object_add(args, "state", json_object_new_string(state));
    if (query_int(rq, "limit", args, out) < 0 || query_int(rq, "offset", args, out) < 0) {
        json_object_put(args);
        return;
    }
    run_verb(ud, rq, DCV_VERB_JOBS, args, NULL, 200, out);
}

void co_api_job(void *ud, const struct dcv_http_req *rq, struct dcv_http_reply *out)
{
    run_verb(ud, rq, DCV_VERB_STATUS, args_with("job_id", rq->param[0]), NULL, 200, out);
}

void co_api_cancel(void *ud, const struct dcv_http_req *rq, struct dcv_http_reply *out)
{
    run_verb(ud, rq, DCV_VERB_CANCEL, args_with("job_id", rq->param[0]), NULL, 200, out);
}

void co_api_retry(void *ud, const struct dcv_http_req *rq, struct dcv_http_reply *out)
{
    run_verb(ud, rq, DCV_VERB_RETRY, args_with("job_id", rq->param[0]), NULL, 200, out);
}

void co_api_submit(void *ud, const struct dcv_http_req *rq, struct dcv_http_reply *out)
{
    json_object *args = rq->body_len ? json_tokener_parse(rq->body) : NULL, *in, *kind;
    const char *idem = dcv_http_header(rq, "Idempotency-Key");

    if (!args || !json_object_is_type(args, json_type_object)) {
        json_object_put(args);
        dcv_http_error(out, 400, "expected a JSON object: {\"input\": {\"kind\": \"path\" | "
                                 "\"url\", \"source\": ...}, \"profile\": {...}}");
        return;
    }
    /* Uploads need the data plane, which distconvctl speaks. */
    if (json_object_object_get_ex(args, "input", &in) &&
        json_object_object_get_ex(in, "kind", &kind) && json_object_is_type(kind, json_type_string) &&
        strcmp(json_object_get_string(kind), "upload") == 0) {
        json_object_put(args);
        dcv_http_error(out, 400, "input.kind upload is not taken over HTTP: submit a path on "
                                 "shared storage or a URL, or upload with `distconvctl submit FILE`");
        return;
    }
    run_verb(ud, rq, DCV_VERB_SUBMIT, args, idem, 201, out);
}

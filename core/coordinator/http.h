/*
 * The coordinator's HTTP plane (docs/api.md, docs/operations.md "The HTTP
 * plane"): http.c starts it and holds the route table; http_auth.c
 * authenticates (tokens, sessions, CSRF, anonymous access) and serves
 * whoami/login/logout; http_api.c is /api/v1; http_events.c the event
 * stream; http_metrics.c /metrics. Every handler runs on the loop thread.
 */
#ifndef DCV_CO_HTTP_H
#define DCV_CO_HTTP_H

#include <json-c/json.h>

#include "coordinator/coord_int.h"
#include "http/httpd.h"

/* Listen on http.bind ("off"/"" = nothing to do). A non-loopback address
 * needs http.anonymous = none. 0, or negative errno with the reason. */
int co_http_start(struct dcv_coord *c, char *err, size_t errlen);
void co_http_free(struct dcv_coord *c);
/* The routes, for a listing (tests request each one with each role). */
const struct dcv_http_route *co_http_routes(size_t *n);

/* A token was revoked: its sessions and event streams end now. */
void co_http_revoked(struct dcv_coord *c, const char *name);

/* http_auth.c */
int co_http_authorize(void *ud, struct dcv_http_req *rq, enum dcv_action act,
                      struct dcv_http_reply *deny);
void co_http_whoami(void *ud, const struct dcv_http_req *rq, struct dcv_http_reply *out);
void co_http_login(void *ud, const struct dcv_http_req *rq, struct dcv_http_reply *out);
void co_http_logout(void *ud, const struct dcv_http_req *rq, struct dcv_http_reply *out);
void co_websessions_free(struct dcv_coord *c);
void co_websessions_drop(struct dcv_coord *c, const char *token_name);

/* http_api.c */
void co_api_cluster(void *ud, const struct dcv_http_req *rq, struct dcv_http_reply *out);
void co_api_workers(void *ud, const struct dcv_http_req *rq, struct dcv_http_reply *out);
void co_api_worker(void *ud, const struct dcv_http_req *rq, struct dcv_http_reply *out);
void co_api_drain(void *ud, const struct dcv_http_req *rq, struct dcv_http_reply *out);
void co_api_undrain(void *ud, const struct dcv_http_req *rq, struct dcv_http_reply *out);
void co_api_jobs(void *ud, const struct dcv_http_req *rq, struct dcv_http_reply *out);
void co_api_job(void *ud, const struct dcv_http_req *rq, struct dcv_http_reply *out);
void co_api_submit(void *ud, const struct dcv_http_req *rq, struct dcv_http_reply *out);
void co_api_cancel(void *ud, const struct dcv_http_req *rq, struct dcv_http_reply *out);
void co_api_retry(void *ud, const struct dcv_http_req *rq, struct dcv_http_reply *out);
void co_api_routes(void *ud, const struct dcv_http_req *rq, struct dcv_http_reply *out);
/* body (taken) as the reply's JSON */
void co_api_json(struct dcv_http_reply *out, int status, json_object *body);

/* http_events.c */
void co_api_events(void *ud, const struct dcv_http_req *rq, struct dcv_http_reply *out);
int co_events_start(struct dcv_coord *c, char *err, size_t errlen);
void co_events_stop(struct dcv_coord *c);
/* A job changed state (attempts.c, admin.c): tell the streams, given the
 * job as it is now (nothing is built while no stream is open). */
void co_events_job(struct dcv_coord *c, const struct dcv_job *job);

/* http_metrics.c */
void co_http_metrics(void *ud, const struct dcv_http_req *rq, struct dcv_http_reply *out);

#endif

/*
 * The admin verbs' shared pieces (admin.c, admin_workers.c, admin_storage.c): the request
 * in hand and the FINAL reply. Not for the rest of the coordinator, which
 * calls co_admin_input() (admin.h) only.
 */
#ifndef DCV_CO_ADMIN_INT_H
#define DCV_CO_ADMIN_INT_H

#include <json-c/json.h>

#include "coordinator/admin.h"
#include "errbuf.h"
#include "perm.h"

#define REPLY_BUDGET (DCV_PROTO_MAX_REPLY_BODY - 64 * 1024) /* room for the envelope */

struct req_ctx {
    struct dcv_coord *c;
    const struct dcv_tx_peer *peer;
    const struct dcv_proto_request *rq;
    const char *user; /* authenticated identity, "" when the socket has none */
    int roles;        /* DCV_AUTH_* of user now */
    enum dcv_action act; /* the verb's entry in the permission table */
};

/* One FINAL for req_id; body (owned, may be NULL) is put. */
void admin_reply(struct dcv_coord *c, const struct dcv_tx_peer *to, const char *req_id,
                 int status, const char *error, json_object *body);
void admin_reply_err(struct dcv_coord *c, const struct dcv_tx_peer *to, const char *req_id,
                     int status, const char *fmt, ...) DCV_PRINTF(5, 6);
#define FAILR(x, status, ...) \
    admin_reply_err((x)->c, (x)->peer, (x)->rq->req_id, (status), __VA_ARGS__)

static inline json_object *jstr(const char *s)
{
    return json_object_new_string(s ? s : "");
}

/* admin_workers.c */
void admin_workers(struct req_ctx *x);
void admin_worker(struct req_ctx *x);
void admin_drain(struct req_ctx *x);
void admin_undrain(struct req_ctx *x);

/* admin_tokens.c */
void admin_token_create(struct req_ctx *x);
void admin_token_list(struct req_ctx *x);
void admin_token_revoke(struct req_ctx *x);

/* admin_storage.c */
void admin_rm(struct req_ctx *x);
void admin_purge(struct req_ctx *x);
/* info's "storage": blob usage, retention settings, the state dir's file system */
void admin_info_storage(struct dcv_coord *c, json_object *body);
/* A job object's downloaded_ms / input_removed_ms / output_removed_ms. */
void admin_job_facts(struct dcv_coord *c, const struct dcv_job *j, json_object *o);
/* 1 with "its output was removed by the retention policy ... at TIME" in msg
 * when retention removed the job's input (input) or output; else 0. */
int admin_blob_removed(struct dcv_coord *c, const char *job_id, int input, char *msg, size_t len);

#endif

/*
 * The admin verbs for the HTTP API's tokens (docs/api.md): token_create
 * answers the secret once; token_list never shows one; token_revoke also
 * ends the token's sessions and event streams at once.
 */
#include "coordinator/admin_int.h"

#include <errno.h>
#include <string.h>

#include "coordinator/http.h"
#include "coordinator/tokens.h"

static int status_of(int r)
{
    return r == -EINVAL ? 400 : r == -EEXIST ? 400 : r == -ENOENT ? 404 : 500;
}

static json_object *token_json(const struct dcv_token_rec *t)
{
    json_object *o = json_object_new_object();
    if (!o)
        return NULL;
    json_object_object_add(o, "name", jstr(t->name));
    json_object_object_add(o, "role", jstr(t->role));
    json_object_object_add(o, "created_ms", json_object_new_int64(t->created_ms));
    json_object_object_add(o, "created_by", jstr(t->created_by));
    json_object_object_add(o, "last_used_ms", json_object_new_int64(t->last_used_ms));
    return o;
}

void admin_token_create(struct req_ctx *x)
{
    const struct dcv_proto_args *a = &x->rq->args;
    char secret[CO_TOKEN_SECRET_LEN + 1], err[512];
    const char *role = dcv_proto_role_name(a->role);
    json_object *body;
    int r;

    if ((r = co_tokens_create(x->c, a->token_name, role ? role : "?", x->user, secret, err,
                              sizeof err)) < 0) {
        FAILR(x, status_of(r), "%s", err);
        return;
    }
    if ((body = json_object_new_object())) {
        json_object_object_add(body, "name", jstr(a->token_name));
        json_object_object_add(body, "role", jstr(role));
        json_object_object_add(body, "token", jstr(secret));
    }
    memset(secret, 0, sizeof secret);
    admin_reply(x->c, x->peer, x->rq->req_id, body ? 200 : 500, "coordinator out of memory", body);
}

void admin_token_list(struct req_ctx *x)
{
    json_object *body = json_object_new_object(), *arr = json_object_new_array();
    size_t n;
    const struct dcv_token_rec *t = co_tokens_list(x->c, &n);

    if (!body || !arr) {
        json_object_put(body);
        json_object_put(arr);
        FAILR(x, 500, "coordinator out of memory");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        json_object *o = token_json(&t[i]);
        if (o)
            json_object_array_add(arr, o);
    }
    json_object_object_add(body, "tokens", arr);
    admin_reply(x->c, x->peer, x->rq->req_id, 200, NULL, body);
}

void admin_token_revoke(struct req_ctx *x)
{
    const char *name = x->rq->args.token_name;
    char err[512];
    json_object *body;
    int r;

    if ((r = co_tokens_revoke(x->c, name, err, sizeof err)) < 0) {
        FAILR(x, status_of(r), "%s", err);
        return;
    }
    co_http_revoked(x->c, name);
    if ((body = json_object_new_object())) {
        json_object_object_add(body, "name", jstr(name));
        json_object_object_add(body, "revoked", json_object_new_boolean(1));
    }
    admin_reply(x->c, x->peer, x->rq->req_id, body ? 200 : 500, "coordinator out of memory", body);
}

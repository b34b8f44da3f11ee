/*
 * Who is asking, on the HTTP plane (docs/api.md "Authentication"): a
 * bearer token, a session cookie (with its CSRF token on every request
 * that changes state), the scrape token for /metrics, or nobody (the
 * anonymous role of a loopback listener). Then the permission table
 * decides. Also /api/v1/whoami, /login and /logout.
 *
 * Sessions live in memory: a restart logs everyone out, which is the
 * safe direction. A token's revocation ends its sessions at once.
 */
#include "coordinator/http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "auth.h"
#include "coordinator/attempts.h"
#include "coordinator/tokens.h"
#include "log.h"
#include "rand.h"

#define SESSION_IDLE_MS (12ull * 3600 * 1000) /* a session unused this long ends */
#define SESSIONS_MAX 1024                      /* the oldest goes beyond this */
#define LOGIN_WINDOW_MS 60000ull
#define LOGIN_FAILS_MAX 10

struct co_session {
    struct co_session *next;
    char id[65], csrf[65];
    char token[64]; /* the token's name */
    char name[96];  /* "token:NAME" */
    int roles;
    uint64_t used; /* monotonic ms */
};

static void session_unlink(struct dcv_coord *c, struct co_session **p)
{
    struct co_session *s = *p;
    *p = s->next;
    memset(s, 0, sizeof *s);
    free(s);
    c->web.n_sessions--;
}

void co_websessions_free(struct dcv_coord *c)
{
    while (c->web.sessions)
        session_unlink(c, &c->web.sessions);
}

void co_websessions_drop(struct dcv_coord *c, const char *token_name)
{
    for (struct co_session **p = &c->web.sessions; *p;)
        if (strcmp((*p)->token, token_name) == 0)
            session_unlink(c, p);
        else
            p = &(*p)->next;
}

/* The live session with this id, expired ones swept on the way. */
static struct co_session *session_find(struct dcv_coord *c, const char *id)
{
    uint64_t now = co_now();
    struct co_session *hit = NULL;

    for (struct co_session **p = &c->web.sessions; *p;) {
        if (now - (*p)->used > SESSION_IDLE_MS) {
            session_unlink(c, p);
            continue;
        }
        if (co_secret_equal((*p)->id, id))
            hit = *p;
        p = &(*p)->next;
    }
    return hit;
}

/* ---- the authorizer ------------------------------------------------------------- */

static int state_changing(const char *method)
{
    return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0;
}

static int deny(struct dcv_http_reply *out, int status, const char *msg, const char *detail)
{
    dcv_http_error(out, status, "%s%s", msg, detail ? detail : "");
    if (status == 401)
        dcv_http_add_header(out, "WWW-Authenticate", "Bearer realm=\"distconv\"");
    return -EACCES;
}

int co_http_authorize(void *ud, struct dcv_http_req *rq, enum dcv_action act,
                      struct dcv_http_reply *out)
{
    struct dcv_coord *c = ud;
    struct dcv_http_who *who = &rq->who;
    const char *auth = dcv_http_header(rq, "Authorization");
    const char *cookie = dcv_http_cookie(rq, "dcv_session");
    const char *ctype = dcv_http_header(rq, "Content-Type");

    memset(who, 0, sizeof *who);
    /* A browser form cannot send JSON across origins without a preflight
     * this server never answers: one more wall against CSRF. */
    if (rq->body_len && (!ctype || strncmp(ctype, "application/json", 16) != 0))
        return deny(out, 415, "request bodies are JSON: send Content-Type: application/json",
                    NULL);
    if (auth) {
        const struct dcv_token_rec *t;
        if (strncmp(auth, "Bearer ", 7) != 0)
            return deny(out, 401, "expected Authorization: Bearer TOKEN", NULL);
        auth += 7;
        if (c->web.scrape[0] && co_secret_equal(auth, c->web.scrape)) {
            who->via = DCV_HTTP_SCRAPE;
            if (act == DCV_ACT_METRICS || act == DCV_ACT_PUBLIC)
                return 0;
            return deny(out, 403, "the scrape token is for /metrics only", NULL);
        }
        if (!(t = co_tokens_check(c, auth))) {
            dcv_log(DCV_LOG_WARN, CO_LOG, "http %s %s from %s: invalid or revoked token",
                    rq->method, rq->path, rq->client);
            return deny(out, 401, "invalid or revoked token", NULL);
        }
        who->via = DCV_HTTP_TOKEN;
        who->roles = co_token_roles(t);
        snprintf(who->name, sizeof who->name, "token:%s", t->name);
    } else if (cookie) {
        struct co_session *s = session_find(c, cookie);
        if (s) {
            const char *csrf = dcv_http_header(rq, "X-CSRF-Token");
            if (state_changing(rq->method) && (!csrf || !co_secret_equal(csrf, s->csrf)))
                return deny(out, 403, "missing or wrong X-CSRF-Token", NULL);
            s->used = co_now();
            who->via = DCV_HTTP_SESSION;
            who->roles = s->roles;
            snprintf(who->name, sizeof who->name, "%s", s->name);
            snprintf(who->session, sizeof who->session, "%s", s->id);
        } else {
            /* An expired or revoked session is nobody: the page logs in. */
            who->roles = c->web.anon_roles;
        }
    } else {
        who->roles = c->web.anon_roles;
    }
    if (act == DCV_ACT_PUBLIC || dcv_perm_allows(who->roles, act))
        return 0;
    if (who->via == DCV_HTTP_ANON)
        return deny(out, 401, "authentication required: log in, or send Authorization: "
                              "Bearer TOKEN (distconvctl token create)", NULL);
    {
        char detail[160];
        snprintf(detail, sizeof detail, ": %s %s may not %s", dcv_auth_role_name(who->roles),
                 who->name, dcv_perm_name(act));
        return deny(out, 403, "permission denied", detail);
    }
}

/* ---- whoami, login, logout ----------------------------------------------------------- */

static const char *via_name(int via)
{
    switch (via) {
    case DCV_HTTP_TOKEN: return "token";
    case DCV_HTTP_SESSION: return "session";
    case DCV_HTTP_SCRAPE: return "scrape";
    default: return "anonymous";
    }
}

static const char *role_of(int roles)
{
    return roles ? dcv_auth_role_name(roles) : "none";
}

void co_http_whoami(void *ud, const struct dcv_http_req *rq, struct dcv_http_reply *out)
{
    struct dcv_coord *c = ud;
    json_object *o = json_object_new_object();
    const char *name = rq->who.name;

    if (o) {
        if (strncmp(name, "token:", 6) == 0)
            name += 6;
        json_object_object_add(o, "name", json_object_new_string(name));
        json_object_object_add(o, "role", json_object_new_string(role_of(rq->who.roles)));
        json_object_object_add(o, "via", json_object_new_string(via_name(rq->who.via)));
        if (rq->who.via == DCV_HTTP_SESSION) {
            struct co_session *s = session_find(c, rq->who.session);
            if (s)
                json_object_object_add(o, "csrf", json_object_new_string(s->csrf));
        }
    }
    co_api_json(out, 200, o);
}

/* Failed logins from addr in the last minute: over the limit, 1. */
static int login_limited(struct dcv_coord *c, const char *addr, int failed)
{
    struct co_login_fail *f = NULL, *oldest = &c->web.fails[0];
    uint64_t now = co_now();

    for (int i = 0; i < CO_LOGIN_FAILS; i++) {
        struct co_login_fail *e = &c->web.fails[i];
        if (e->n && now - e->since > LOGIN_WINDOW_MS)
            e->n = 0;
        if (e->n && strcmp(e->addr, addr) == 0)
            f = e;
        if (!e->n || (oldest->n && e->since < oldest->since))
            oldest = e;
    }
    if (failed) {
        if (!f) {
            f = oldest;
            snprintf(f->addr, sizeof f->addr, "%s", addr);
            f->since = now;
            f->n = 0;
        }
        f->n++;
    }
    return f && f->n >= LOGIN_FAILS_MAX;
}

void co_http_login(void *ud, const struct dcv_http_req *rq, struct dcv_http_reply *out)
{
    struct dcv_coord *c = ud;
    const struct dcv_token_rec *t = NULL;
    struct co_session *s;
    json_object *in = NULL, *v, *o;
    char err[128];

    if (login_limited(c, rq->client, 0)) {
        dcv_http_error(out, 429, "too many failed logins from %s: wait a minute", rq->client);
        return;
    }
    if (rq->body_len)
        in = json_tokener_parse(rq->body);
    if (!in || !json_object_is_type(in, json_type_object) ||
        !json_object_object_get_ex(in, "token", &v) || !json_object_is_type(v, json_type_string)) {
        json_object_put(in);
        dcv_http_error(out, 400, "expected a JSON body {\"token\": \"dcv_...\"}");
        return;
    }
    t = co_tokens_check(c, json_object_get_string(v));
    json_object_put(in);
    if (!t) {
        login_limited(c, rq->client, 1);
        dcv_log(DCV_LOG_WARN, CO_LOG, "http login from %s: invalid or revoked token", rq->client);
        dcv_http_error(out, 401, "invalid or revoked token");
        return;
    }
    if (c->web.n_sessions >= SESSIONS_MAX) {
        /* The least recently used goes. */
        struct co_session **old = &c->web.sessions;
        for (struct co_session **p = &c->web.sessions; *p; p = &(*p)->next)
            if ((*p)->used < (*old)->used)
                old = p;
        session_unlink(c, old);
    }
    if (!(s = calloc(1, sizeof *s)) || dcv_random_hex(s->id, 32, err, sizeof err) < 0 ||
        dcv_random_hex(s->csrf, 32, err, sizeof err) < 0) {
        free(s);
        dcv_http_error(out, 500, "cannot make a session");
        return;
    }
    snprintf(s->token, sizeof s->token, "%s", t->name);
    snprintf(s->name, sizeof s->name, "token:%s", t->name);
    s->roles = co_token_roles(t);
    s->used = co_now();
    s->next = c->web.sessions;
    c->web.sessions = s;
    c->web.n_sessions++;
    dcv_http_add_header(out, "Set-Cookie",
                        "dcv_session=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%llu%s",
                        s->id, SESSION_IDLE_MS / 1000, rq->tls ? "; Secure" : "");
    dcv_log(DCV_LOG_INFO, CO_LOG, "http login: %s (%s) from %s", t->name, t->role, rq->client);
    if ((o = json_object_new_object())) {
        json_object_object_add(o, "name", json_object_new_string(t->name));
        json_object_object_add(o, "role", json_object_new_string(role_of(s->roles)));
        json_object_object_add(o, "csrf", json_object_new_string(s->csrf));
    }
    co_api_json(out, 200, o);
}

void co_http_logout(void *ud, const struct dcv_http_req *rq, struct dcv_http_reply *out)
{
    struct dcv_coord *c = ud;

    if (rq->who.via != DCV_HTTP_SESSION) {
        dcv_http_error(out, 400, "not logged in with a session");
        return;
    }
    for (struct co_session **p = &c->web.sessions; *p; p = &(*p)->next)
        if (strcmp((*p)->id, rq->who.session) == 0) {
            session_unlink(c, p);
            break;
        }
    dcv_http_add_header(out, "Set-Cookie",
                        "dcv_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    co_api_json(out, 200, json_object_new_object());
}

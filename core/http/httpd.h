/*
 * The daemons' HTTP server (issue 12): libmicrohttpd driven by the
 * daemon's own loop, never by a thread of its own, so a route's handler
 * runs on the loop thread and reads the coordinator's state without locks.
 * libmicrohttpd parses HTTP (and speaks TLS when given a certificate);
 * this module binds, bounds it (connections, per-IP connections, idle
 * timeout, header and body memory: slow or greedy clients cannot pin it),
 * routes paths to handlers, asks the owner's authorizer before every
 * handler, writes replies and keeps Server-Sent Event streams.
 *
 * Routes are one table. A route's path is exact, or has `*` segments that
 * match one non-empty path segment each (handed to the handler as
 * params). Each route names its action in the permission table (perm.h);
 * a table with a route without one does not start. A path that exists with
 * another method answers 405 with Allow, an unknown path 404, both with a
 * JSON error body. Request bodies are taken only by routes that say so
 * (DCV_HTTP_BODY), up to DCV_HTTP_BODY_MAX bytes (larger: 413).
 */
#ifndef DCV_HTTPD_H
#define DCV_HTTPD_H

#include <stddef.h>

#include "http/httpaddr.h"
#include "perm.h"

struct dcv_loop;
struct dcv_httpd;

#define DCV_HTTP_BODY_MAX (64 * 1024)
#define DCV_HTTP_PARAMS 2

/* Who made a request: set by the authorizer before the handler runs. */
enum dcv_http_via { DCV_HTTP_ANON = 0, DCV_HTTP_TOKEN, DCV_HTTP_SESSION, DCV_HTTP_SCRAPE };
struct dcv_http_who {
    char name[96]; /* "token:NAME", "" for anonymous and the scrape token */
    int roles;     /* DCV_AUTH_* */
    int via;       /* enum dcv_http_via */
    char session[65]; /* the session id (via session) */
};

struct dcv_http_req {
    const char *method; /* "GET", "HEAD", "POST", ... */
    const char *path;   /* the URL's path, without the query */
    const char *param[DCV_HTTP_PARAMS]; /* the route's `*` segments, in order */
    const char *body;   /* DCV_HTTP_BODY routes: the request body (NUL-terminated) */
    size_t body_len;
    const char *client; /* the peer's address, "127.0.0.1" */
    int tls;            /* 1 when the connection is TLS */
    struct dcv_http_who who;
    void *conn;         /* the server's, for the lookups below */
};

/* A request header / query argument / cookie; NULL when absent. */
const char *dcv_http_header(const struct dcv_http_req *rq, const char *name);
const char *dcv_http_query(const struct dcv_http_req *rq, const char *key);
const char *dcv_http_cookie(const struct dcv_http_req *rq, const char *name);

struct dcv_http_reply {
    int status;               /* 200 unless the handler says otherwise */
    const char *content_type; /* default "application/json" */
    char *body;               /* malloc'd, taken by the server; NULL = empty */
    size_t len;
    const void *static_body;  /* instead of body: not freed (compiled-in files) */
    char headers[768];        /* more header lines, "Name: value\r\n" each */
    int stream;               /* 1: an event stream, kept open (dcv_httpd_publish) */
};

/* status and {"error": MSG} (MSG JSON-escaped). */
void dcv_http_error(struct dcv_http_reply *out, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Add a header line to the reply; -ENOSPC when it does not fit. */
int dcv_http_add_header(struct dcv_http_reply *out, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

typedef void (*dcv_http_fn)(void *ud, const struct dcv_http_req *rq, struct dcv_http_reply *out);
/* Before every handler: fill rq->who and return 0 to let it run, or fill
 * deny (401/403/...) and return a negative errno. */
typedef int (*dcv_http_auth_fn)(void *ud, struct dcv_http_req *rq, enum dcv_action act,
                                struct dcv_http_reply *deny);

#define DCV_HTTP_BODY 1u /* the route takes a request body */
struct dcv_http_route {
    const char *method; /* "GET" (HEAD is served by GET routes too), "POST", "DELETE" */
    const char *path;   /* "/metrics", "/api/v1/jobs/x/cancel" with * segments */
    enum dcv_action action;
    dcv_http_fn fn;
    unsigned flags;
};

struct dcv_http_opts {
    const char *bind;          /* "127.0.0.1:7480", "[::1]:7480" */
    unsigned max_connections;  /* at once, all clients */
    unsigned per_ip;           /* at once, one client address */
    unsigned timeout_s;        /* an idle connection is closed after this */
    const char *tls_cert_pem;  /* both set: serve HTTPS with these (PEM text) */
    const char *tls_key_pem;
    dcv_http_auth_fn authorize; /* required */
};

/* Bind and serve routes[0..n) (the table must outlive the server) with ud
 * passed to each handler and the authorizer. 0, or negative errno with the
 * reason (the address in use, not an address, a route without an action,
 * a certificate libmicrohttpd refuses). */
int dcv_httpd_start(struct dcv_loop *loop, const struct dcv_http_opts *o,
                    const struct dcv_http_route *routes, size_t n, void *ud,
                    struct dcv_httpd **out, char *err, size_t errlen);
/* The port bound (useful with port 0). */
unsigned dcv_httpd_port(const struct dcv_httpd *h);
/* Closes every connection and the socket. NULL and *h NULL ok. */
void dcv_httpd_free(struct dcv_httpd **h);

/* ---- event streams (text/event-stream) ---------------------------------- */

/* Which streams get an event: 1 yes. */
typedef int (*dcv_http_want_fn)(void *ctx, const struct dcv_http_who *who);
/* Open event streams now. */
size_t dcv_httpd_streams(const struct dcv_httpd *h);
/* Queue text (whole SSE events, "event: x\ndata: ...\n\n") on every open
 * stream want() accepts (want NULL: all). A stream with more than 256 KiB
 * queued is closed: its client reads too slowly. */
void dcv_httpd_publish(struct dcv_httpd *h, const char *text, size_t len, dcv_http_want_fn want,
                       void *ctx);
/* Close the streams whose who.name is name (a revoked token). */
void dcv_httpd_close_streams(struct dcv_httpd *h, const char *name);

#endif

/*
 * The daemons' HTTP server (issue 12): libmicrohttpd driven by the
 * daemon's own loop, never by a thread of its own, so a route's handler
 * runs on the loop thread and reads the coordinator's state without locks.
 * libmicrohttpd parses HTTP; this module binds, bounds it (connections,
 * per-IP connections, idle timeout, header memory: slow or greedy clients
 * cannot pin it), routes paths to handlers and writes their replies. A
 * route's path is exact ("/metrics") or, when it ends in '*', a prefix
 * (the "/assets/" files: the handler looks the rest up itself).
 *
 * Routes are one table; a path that exists with another method answers 405
 * with Allow, an unknown path 404, both with a JSON error body. Request
 * bodies are refused (413) until a route takes one.
 */
#ifndef DCV_HTTPD_H
#define DCV_HTTPD_H

#include <stddef.h>

#include "http/httpaddr.h"

struct dcv_loop;
struct dcv_httpd;

struct dcv_http_req {
    const char *method; /* "GET", "HEAD", ... */
    const char *path;   /* the URL's path, without the query */
    void *conn;         /* the server's connection, for dcv_http_header() */
};

struct dcv_http_reply {
    int status;               /* 200 unless the handler says otherwise */
    const char *content_type; /* default "application/json" */
    char *body;               /* malloc'd, taken by the server; NULL = empty */
    size_t len;
    const char *etag;          /* static string or NULL: an ETag header */
    const char *cache_control; /* static string; NULL = "no-store" */
};

typedef void (*dcv_http_fn)(void *ud, const struct dcv_http_req *rq, struct dcv_http_reply *out);

struct dcv_http_route {
    const char *method; /* "GET" (HEAD is served by GET routes too) */
    const char *path;   /* exact "/metrics"; ending in '*': a prefix */
    dcv_http_fn fn;
};

struct dcv_http_opts {
    const char *bind;          /* "127.0.0.1:7480", "[::1]:7480" */
    unsigned max_connections;  /* at once, all clients */
    unsigned per_ip;           /* at once, one client address */
    unsigned timeout_s;        /* an idle connection is closed after this */
};

/* A request header's value (name case-insensitive), NULL when absent;
 * valid while the handler runs. */
const char *dcv_http_header(const struct dcv_http_req *rq, const char *name);

/* Bind and serve routes[0..n) (the table must outlive the server) with ud
 * passed to each handler. 0, or negative errno with the reason (the
 * address in use, not an address). */
int dcv_httpd_start(struct dcv_loop *loop, const struct dcv_http_opts *o,
                    const struct dcv_http_route *routes, size_t n, void *ud,
                    struct dcv_httpd **out, char *err, size_t errlen);
/* The port bound (useful with port 0). */
unsigned dcv_httpd_port(const struct dcv_httpd *h);
/* Closes every connection and the socket. NULL and *h NULL ok. */
void dcv_httpd_free(struct dcv_httpd **h);

#endif

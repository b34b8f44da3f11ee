/*
 * libmicrohttpd on the daemon's loop (httpd.h).
 */
#include "http/httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "errbuf.h"
#include "log.h"
#include "loop.h"

#define COMP "http"
/* Per connection: the request line and headers must fit (larger ones get
 * 431 from libmicrohttpd), with room for its read and write buffers. */
#define CONN_MEMORY (64 * 1024)
/* libmicrohttpd's own timeouts are in seconds; a tick this often runs them
 * even when no fd moves. */
#define TICK_MS 250
#define CSP                                                                              \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "    \
    "connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; "     \
    "frame-ancestors 'none'"

struct dcv_httpd {
    struct dcv_loop *loop;
    struct MHD_Daemon *mhd;
    int epfd;
    uint64_t tick, again; /* timers: the periodic tick, an immediate re-run */
    const struct dcv_http_route *routes;
    size_t n_routes;
    void *ud;
    unsigned port;
};

/* Per request: set on the first call, which brings only the headers. */
struct req_state {
    int body_seen; /* a body came: refused */
};

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    size_t n;

    (void)cls;
    vsnprintf(line, sizeof line, fmt, ap);
    n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    /* Its lines are about single clients (a reset, a timeout): debug. */
    dcv_log(DCV_LOG_DEBUG, COMP, "%s", line);
}

static void set_reply(struct dcv_http_reply *out, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_reply(struct dcv_http_reply *out, int status, const char *fmt, ...)
{
    va_list ap;
    char msg[256];
    int n;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    out->status = status;
    out->content_type = "application/json";
    /* The message is ours (no client text): plain ASCII, no escaping. */
    n = snprintf(NULL, 0, "{\"error\":\"%s\"}\n", msg);
    out->body = malloc((size_t)n + 1);
    if (out->body) {
        snprintf(out->body, (size_t)n + 1, "{\"error\":\"%s\"}\n", msg);
        out->len = (size_t)n;
    }
}

static enum MHD_Result send_reply(struct MHD_Connection *conn, struct dcv_http_reply *r,
                                  const char *allow)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;

    resp = MHD_create_response_from_buffer(r->len, r->body ? r->body : (char *)"",
                                           r->body ? MHD_RESPMEM_MUST_FREE
                                                   : MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(r->body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            r->content_type ? r->content_type : "application/json");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
                            r->cache_control ? r->cache_control : "no-store");
    if (r->etag)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, r->etag);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    /* The dashboard loads only its own files and never runs inline code:
     * an unescaped string that slipped into the page still runs nothing. */
    MHD_add_response_header(resp, "Content-Security-Policy", CSP);
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    if (allow)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
    ret = MHD_queue_response(conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* An exact path, or a prefix when the route's path ends in '*'. */
static int path_matches(const char *route, const char *url)
{
    size_t n = strlen(route);

    if (n && route[n - 1] == '*')
        return strncmp(route, url, n - 1) == 0;
    return strcmp(route, url) == 0;
}

const char *dcv_http_header(const struct dcv_http_req *rq, const char *name)
{
    return MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, name);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    struct dcv_httpd *h = cls;
    struct req_state *st = *con_cls;
    struct dcv_http_reply r = {.status = 200};
    const struct dcv_http_route *hit = NULL;
    const char *allow = NULL;
    int head;

    (void)version;
    (void)upload_data;
    if (!st) {
        /* First call: the headers only. The answer waits for the body. */
        if (!(st = calloc(1, sizeof *st)))
            return MHD_NO;
        *con_cls = st;
        return MHD_YES;
    }
    if (*upload_data_size) {
        st->body_seen = 1; /* dropped: no route takes a body yet */
        *upload_data_size = 0;
        return MHD_YES;
    }
    head = strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    for (size_t i = 0; i < h->n_routes; i++) {
        const struct dcv_http_route *rt = &h->routes[i];
        if (!path_matches(rt->path, url))
            continue;
        if (strcmp(rt->method, method) == 0 ||
            (head && strcmp(rt->method, MHD_HTTP_METHOD_GET) == 0)) {
            hit = rt;
            break;
        }
        allow = rt->method;
    }
    if (st->body_seen) {
        set_reply(&r, 413, "this route takes no request body");
    } else if (hit) {
        struct dcv_http_req rq = {.method = method, .path = url, .conn = conn};
        hit->fn(h->ud, &rq, &r);
        if (!r.status)
            r.status = 200;
    } else if (allow) {
        set_reply(&r, 405, "method not allowed");
    } else {
        set_reply(&r, 404, "no such page");
    }
    if (r.status >= 400 || !hit)
        dcv_log(DCV_LOG_DEBUG, COMP, "%s %s: %d", method, url, r.status);
    return send_reply(conn, &r, hit ? NULL : allow);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    free(*con_cls);
    *con_cls = NULL;
}

static void run_mhd(struct dcv_httpd *h);

static void on_again(struct dcv_loop *loop, uint64_t id, void *arg)
{
    struct dcv_httpd *h = arg;
    (void)loop;
    (void)id;
    h->again = 0;
    run_mhd(h);
}

/* One turn of libmicrohttpd; when it says there is more to do at once
 * (buffered data), another turn right after this loop iteration. */
static void run_mhd(struct dcv_httpd *h)
{
    MHD_UNSIGNED_LONG_LONG t;
    char err[128];

    (void)MHD_run(h->mhd);
    if (!h->again && MHD_get_timeout(h->mhd, &t) == MHD_YES && t == 0 &&
        dcv_loop_add_timer(h->loop, 0, 0, on_again, h, &h->again, err, sizeof err) < 0)
        h->again = 0;
}

static void on_fd(struct dcv_loop *loop, int fd, short revents, void *arg)
{
    (void)loop;
    (void)fd;
    (void)revents;
    run_mhd(arg);
}

static void on_tick(struct dcv_loop *loop, uint64_t id, void *arg)
{
    (void)loop;
    (void)id;
    run_mhd(arg);
}

int dcv_httpd_start(struct dcv_loop *loop, const struct dcv_http_opts *o,
                    const struct dcv_http_route *routes, size_t n, void *ud,
                    struct dcv_httpd **out, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    const union MHD_DaemonInfo *info;
    struct dcv_httpd *h;
    int loopback, r;
    unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;

    *out = NULL;
    if ((r = dcv_http_bind_parse(o->bind, &ss, &sl, &loopback, err, errlen)) < 0)
        return r;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    if (!(h = calloc(1, sizeof *h)))
        return dcv_err(err, errlen, -ENOMEM, "out of memory");
    h->loop = loop;
    h->routes = routes;
    h->n_routes = n;
    h->ud = ud;
    h->epfd = -1;
    h->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h,
                              MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                              MHD_OPTION_CONNECTION_LIMIT, (unsigned)o->max_connections,
                              MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)o->per_ip,
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)o->timeout_s,
                              MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY,
                              MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
                              MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h, MHD_OPTION_END);
    if (!h->mhd) {
        /* libmicrohttpd says why only through its logger, at debug level
         * here; a bind that fails is nearly always an address in use. */
        int e = errno ? errno : EADDRINUSE;
        free(h);
        return dcv_err(err, errlen, -e, "cannot listen on %s: %s", o->bind, strerror(e));
    }
    info = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    h->epfd = info ? info->epoll_fd : -1;
    info = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? info->port : 0;
    if (h->epfd < 0) {
        dcv_httpd_free(&h);
        return dcv_err(err, errlen, -EIO, "libmicrohttpd gave no epoll fd");
    }
    if ((r = dcv_loop_add_fd(loop, h->epfd, POLLIN, on_fd, h, err, errlen)) < 0 ||
        (r = dcv_loop_add_timer(loop, TICK_MS, TICK_MS, on_tick, h, &h->tick, err, errlen)) < 0) {
        dcv_httpd_free(&h);
        return r;
    }
    *out = h;
    return 0;
}

unsigned dcv_httpd_port(const struct dcv_httpd *h)
{
    return h ? h->port : 0;
}

void dcv_httpd_free(struct dcv_httpd **hp)
{
    struct dcv_httpd *h = hp ? *hp : NULL;

    if (!h)
        return;
    if (h->tick)
        dcv_loop_cancel_timer(h->loop, h->tick);
    if (h->again)
        dcv_loop_cancel_timer(h->loop, h->again);
    if (h->epfd >= 0)
        dcv_loop_remove_fd(h->loop, h->epfd);
    if (h->mhd)
        MHD_stop_daemon(h->mhd);
    free(h);
    *hp = NULL;
}

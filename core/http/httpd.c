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
 * 431 from libmicrohttpd), with room for its read and write buffers. The
 * body is collected outside it (DCV_HTTP_BODY_MAX). */
#define CONN_MEMORY (64 * 1024)
/* libmicrohttpd's own timeouts are in seconds; a tick this often runs them
 * even when no fd moves. */
#define TICK_MS 250
/* An event stream's client that lets this much pile up is too slow. */
#define STREAM_MAX (256 * 1024)
/* A comment this often keeps proxies (and the idle timeout) off a quiet
 * stream; at most half the idle timeout. */
#define KEEPALIVE_MS 15000u

struct stream {
    struct stream *next;
    struct dcv_httpd *h;
    struct MHD_Connection *conn;
    struct dcv_http_who who;
    char *buf;        /* queued bytes [off, len) */
    size_t len, off, cap;
    int suspended, closing;
};

struct dcv_httpd {
    struct dcv_loop *loop;
    struct MHD_Daemon *mhd;
    int epfd, tls;
    uint64_t tick, again, keepalive; /* timers */
    const struct dcv_http_route *routes;
    size_t n_routes;
    void *ud;
    dcv_http_auth_fn authorize;
    unsigned port;
    struct stream *streams;
    size_t n_streams;
};

/* Per request: set on the first call, which brings only the headers. */
struct req_state {
    const struct dcv_http_route *route; /* NULL: none matched this method */
    char params[512];                   /* the `*` segments, NUL-separated */
    const char *param[DCV_HTTP_PARAMS];
    char *body;
    size_t body_len;
    int body_refused; /* a body came for a route that takes none */
    int too_big;
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

/* ---- replies --------------------------------------------------------------- */

void dcv_http_error(struct dcv_http_reply *out, int status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    FILE *f;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    free(out->body);
    out->body = NULL;
    out->len = 0;
    out->static_body = NULL;
    out->status = status;
    out->content_type = "application/json";
    /* The message may quote the client (a job id, a field): escaped. */
    if (!(f = open_memstream(&out->body, &out->len)))
        return;
    fputs("{\"error\":\"", f);
    for (const unsigned char *p = (const unsigned char *)msg; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputs("\"}\n", f);
    if (fclose(f) != 0) {
        free(out->body);
        out->body = NULL;
        out->len = 0;
    }
}

int dcv_http_add_header(struct dcv_http_reply *out, const char *name, const char *fmt, ...)
{
    size_t used = strlen(out->headers), room = sizeof out->headers - used;
    char value[512];
    va_list ap;
    int n;

    va_start(ap, fmt);
    vsnprintf(value, sizeof value, fmt, ap);
    va_end(ap);
    /* Header injection: a value is one line. */
    if (strpbrk(value, "\r\n"))
        return -EINVAL;
    n = snprintf(out->headers + used, room, "%s: %s\r\n", name, value);
    if (n < 0 || (size_t)n >= room) {
        out->headers[used] = '\0';
        return -ENOSPC;
    }
    return 0;
}

static void add_headers(struct MHD_Response *resp, const struct dcv_http_reply *r)
{
    char buf[sizeof r->headers], *line, *save = NULL;

    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            r->content_type ? r->content_type : "application/json");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    memcpy(buf, r->headers, sizeof buf);
    buf[sizeof buf - 1] = '\0';
    for (line = strtok_r(buf, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save)) {
        char *colon = strchr(line, ':');
        if (!colon)
            continue;
        *colon = '\0';
        MHD_add_response_header(resp, line, colon + 1 + (colon[1] == ' '));
    }
    if (!strstr(r->headers, "Cache-Control:"))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
}

static enum MHD_Result send_reply(struct MHD_Connection *conn, struct dcv_http_reply *r)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;

    if (r->static_body)
        resp = MHD_create_response_from_buffer(r->len, (void *)r->static_body,
                                               MHD_RESPMEM_PERSISTENT);
    else
        resp = MHD_create_response_from_buffer(r->len, r->body ? r->body : (char *)"",
                                               r->body ? MHD_RESPMEM_MUST_FREE
                                                       : MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(r->body);
        return MHD_NO;
    }
    add_headers(resp, r);
    ret = MHD_queue_response(conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* ---- lookups ----------------------------------------------------------------- */

const char *dcv_http_header(const struct dcv_http_req *rq, const char *name)
{
    return MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, name);
}

const char *dcv_http_query(const struct dcv_http_req *rq, const char *key)
{
    return MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *dcv_http_cookie(const struct dcv_http_req *rq, const char *name)
{
    return MHD_lookup_connection_value(rq->conn, MHD_COOKIE_KIND, name);
}

/* ---- routing ------------------------------------------------------------------- */

/* pat against path segment by segment; `*` takes one non-empty segment
 * into buf/param. */
static int match(const char *pat, const char *path, char *buf, size_t buflen,
                 const char **param)
{
    size_t np = 0, bl = 0;

    while (*pat && *path) {
        const char *pe, *qe;
        size_t pl, ql;
        if (*pat != '/' || *path != '/')
            return 0;
        pat++;
        path++;
        pe = strchr(pat, '/');
        qe = strchr(path, '/');
        pe = pe ? pe : pat + strlen(pat);
        qe = qe ? qe : path + strlen(path);
        pl = (size_t)(pe - pat);
        ql = (size_t)(qe - path);
        if (pl == 1 && *pat == '*') {
            if (ql == 0 || np == DCV_HTTP_PARAMS || bl + ql + 1 > buflen)
                return 0;
            memcpy(buf + bl, path, ql);
            buf[bl + ql] = '\0';
            param[np++] = buf + bl;
            bl += ql + 1;
        } else if (pl != ql || memcmp(pat, path, pl) != 0) {
            return 0;
        }
        pat = pe;
        path = qe;
    }
    return !*pat && !*path;
}

/* The route for method + url; else NULL and allow holds the methods the
 * path has ("" none). */
static const struct dcv_http_route *route_for(struct dcv_httpd *h, const char *method,
                                              const char *url, struct req_state *st,
                                              char *allow, size_t alen)
{
    int head = strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;

    allow[0] = '\0';
    for (size_t i = 0; i < h->n_routes; i++) {
        const struct dcv_http_route *rt = &h->routes[i];
        const char *param[DCV_HTTP_PARAMS] = {NULL, NULL};
        char buf[sizeof st->params];
        if (!match(rt->path, url, buf, sizeof buf, param))
            continue;
        if (strcmp(rt->method, method) == 0 ||
            (head && strcmp(rt->method, MHD_HTTP_METHOD_GET) == 0)) {
            memcpy(st->params, buf, sizeof buf);
            for (int k = 0; k < DCV_HTTP_PARAMS; k++)
                st->param[k] = param[k] ? st->params + (param[k] - buf) : NULL;
            return rt;
        }
        if (!strstr(allow, rt->method)) {
            size_t n = strlen(allow);
            snprintf(allow + n, alen - n, "%s%s", n ? ", " : "", rt->method);
        }
    }
    return NULL;
}

/* ---- event streams ----------------------------------------------------------------- */

static void run_mhd(struct dcv_httpd *h);
static void run_soon(struct dcv_httpd *h);

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct stream *s = cls;
    size_t n;

    (void)pos;
    if (s->off < s->len) {
        n = s->len - s->off < max ? s->len - s->off : max;
        memcpy(buf, s->buf + s->off, n);
        s->off += n;
        if (s->off == s->len)
            s->off = s->len = 0;
        return (ssize_t)n;
    }
    if (s->closing)
        return MHD_CONTENT_READER_END_OF_STREAM;
    /* Nothing to send: park the connection until publish() has some
     * (returning 0 without it would spin libmicrohttpd). */
    MHD_suspend_connection(s->conn);
    s->suspended = 1;
    return 0;
}

static void stream_free(void *cls)
{
    struct stream *s = cls;
    struct dcv_httpd *h = s->h;

    for (struct stream **p = &h->streams; *p; p = &(*p)->next)
        if (*p == s) {
            *p = s->next;
            h->n_streams--;
            break;
        }
    free(s->buf);
    free(s);
}

static void stream_wake(struct stream *s)
{
    if (s->suspended) {
        s->suspended = 0;
        MHD_resume_connection(s->conn);
        run_soon(s->h);
    }
}

static int stream_push(struct stream *s, const char *text, size_t len)
{
    if (s->closing)
        return 0;
    if (s->len - s->off + len > STREAM_MAX) {
        dcv_log(DCV_LOG_INFO, COMP, "event stream of %s closed: its client reads too slowly",
                s->who.name[0] ? s->who.name : "an anonymous client");
        s->closing = 1;
        stream_wake(s);
        return -ENOBUFS;
    }
    if (s->off && s->len + len > s->cap) {
        memmove(s->buf, s->buf + s->off, s->len - s->off);
        s->len -= s->off;
        s->off = 0;
    }
    if (s->len + len > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        char *nb;
        while (cap < s->len + len)
            cap *= 2;
        if (!(nb = realloc(s->buf, cap)))
            return -ENOMEM;
        s->buf = nb;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, text, len);
    s->len += len;
    stream_wake(s);
    return 0;
}

size_t dcv_httpd_streams(const struct dcv_httpd *h)
{
    return h ? h->n_streams : 0;
}

void dcv_httpd_publish(struct dcv_httpd *h, const char *text, size_t len, dcv_http_want_fn want,
                       void *ctx)
{
    for (struct stream *s = h ? h->streams : NULL; s; s = s->next)
        if (!want || want(ctx, &s->who))
            (void)stream_push(s, text, len);
}

void dcv_httpd_close_streams(struct dcv_httpd *h, const char *name)
{
    for (struct stream *s = h ? h->streams : NULL; s; s = s->next)
        if (strcmp(s->who.name, name) == 0 && !s->closing) {
            s->closing = 1;
            stream_wake(s);
        }
}

static void on_keepalive(struct dcv_loop *loop, uint64_t id, void *arg)
{
    static const char ka[] = ": keepalive\n\n";
    (void)loop;
    (void)id;
    dcv_httpd_publish(arg, ka, sizeof ka - 1, NULL, NULL);
}

static enum MHD_Result open_stream(struct dcv_httpd *h, struct MHD_Connection *conn,
                                   const struct dcv_http_req *rq, struct dcv_http_reply *r)
{
    struct MHD_Response *resp;
    struct stream *s = calloc(1, sizeof *s);
    enum MHD_Result ret;

    if (!s)
        return MHD_NO;
    s->h = h;
    s->conn = conn;
    s->who = rq->who;
    /* Whatever the handler wrote (the first event) goes first. */
    if (r->body && r->len && stream_push(s, r->body, r->len) < 0) {
        free(r->body);
        free(s->buf);
        free(s);
        return MHD_NO;
    }
    free(r->body);
    r->body = NULL;
    resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_read, s,
                                             stream_free);
    if (!resp) {
        free(s->buf);
        free(s);
        return MHD_NO;
    }
    s->next = h->streams;
    h->streams = s;
    h->n_streams++;
    r->content_type = "text/event-stream";
    add_headers(resp, r);
    /* The stream ends only when this side ends it: then the socket goes too. */
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    ret = MHD_queue_response(conn, 200, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* ---- requests ---------------------------------------------------------------------- */

static void client_addr(struct MHD_Connection *conn, char *out, size_t len)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;

    snprintf(out, len, "?");
    if (sa && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
                  (socklen_t)len);
    else if (sa && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out,
                  (socklen_t)len);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    struct dcv_httpd *h = cls;
    struct req_state *st = *con_cls;
    struct dcv_http_reply r = {.status = 200};
    char allow[64], client[INET6_ADDRSTRLEN];

    (void)version;
    if (!st) {
        /* First call: the headers only. The answer waits for the body. */
        if (!(st = calloc(1, sizeof *st)))
            return MHD_NO;
        *con_cls = st;
        st->route = route_for(h, method, url, st, allow, sizeof allow);
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (!st->route || !(st->route->flags & DCV_HTTP_BODY)) {
            st->body_refused = 1;
        } else if (st->too_big || st->body_len + n > DCV_HTTP_BODY_MAX) {
            st->too_big = 1; /* read and dropped: the answer is 413 */
        } else {
            char *nb = realloc(st->body, st->body_len + n + 1);
            if (!nb)
                return MHD_NO;
            st->body = nb;
            memcpy(st->body + st->body_len, upload_data, n);
            st->body_len += n;
            st->body[st->body_len] = '\0';
        }
        return MHD_YES;
    }
    if (!st->route) {
        route_for(h, method, url, st, allow, sizeof allow);
        if (allow[0]) {
            dcv_http_error(&r, 405, "method %s not allowed here (allowed: %s)", method, allow);
            dcv_http_add_header(&r, MHD_HTTP_HEADER_ALLOW, "%s", allow);
        } else {
            dcv_http_error(&r, 404, "no such page");
        }
    } else if (st->body_refused) {
        dcv_http_error(&r, 413, "this route takes no request body");
    } else if (st->too_big) {
        dcv_http_error(&r, 413, "request body over %d bytes", DCV_HTTP_BODY_MAX);
    } else {
        struct dcv_http_req rq = {.method = method, .path = url, .conn = conn};
        client_addr(conn, client, sizeof client);
        rq.client = client;
        rq.tls = h->tls;
        rq.param[0] = st->param[0];
        rq.param[1] = st->param[1];
        rq.body = st->body ? st->body : "";
        rq.body_len = st->body_len;
        if (h->authorize(h->ud, &rq, st->route->action, &r) == 0) {
            r.status = 200;
            st->route->fn(h->ud, &rq, &r);
            if (!r.status)
                r.status = 200;
            if (r.stream && r.status == 200)
                return open_stream(h, conn, &rq, &r);
        }
    }
    if (r.status >= 400)
        dcv_log(DCV_LOG_DEBUG, COMP, "%s %s: %d", method, url, r.status);
    return send_reply(conn, &r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct req_state *st = *con_cls;
    (void)cls;
    (void)conn;
    (void)toe;
    if (st)
        free(st->body);
    free(st);
    *con_cls = NULL;
}

/* ---- the loop ------------------------------------------------------------------------ */

static void on_again(struct dcv_loop *loop, uint64_t id, void *arg)
{
    struct dcv_httpd *h = arg;
    (void)loop;
    (void)id;
    h->again = 0;
    run_mhd(h);
}

static void run_soon(struct dcv_httpd *h)
{
    char err[128];
    if (!h->again && dcv_loop_add_timer(h->loop, 0, 0, on_again, h, &h->again, err, sizeof err) < 0)
        h->again = 0;
}

/* One turn of libmicrohttpd; when it says there is more to do at once
 * (buffered data), another turn right after this loop iteration. */
static void run_mhd(struct dcv_httpd *h)
{
    MHD_UNSIGNED_LONG_LONG t;

    (void)MHD_run(h->mhd);
    if (MHD_get_timeout(h->mhd, &t) == MHD_YES && t == 0)
        run_soon(h);
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
    unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;
    unsigned ka = KEEPALIVE_MS;

    *out = NULL;
    if (!o->authorize)
        return dcv_err(err, errlen, -EINVAL, "http: no authorizer");
    /* Every route must say what it needs (perm.h): none may slip in open. */
    for (size_t i = 0; i < n; i++)
        if (routes[i].action <= DCV_ACT_NONE || routes[i].action >= DCV_ACT_COUNT)
            return dcv_err(err, errlen, -EINVAL,
                           "http: route %s %s has no entry in the permission table",
                           routes[i].method, routes[i].path);
    if ((r = dcv_http_bind_parse(o->bind, &ss, &sl, &loopback, err, errlen)) < 0)
        return r;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    if (o->tls_cert_pem && o->tls_key_pem)
        flags |= MHD_USE_TLS;
    if (!(h = calloc(1, sizeof *h)))
        return dcv_err(err, errlen, -ENOMEM, "out of memory");
    h->loop = loop;
    h->routes = routes;
    h->n_routes = n;
    h->ud = ud;
    h->authorize = o->authorize;
    h->epfd = -1;
    h->tls = (flags & MHD_USE_TLS) != 0;
    {
        /* One option list; the certificate and key only for TLS. */
        struct MHD_OptionItem ops[] = {
            {MHD_OPTION_SOCK_ADDR, 0, &ss},
            {MHD_OPTION_CONNECTION_LIMIT, (intptr_t)o->max_connections, NULL},
            {MHD_OPTION_PER_IP_CONNECTION_LIMIT, (intptr_t)o->per_ip, NULL},
            {MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)o->timeout_s, NULL},
            {MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)CONN_MEMORY, NULL},
            {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, h},
            {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, h},
            {h->tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, (void *)o->tls_cert_pem},
            {h->tls ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, (void *)o->tls_key_pem},
            {MHD_OPTION_END, 0, NULL},
        };
        errno = 0;
        h->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h, MHD_OPTION_ARRAY, ops,
                                  MHD_OPTION_END);
    }
    if (!h->mhd) {
        /* libmicrohttpd says why only through its logger, at debug level
         * here; a plain bind that fails is nearly always an address in
         * use, a TLS one more often a certificate it cannot use. */
        int e = errno ? errno : EADDRINUSE;
        free(h);
        if (o->tls_cert_pem && o->tls_key_pem && e != EADDRINUSE)
            return dcv_err(err, errlen, -EINVAL,
                           "cannot serve HTTPS on %s: libmicrohttpd refused the certificate "
                           "or key (PEM, the key matching the certificate) or the address: %s",
                           o->bind, strerror(e));
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
    if (o->timeout_s && o->timeout_s * 1000u / 2 < ka)
        ka = o->timeout_s * 1000u / 2 ? o->timeout_s * 1000u / 2 : 500;
    if ((r = dcv_loop_add_fd(loop, h->epfd, POLLIN, on_fd, h, err, errlen)) < 0 ||
        (r = dcv_loop_add_timer(loop, TICK_MS, TICK_MS, on_tick, h, &h->tick, err, errlen)) < 0 ||
        (r = dcv_loop_add_timer(loop, ka, ka, on_keepalive, h, &h->keepalive, err, errlen)) < 0) {
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
    if (h->keepalive)
        dcv_loop_cancel_timer(h->loop, h->keepalive);
    if (h->epfd >= 0)
        dcv_loop_remove_fd(h->loop, h->epfd);
    /* libmicrohttpd wants no connection suspended when it stops. */
    for (struct stream *s = h->streams; s; s = s->next) {
        s->closing = 1;
        if (s->suspended) {
            s->suspended = 0;
            MHD_resume_connection(s->conn);
        }
    }
    if (h->mhd) {
        (void)MHD_run(h->mhd);
        MHD_stop_daemon(h->mhd);
    }
    free(h);
    *hp = NULL;
}

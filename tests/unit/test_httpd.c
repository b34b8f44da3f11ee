/*
 * core/http/httpd: the route table's rules (a route without a permission
 * entry refuses to start; `*` segments reach the handler as params; 404,
 * 405 with Allow), the authorizer before every handler, request bodies
 * (taken, over the limit 413, refused where a route takes none), and an
 * event stream that gets what is published and ends when closed. A real
 * server on 127.0.0.1 driven by the real loop; the client is a thread
 * speaking HTTP/1.1 over a plain socket.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http/httpd.h"
#include "loop.h"
#include "tap.h"

static unsigned g_port;
static atomic_int g_done;
static struct dcv_httpd *g_h;

static void echo_param(void *ud, const struct dcv_http_req *rq, struct dcv_http_reply *out)
{
    (void)ud;
    out->content_type = "text/plain";
    out->len = (size_t)asprintf(&out->body, "param=%s", rq->param[0] ? rq->param[0] : "-");
}

static void echo_body(void *ud, const struct dcv_http_req *rq, struct dcv_http_reply *out)
{
    (void)ud;
    out->content_type = "text/plain";
    out->len = (size_t)asprintf(&out->body, "body=%zu:%s", rq->body_len, rq->body);
}

static void events(void *ud, const struct dcv_http_req *rq, struct dcv_http_reply *out)
{
    (void)ud;
    (void)rq;
    out->len = (size_t)asprintf(&out->body, "event: hello\ndata: {}\n\n");
    out->stream = 1;
}

static int authorize(void *ud, struct dcv_http_req *rq, enum dcv_action act,
                     struct dcv_http_reply *deny)
{
    (void)ud;
    if (act == DCV_ACT_STORAGE) {
        dcv_http_error(deny, 401, "no \"way\"");
        return -EACCES;
    }
    rq->who.roles = 1;
    snprintf(rq->who.name, sizeof rq->who.name, "tester");
    return 0;
}

static const struct dcv_http_route routes[] = {
    {"GET", "/items/*/name", DCV_ACT_JOBS_READ, echo_param, 0},
    {"POST", "/items", DCV_ACT_JOBS_SUBMIT, echo_body, DCV_HTTP_BODY},
    {"DELETE", "/items/*/name", DCV_ACT_JOBS_CONTROL, echo_param, 0},
    {"GET", "/secret", DCV_ACT_STORAGE, echo_param, 0},
    {"GET", "/events", DCV_ACT_EVENTS, events, 0},
};

/* One request on a new connection; the whole answer (until close). */
static char *request(const char *text, size_t len)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_port)};
    char *buf = calloc(1, 65536);
    size_t got = 0;
    ssize_t n;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (fd < 0 || !buf || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        if (fd >= 0)
            close(fd);
        return buf;
    }
    (void)!write(fd, text, len);
    while (got < 65535 && (n = read(fd, buf + got, 65535 - got)) > 0) {
        got += (size_t)n;
        /* The event stream: enough once the published event came. */
        if (strstr(buf, "event: tick"))
            break;
    }
    close(fd);
    return buf;
}

#define REQ(s) request(s, strlen(s))

static char *answers[8];

static void *client(void *arg)
{
    static char big[80000];
    char *post;
    int n;
    (void)arg;

    answers[0] = REQ("GET /items/abc/name HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    answers[1] = REQ("GET /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    answers[2] = REQ("PUT /items/abc/name HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    answers[3] = REQ("GET /secret HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    answers[4] = REQ("POST /items HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                     "Content-Length: 5\r\n\r\nhello");
    memset(big, 'a', sizeof big);
    n = asprintf(&post, "POST /items HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                        "Content-Length: %zu\r\n\r\n%.*s", sizeof big, (int)sizeof big, big);
    answers[5] = request(post, (size_t)n);
    free(post);
    answers[6] = REQ("DELETE /items/abc/name HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                     "Content-Length: 3\r\n\r\nabc");
    answers[7] = REQ("GET /events HTTP/1.1\r\nHost: x\r\n\r\n");
    atomic_store(&g_done, 1);
    return NULL;
}

static void tick(struct dcv_loop *l, uint64_t id, void *arg)
{
    static const char ev[] = "event: tick\ndata: 1\n\n";
    (void)id;
    (void)arg;
    if (dcv_httpd_streams(g_h))
        dcv_httpd_publish(g_h, ev, sizeof ev - 1, NULL, NULL);
    if (atomic_load(&g_done))
        dcv_loop_stop(l);
}

int main(void)
{
    static const struct dcv_http_route bad[] = {
        {"GET", "/ok", DCV_ACT_INFO, echo_param, 0},
        {"GET", "/open", DCV_ACT_NONE, echo_param, 0},
    };
    struct dcv_http_opts o = {.bind = "127.0.0.1:0", .max_connections = 8, .per_ip = 8,
                              .timeout_s = 10, .authorize = authorize};
    struct dcv_loop *loop;
    struct dcv_httpd *h = NULL;
    pthread_t th;
    uint64_t t;
    char err[256];
    int r;

    if (dcv_loop_new(&loop, err, sizeof err) < 0)
        tap_bail("loop: %s", err);
    r = dcv_httpd_start(loop, &o, bad, 2, NULL, &h, err, sizeof err);
    TAP_OK(r == -EINVAL && !h, "a route without a permission entry: the server does not start");
    TAP_HAS_STR(err, "route GET /open has no entry in the permission table", "... and says which");

    if (dcv_httpd_start(loop, &o, routes, sizeof routes / sizeof routes[0], NULL, &g_h, err,
                        sizeof err) < 0)
        tap_bail("start: %s", err);
    g_port = dcv_httpd_port(g_h);
    TAP_OK(g_port > 0, "listening on 127.0.0.1:%u", g_port);
    if (dcv_loop_add_timer(loop, 50, 50, tick, NULL, &t, err, sizeof err) < 0)
        tap_bail("timer: %s", err);
    pthread_create(&th, NULL, client, NULL);
    if (dcv_loop_run(loop, err, sizeof err) < 0)
        tap_bail("run: %s", err);
    pthread_join(th, NULL);

    TAP_HAS_STR(answers[0], "param=abc", "a * segment reaches the handler as a param");
    TAP_HAS_STR(answers[1], "HTTP/1.1 404", "an unknown path: 404");
    TAP_HAS_STR(answers[2], "HTTP/1.1 405", "a known path with another method: 405");
    TAP_HAS_STR(answers[2], "Allow: GET, DELETE", "... with Allow naming the methods it has");
    TAP_HAS_STR(answers[3], "HTTP/1.1 401", "the authorizer's refusal is the answer");
    TAP_HAS_STR(answers[3], "{\"error\":\"no \\\"way\\\"\"}", "... its message JSON-escaped");
    TAP_HAS_STR(answers[4], "body=5:hello", "a route that takes a body gets it whole");
    TAP_HAS_STR(answers[5], "HTTP/1.1 413", "a body over DCV_HTTP_BODY_MAX: 413");
    TAP_HAS_STR(answers[6], "HTTP/1.1 413", "a body to a route that takes none: 413");
    TAP_HAS_STR(answers[7], "Content-Type: text/event-stream", "an event stream opens");
    TAP_HAS_STR(answers[7], "event: hello", "... with the handler's first event");
    TAP_HAS_STR(answers[7], "event: tick", "... and what is published after");
    for (int i = 0; i < 8; i++)
        free(answers[i]);
    dcv_httpd_free(&g_h);
    dcv_loop_cancel_timer(loop, t);
    dcv_loop_destroy(&loop);
    return tap_done();
}

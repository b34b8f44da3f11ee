/*
 * transport-zmq through the real loader: ROUTER/DEALER over loopback tcp and
 * ipc, the send errors that must never be silent, bounded receives, the
 * edge-triggered fd loop, and that fini leaves no libzmq thread behind.
 */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pluginhost.h"
#include "tap.h"

static struct dcv_plugin *P;
static const struct dcv_transport_ops *T;

static int task_count(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    if (!d)
        return -1;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int open_tx(uint32_t role, const char *ep, uint64_t maxmsg, int hwm, void **tx, char *err,
                   size_t errlen)
{
    struct dcv_tx_config c = {.struct_size = sizeof(c), .role = role, .endpoint = ep,
                              .max_msg_size = maxmsg, .sndhwm = hwm, .rcvhwm = hwm,
                              .heartbeat_ivl_ms = 1000};
    err[0] = 0;
    return T->open(P->ctx, &c, tx, err, errlen);
}

/* The host loop: events() before every sleep, POLLIN only. */
static int recv_wait(void *tx, struct dcv_tx_peer *from, struct dcv_tx_msg *m, int ms)
{
    double end = now_s() + ms / 1000.0;
    int fd, rc;
    T->get_fd(tx, &fd);
    for (;;) {
        int r = 0, w = 0;
        rc = T->recv(tx, from, m);
        if (rc != -EAGAIN)
            return rc;
        T->events(tx, &r, &w);
        if (r)
            continue;
        if (now_s() > end)
            return -ETIMEDOUT;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        poll(&pfd, 1, 50);
    }
}

static int frame_is(const struct dcv_tx_msg *m, unsigned i, const char *s)
{
    return i < m->n && m->frames[i].len == strlen(s) && memcmp(m->frames[i].data, s, strlen(s)) == 0;
}

static int send_strs(void *tx, const struct dcv_tx_peer *to, const char *a, const char *b)
{
    struct dcv_tx_frame f[2] = {{a, strlen(a)}, {b, b ? strlen(b) : 0}};
    return T->send(tx, to, f, b ? 2 : 1);
}

/* DEALER -> ROUTER needs the connection up (IMMEDIATE): retry EAGAIN briefly. */
static int send_retry(void *tx, const struct dcv_tx_peer *to, const char *a, const char *b)
{
    double end = now_s() + 3;
    int rc;
    while ((rc = send_strs(tx, to, a, b)) == -EAGAIN && now_s() < end)
        usleep(5000);
    return rc;
}

static void test_roundtrip(const char *bind_ep, const char *label)
{
    char err[512], ep[1024], why[64];
    void *r = NULL, *d1 = NULL, *d2 = NULL;
    struct dcv_tx_peer p1 = {0}, p2 = {0}, from;
    struct dcv_tx_msg m;
    int rc;

    rc = open_tx(DCV_TX_BIND_ROUTER, bind_ep, 0, 0, &r, err, sizeof(err));
    TAP_IS_INT(rc, 0, "router binds");
    if (rc) {
        tap_diag("  %s: %s", label, err);
        return;
    }
    TAP_IS_INT(T->endpoint(r, ep, sizeof(ep)), 0, "bound endpoint readable");
    TAP_OK(strchr(ep, '*') == NULL && strncmp(ep, bind_ep, 6) == 0, "%s: real endpoint %s", label, ep);
    TAP_IS_INT(T->endpoint(r, ep, 4), -ENOSPC, "endpoint: small buffer -> -ENOSPC");
    T->endpoint(r, ep, sizeof(ep));
    TAP_IS_INT(open_tx(DCV_TX_CONNECT_DEALER, ep, 0, 0, &d1, err, sizeof(err)), 0, "dealer 1 connects");
    TAP_IS_INT(open_tx(DCV_TX_CONNECT_DEALER, ep, 0, 0, &d2, err, sizeof(err)), 0, "dealer 2 connects");
    if (!d1 || !d2)
        goto out;

    TAP_IS_INT(send_retry(d1, NULL, "HELLO", "one"), 0, "dealer 1 sends 2 frames");
    TAP_IS_INT(send_retry(d2, NULL, "HELLO", "two"), 0, "dealer 2 sends 2 frames");
    for (int i = 0; i < 2; i++) {
        rc = recv_wait(r, &from, &m, 3000);
        TAP_IS_INT(rc, 0, "router receives");
        if (rc)
            continue;
        TAP_OK(m.n == 2 && frame_is(&m, 0, "HELLO"), "%s: whole multipart message", label);
        TAP_OK(from.len > 0, "peer id present (%u bytes)", from.len);
        if (frame_is(&m, 1, "one"))
            p1 = from;
        else if (frame_is(&m, 1, "two"))
            p2 = from;
        T->msg_free(r, &m);
        TAP_OK(m.priv == NULL && m.n == 0, "msg_free clears the message");
    }
    TAP_OK(p1.len && p2.len && (p1.len != p2.len || memcmp(p1.id, p2.id, p1.len)),
           "the two dealers have distinct peer ids");

    TAP_IS_INT(send_strs(r, &p2, "WELCOME", "to-two"), 0, "router replies to dealer 2");
    TAP_IS_INT(send_strs(r, &p1, "WELCOME", "to-one"), 0, "router replies to dealer 1");
    rc = recv_wait(d1, &from, &m, 3000);
    TAP_OK(rc == 0 && m.n == 2 && frame_is(&m, 1, "to-one") && from.len == 0,
           "%s: dealer 1 gets its reply", label);
    if (rc == 0)
        T->msg_free(d1, &m);
    rc = recv_wait(d2, &from, &m, 3000);
    TAP_OK(rc == 0 && m.n == 2 && frame_is(&m, 1, "to-two"), "%s: dealer 2 gets its reply", label);
    if (rc == 0)
        T->msg_free(d2, &m);
    TAP_IS_INT(T->recv(d1, &from, &m), -EAGAIN, "nothing else pending -> -EAGAIN");

    /* Unknown peer: ROUTER_MANDATORY makes it an error, not silence. */
    struct dcv_tx_peer ghost = {.len = 5, .id = {0, 0x7f, 0x7f, 0x7f, 0x7f}};
    TAP_IS_INT(send_strs(r, &ghost, "JOB", NULL), -EHOSTUNREACH, "send to unknown peer -> -EHOSTUNREACH");
    TAP_HAS_STR(T->last_error(r), "unreachable", "last_error has zmq's text");
    TAP_IS_INT(send_strs(r, NULL, "JOB", NULL), -EINVAL, "router send without peer -> -EINVAL");
    TAP_IS_INT(send_strs(d1, &p1, "JOB", NULL), -EINVAL, "dealer send with a peer -> -EINVAL");

    /* A peer that went away: its id becomes unreachable (once libzmq has
     * processed the disconnect; events() lets it do so). */
    T->close(d2);
    d2 = NULL;
    rc = 0;
    for (double end = now_s() + 3; now_s() < end;) {
        T->events(r, NULL, NULL);
        rc = send_strs(r, &p2, "CANCEL", NULL);
        if (rc == -EHOSTUNREACH)
            break;
        usleep(10000);
    }
    snprintf(why, sizeof(why), "%s: send to a disconnected peer -> -EHOSTUNREACH", label);
    TAP_IS_INT(rc, -EHOSTUNREACH, why);
    TAP_IS_INT(send_strs(r, &p1, "STILL", "here"), 0, "the other peer still reachable");
    rc = recv_wait(d1, &from, &m, 3000);
    TAP_IS_INT(rc, 0, "and receives");
    if (rc == 0)
        T->msg_free(d1, &m);

    struct dcv_tx_stats st = {.struct_size = sizeof(st)};
    TAP_IS_INT(T->stats(r, &st), 0, "stats");
    /* >= 3: a CANCEL may still have gone out before the disconnect landed. */
    TAP_OK(st.msgs_in == 2 && st.msgs_out >= 3 && st.send_unreachable >= 2,
           "stats count: in %llu out %llu unreachable %llu", (unsigned long long)st.msgs_in,
           (unsigned long long)st.msgs_out, (unsigned long long)st.send_unreachable);
out:
    T->close(d1);
    T->close(d2);
    T->close(r);
}

static void test_limits(void)
{
    char err[512], ep[1024];
    void *r = NULL, *d = NULL, *d2 = NULL;
    struct dcv_tx_peer from;
    struct dcv_tx_msg m;
    static char big[4096];
    int rc;

    memset(big, 'x', sizeof(big));
    if (open_tx(DCV_TX_BIND_ROUTER, "tcp://127.0.0.1:*", 1024, 0, &r, err, sizeof(err)) != 0) {
        tap_bail("router: %s", err);
    }
    T->endpoint(r, ep, sizeof(ep));
    /* The dealer's own limit is larger so it can send what the router must refuse. */
    TAP_IS_INT(open_tx(DCV_TX_CONNECT_DEALER, ep, 1 << 20, 0, &d, err, sizeof(err)), 0, "dealer");
    TAP_IS_INT(open_tx(DCV_TX_CONNECT_DEALER, ep, 1 << 20, 0, &d2, err, sizeof(err)), 0, "dealer 2");
    if (!d || !d2)
        goto out;

    struct dcv_tx_frame three[3] = {{big, 600}, {big, 600}, {big, 600}};
    TAP_IS_INT(send_retry(d, NULL, "warm", "up"), 0, "warm-up send");
    rc = recv_wait(r, &from, &m, 3000);
    if (rc == 0)
        T->msg_free(r, &m);
    TAP_IS_INT(T->send(d, NULL, three, 3), 0, "1800-byte multipart (frames under the limit) sent");
    TAP_IS_INT(send_strs(d, NULL, "after", "oversize"), 0, "a normal message after it");
    rc = recv_wait(r, &from, &m, 3000);
    TAP_IS_INT(rc, -EPROTO, "oversize multipart discarded whole -> -EPROTO");
    TAP_HAS_STR(T->last_error(r), "1800 bytes", "the reason names the size");
    rc = recv_wait(r, &from, &m, 3000);
    TAP_OK(rc == 0 && frame_is(&m, 0, "after"), "the socket keeps working after the drop");
    if (rc == 0)
        T->msg_free(r, &m);
    struct dcv_tx_stats st = {.struct_size = sizeof(st)};
    T->stats(r, &st);
    TAP_IS_INT(st.dropped_oversize, 1, "drop counted");

    /* One frame over ZMQ_MAXMSGSIZE: libzmq cuts that connection; others live on. */
    struct dcv_tx_frame one = {big, 2000};
    TAP_IS_INT(T->send(d, NULL, &one, 1), 0, "single 2000-byte frame sent");
    TAP_IS_INT(send_retry(d2, NULL, "other", "peer"), 0, "other dealer sends");
    rc = recv_wait(r, &from, &m, 3000);
    TAP_OK(rc == 0 && frame_is(&m, 0, "other"), "oversize frame never delivered; other peer's message is");
    if (rc == 0)
        T->msg_free(r, &m);

    /* Sender-side limits. */
    struct dcv_tx_frame many[DCV_TX_MAX_FRAMES + 1];
    for (int i = 0; i <= DCV_TX_MAX_FRAMES; i++)
        many[i] = (struct dcv_tx_frame){"f", 1};
    TAP_IS_INT(T->send(d, NULL, many, DCV_TX_MAX_FRAMES + 1), -EMSGSIZE, "17 frames -> -EMSGSIZE");
    TAP_IS_INT(T->send(d, NULL, many, 0), -EINVAL, "0 frames -> -EINVAL");
    struct dcv_tx_peer anyp = {.len = 1, .id = {1}};
    struct dcv_tx_frame huge = {big, 2000};
    TAP_IS_INT(T->send(r, &anyp, &huge, 1), -EMSGSIZE, "send over max_msg_size -> -EMSGSIZE");
out:
    T->close(d);
    T->close(d2);
    T->close(r);
}

static void test_hwm_and_loop(void)
{
    char err[512], ep[1024];
    void *r = NULL, *d = NULL;
    struct dcv_tx_peer peer;
    struct dcv_tx_msg m;
    static char chunk[16384];
    int rc = 0, sent = 0;
    struct dcv_tx_peer junk = {.len = 3, .id = "abc"};

    if (open_tx(DCV_TX_BIND_ROUTER, "tcp://127.0.0.1:*", 65536, 5, &r, err, sizeof(err)) != 0)
        tap_bail("router: %s", err);
    T->endpoint(r, ep, sizeof(ep));
    /* The pipe holds router SNDHWM + dealer RCVHWM (default 1000) messages. */
    if (open_tx(DCV_TX_CONNECT_DEALER, ep, 65536, 0, &d, err, sizeof(err)) != 0)
        tap_bail("dealer: %s", err);
    TAP_IS_INT(send_retry(d, NULL, "HELLO", NULL), 0, "dealer hello");
    TAP_IS_INT(recv_wait(r, &peer, &m, 3000), 0, "router learns the peer");
    T->msg_free(r, &m);

    /* Edge trigger: 10 messages arrive, the loop must drain all of them
     * even though the fd signals once. */
    for (int i = 0; i < 10; i++) {
        char b[16];
        snprintf(b, sizeof(b), "%d", i);
        rc |= send_strs(d, NULL, "MSG", b);
    }
    TAP_IS_INT(rc, 0, "10 messages sent");
    usleep(100000);
    int got = 0, wakeups = 0, fd = -1, in_order = 1;
    T->get_fd(r, &fd);
    TAP_OK(fd >= 0, "pollable fd");
    for (double end = now_s() + 3; got < 10 && now_s() < end;) {
        int rd = 0;
        T->events(r, &rd, NULL);
        if (!rd) {
            struct pollfd pfd = {.fd = fd, .events = POLLIN};
            if (poll(&pfd, 1, 1000) > 0)
                wakeups++;
            continue;
        }
        while (T->recv(r, &junk, &m) == 0) {
            char b[16];
            snprintf(b, sizeof(b), "%d", got);
            in_order &= frame_is(&m, 1, b);
            got++;
            T->msg_free(r, &m);
        }
    }
    TAP_IS_INT(got, 10, "fd + events loop drains every message");
    TAP_OK(junk.len == peer.len && memcmp(junk.id, peer.id, peer.len) == 0, "same peer id each time");
    TAP_OK(in_order, "in order");
    tap_diag("  poll wakeups: %d", wakeups);

    /* HWM: the dealer never reads; the router must get -EAGAIN, not block. */
    double t0 = now_s();
    struct dcv_tx_frame f = {chunk, sizeof(chunk)};
    for (sent = 0; sent < 100000; sent++) {
        rc = T->send(r, &peer, &f, 1);
        if (rc)
            break;
    }
    double dt = now_s() - t0;
    TAP_IS_INT(rc, -EAGAIN, "filling a non-reading peer ends in -EAGAIN");
    TAP_OK(dt < 5, "without blocking (%d sends in %.3f s)", sent, dt);
    /* (Not asserting events() writability here: libzmq's I/O thread keeps
     * moving queued messages into the socket buffer, so it flips back.) */
    struct dcv_tx_stats st = {.struct_size = sizeof(st)};
    T->stats(r, &st);
    TAP_OK(st.send_eagain >= 1, "EAGAIN counted");

    /* Dealer with nowhere to go: IMMEDIATE turns that into -EAGAIN. */
    void *lone = NULL;
    TAP_IS_INT(open_tx(DCV_TX_CONNECT_DEALER, "tcp://127.0.0.1:1", 0, 0, &lone, err, sizeof(err)), 0,
               "dealer to a closed port opens (connect is asynchronous)");
    TAP_IS_INT(send_strs(lone, NULL, "x", NULL), -EAGAIN, "its send -> -EAGAIN, not queued forever");
    T->close(lone);
    T->close(d);
    T->close(r);
}

static void test_bad(const char *dir)
{
    char err[512], ep[1024], path[1200];
    void *tx = NULL, *r = NULL;
    int rc;

    rc = open_tx(DCV_TX_BIND_ROUTER, "udp://127.0.0.1:5", 0, 0, &tx, err, sizeof(err));
    TAP_IS_INT(rc, -EINVAL, "unknown scheme refused");
    TAP_HAS_STR(err, "must start with tcp:// or ipc://", "and says what is allowed");
    rc = open_tx(DCV_TX_BIND_ROUTER, "", 0, 0, &tx, err, sizeof(err));
    TAP_IS_INT(rc, -EINVAL, "empty endpoint refused");
    rc = open_tx(DCV_TX_BIND_ROUTER, "tcp://127.0.0.1", 0, 0, &tx, err, sizeof(err));
    TAP_OK(rc < 0, "tcp endpoint without port refused (%d)", rc);
    TAP_HAS_STR(err, "bind tcp://127.0.0.1: ", "error names the endpoint");
    rc = open_tx(DCV_TX_CONNECT_DEALER, "tcp://", 0, 0, &tx, err, sizeof(err));
    TAP_OK(rc < 0 && strstr(err, "connect tcp://"), "bad connect endpoint: %s", err);
    snprintf(path, sizeof(path), "ipc://%s/no/such/dir/x.sock", dir);
    rc = open_tx(DCV_TX_BIND_ROUTER, path, 0, 0, &tx, err, sizeof(err));
    TAP_OK(rc < 0 && strstr(err, "no/such/dir"), "ipc in a missing directory: %s", err);

    TAP_IS_INT(open_tx(DCV_TX_BIND_ROUTER, "tcp://127.0.0.1:*", 0, 0, &r, err, sizeof(err)), 0, "bind");
    T->endpoint(r, ep, sizeof(ep));
    rc = open_tx(DCV_TX_BIND_ROUTER, ep, 0, 0, &tx, err, sizeof(err));
    TAP_IS_INT(rc, -EADDRINUSE, "second bind on the same port -> -EADDRINUSE");
    TAP_HAS_STR(err, "Address already in use", "with zmq's text");
    T->close(r);

    struct dcv_tx_config c = {.struct_size = sizeof(c), .role = 9, .endpoint = "tcp://127.0.0.1:*"};
    TAP_IS_INT(T->open(P->ctx, &c, &tx, err, sizeof(err)), -EINVAL, "unknown role refused");
    c.role = DCV_TX_BIND_ROUTER;
    c.linger_ms = -1;
    TAP_IS_INT(T->open(P->ctx, &c, &tx, err, sizeof(err)), -EINVAL, "infinite linger refused");
    TAP_HAS_STR(err, "linger", "and says which field");
    c.linger_ms = 0;
    c.endpoint = NULL;
    TAP_IS_INT(T->open(P->ctx, &c, &tx, err, sizeof(err)), -EINVAL, "NULL endpoint refused");
}

int main(void)
{
    const char *pdir = getenv("DISTCONV_PLUGIN_DIR");
    char err[1024], path[4096], dir[] = "/tmp/dcv-tx-XXXXXX", ep[1200];
    struct dcv_plugin_set set = {0};
    int rc, tasks0 = task_count();

    if (!pdir)
        tap_bail("DISTCONV_PLUGIN_DIR is not set (run through make check)");
    snprintf(path, sizeof(path), "%s/transport-zmq.so", pdir);
    rc = dcv_plugin_load(path, NULL, &P, err, sizeof(err));
    TAP_IS_INT(rc, 0, "loader accepts transport-zmq.so");
    if (rc)
        tap_bail("%s", err);
    TAP_IS_STR(P->hdr.name, "zmq", "name");
    TAP_IS_INT(P->hdr.kind, DCV_PLUGIN_TRANSPORT, "kind transport");
    TAP_OK(P->hdr.avcodec_major == 0 && P->hdr.avutil_major == 0, "no FFmpeg");
    if (dcv_plugin_set_add(&set, P) != 0)
        tap_bail("set add");
    rc = dcv_plugin_init(P, NULL, err, sizeof(err));
    TAP_IS_INT(rc, 0, "init");
    if (rc)
        tap_bail("%s", err);
    T = &P->tx;
    TAP_OK(T->msg_free && T->events && T->endpoint && T->stats && T->last_error, "all ops present");
    if (!mkdtemp(dir))
        tap_bail("mkdtemp: %s", strerror(errno));

    test_roundtrip("tcp://127.0.0.1:*", "tcp");
    snprintf(ep, sizeof(ep), "ipc://%s/ctl.sock", dir);
    test_roundtrip(ep, "ipc");
    test_limits();
    test_hwm_and_loop();
    test_bad(dir);

    /* One transport left open on purpose: fini must close it, not hang. */
    void *left = NULL;
    TAP_IS_INT(open_tx(DCV_TX_BIND_ROUTER, "tcp://127.0.0.1:*", 0, 0, &left, err, sizeof(err)), 0,
               "a transport left open");
    TAP_OK(task_count() > tasks0, "libzmq threads running (%d > %d)", task_count(), tasks0);
    double t0 = now_s();
    dcv_plugin_set_clear(&set);
    TAP_OK(now_s() - t0 < 5, "fini returns promptly");
    TAP_IS_INT(task_count(), tasks0, "no thread left after fini");
    snprintf(ep, sizeof(ep), "%s/ctl.sock", dir);
    unlink(ep);
    rmdir(dir);
    return tap_done();
}

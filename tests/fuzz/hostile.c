/*
 * A hostile peer against a real coordinator (driven by
 * tests/integration/hostile-proto.sh, which starts the daemons and checks
 * that a real job completes afterwards).
 *
 *   hostile CONTROL_EP DATA_EP ADMIN_EP MEDIA_FILE
 *
 * Raw libzmq DEALERs, so any frame set can be sent: malformed frames, wrong
 * signatures, oversized bodies, unknown commands, messages out of order
 * (job messages before HELLO, DONE for a job never assigned, CREDIT and
 * CHUNK before any FETCH/OFFER), replays (HELLO again, DONE of a
 * superseded attempt), huge numbers, non-UTF-8, deep nesting. Each must be
 * answered as docs/protocol.md says (DISCONNECT on the control plane,
 * ABORT on the data plane, FINAL 4xx on the admin plane) or ignored where
 * it says so, and after each group the coordinator must still answer a
 * normal admin request.
 *
 * With DCV_HOSTILE_KEY / DCV_HOSTILE_SERVER_KEY (key files) it speaks
 * CURVE on tcp endpoints as the enrolled worker "hostile-w".
 *
 * Prints "ok - NAME" / "not ok - NAME" lines (the script numbers them) and
 * "# ..." diagnostics. The fake worker "hostile-w" takes the job the
 * program submits, fails it once, replays stale messages, then says
 * DISCONNECT, leaving the job queued for the script's real worker.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "proto.h"
#include "xfer/chunk.h"

#define MAXF 20
#define WAIT_MS 5000

static void *zctx;
static const char *ep_ctl, *ep_data, *ep_adm, *media;
static int failures;

static void R(int cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void R(int cond, const char *fmt, ...)
{
    va_list ap;
    printf("%s - ", cond ? "ok" : "not ok");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
    failures += !cond;
}

static void diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void diag(const char *fmt, ...)
{
    va_list ap;
    fputs("# ", stdout);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* CURVE keys (Z85) when the coordinator runs with security: an enrolled
 * worker that misbehaves, the worst peer that gets past authentication. */
static char key_secret[41], key_public[41], key_server[41];

/* The first line of a key file that is not a comment. */
static int read_key(const char *path, char out[41])
{
    FILE *f = fopen(path, "r");
    char line[256];
    int ok = 0;
    while (f && !ok && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] != '#' && strlen(line) == 40) {
            memcpy(out, line, 41);
            ok = 1;
        }
    }
    if (f)
        fclose(f);
    return ok;
}

static void *dealer(const char *ep)
{
    void *s = zmq_socket(zctx, ZMQ_DEALER);
    int zero = 0, sndtimeo = WAIT_MS;
    /* A DEALER blocks a send until a peer is connected: never for ever
     * (a refused CURVE handshake leaves it without one). */
    if (s && zmq_setsockopt(s, ZMQ_SNDTIMEO, &sndtimeo, sizeof sndtimeo) < 0)
        s = NULL;
    if (s && key_secret[0] && strncmp(ep, "tcp://", 6) == 0 &&
        (zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, key_server, 41) < 0 ||
         zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, key_public, 41) < 0 ||
         zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, key_secret, 41) < 0)) {
        printf("Bail out! cannot set CURVE keys: %s\n", zmq_strerror(errno));
        exit(1);
    }
    if (!s || zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero) < 0 || zmq_connect(s, ep) < 0) {
        printf("Bail out! cannot connect to %s: %s\n", ep, zmq_strerror(errno));
        exit(1);
    }
    return s;
}

struct frame {
    const void *p;
    size_t n;
};

static void sendv(void *s, const struct frame *f, int n)
{
    for (int i = 0; i < n; i++)
        if (zmq_send(s, f[i].p, f[i].n, i + 1 < n ? ZMQ_SNDMORE : 0) < 0)
            diag("send failed: %s", zmq_strerror(errno));
}

/* One message of the usual shape [sig][cmd][body]. */
static void send3(void *s, const char *sig, int cmd, const void *body, size_t len)
{
    uint8_t c = (uint8_t)cmd;
    struct frame f[3] = {{sig, 5}, {&c, 1}, {body, len}};
    sendv(s, f, 3);
}

static void sendj(void *s, const char *sig, int cmd, const char *json)
{
    send3(s, sig, cmd, json, strlen(json));
}

struct msg {
    int n;
    zmq_msg_t f[MAXF];
};

static void msg_free(struct msg *m)
{
    for (int i = 0; i < m->n; i++)
        zmq_msg_close(&m->f[i]);
    m->n = 0;
}

static const uint8_t *fdata(struct msg *m, int i, size_t *len)
{
    *len = zmq_msg_size(&m->f[i]);
    return zmq_msg_data(&m->f[i]);
}

/* 1 with a whole message, 0 on timeout. */
static int recv_msg(void *s, int timeout_ms, struct msg *m)
{
    zmq_pollitem_t it = {s, 0, ZMQ_POLLIN, 0};
    int more = 1;
    size_t ml = sizeof more;

    m->n = 0;
    if (zmq_poll(&it, 1, timeout_ms) <= 0)
        return 0;
    while (more) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, s, 0) < 0) {
            zmq_msg_close(&part);
            msg_free(m);
            return 0;
        }
        if (m->n < MAXF)
            m->f[m->n++] = part;
        else
            zmq_msg_close(&part);
        zmq_getsockopt(s, ZMQ_RCVMORE, &more, &ml);
    }
    return 1;
}

static int is_cmd(struct msg *m, const char *sig, int cmd)
{
    size_t l0, l1;
    const uint8_t *a, *b;
    if (m->n < 3)
        return 0;
    a = fdata(m, 0, &l0);
    b = fdata(m, 1, &l1);
    return l0 == 5 && memcmp(a, sig, 5) == 0 && l1 == 1 && b[0] == cmd;
}

static const char *tel_json =
    "{\"telemetry\":{\"cpu_pct\":1,\"load1\":0,\"ncpu\":4,\"mem_total\":8000000000,"
    "\"mem_avail\":4000000000,\"disk_total\":100000000000,\"disk_free\":50000000000,"
    "\"slots_used\":0,\"busy\":false,\"draining\":false,\"jobs\":[]}}";

/* Wait for cmd on s (others are skipped; a worker socket heartbeats while
 * it waits so the coordinator keeps it alive). The body is copied to out. */
static int expect(void *s, const char *sig, int cmd, int timeout_ms, char *out, size_t outlen,
                  int heartbeat)
{
    uint64_t end = now_ms() + (uint64_t)timeout_ms, next_hb = 0;
    struct msg m;

    for (;;) {
        uint64_t t = now_ms();
        if (t >= end)
            return 0;
        if (heartbeat && t >= next_hb) {
            sendj(s, DCV_PROTO_SIG_CONTROL, DCV_CMD_HEARTBEAT, tel_json);
            next_hb = t + 300;
        }
        int slice = (int)(end - t < 300 ? end - t : 300);
        if (!recv_msg(s, slice, &m))
            continue;
        if (is_cmd(&m, sig, cmd)) {
            if (out && outlen) {
                size_t l;
                const uint8_t *b = fdata(&m, 2, &l);
                if (l >= outlen)
                    l = outlen - 1;
                memcpy(out, b, l);
                out[l] = '\0';
            }
            msg_free(&m);
            return 1;
        }
        if (is_cmd(&m, sig, DCV_CMD_DISCONNECT) && cmd != DCV_CMD_DISCONNECT) {
            size_t l;
            const uint8_t *b = fdata(&m, 2, &l);
            diag("unexpected DISCONNECT: %.*s", (int)l, (const char *)b);
        }
        msg_free(&m);
    }
}

/* A control message on a fresh connection must be answered DISCONNECT. */
static void ctl_disconnect(const char *name, const struct frame *f, int n, const char *want)
{
    void *s = dealer(ep_ctl);
    char body[2048] = "";
    sendv(s, f, n);
    int got = expect(s, DCV_PROTO_SIG_CONTROL, DCV_CMD_DISCONNECT, WAIT_MS, body, sizeof body, 0);
    R(got && (!want || strstr(body, want)), "control: %s -> DISCONNECT%s%s", name,
      want ? " naming " : "", want ? want : "");
    if (got)
        diag("  reason: %.200s", body);
    zmq_close(s);
}

/* An admin request on a fresh connection; *status of the FINAL (0: none). */
static int admin_raw(const struct frame *f, int n, char *err, size_t errlen, char **body,
                     int timeout_ms)
{
    void *s = dealer(ep_adm);
    char buf[65536];
    int status = 0;

    sendv(s, f, n);
    if (expect(s, DCV_PROTO_SIG_ADMIN, DCV_CMD_FINAL, timeout_ms, buf, sizeof buf, 0)) {
        struct dcv_proto_reply r;
        char e[512];
        if (dcv_proto_final_from_json(buf, strlen(buf), &r, e, sizeof e) == 0) {
            status = r.status;
            if (err)
                snprintf(err, errlen, "%s", r.error);
            if (body) {
                *body = r.body;
                r.body = NULL;
            }
            dcv_proto_reply_clear(&r);
        } else {
            diag("FINAL does not decode: %s", e);
            status = -1;
        }
    }
    zmq_close(s);
    return status;
}

static int admin(const char *json, char *err, size_t errlen, char **body)
{
    uint8_t c = DCV_CMD_REQUEST;
    struct frame f[3] = {{DCV_PROTO_SIG_ADMIN, 5}, {&c, 1}, {json, strlen(json)}};
    return admin_raw(f, 3, err, errlen, body, 10000);
}

static void still_serving(const char *after)
{
    int st = admin("{\"req_id\":\"ping\",\"verb\":\"info\",\"args\":{}}", NULL, 0, NULL);
    R(st == 200, "after %s: the coordinator still answers an admin request (got %d)", after, st);
}

static void admin_expect(const char *name, const char *json, int lo, int hi, const char *want)
{
    char err[1024] = "";
    int st = admin(json, err, sizeof err, NULL);
    R(st >= lo && st <= hi && (!want || strstr(err, want)), "admin: %s -> %d..%d (got %d%s%.120s)",
      name, lo, hi, st, err[0] ? ": " : "", err);
}

/* Field of a JSON object text, as a string ("" when absent). */
static void jfield(const char *body, const char *key, char *out, size_t len)
{
    char pat[64];
    const char *p;
    out[0] = '\0';
    snprintf(pat, sizeof pat, "\"%s\":", key);
    if (!body || !(p = strstr(body, pat)))
        return;
    p += strlen(pat);
    if (*p == '"') {
        const char *e = strchr(++p, '"');
        if (e && (size_t)(e - p) < len) {
            memcpy(out, p, (size_t)(e - p));
            out[e - p] = '\0';
        }
    } else {
        size_t n = strcspn(p, ",}");
        if (n < len) {
            memcpy(out, p, n);
            out[n] = '\0';
        }
    }
}

static int worker_online(const char *id)
{
    char req[256], st[32] = "";
    char *body = NULL;
    snprintf(req, sizeof req, "{\"req_id\":\"w\",\"verb\":\"worker\",\"args\":{\"worker_id\":\"%s\"}}",
             id);
    if (admin(req, NULL, 0, &body) == 200)
        jfield(body, "state", st, sizeof st);
    free(body);
    return strcmp(st, "online") == 0;
}

static void job_state(const char *job_id, char *state, size_t slen, int64_t *attempt)
{
    char req[256], a[32] = "";
    char *body = NULL;
    snprintf(req, sizeof req, "{\"req_id\":\"s\",\"verb\":\"status\",\"args\":{\"job_id\":\"%s\"}}",
             job_id);
    state[0] = '\0';
    if (admin(req, NULL, 0, &body) == 200) {
        jfield(body, "state", state, slen);
        jfield(body, "attempt", a, sizeof a);
    }
    *attempt = atoll(a);
    free(body);
}

/* ---- control plane ------------------------------------------------------- */

#define HELLO_FMT \
    "{\"worker_id\":\"%s\",\"session\":\"%s\",\"proto_min\":%d,\"proto_max\":%d," \
    "\"host\":\"hostile-host\",\"slots\":1," \
    "\"plugins\":[{\"name\":\"enc-x264\",\"version\":\"1.0\",\"abi_minor\":0}]," \
    "\"devices\":[{\"plugin\":\"x264\",\"available\":true,\"hardware\":false," \
    "\"hw_type\":\"none\",\"device_id\":\"cpu\",\"device_name\":\"x264 (CPU)\"," \
    "\"max_sessions\":0,\"sessions_scope\":\"unlimited\",\"sessions_source\":\"none\"," \
    "\"flags\":[\"ten-bit\"],\"unavailable_reason\":\"\",\"codecs\":[{\"codec\":\"h264\"," \
    "\"encoder\":\"libx264\",\"profiles\":\"high\",\"max_width\":16384," \
    "\"max_height\":16384,\"bit_depths\":[8,10],\"pix_fmts\":[\"yuv420p\"]}]}]," \
    "\"running\":[]}"

static void control_garbage(void)
{
    static const char bye[] = "{\"reason\":\"bye\"}";
    uint8_t hb = DCV_CMD_HEARTBEAT, unk = 0x0C, done = DCV_CMD_DONE, hello = DCV_CMD_HELLO;
    static const uint8_t two[2] = {DCV_CMD_HEARTBEAT, 0};
    char *big, *deep;
    size_t n;

    ctl_disconnect("wrong signature DCVW2",
                   (struct frame[]){{"DCVW2", 5}, {&hb, 1}, {"{}", 2}}, 3, "signature");
    ctl_disconnect("the admin plane's signature",
                   (struct frame[]){{DCV_PROTO_SIG_ADMIN, 5}, {&hb, 1}, {"{}", 2}}, 3, "signature");
    ctl_disconnect("two frames", (struct frame[]){{DCV_PROTO_SIG_CONTROL, 5}, {&hb, 1}}, 2, "frames");
    ctl_disconnect("five frames",
                   (struct frame[]){{DCV_PROTO_SIG_CONTROL, 5}, {&hb, 1}, {"{}", 2}, {"x", 1},
                                    {"y", 1}},
                   5, "frames");
    ctl_disconnect("a 2-byte command frame",
                   (struct frame[]){{DCV_PROTO_SIG_CONTROL, 5}, {two, 2}, {"{}", 2}}, 3, "command");
    ctl_disconnect("unknown command 0x0c",
                   (struct frame[]){{DCV_PROTO_SIG_CONTROL, 5}, {&unk, 1}, {bye, strlen(bye)}}, 3,
                   "unknown command");
    ctl_disconnect("an empty body", (struct frame[]){{DCV_PROTO_SIG_CONTROL, 5}, {&hb, 1}, {"", 0}},
                   3, "body");
    /* 300 KiB: under the transport's 1 MiB, over the 256 KiB JSON limit */
    n = 300 * 1024;
    big = malloc(n);
    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    ctl_disconnect("a 300 KiB body", (struct frame[]){{DCV_PROTO_SIG_CONTROL, 5}, {&hello, 1}, {big, n}},
                   3, "exceeds");
    free(big);
    ctl_disconnect("HEARTBEAT before HELLO",
                   (struct frame[]){{DCV_PROTO_SIG_CONTROL, 5}, {&hb, 1}, {tel_json, strlen(tel_json)}},
                   3, "HELLO first");
    {
        static const char d[] = "{\"job_id\":\"0123456789abcdef0123456789abcdef\",\"attempt\":1,"
                                "\"session\":\"x\",\"output\":{\"xfer_id\":1,\"size\":1,"
                                "\"sha256\":\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\"}}";
        ctl_disconnect("DONE before HELLO",
                       (struct frame[]){{DCV_PROTO_SIG_CONTROL, 5}, {&done, 1}, {d, strlen(d)}}, 3,
                       "HELLO first");
    }
    {
        static const char h[] = "{\"worker_id\":\"w\xff\xfe\",\"session\":\"s\"}";
        ctl_disconnect("HELLO with invalid UTF-8",
                       (struct frame[]){{DCV_PROTO_SIG_CONTROL, 5}, {&hello, 1}, {h, strlen(h)}}, 3,
                       "UTF-8");
    }
    n = 100000;
    deep = malloc(n + 32);
    memcpy(deep, "{\"worker_id\":", 13);
    memset(deep + 13, '[', n);
    memcpy(deep + 13 + n, "}", 2);
    ctl_disconnect("HELLO nested 100000 deep",
                   (struct frame[]){{DCV_PROTO_SIG_CONTROL, 5}, {&hello, 1}, {deep, strlen(deep)}},
                   3, "HELLO");
    free(deep);
    {
        char h[4096];
        snprintf(h, sizeof h, HELLO_FMT, "hostile-w", "s1", 1, 1);
        char *p = strstr(h, "\"slots\":1");
        memcpy(p, "\"slots\":9", 9);
        char h2[4200];
        snprintf(h2, sizeof h2, "%.*s99999999999999999999999%s", (int)(p - h + 8), h, p + 9);
        ctl_disconnect("HELLO with slots 9.9e22",
                       (struct frame[]){{DCV_PROTO_SIG_CONTROL, 5}, {&hello, 1}, {h2, strlen(h2)}},
                       3, "slots");
        snprintf(h, sizeof h, HELLO_FMT, "hostile-w", "s1", 2, 3);
        ctl_disconnect("HELLO with no common protocol minor",
                       (struct frame[]){{DCV_PROTO_SIG_CONTROL, 5}, {&hello, 1}, {h, strlen(h)}}, 3,
                       "minor");
    }
    {
        /* 2 MiB: over the transport's message limit; libzmq drops the
         * connection (ZMQ_MAXMSGSIZE), there is no one left to answer */
        void *s = dealer(ep_ctl);
        n = 2u << 20;
        big = calloc(1, n);
        sendv(s, (struct frame[]){{DCV_PROTO_SIG_CONTROL, 5}, {&hb, 1}, {big, n}}, 3);
        struct msg m;
        int got = recv_msg(s, 1000, &m);
        if (got)
            msg_free(&m);
        free(big);
        zmq_close(s);
        diag("2 MiB message: %s", got ? "answered" : "connection dropped, no answer");
    }
    still_serving("control-plane garbage");
}

/* ---- data plane ---------------------------------------------------------- */

static void data_expect_abort(const char *name, const struct frame *f, int n, const char *code)
{
    void *s = dealer(ep_data);
    char body[2048] = "";
    sendv(s, f, n);
    int got = expect(s, DCV_PROTO_SIG_DATA, DCV_CMD_ABORT, WAIT_MS, body, sizeof body, 0);
    char want[64];
    snprintf(want, sizeof want, "\"code\":\"%s\"", code);
    R(got && strstr(body, want), "data: %s -> ABORT %s", name, code);
    if (got)
        diag("  %.200s", body);
    zmq_close(s);
}

static void data_plane(const struct dcv_proto_job *job)
{
    uint8_t credit = DCV_CMD_CREDIT, chunk = DCV_CMD_CHUNK, fetch = DCV_CMD_FETCH,
            offer = DCV_CMD_OFFER;
    uint8_t rec[DCV_XFER_CREDIT_LEN], hdr[DCV_XFER_CHUNK_HDR_LEN];
    struct dcv_xfer_credit cr = {.xfer_id = 123456789, .offset = 0, .chunks = 4};
    struct dcv_xfer_chunk ch = {.xfer_id = 123456790, .offset = 0, .len = 3,
                                .flags = DCV_XFER_FLAG_LAST};
    char err[256], body[1024];

    dcv_xfer_credit_encode(&cr, rec, sizeof rec, err, sizeof err);
    data_expect_abort("CREDIT before any FETCH",
                      (struct frame[]){{DCV_PROTO_SIG_DATA, 5}, {&credit, 1}, {rec, sizeof rec}}, 3,
                      "busy");
    ch.crc32c = dcv_crc32c(0, "abc", 3);
    dcv_xfer_chunk_encode(&ch, hdr, sizeof hdr, err, sizeof err);
    data_expect_abort("CHUNK before any OFFER",
                      (struct frame[]){{DCV_PROTO_SIG_DATA, 5}, {&chunk, 1}, {hdr, sizeof hdr},
                                       {"abc", 3}},
                      4, "busy");
    hdr[28] = 1; /* reserved != 0 */
    data_expect_abort("CHUNK with a reserved field set",
                      (struct frame[]){{DCV_PROTO_SIG_DATA, 5}, {&chunk, 1}, {hdr, sizeof hdr},
                                       {"abc", 3}},
                      4, "protocol");
    snprintf(body, sizeof body,
             "{\"purpose\":\"input\",\"xfer_id\":%lld,\"job_id\":\"%s\",\"attempt\":%lld,"
             "\"session\":\"%s\"}",
             (long long)job->input.blob.xfer_id ? (long long)job->input.blob.xfer_id : 77LL,
             job->fence.job_id, (long long)job->fence.attempt + 7, job->fence.session);
    data_expect_abort("FETCH of the job's input with a future attempt",
                      (struct frame[]){{DCV_PROTO_SIG_DATA, 5}, {&fetch, 1}, {body, strlen(body)}},
                      3, "stale");
    static const char badj[] = "{\"purpose\":\"input\",\"xfer_id\":4242,\"attempt\":\"one\"}";
    data_expect_abort("FETCH with a string attempt",
                      (struct frame[]){{DCV_PROTO_SIG_DATA, 5}, {&fetch, 1}, {badj, strlen(badj)}},
                      3, "protocol");
    static const char off[] = "{\"purpose\":\"download\",\"xfer_id\":4243,\"size\":1,"
                              "\"sha256\":\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\","
                              "\"chunk_max\":4096}";
    data_expect_abort("OFFER with purpose download",
                      (struct frame[]){{DCV_PROTO_SIG_DATA, 5}, {&offer, 1}, {off, strlen(off)}}, 3,
                      "protocol");
    static const char huge[] = "{\"purpose\":\"upload\",\"xfer_id\":9007199254740993,\"size\":1,"
                               "\"sha256\":\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\","
                               "\"chunk_max\":4096}";
    {
        /* nothing to address an ABORT to: the message is dropped */
        void *s = dealer(ep_data);
        sendv(s, (struct frame[]){{DCV_PROTO_SIG_DATA, 5}, {&offer, 1}, {huge, strlen(huge)}}, 3);
        sendv(s, (struct frame[]){{"DCVX1", 5}, {&offer, 1}, {off, strlen(off)}}, 3);
        sendv(s, (struct frame[]){{DCV_PROTO_SIG_DATA, 5}, {&credit, 1}, {rec, 5}}, 3);
        zmq_close(s);
    }
    still_serving("data-plane garbage");
}

/* ---- admin plane --------------------------------------------------------- */

static void admin_plane(void)
{
    uint8_t req = DCV_CMD_REQUEST, fin = DCV_CMD_FINAL;
    static const char info[] = "{\"req_id\":\"a1\",\"verb\":\"info\",\"args\":{}}";
    int st;

    st = admin_raw((struct frame[]){{DCV_PROTO_SIG_CONTROL, 5}, {&req, 1}, {info, strlen(info)}}, 3,
                   NULL, 0, NULL, 1500);
    R(st == 0, "admin: a REQUEST with the control plane's signature is dropped (got %d)", st);
    st = admin_raw((struct frame[]){{DCV_PROTO_SIG_ADMIN, 5}, {&req, 1}, {"not json", 8}}, 3, NULL,
                   0, NULL, 1500);
    R(st == 0, "admin: a body that is not JSON (no req_id to answer) is dropped (got %d)", st);
    admin_expect("unknown verb", "{\"req_id\":\"a2\",\"verb\":\"selfdestruct\",\"args\":{}}", 400,
                 400, "verb");
    admin_expect("invalid UTF-8 in an argument",
                 "{\"req_id\":\"a3\",\"verb\":\"worker\",\"args\":{\"worker_id\":\"\xc0\xaf\"}}", 400,
                 400, NULL);
    admin_expect("jobs limit 10^15",
                 "{\"req_id\":\"a4\",\"verb\":\"jobs\",\"args\":{\"limit\":1000000000000000}}", 400,
                 400, "limit");
    admin_expect("status of a job that does not exist",
                 "{\"req_id\":\"a5\",\"verb\":\"status\",\"args\":{\"job_id\":"
                 "\"ffffffffffffffffffffffffffffffff\"}}",
                 404, 404, NULL);
    admin_expect("submit of a path outside the shared roots",
                 "{\"req_id\":\"a6\",\"verb\":\"submit\",\"args\":{\"profile\":{\"codec\":\"h264\"},"
                 "\"input\":{\"kind\":\"path\",\"source\":\"/etc/passwd\"}}}",
                 400, 403, NULL);
    admin_expect("submit of an upload never committed",
                 "{\"req_id\":\"a7\",\"verb\":\"submit\",\"args\":{\"profile\":{\"codec\":\"h264\"},"
                 "\"input\":{\"kind\":\"upload\",\"xfer_id\":31337,\"size\":10,\"sha256\":"
                 "\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\"}}}",
                 400, 404, NULL);
    admin_expect("a profile nested inside itself",
                 "{\"req_id\":\"a8\",\"verb\":\"submit\",\"args\":{\"profile\":{\"codec\":{\"a\":1}},"
                 "\"input\":{\"kind\":\"url\",\"source\":\"https://example.invalid/a.mkv\"}}}",
                 400, 400, "profile");
    {
        size_t n = 50000;
        char *deep = malloc(n + 64);
        int k = snprintf(deep, 64, "{\"req_id\":\"a9\",\"verb\":\"info\",\"args\":");
        memset(deep + k, '[', n);
        strcpy(deep + k + n, "}");
        st = admin_raw((struct frame[]){{DCV_PROTO_SIG_ADMIN, 5}, {&req, 1}, {deep, strlen(deep)}},
                       3, NULL, 0, NULL, 3000);
        R(st == 0 || st == 400, "admin: a request nested 50000 deep: 400 or dropped (got %d)", st);
        free(deep);
    }
    /* Malformed requests that still name a req_id are answered (issue 11
     * A11: the client waited 15 s and said "cannot reach"). */
    admin_expect("a request cut short", "{\"req_id\":\"a11\",\"verb\":\"info\",\"args\":{", 400,
                 400, NULL);
    {
        size_t n = 300 * 1024;
        char *big = malloc(n + 128);
        int k = snprintf(big, 128, "{\"req_id\":\"a12\",\"verb\":\"info\",\"args\":{\"x\":\"");
        memset(big + k, 'A', n);
        strcpy(big + k + n, "\"}}");
        admin_expect("a request over the 256 KiB body limit", big, 400, 400, NULL);
        free(big);
    }
    {
        static const char f[] = "{\"req_id\":\"a10\",\"status\":200}";
        st = admin_raw((struct frame[]){{DCV_PROTO_SIG_ADMIN, 5}, {&fin, 1}, {f, strlen(f)}}, 3, NULL,
                       0, NULL, 1000);
        R(st == 0, "admin: a FINAL sent to the coordinator is ignored (got %d)", st);
    }
    still_serving("admin-plane garbage");
}

/* ---- a fake worker ------------------------------------------------------- */

static const char *fence_json(const struct dcv_proto_fence *f, int64_t attempt, char *buf,
                              size_t len)
{
    snprintf(buf, len, "\"job_id\":\"%s\",\"attempt\":%lld,\"session\":\"%s\"", f->job_id,
             (long long)attempt, f->session);
    return buf;
}

static void fake_worker(void)
{
    void *w = dealer(ep_ctl);
    char hello[4096], req[8192], fj[256], msg[4096], err[1024], job_id[64] = "", state[32];
    char *body = NULL;
    struct dcv_proto_job *job = calloc(1, sizeof *job);
    int64_t attempt = 0;
    int st;

    snprintf(hello, sizeof hello, HELLO_FMT, "hostile-w", "sess-1", 1, 1);
    sendj(w, DCV_PROTO_SIG_CONTROL, DCV_CMD_HELLO, hello);
    R(expect(w, DCV_PROTO_SIG_CONTROL, DCV_CMD_WELCOME, WAIT_MS, NULL, 0, 0),
      "worker: a valid HELLO gets WELCOME");

    /* DONE of a job never assigned: stale, ignored (protocol.md 6) */
    sendj(w, DCV_PROTO_SIG_CONTROL, DCV_CMD_DONE,
          "{\"job_id\":\"abcdefabcdefabcdefabcdefabcdefab\",\"attempt\":1,\"session\":\"sess-1\","
          "\"output\":{\"xfer_id\":5,\"size\":1,\"sha256\":"
          "\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\"}}");
    R(worker_online("hostile-w"), "worker: DONE for a job never assigned is ignored (still online)");

    /* a job for it */
    snprintf(req, sizeof req,
             "{\"req_id\":\"sub\",\"verb\":\"submit\",\"args\":{\"profile\":{\"codec\":\"h264\","
             "\"preset\":1},\"input\":{\"kind\":\"path\",\"source\":\"%s\"},\"max_attempts\":10}}",
             media);
    st = admin(req, err, sizeof err, &body);
    jfield(body, "job_id", job_id, sizeof job_id);
    free(body);
    body = NULL;
    R(st == 200 && job_id[0], "submit a real job (%d %s%s)", st, job_id, err);
    printf("JOB_ID %s\n", job_id);
    fflush(stdout);
    if (!expect(w, DCV_PROTO_SIG_CONTROL, DCV_CMD_JOB, 20000, msg, sizeof msg, 1) ||
        dcv_proto_job_from_json(msg, strlen(msg), job, err, sizeof err) < 0) {
        R(0, "worker: the job is sent to the fake worker");
        free(job);
        zmq_close(w);
        return;
    }
    R(strcmp(job->fence.job_id, job_id) == 0 && job->fence.attempt == 1,
      "worker: JOB %s attempt %lld arrives", job->fence.job_id, (long long)job->fence.attempt);

    data_plane(job);

    /* accept, then fail it retryably: attempt 2 comes (we are the only worker) */
    snprintf(msg, sizeof msg, "{%s,\"plugin\":\"x264\",\"encoder\":\"libx264\",\"device_id\":\"cpu\"}",
             fence_json(&job->fence, 1, fj, sizeof fj));
    sendj(w, DCV_PROTO_SIG_CONTROL, DCV_CMD_ACCEPT, msg);
    snprintf(msg, sizeof msg, "{%s,\"code\":\"encode\",\"message\":\"hostile test\",\"retryable\":true}",
             fence_json(&job->fence, 1, fj, sizeof fj));
    sendj(w, DCV_PROTO_SIG_CONTROL, DCV_CMD_FAIL, msg);
    int again = expect(w, DCV_PROTO_SIG_CONTROL, DCV_CMD_JOB, 20000, msg, sizeof msg, 1);
    struct dcv_proto_job *j2 = calloc(1, sizeof *j2);
    again = again && dcv_proto_job_from_json(msg, strlen(msg), j2, err, sizeof err) == 0 &&
            j2->fence.attempt == 2;
    R(again, "worker: after a retryable FAIL the job comes back as attempt 2");
    free(j2);

    /* replay: DONE of the superseded attempt 1, FAIL of attempt 1 again */
    snprintf(msg, sizeof msg,
             "{%s,\"output\":{\"xfer_id\":99,\"size\":10,\"sha256\":"
             "\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\"}}",
             fence_json(&job->fence, 1, fj, sizeof fj));
    sendj(w, DCV_PROTO_SIG_CONTROL, DCV_CMD_DONE, msg);
    snprintf(msg, sizeof msg, "{%s,\"code\":\"encode\",\"message\":\"replayed\",\"retryable\":false}",
             fence_json(&job->fence, 1, fj, sizeof fj));
    sendj(w, DCV_PROTO_SIG_CONTROL, DCV_CMD_FAIL, msg);
    /* and a PROGRESS of an attempt that never existed */
    snprintf(msg, sizeof msg, "{%s,\"phase\":\"encode\",\"pct\":50}",
             fence_json(&job->fence, 999, fj, sizeof fj));
    sendj(w, DCV_PROTO_SIG_CONTROL, DCV_CMD_PROGRESS, msg);
    R(worker_online("hostile-w"), "worker: replayed and future-attempt messages leave it online");
    job_state(job_id, state, sizeof state, &attempt);
    R(attempt == 2 && strcmp(state, "done") != 0 && strcmp(state, "failed") != 0,
      "job: the replayed DONE/FAIL of attempt 1 changed nothing (state %s, attempt %lld)", state,
      (long long)attempt);

    /* replay: the same HELLO again on the same connection */
    sendj(w, DCV_PROTO_SIG_CONTROL, DCV_CMD_HELLO, hello);
    R(expect(w, DCV_PROTO_SIG_CONTROL, DCV_CMD_WELCOME, WAIT_MS, NULL, 0, 1),
      "worker: a replayed HELLO is answered WELCOME again");

    /* a command only the coordinator sends */
    sendj(w, DCV_PROTO_SIG_CONTROL, DCV_CMD_WELCOME, "{\"session\":\"x\"}");
    R(expect(w, DCV_PROTO_SIG_CONTROL, DCV_CMD_DISCONNECT, WAIT_MS, msg, sizeof msg, 0),
      "worker: sending WELCOME to the coordinator gets DISCONNECT");
    diag("  reason: %.200s", msg);

    /* leave: the job goes back to the queue for the script's real worker */
    sendj(w, DCV_PROTO_SIG_CONTROL, DCV_CMD_DISCONNECT, "{\"reason\":\"hostile test done\"}");
    free(job);
    zmq_close(w);
    still_serving("the fake worker");
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: %s CONTROL_EP DATA_EP ADMIN_EP MEDIA_FILE\n", argv[0]);
        return 2;
    }
    ep_ctl = argv[1];
    ep_data = argv[2];
    ep_adm = argv[3];
    media = argv[4];
    /* DCV_HOSTILE_KEY: our secret key file (enrolled as hostile-w);
     * DCV_HOSTILE_SERVER_KEY: the coordinator's public key file. */
    if (getenv("DCV_HOSTILE_KEY")) {
        if (!read_key(getenv("DCV_HOSTILE_KEY"), key_secret) ||
            !read_key(getenv("DCV_HOSTILE_SERVER_KEY") ? getenv("DCV_HOSTILE_SERVER_KEY") : "",
                      key_server) ||
            zmq_curve_public(key_public, key_secret) < 0) {
            printf("Bail out! cannot read the CURVE keys\n");
            return 1;
        }
    }
    if (!(zctx = zmq_ctx_new())) {
        printf("Bail out! zmq_ctx_new failed\n");
        return 1;
    }
    still_serving("startup");
    control_garbage();
    admin_plane();
    fake_worker();
    zmq_ctx_term(zctx);
    return failures ? 1 : 0;
}

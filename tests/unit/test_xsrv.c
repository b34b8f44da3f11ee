/*
 * The data plane end to end: core/xfer/server.c in this process (driven by
 * a small poll loop, as the coordinator's loop would), core/xfer/client.c
 * in child processes (it blocks), real transport-zmq over tcp://127.0.0.1:*
 * and ipc://. The children are this program re-executed ("child MODE ..."),
 * so no zmq context ever crosses a fork; each reports through a pipe.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libavformat/avformat.h>

#include "clock.h"
#include "loop.h"
#include "media/remote_io.h"
#include "net.h"
#include "tap.h"
#include "xfer/chunk.h"
#include "xfer/client.h"
#include "xfer/server.h"

#define CM (64u * 1024u) /* chunk size of these tests */
#define WIN 4u
#define JOBID "0123456789abcdef0123456789abcdef"

/* ---- shared ---------------------------------------------------------------- */

struct cres {
    int rc;
    int abort_code;
    int64_t v[6];
    char sha[65];
    char err[1100];
};

static void fill_random(const char *path, size_t n, uint64_t seed)
{
    FILE *f = fopen(path, "wb");
    static uint8_t blk[1 << 16];
    if (!f)
        tap_bail("create %s: %s", path, strerror(errno));
    uint64_t x = seed | 1;
    while (n > 0) {
        size_t k = n < sizeof(blk) ? n : sizeof(blk);
        for (size_t i = 0; i < k; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            blk[i] = (uint8_t)x;
        }
        if (fwrite(blk, 1, k, f) != k)
            tap_bail("write %s", path);
        n -= k;
    }
    if (fclose(f) != 0)
        tap_bail("write %s", path);
}

static uint8_t *slurp(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) < 0) {
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    uint8_t *b = malloc((size_t)sb.st_size + 1);
    size_t got = 0;
    while (b && got < (size_t)sb.st_size) {
        ssize_t n = read(fd, b + got, (size_t)sb.st_size - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    *len = got;
    return b;
}

static int same_file(const char *a, const char *b)
{
    size_t la = 0, lb = 0;
    uint8_t *x = slurp(a, &la), *y = slurp(b, &lb);
    int same = x && y && la == lb && memcmp(x, y, la) == 0;
    free(x);
    free(y);
    return same;
}

static void sha_of(const char *path, char sha[65], int64_t *size)
{
    char err[256];
    int fd = open(path, O_RDONLY);
    if (fd < 0 || dcv_xcli_sha256_fd(fd, size, sha, err, sizeof(err)) < 0)
        tap_bail("sha256 %s: %s", path, err);
    close(fd);
}

/* Chunk size and window: the tests' small ones, or what a benchmark run
 * (DCV_XSRV_BENCH_MB) asks for through the environment. */
static uint32_t bench_chunk(void)
{
    const char *v = getenv("DCV_XSRV_BENCH_CHUNK");
    return v && getenv("DCV_XSRV_BENCH_MB") ? (uint32_t)atol(v) : CM;
}

static uint32_t bench_window(void)
{
    const char *v = getenv("DCV_XSRV_BENCH_CREDIT");
    return v && getenv("DCV_XSRV_BENCH_MB") ? (uint32_t)atol(v) : WIN;
}

/* ---- the client side (child processes) ------------------------------------- */

static volatile sig_atomic_t cancel_flag;

static void on_alarm(int sig)
{
    (void)sig;
    cancel_flag = 1;
}

static int send_raw(struct dcv_sock *s, int cmd, const void *body, size_t len, const void *pl,
                    size_t plen)
{
    char err[256];
    for (int i = 0; i < 2000; i++) {
        int r = dcv_sock_send(s, NULL, cmd, body, len, pl, plen, err, sizeof(err));
        if (r != -EAGAIN)
            return r;
        usleep(1000);
    }
    return -ETIMEDOUT;
}

/* A peer that breaks the rules: every violation must come back as ABORT
 * protocol for the right xfer_id. v[0] = bitmask of the ids answered. */
static void child_garbage(struct dcv_net *net, const char *ep, uint64_t known, struct cres *res)
{
    struct dcv_sock_opts o = {.plane = DCV_PLANE_DATA, .role = DCV_TX_CONNECT_DEALER,
                              .endpoint = ep, .linger_ms = 1000};
    struct dcv_sock *s = NULL;
    uint8_t hdr[DCV_XFER_CHUNK_HDR_LEN], cr[DCV_XFER_CREDIT_LEN];
    char err[256];
    static const uint8_t payload[10] = "0123456789";

    if ((res->rc = dcv_sock_open(net, &o, &s, res->err, sizeof(res->err))) < 0)
        return;
    /* 1: a CHUNK for a transfer nobody opened (ABORT busy, not protocol) */
    struct dcv_xfer_chunk c = {.xfer_id = 777, .offset = 0, .len = 10, .flags = DCV_XFER_FLAG_LAST,
                               .crc32c = dcv_crc32c(0, payload, 10)};
    dcv_xfer_chunk_encode(&c, hdr, sizeof(hdr), err, sizeof(err));
    send_raw(s, DCV_CMD_CHUNK, hdr, sizeof(hdr), payload, 10);
    /* 2: an OFFER that is not one */
    const char *bad = "{\"xfer_id\":778,\"purpose\":\"bogus\"}";
    send_raw(s, DCV_CMD_OFFER, bad, strlen(bad), NULL, 0);
    /* 3: a CREDIT with the reserved field set */
    struct dcv_xfer_credit k = {.xfer_id = 779, .offset = 0, .chunks = 1};
    dcv_xfer_credit_encode(&k, cr, sizeof(cr), err, sizeof(err));
    cr[20] = 1;
    send_raw(s, DCV_CMD_CREDIT, cr, sizeof(cr), NULL, 0);
    /* 4: a CHUNK header with an unknown flag (short headers never get
     * past core/net's frame checks) */
    c.xfer_id = 780;
    dcv_xfer_chunk_encode(&c, hdr, sizeof(hdr), err, sizeof(err));
    hdr[20] |= 0x2;
    send_raw(s, DCV_CMD_CHUNK, hdr, sizeof(hdr), payload, 10);
    /* 5: a real FETCH, then a misaligned credit */
    char fetch[256];
    snprintf(fetch, sizeof(fetch), "{\"purpose\":\"download\",\"xfer_id\":%" PRIu64
             ",\"chunk_max\":%u}", known, CM);
    send_raw(s, DCV_CMD_FETCH, fetch, strlen(fetch), NULL, 0);
    k.xfer_id = known;
    k.offset = 100;
    dcv_xfer_credit_encode(&k, cr, sizeof(cr), err, sizeof(err));
    send_raw(s, DCV_CMD_CREDIT, cr, sizeof(cr), NULL, 0);

    int64_t until = dcv_mono_ms() + 5000;
    while (dcv_mono_ms() < until && res->v[0] != 0x1f) {
        struct dcv_proto_msg m;
        struct dcv_proto_abort a;
        if (dcv_sock_recv(s, NULL, &m, err, sizeof(err)) != 0) {
            dcv_sock_wait(s, 100);
            continue;
        }
        if (m.cmd != DCV_CMD_ABORT ||
            dcv_proto_abort_from_json(m.body, m.body_len, &a, err, sizeof(err)) < 0)
            continue;
        /* a transfer the server does not know: "busy", open it again */
        if (a.code != (a.xfer_id == 777 ? DCV_CODE_BUSY : DCV_CODE_PROTOCOL))
            continue;
        if (a.xfer_id >= 777 && a.xfer_id <= 780)
            res->v[0] |= 1 << (a.xfer_id - 777);
        else if ((uint64_t)a.xfer_id == known) {
            res->v[0] |= 1 << 4;
            snprintf(res->err, sizeof(res->err), "%s", a.message);
        }
    }
    dcv_sock_close(&s);
}

static void child_stream(struct dcv_xcli *c, const char *path, const struct dcv_proto_blob *b,
                         struct cres *res)
{
    struct dcv_xstream *s = NULL;
    size_t len = 0;
    uint8_t *want = slurp(path, &len), *buf = malloc(len + 1);
    int bad = 0;

    if (!want || !buf || (res->rc = dcv_xstream_open(c, NULL, b, &s, res->err,
                                                     sizeof(res->err))) < 0) {
        res->rc = res->rc ? res->rc : -ENOMEM;
        goto out;
    }
    /* everything in order first: each chunk should travel once */
    for (size_t off = 0; off < len;) {
        int64_t n = dcv_xstream_pread(s, buf + off, 10000, (int64_t)off, res->err,
                                      sizeof(res->err));
        if (n <= 0) {
            res->rc = n < 0 ? (int)n : -ENODATA;
            goto out;
        }
        off += (size_t)n;
    }
    if (memcmp(buf, want, len) != 0)
        bad++;
    res->v[4] = dcv_xstream_bytes_fetched(s);
    /* reads that must be exact: start, the end, back, a middle piece
     * across a chunk boundary, then everything in order again */
    struct {
        int64_t off, n;
    } rd[] = {{0, 1000}, {(int64_t)len - 100, 100}, {5000, 3000},
              {(int64_t)CM * 7 - 10, 20}, {(int64_t)len - 1, 1}, {10, 10}};
    for (size_t i = 0; i < sizeof(rd) / sizeof(rd[0]); i++) {
        int64_t got = 0;
        while (got < rd[i].n) {
            int64_t n = dcv_xstream_pread(s, buf + got, (size_t)(rd[i].n - got), rd[i].off + got,
                                          res->err, sizeof(res->err));
            if (n <= 0) {
                res->rc = n < 0 ? (int)n : -ENODATA;
                goto out;
            }
            got += n;
        }
        if (memcmp(buf, want + rd[i].off, (size_t)rd[i].n) != 0)
            bad++;
    }
    for (size_t off = 0; off < len;) {
        int64_t n = dcv_xstream_pread(s, buf + off, 10000, (int64_t)off, res->err,
                                      sizeof(res->err));
        if (n <= 0) {
            res->rc = n < 0 ? (int)n : -ENODATA;
            goto out;
        }
        off += (size_t)n;
    }
    if (memcmp(buf, want, len) != 0)
        bad++;
    res->v[1] = dcv_xstream_pread(s, buf, 10, (int64_t)len, res->err, sizeof(res->err));
    res->v[0] = bad;
    res->v[2] = dcv_xstream_bytes_fetched(s);
    res->v[3] = dcv_xstream_size(s);
out:
    dcv_xstream_close(&s);
    free(want);
    free(buf);
}

static void child_avio(struct dcv_xcli *c, const struct dcv_proto_blob *b, struct cres *res)
{
    struct dcv_xstream *s = NULL;
    AVIOContext *io = NULL;
    AVFormatContext *fmt = NULL;
    int r;

    if ((res->rc = dcv_xstream_open(c, NULL, b, &s, res->err, sizeof(res->err))) < 0)
        return;
    if ((res->rc = dcv_remote_avio_open(s, 0, &io, res->err, sizeof(res->err))) < 0)
        goto out;
    if (!(fmt = avformat_alloc_context())) {
        res->rc = -ENOMEM;
        goto out;
    }
    fmt->pb = io;
    if ((r = avformat_open_input(&fmt, NULL, NULL, NULL)) < 0) {
        res->rc = r;
        snprintf(res->err, sizeof(res->err), "open_input: %s (%s)", av_err2str(r),
                 dcv_remote_avio_error(io));
        goto out;
    }
    if ((r = avformat_find_stream_info(fmt, NULL)) < 0) {
        res->rc = r;
        snprintf(res->err, sizeof(res->err), "find_stream_info: %s", av_err2str(r));
        goto out;
    }
    for (unsigned i = 0; i < fmt->nb_streams; i++)
        if (fmt->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_VIDEO)
            res->v[0]++;
    res->v[1] = fmt->duration == AV_NOPTS_VALUE ? -1 : fmt->duration / 1000;
    /* demux every packet: the reads after the index jump back to the start */
    AVPacket *pkt = av_packet_alloc();
    while (pkt && av_read_frame(fmt, pkt) >= 0) {
        res->v[4]++;
        av_packet_unref(pkt);
    }
    av_packet_free(&pkt);
    snprintf(res->sha, sizeof(res->sha), "%s", fmt->iformat->name);
    res->rc = 0;
out:
    res->v[2] = s ? dcv_xstream_bytes_fetched(s) : 0;
    res->v[3] = s ? dcv_xstream_size(s) : 0;
    avformat_close_input(&fmt);
    dcv_remote_avio_close(&io);
    dcv_xstream_close(&s);
}

static int child_main(int argc, char **argv)
{
    /* child MODE ENDPOINT RESULT_FD PATH XFER_ID SIZE SHA */
    struct cres res;
    struct dcv_net *net = NULL;
    struct dcv_xcli *c = NULL;
    char err[512];

    if (argc < 9)
        return 2;
    const char *mode = argv[2], *ep = argv[3], *path = argv[5];
    int out = atoi(argv[4]);
    struct dcv_proto_blob b = {.xfer_id = strtoll(argv[6], NULL, 10),
                               .size = strtoll(argv[7], NULL, 10)};
    if (strcmp(argv[8], "-") != 0)
        snprintf(b.sha256, sizeof(b.sha256), "%s", argv[8]);
    memset(&res, 0, sizeof(res));
    res.abort_code = -1;

    struct dcv_xcli_params p = {.chunk_max = bench_chunk(), .credit_chunks = bench_window(),
                                .stall_ms = 500,
                                .max_retries = 3, .timeout_ms = 5000, .cancel = &cancel_flag};
    if (strcmp(mode, "gone") == 0 || strcmp(mode, "unreach") == 0) {
        p.stall_ms = 200;
        p.max_retries = 2;
        p.timeout_ms = 1500;
    }
    if (dcv_net_open(getenv("DISTCONV_PLUGIN_DIR"), "zmq", NULL, &net, err, sizeof(err)) < 0 ||
        dcv_xcli_open(net, ep, &p, &c, err, sizeof(err)) < 0) {
        res.rc = -EIO;
        snprintf(res.err, sizeof(res.err), "%s", err);
        goto done;
    }
    if (strcmp(mode, "upload") == 0 || strcmp(mode, "output") == 0 ||
        strcmp(mode, "badsha") == 0 || strcmp(mode, "unreach") == 0) {
        struct dcv_proto_fence fence = {.job_id = JOBID, .attempt = 1, .session = "s1"};
        int fd = open(path, O_RDONLY);
        int output = strcmp(mode, "output") == 0;
        if (strcmp(mode, "badsha") != 0) {
            b.sha256[0] = '\0';
            b.size = -1;
        }
        res.rc = dcv_xcli_send_file(c, output ? DCV_PURPOSE_OUTPUT : DCV_PURPOSE_UPLOAD,
                                    output ? &fence : NULL, fd, &b, NULL, NULL, &res.abort_code,
                                    res.err, sizeof(res.err));
        snprintf(res.sha, sizeof(res.sha), "%s", b.sha256);
        res.v[0] = b.size;
        res.v[1] = b.xfer_id;
        close(fd);
    } else if (strcmp(mode, "download") == 0 || strcmp(mode, "cancel") == 0 ||
               strcmp(mode, "gone") == 0) {
        int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
        if (strcmp(mode, "cancel") == 0) {
            signal(SIGALRM, on_alarm);
            alarm(1);
        }
        res.rc = dcv_xcli_fetch_file(c, DCV_PURPOSE_DOWNLOAD, NULL, &b, fd, NULL, NULL,
                                     &res.abort_code, res.err, sizeof(res.err));
        close(fd);
    } else if (strcmp(mode, "stream") == 0) {
        child_stream(c, path, &b, &res);
    } else if (strcmp(mode, "avio") == 0) {
        child_avio(c, &b, &res);
    } else if (strcmp(mode, "garbage") == 0) {
        child_garbage(net, ep, (uint64_t)b.xfer_id, &res);
    } else {
        res.rc = -EINVAL;
    }
done:
    dcv_xcli_close(&c);
    dcv_net_close(&net);
    if (write(out, &res, sizeof(res)) != (ssize_t)sizeof(res))
        return 3;
    close(out);
    return 0;
}

/* ---- the server side (this process) ------------------------------------------ */

struct rec {
    int64_t id;
    int done, ok;
    char reason[512];
    int purpose;
};

struct app {
    char dir[256];
    /* files we serve: id -> path */
    int n_files;
    struct {
        int64_t id;
        char path[512];
        int64_t size;
        char sha[65];
    } files[8];
    int resume;             /* on_offer reports the temp file's length as durable */
    int refuse_fetch;       /* ABORT stale */
    int abort_job_on_progress;
    int64_t durable_given;
    int progress_calls;
    int n_recs;
    struct rec recs[32];
    struct dcv_xsrv *srv;   /* for abort_job from a callback */
};

static struct rec *rec_for(struct app *a, int64_t id, int purpose)
{
    for (int i = 0; i < a->n_recs; i++)
        if (a->recs[i].id == id && a->recs[i].purpose == purpose)
            return &a->recs[i];
    if (a->n_recs == 32)
        tap_bail("too many records");
    struct rec *r = &a->recs[a->n_recs++];
    memset(r, 0, sizeof(*r));
    r->id = id;
    r->purpose = purpose;
    return r;
}

static void rx_path(const struct app *a, int64_t id, char *buf, size_t len)
{
    snprintf(buf, len, "%s/rx-%" PRId64, a->dir, id);
}

static int app_offer(void *ud, const struct dcv_tx_peer *peer, const struct dcv_proto_xfer_open *o,
                     struct dcv_xsrv_file *f, int *code, char *msg, size_t msglen)
{
    struct app *a = ud;
    char path[512];
    (void)peer;
    rx_path(a, o->blob.xfer_id, path, sizeof(path));
    int fd = open(path, O_RDWR | O_CREAT | (a->resume ? 0 : O_TRUNC), 0600);
    if (fd < 0) {
        *code = DCV_CODE_IO;
        snprintf(msg, msglen, "open: %s", strerror(errno));
        return -errno;
    }
    struct stat sb;
    fstat(fd, &sb);
    f->fd = fd;
    f->durable = a->resume ? (sb.st_size < o->blob.size ? sb.st_size : o->blob.size) : 0;
    a->durable_given = f->durable;
    f->user = a;
    return 0;
}

static int app_fetch(void *ud, const struct dcv_tx_peer *peer, const struct dcv_proto_xfer_open *o,
                     struct dcv_xsrv_file *f, int *code, char *msg, size_t msglen)
{
    struct app *a = ud;
    (void)peer;
    if (a->refuse_fetch) {
        *code = DCV_CODE_STALE;
        snprintf(msg, msglen, "attempt 1 was superseded");
        return -ESTALE;
    }
    for (int i = 0; i < a->n_files; i++)
        if (a->files[i].id == o->blob.xfer_id) {
            f->fd = open(a->files[i].path, O_RDONLY);
            f->size = a->files[i].size;
            snprintf(f->sha256, sizeof(f->sha256), "%s", a->files[i].sha);
            return f->fd < 0 ? -errno : 0;
        }
    *code = DCV_CODE_INPUT;
    snprintf(msg, msglen, "no such file");
    return -ENOENT;
}

static void app_received(void *ud, const struct dcv_proto_xfer_open *o, void *user, int ok,
                         const char *reason)
{
    struct app *a = ud;
    struct rec *r = rec_for(a, o->blob.xfer_id, o->purpose);
    (void)user;
    r->done++;
    r->ok = ok;
    snprintf(r->reason, sizeof(r->reason), "%s", reason);
}

static void app_sent(void *ud, const struct dcv_proto_xfer_open *o, void *user, int ok,
                     const char *reason)
{
    app_received(ud, o, user, ok, reason);
}

static void app_progress(void *ud, const struct dcv_proto_xfer_open *o, void *user, int64_t done)
{
    struct app *a = ud;
    (void)user;
    (void)done;
    a->progress_calls++;
    if (a->abort_job_on_progress && o->fence.job_id[0]) {
        a->abort_job_on_progress = 0;
        dcv_xsrv_abort_job(a->srv, o->fence.job_id, DCV_CODE_STALE, "attempt superseded");
    }
}

struct srv {
    struct dcv_sock *sock;
    struct dcv_xsrv *x;
    char ep[256];
};

static char self_exe[4096];

struct kid {
    pid_t pid;
    int fd;
    int status;
    struct cres res;
};

static void spawn(struct kid *k, const char *mode, const char *ep, const char *path, int64_t id,
                  int64_t size, const char *sha)
{
    int pfd[2];
    char fdbuf[16], idbuf[32], szbuf[32];
    if (pipe(pfd) < 0)
        tap_bail("pipe: %s", strerror(errno));
    snprintf(fdbuf, sizeof(fdbuf), "%d", pfd[1]);
    snprintf(idbuf, sizeof(idbuf), "%" PRId64, id);
    snprintf(szbuf, sizeof(szbuf), "%" PRId64, size);
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        tap_bail("fork: %s", strerror(errno));
    if (pid == 0) {
        close(pfd[0]);
        char *args[] = {self_exe, (char *)"child", (char *)mode, (char *)ep, fdbuf, (char *)path,
                        idbuf, szbuf, (char *)(sha && sha[0] ? sha : "-"), NULL};
        execv(self_exe, args);
        _exit(127);
    }
    close(pfd[1]);
    k->pid = pid;
    k->fd = pfd[0];
    memset(&k->res, 0, sizeof(k->res));
    k->res.rc = -9999;
}

/* Drive the servers until every child has exited. mute: read and drop
 * everything (a coordinator that stopped answering). */
static void serve(struct srv *sv, int nsv, struct kid *kids, int nk, int mute)
{
    int left = nk;
    int64_t until = dcv_mono_ms() + 60000;
    char err[512];

    while (left > 0) {
        uint64_t now = dcv_loop_now_ms(), dl = UINT64_MAX;
        for (int i = 0; i < nsv; i++) {
            uint64_t d = dcv_xsrv_deadline(sv[i].x);
            if (d < dl)
                dl = d;
        }
        int wait = 20;
        if (dl != UINT64_MAX)
            wait = dl <= now ? 0 : (dl - now < 20 ? (int)(dl - now) : 20);
        for (int i = 0; i < nsv; i++)
            dcv_sock_wait(sv[i].sock, nsv == 1 ? wait : 0);
        if (nsv > 1 && wait)
            usleep(1000);
        for (int i = 0; i < nsv; i++) {
            struct dcv_tx_peer from;
            struct dcv_proto_msg m;
            int r;
            now = dcv_loop_now_ms();
            while ((r = dcv_sock_recv(sv[i].sock, &from, &m, err, sizeof(err))) != -EAGAIN)
                if (r == 0 && !mute)
                    dcv_xsrv_input(sv[i].x, &from, &m, now);
            dcv_xsrv_pump(sv[i].x, dcv_loop_now_ms());
        }
        for (int i = 0; i < nk; i++) {
            int st;
            if (kids[i].pid > 0 && waitpid(kids[i].pid, &st, WNOHANG) == kids[i].pid) {
                kids[i].status = st;
                if (read(kids[i].fd, &kids[i].res, sizeof(kids[i].res)) != sizeof(kids[i].res))
                    snprintf(kids[i].res.err, sizeof(kids[i].res.err), "child died (status %d)",
                             st);
                else if (st != 0) /* e.g. a sanitizer report at its exit */
                    kids[i].res.rc = -9998;
                close(kids[i].fd);
                kids[i].pid = 0;
                left--;
            }
        }
        if (dcv_mono_ms() > until) {
            for (int i = 0; i < nk; i++)
                if (kids[i].pid > 0) {
                    kill(kids[i].pid, SIGKILL);
                    waitpid(kids[i].pid, NULL, 0);
                    close(kids[i].fd);
                    kids[i].pid = 0;
                }
            tap_bail("children did not finish within 60 s");
        }
    }
    /* let the servers flush what the last messages triggered */
    for (int i = 0; i < nsv; i++)
        dcv_xsrv_pump(sv[i].x, dcv_loop_now_ms());
}

static int run1(struct srv *sv, const char *mode, const char *path, int64_t id, int64_t size,
                const char *sha, struct cres *out, int mute)
{
    struct kid k;
    spawn(&k, mode, sv->ep, path, id, size, sha);
    serve(sv, 1, &k, 1, mute);
    *out = k.res;
    if (k.status != 0)
        tap_diag("  %s: child exit status %d", mode, k.status);
    if (out->rc < 0 && out->rc != -9999)
        tap_diag("  %s: rc %d: %s", mode, out->rc, out->err);
    return out->rc;
}

static void open_srv(struct dcv_net *net, struct app *a, const char *ep, struct srv *sv)
{
    struct dcv_sock_opts o = {.plane = DCV_PLANE_DATA, .role = DCV_TX_BIND_ROUTER,
                              .endpoint = ep};
    struct dcv_xsrv_params p = {.chunk_max = bench_chunk(), .credit_chunks = bench_window(),
                                .stall_ms = 500, .max_retries = 3, .idle_ms = 2000,
                                .sync_bytes = getenv("DCV_XSRV_BENCH_MB") ? 0 : 3 * CM};
    struct dcv_xsrv_cbs cbs = {.on_offer = app_offer, .on_fetch = app_fetch,
                               .on_received = app_received, .on_sent = app_sent,
                               .on_progress = app_progress};
    char err[512];
    if (dcv_sock_open(net, &o, &sv->sock, err, sizeof(err)) < 0 ||
        dcv_sock_endpoint(sv->sock, sv->ep, sizeof(sv->ep)) < 0 ||
        dcv_xsrv_new(sv->sock, &p, &cbs, a, &sv->x, err, sizeof(err)) < 0)
        tap_bail("server on %s: %s", ep, err);
}

static void add_file(struct app *a, int64_t id, const char *path)
{
    int i = a->n_files++;
    a->files[i].id = id;
    snprintf(a->files[i].path, sizeof(a->files[i].path), "%s", path);
    sha_of(path, a->files[i].sha, &a->files[i].size);
}

static int make_mp4(const char *dir, char *path, size_t len)
{
    const char *ff = getenv("DCV_FFMPEG");
    char cmd[2048];
    if (!ff || !ff[0])
        return -1;
    snprintf(path, len, "%s/clip.mp4", dir);
    /* the mp4 muxer writes the index (moov) at the end unless +faststart */
    snprintf(cmd, sizeof(cmd),
             "'%s' -nostdin -v error -f lavfi -i testsrc=size=160x120:rate=10 -t 2 "
             "-c:v libx264 -preset ultrafast -pix_fmt yuv420p -f mp4 '%s' || "
             "'%s' -nostdin -v error -f lavfi -i testsrc=size=160x120:rate=10 -t 2 "
             "-c:v mpeg4 -f mp4 '%s'", ff, path, ff, path);
    return system(cmd) == 0 ? 0 : -1;
}

/* Where the moov box starts (0 when not found): the test wants it last. */
static int64_t moov_offset(const char *path)
{
    size_t len = 0;
    uint8_t *b = slurp(path, &len);
    int64_t off = 0, found = 0;
    while (b && off + 8 <= (int64_t)len) {
        uint64_t sz = ((uint64_t)b[off] << 24) | ((uint64_t)b[off + 1] << 16) |
                      ((uint64_t)b[off + 2] << 8) | b[off + 3];
        if (memcmp(b + off + 4, "moov", 4) == 0)
            found = off;
        if (sz < 8)
            break;
        off += (int64_t)sz;
    }
    free(b);
    return found;
}

/* Not a test: DCV_XSRV_BENCH_MB=1024 [DCV_XSRV_BENCH_CHUNK=1048576
 * DCV_XSRV_BENCH_CREDIT=8 TMPDIR=...] tests/unit/test_xsrv prints the
 * upload (sha256 pass + transfer) and download rates over loopback. */
static void bench(struct app *a, struct srv *sv, long mb)
{
    char src[512], dst[512], sha[65];
    struct cres res;
    int64_t size;

    snprintf(src, sizeof(src), "%s/bench.bin", a->dir);
    fill_random(src, (size_t)mb << 20, 99);
    int64_t t0 = dcv_mono_ms();
    sha_of(src, sha, &size);
    int64_t t_sha = dcv_mono_ms() - t0;
    t0 = dcv_mono_ms();
    int rc = run1(sv, "upload", src, 0, -1, NULL, &res, 0);
    int64_t t_up = dcv_mono_ms() - t0;
    TAP_IS_INT(rc, 0, "bench upload");
    add_file(a, 4242, src);
    snprintf(dst, sizeof(dst), "%s/bench.out", a->dir);
    t0 = dcv_mono_ms();
    rc = run1(sv, "download", dst, 4242, size, sha, &res, 0);
    int64_t t_down = dcv_mono_ms() - t0;
    TAP_IS_INT(rc, 0, "bench download");
    struct dcv_xsrv_stats st;
    dcv_xsrv_stats(sv->x, &st);
    tap_diag("%ld MiB: sha256 alone %.0f MB/s, upload %.0f MB/s (with its sha256 pass), "
             "download %.0f MB/s; server buffered_max %" PRIu64 " bytes", mb,
             size / 1e3 / (double)(t_sha ? t_sha : 1), size / 1e3 / (double)(t_up ? t_up : 1),
             size / 1e3 / (double)(t_down ? t_down : 1), st.buffered_max);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "child") == 0)
        return child_main(argc, argv);

    const char *pdir = getenv("DISTCONV_PLUGIN_DIR");
    struct dcv_net *net = NULL;
    struct app app;
    struct srv tcp, ipc;
    struct cres res;
    struct dcv_xsrv_stats st0, st;
    char err[512], path[512], dst[512], ipc_ep[600], sha[65];
    int64_t size;

    if (!pdir)
        tap_bail("DISTCONV_PLUGIN_DIR is not set (run through make check)");
    ssize_t n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
    if (n <= 0)
        tap_bail("readlink /proc/self/exe");
    self_exe[n] = '\0';
    signal(SIGPIPE, SIG_IGN);

    memset(&app, 0, sizeof(app));
    snprintf(app.dir, sizeof(app.dir), "/tmp/dcv-xsrv-XXXXXX");
    if (!mkdtemp(app.dir))
        tap_bail("mkdtemp: %s", strerror(errno));
    if (dcv_net_open(pdir, "zmq", NULL, &net, err, sizeof(err)) < 0)
        tap_bail("%s", err);
    open_srv(net, &app, "tcp://127.0.0.1:*", &tcp);
    snprintf(ipc_ep, sizeof(ipc_ep), "ipc://%s/data.sock", app.dir);
    open_srv(net, &app, ipc_ep, &ipc);
    TAP_OK(strncmp(tcp.ep, "tcp://127.0.0.1:", 16) == 0, "data ROUTER on %s", tcp.ep);
    if (getenv("DCV_XSRV_BENCH_MB")) {
        bench(&app, &tcp, atol(getenv("DCV_XSRV_BENCH_MB")));
        dcv_xsrv_free(&tcp.x);
        dcv_xsrv_free(&ipc.x);
        dcv_sock_close(&tcp.sock);
        dcv_sock_close(&ipc.sock);
        dcv_net_close(&net);
        snprintf(path, sizeof(path), "rm -rf '%s'", app.dir);
        if (system(path) != 0)
            tap_diag("could not remove %s", app.dir);
        return tap_done();
    }

    /* ---- upload: several chunks, a partial last one --------------------- */
    char src[512];
    snprintf(src, sizeof(src), "%s/src.bin", app.dir);
    size_t src_len = 7 * CM + 12345;
    fill_random(src, src_len, 42);
    sha_of(src, sha, &size);
    app.srv = tcp.x;
    dcv_xsrv_stats(tcp.x, &st0);
    TAP_IS_INT(run1(&tcp, "upload", src, 0, -1, NULL, &res, 0), 0, "upload: client done");
    TAP_IS_STR(res.sha, sha, "upload: client computed the sha256");
    TAP_OK(res.v[0] == (int64_t)src_len && res.v[1] > 0, "upload: size %" PRId64 ", id %" PRId64,
           res.v[0], res.v[1]);
    struct rec *r = rec_for(&app, res.v[1], DCV_PURPOSE_UPLOAD);
    TAP_OK(r->done == 1 && r->ok, "upload: on_received ok once (%d, %s)", r->done, r->reason);
    rx_path(&app, res.v[1], dst, sizeof(dst));
    TAP_OK(same_file(src, dst), "upload: received file identical");
    dcv_xsrv_stats(tcp.x, &st);
    TAP_IS_INT((long long)(st.bytes_in - st0.bytes_in), (long long)src_len, "upload: bytes_in");
    TAP_OK(st.active_rx == 0 && st.active_tx == 0, "upload: nothing left active");
    TAP_OK(app.progress_calls >= 8, "progress reported per chunk (%d)", app.progress_calls);

    /* ---- the same over ipc ------------------------------------------------- */
    app.srv = ipc.x;
    TAP_IS_INT(run1(&ipc, "upload", src, 0, -1, NULL, &res, 0), 0, "ipc upload: client done");
    r = rec_for(&app, res.v[1], DCV_PURPOSE_UPLOAD);
    rx_path(&app, res.v[1], dst, sizeof(dst));
    TAP_OK(r->done == 1 && r->ok && same_file(src, dst), "ipc upload: identical (%s)", r->reason);
    app.srv = tcp.x;

    /* ---- zero bytes ----------------------------------------------------------- */
    char empty[512];
    snprintf(empty, sizeof(empty), "%s/empty.bin", app.dir);
    fill_random(empty, 0, 1);
    TAP_IS_INT(run1(&tcp, "upload", empty, 0, -1, NULL, &res, 0), 0, "empty upload: client done");
    TAP_IS_STR(res.sha, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
               "empty upload: sha of nothing");
    r = rec_for(&app, res.v[1], DCV_PURPOSE_UPLOAD);
    rx_path(&app, res.v[1], dst, sizeof(dst));
    struct stat sb;
    TAP_OK(r->done == 1 && r->ok && stat(dst, &sb) == 0 && sb.st_size == 0,
           "empty upload: received, zero bytes");

    /* a zero-byte download is complete before any chunk; size unknown: one LAST chunk */
    add_file(&app, 7100, empty);
    snprintf(path, sizeof(path), "%s/down-empty.bin", app.dir);
    fill_random(path, 100, 3); /* stale bytes the download must drop */
    TAP_IS_INT(run1(&tcp, "download", path, 7100, 0,
                    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", &res, 0),
               0, "empty download: done");
    r = rec_for(&app, 7100, DCV_PURPOSE_DOWNLOAD);
    TAP_OK(stat(path, &sb) == 0 && sb.st_size == 0 && r->done == 1 && r->ok,
           "empty download: zero bytes, on_sent ok (%s)", r->reason);
    r->done = 0;
    TAP_IS_INT(run1(&tcp, "download", path, 7100, -1, NULL, &res, 0), 0,
               "empty download, size unknown: done");
    TAP_OK(stat(path, &sb) == 0 && sb.st_size == 0 && r->done == 1 && r->ok,
           "empty download, size unknown: zero bytes, on_sent ok (%s)", r->reason);

    /* ---- a wrong digest: COMMIT ok=false ------------------------------------- */
    TAP_IS_INT(run1(&tcp, "badsha", src, 5005, (int64_t)src_len,
                    "0000000000000000000000000000000000000000000000000000000000000000", &res, 0),
               -EBADMSG, "bad sha256: client gets -EBADMSG");
    TAP_HAS_STR(res.err, "mismatch", "bad sha256: reason names the mismatch");
    r = rec_for(&app, 5005, DCV_PURPOSE_UPLOAD);
    TAP_OK(r->done == 1 && !r->ok && strstr(r->reason, "mismatch"),
           "bad sha256: on_received not ok (%s)", r->reason);

    /* ---- resume: the receiver already has part of the file ---------------- */
    rx_path(&app, 6006, dst, sizeof(dst));
    {
        size_t len = 0;
        uint8_t *b = slurp(src, &len);
        int fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        size_t part = 2 * CM + 1000; /* durable 2 chunks + a bit: resume at 2 chunks */
        if (!b || fd < 0 || write(fd, b, part) != (ssize_t)part)
            tap_bail("resume setup");
        close(fd);
        free(b);
    }
    app.resume = 1;
    dcv_xsrv_stats(tcp.x, &st0);
    TAP_IS_INT(run1(&tcp, "upload", src, 6006, -1, NULL, &res, 0), 0, "resume: client done");
    app.resume = 0;
    dcv_xsrv_stats(tcp.x, &st);
    r = rec_for(&app, 6006, DCV_PURPOSE_UPLOAD);
    TAP_OK(r->done == 1 && r->ok && same_file(src, dst), "resume: file complete and identical");
    TAP_IS_INT((long long)app.durable_given, (long long)(2 * CM + 1000), "resume: durable given");
    TAP_IS_INT((long long)(st.bytes_in - st0.bytes_in), (long long)(src_len - 2 * CM),
               "resume: only the bytes after the resume point were sent");

    /* ---- download (FETCH) ------------------------------------------------------ */
    add_file(&app, 7007, src);
    snprintf(path, sizeof(path), "%s/down.bin", app.dir);
    TAP_IS_INT(run1(&tcp, "download", path, 7007, (int64_t)src_len, sha, &res, 0), 0,
               "download: client done");
    TAP_OK(same_file(src, path), "download: identical");
    r = rec_for(&app, 7007, DCV_PURPOSE_DOWNLOAD);
    TAP_OK(r->done == 1 && r->ok, "download: on_sent ok (%s)", r->reason);
    /* without size or digest known to the client */
    r->done = 0;
    TAP_IS_INT(run1(&tcp, "download", path, 7007, -1, NULL, &res, 0), 0,
               "download, size and sha unknown: done");
    TAP_OK(same_file(src, path) && r->done == 1 && r->ok, "download, size unknown: identical");
    /* a stale digest is refused by the sender */
    r->done = 0;
    TAP_IS_INT(run1(&tcp, "download", path, 7007, (int64_t)src_len,
                    "1111111111111111111111111111111111111111111111111111111111111111", &res, 0),
               -EREMOTEIO, "download with another sha256: refused");
    TAP_OK(res.abort_code == DCV_CODE_STALE, "  ABORT stale");

    /* ---- FETCH refused by the application -------------------------------- */
    app.refuse_fetch = 1;
    TAP_IS_INT(run1(&tcp, "download", path, 7007, -1, NULL, &res, 0), -EREMOTEIO,
               "refused FETCH: -EREMOTEIO");
    app.refuse_fetch = 0;
    TAP_IS_STR(res.err, "stale: attempt 1 was superseded", "refused FETCH: code and message");
    TAP_IS_INT(res.abort_code, DCV_CODE_STALE, "refused FETCH: abort code");

    /* ---- range reads ---------------------------------------------------------- */
    char big[512];
    snprintf(big, sizeof(big), "%s/big.bin", app.dir);
    size_t big_len = 20 * CM + 777;
    fill_random(big, big_len, 7);
    add_file(&app, 8008, big);
    TAP_IS_INT(run1(&tcp, "stream", big, 8008, (int64_t)big_len, NULL, &res, 0), 0,
               "stream: reads done");
    TAP_IS_INT((int)res.v[0], 0, "stream: every read matched the file");
    TAP_IS_INT((int)res.v[1], 0, "stream: read at the end gives 0");
    TAP_IS_INT((long long)res.v[3], (long long)big_len, "stream: size");
    TAP_OK(res.v[4] >= (int64_t)big_len && res.v[4] <= (int64_t)(big_len + WIN * CM),
           "stream: a sequential pass fetched %" PRId64 " bytes for %zu", res.v[4], big_len);
    TAP_OK(res.v[2] >= (int64_t)big_len && res.v[2] <= 5 * (int64_t)big_len,
           "stream: fetched %" PRId64 " bytes for a %zu-byte file", res.v[2], big_len);
    r = rec_for(&app, 8008, DCV_PURPOSE_DOWNLOAD);
    TAP_OK(r->done == 1 && r->ok && strstr(r->reason, "range read ended"),
           "stream: closing ends the range (ABORT cancelled): %s", r->reason);

    /* ---- remote AVIO: an mp4 with its index at the end ----------------------- */
    char mp4[512];
    if (make_mp4(app.dir, mp4, sizeof(mp4)) == 0) {
        int64_t mo = moov_offset(mp4);
        add_file(&app, 9009, mp4);
        int64_t mp4_size = app.files[app.n_files - 1].size;
        TAP_OK(mo > mp4_size / 2, "mp4 index at the end (moov at %" PRId64 " of %" PRId64 ")", mo,
               mp4_size);
        TAP_IS_INT(run1(&tcp, "avio", mp4, 9009, mp4_size, NULL, &res, 0), 0,
                   "avio: avformat opened the remote file");
        TAP_IS_INT((int)res.v[0], 1, "avio: one video stream");
        TAP_OK(res.v[1] >= 1800 && res.v[1] <= 2200, "avio: duration %" PRId64 " ms", res.v[1]);
        TAP_OK(res.v[4] >= 18, "avio: %" PRId64 " packets demuxed", res.v[4]);
        TAP_OK(strstr(res.sha, "mp4") != NULL, "avio: format %s", res.sha);
    } else {
        tap_skip("no ffmpeg to make an mp4", "remote avio");
    }

    /* ---- abort_job from a callback: the sender is told stale ----------------- */
    app.abort_job_on_progress = 1;
    TAP_IS_INT(run1(&tcp, "output", src, 0, -1, NULL, &res, 0), -EREMOTEIO,
               "abort_job: the sender gets ABORT");
    TAP_IS_INT(res.abort_code, DCV_CODE_STALE, "abort_job: code stale");
    r = rec_for(&app, res.v[1], DCV_PURPOSE_OUTPUT);
    TAP_OK(r->done == 1 && !r->ok, "abort_job: on_received once, not ok (%s)", r->reason);

    /* ---- protocol violations, then business as usual ------------------------ */
    TAP_IS_INT(run1(&tcp, "garbage", src, 7007, 0, NULL, &res, 0), 0, "garbage peer ran");
    TAP_IS_INT((int)res.v[0], 0x1f, "every violation answered with ABORT protocol (unknown "
               "transfer: busy)");
    TAP_HAS_STR(res.err, "not a multiple", "misaligned credit named");
    r = rec_for(&app, 7007, DCV_PURPOSE_DOWNLOAD);
    r->done = 0;
    TAP_IS_INT(run1(&tcp, "download", path, 7007, (int64_t)src_len, sha, &res, 0), 0,
               "server still works after garbage");

    /* ---- many at once over one ROUTER --------------------------------------- */
    {
        struct kid k[4];
        char d1[512], d2[512];
        snprintf(d1, sizeof(d1), "%s/c1.bin", app.dir);
        snprintf(d2, sizeof(d2), "%s/c2.bin", app.dir);
        spawn(&k[0], "upload", tcp.ep, src, 0, -1, NULL);
        spawn(&k[1], "upload", tcp.ep, big, 0, -1, NULL);
        spawn(&k[2], "download", tcp.ep, d1, 8008, (int64_t)big_len, NULL);
        spawn(&k[3], "download", tcp.ep, d2, 7007, -1, NULL);
        serve(&tcp, 1, k, 4, 0);
        int ok = 1;
        for (int i = 0; i < 4; i++)
            if (k[i].res.rc != 0) {
                ok = 0;
                tap_diag("  kid %d: %d %s", i, k[i].res.rc, k[i].res.err);
            }
        TAP_OK(ok, "four concurrent transfers succeed");
        char u1[512], u2[512];
        rx_path(&app, k[0].res.v[1], u1, sizeof(u1));
        rx_path(&app, k[1].res.v[1], u2, sizeof(u2));
        TAP_OK(same_file(src, u1) && same_file(big, u2) && same_file(big, d1) &&
                   same_file(src, d2),
               "concurrent: all four files identical");
    }

    /* ---- memory stays within the window ---------------------------------- */
    dcv_xsrv_stats(tcp.x, &st);
    TAP_OK(st.buffered_max > 0 && st.buffered_max <= (uint64_t)CM * WIN,
           "buffered_max %" PRIu64 " <= chunk_max x credit_chunks", st.buffered_max);

    /* ---- cancel and timeouts --------------------------------------------- */
    TAP_IS_INT(run1(&tcp, "cancel", path, 7007, -1, NULL, &res, 1), -ECANCELED,
               "cancel flag: -ECANCELED");
    TAP_IS_INT(run1(&tcp, "gone", path, 7007, -1, NULL, &res, 1), -ETIMEDOUT,
               "server not answering: -ETIMEDOUT");
    {
        /* nothing listens there any more */
        struct dcv_sock_opts o = {.plane = DCV_PLANE_DATA, .role = DCV_TX_BIND_ROUTER,
                                  .endpoint = "tcp://127.0.0.1:*"};
        struct dcv_sock *tmp = NULL;
        struct srv dead = tcp;
        if (dcv_sock_open(net, &o, &tmp, err, sizeof(err)) < 0 ||
            dcv_sock_endpoint(tmp, dead.ep, sizeof(dead.ep)) < 0)
            tap_bail("%s", err);
        dcv_sock_close(&tmp);
        TAP_IS_INT(run1(&dead, "unreach", src, 0, -1, NULL, &res, 0), -ETIMEDOUT,
                   "no server at all: -ETIMEDOUT");
    }
    dcv_xsrv_stats(tcp.x, &st);
    /* the muted runs left server state behind that idles out */
    TAP_OK(st.active_rx == 0, "no receive left active");

    dcv_xsrv_free(&tcp.x);
    dcv_xsrv_free(&ipc.x);
    TAP_OK(tcp.x == NULL, "free clears the handle");
    dcv_sock_close(&tcp.sock);
    dcv_sock_close(&ipc.sock);
    dcv_net_close(&net);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", app.dir);
    if (system(cmd) != 0)
        tap_diag("could not remove %s", app.dir);
    return tap_done();
}

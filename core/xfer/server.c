/*
 * The coordinator's side of the data plane: see server.h and
 * docs/protocol.md §7.
 *
 * One `struct xfer` per transfer, keyed by (peer, xfer_id, direction): the
 * same file may be FETCHed by several peers at once (one input, several
 * attempts), so the peer is part of the key. Receive transfers are written
 * straight from the transport's message buffer (pwrite at the chunk's
 * offset, no copy); send transfers pread each chunk into one per-transfer
 * buffer and hand it to the transport.
 *
 * Durability: credit is returned once a chunk is pwrite()n (the page cache
 * holds it; a crash of this process alone loses nothing). fdatasync() runs
 * every sync_bytes, before COMMIT, and when a receive transfer fails: the
 * file is then truncated to the contiguous prefix written so far and
 * synced, so after on_received(ok = 0) the file's length is exactly what a
 * later OFFER of the same file may report as `durable` (its digest is
 * re-checked anyway: the prefix is re-hashed and the whole-file sha256
 * decides COMMIT).
 *
 * Callbacks may call back into the server (abort_job, stats): transfers
 * that end are marked dead and freed only when no server function is on
 * the stack, so iteration never walks freed memory.
 */
#include "xfer/server.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errbuf.h"
#include "log.h"
#include "xfer/chunk.h"
#include "xfer/window.h"

#define COMP "xfer"
#define DIR_RX 1
#define DIR_TX 2
/* Retry interval for sends the transport refused with EAGAIN: the loop
 * only polls for input, so pump must come back on its own. */
#define RETRY_MS 2
/* Resume prefix bytes hashed per transfer per pump call, so one resume of
 * a large file does not stall the loop for seconds. */
#define PREFIX_BUDGET (16u << 20)
#define SCRATCH_LEN (1u << 20)
/* Control messages (ABORT, COMMIT) waiting for a full pipe to drain. */
#define CTL_MAX 4096
#define DEFAULT_SYNC_BYTES (64ull << 20)

struct xfer {
    struct xfer *next;
    int dir;
    int dead;
    struct dcv_tx_peer peer;
    uint64_t id;
    struct dcv_proto_xfer_open open;
    struct dcv_xsrv_file f;
    uint32_t cm;
    char tag[48]; /* "upload 12" for logs */

    /* receive */
    struct dcv_xfer_rx *rx;
    uint64_t written;  /* [0, written) pwritten */
    uint64_t synced;   /* [0, synced) fdatasync()ed */
    uint64_t resume;   /* prefix to re-hash */
    uint64_t hashed;   /* prefix hashed so far */
    int have_credit;   /* a CREDIT the transport refused, to retry */
    struct dcv_xfer_credit credit;

    /* send */
    struct dcv_xfer_tx *tx;
    int range;
    uint64_t range_end;    /* range: end (bytes) of the previous grant, UINT64_MAX none */
    uint64_t last_credit;  /* ms */
    uint8_t *buf;          /* one chunk */
    int have_chunk;        /* buf holds this chunk, not sent yet */
    struct dcv_xfer_chunk chunk;
    int64_t sent;
};

struct ctl {
    struct ctl *next;
    struct dcv_tx_peer peer;
    int cmd;
    char *json;
};

struct dcv_xsrv {
    struct dcv_sock *sock;
    struct dcv_xsrv_params p;
    struct dcv_xsrv_cbs cb;
    void *ud;
    struct xfer *xfers;
    struct ctl *ctl_head, *ctl_tail;
    unsigned n_ctl;
    uint8_t *scratch;
    uint64_t now;
    int blocked; /* a send met EAGAIN: come back soon */
    int depth;   /* server functions on the stack (reaping waits for 0) */
    uint64_t bytes_in, bytes_out;
    uint64_t buffered, buffered_max;
};

static void buffered_add(struct dcv_xsrv *s, uint64_t n)
{
    s->buffered += n;
    if (s->buffered > s->buffered_max)
        s->buffered_max = s->buffered;
}

/* ---- sending ------------------------------------------------------------- */

static void peer_gone(struct dcv_xsrv *s, const struct dcv_tx_peer *peer);

static int ctl_push(struct dcv_xsrv *s, const struct dcv_tx_peer *peer, int cmd, const char *json)
{
    if (s->n_ctl >= CTL_MAX) {
        dcv_log(DCV_LOG_WARN, COMP, "control queue full: dropping a %s",
                dcv_proto_cmd_name(DCV_PLANE_DATA, cmd));
        return -ENOBUFS;
    }
    struct ctl *c = calloc(1, sizeof(*c));
    if (!c || !(c->json = strdup(json))) {
        free(c);
        return -ENOMEM;
    }
    c->peer = *peer;
    c->cmd = cmd;
    if (s->ctl_tail)
        s->ctl_tail->next = c;
    else
        s->ctl_head = c;
    s->ctl_tail = c;
    s->n_ctl++;
    return 0;
}

static void ctl_pop(struct dcv_xsrv *s)
{
    struct ctl *c = s->ctl_head;
    s->ctl_head = c->next;
    if (!s->ctl_head)
        s->ctl_tail = NULL;
    s->n_ctl--;
    free(c->json);
    free(c);
}

/* Send a JSON message now, or queue it behind a full pipe. A gone peer
 * ends its transfers. */
static void send_json(struct dcv_xsrv *s, const struct dcv_tx_peer *peer, int cmd, const char *json)
{
    char err[256];
    int r;

    if (s->ctl_head) { /* keep order behind what is already waiting */
        ctl_push(s, peer, cmd, json);
        return;
    }
    r = dcv_sock_send_json(s->sock, peer, cmd, json, err, sizeof(err));
    if (r == -EAGAIN) {
        s->blocked = 1;
        ctl_push(s, peer, cmd, json);
    } else if (r == -EHOSTUNREACH) {
        peer_gone(s, peer);
    } else if (r < 0) {
        dcv_log(DCV_LOG_WARN, COMP, "%s", err);
    }
}

static void ctl_flush(struct dcv_xsrv *s)
{
    char err[256];
    while (s->ctl_head) {
        struct ctl *c = s->ctl_head;
        int r = dcv_sock_send_json(s->sock, &c->peer, c->cmd, c->json, err, sizeof(err));
        if (r == -EAGAIN) {
            s->blocked = 1;
            return;
        }
        struct dcv_tx_peer peer = c->peer;
        ctl_pop(s);
        if (r == -EHOSTUNREACH)
            peer_gone(s, &peer);
        else if (r < 0)
            dcv_log(DCV_LOG_WARN, COMP, "%s", err);
    }
}

/* ABORT text: 1..1023 bytes of printable UTF-8 (proto rules); reasons may
 * carry file names or errno texts, so clean them rather than lose them. */
static void clean_text(char *dst, size_t cap, const char *src)
{
    size_t n = 0;
    for (; src && *src && n + 1 < cap; src++) {
        unsigned char ch = (unsigned char)*src;
        dst[n++] = ch < 0x20 || ch == 0x7f ? ' ' : (char)ch;
    }
    /* never end inside a multi-byte sequence */
    while (n > 0 && ((unsigned char)dst[n - 1] & 0x80)) {
        size_t k = n - 1;
        while (k > 0 && ((unsigned char)dst[k] & 0xC0) == 0x80)
            k--;
        unsigned char lead = (unsigned char)dst[k];
        size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
        if (n - k == need)
            break;
        n = k;
    }
    dst[n] = '\0';
    if (n == 0)
        snprintf(dst, cap, "aborted");
}

static void send_abort(struct dcv_xsrv *s, const struct dcv_tx_peer *peer, uint64_t id, int code,
                       const char *fmt, ...) DCV_PRINTF(5, 6);
static void send_abort(struct dcv_xsrv *s, const struct dcv_tx_peer *peer, uint64_t id, int code,
                       const char *fmt, ...)
{
    struct dcv_proto_abort a;
    char raw[DCV_PROTO_TEXT], err[256], *json = NULL;
    va_list ap;

    if (id < 1 || id > (uint64_t)DCV_PROTO_MAX_SIZE)
        return; /* nothing to address it to */
    memset(&a, 0, sizeof(a));
    a.xfer_id = (int64_t)id;
    a.code = code >= 0 && code < DCV_CODE_COUNT ? code : DCV_CODE_INTERNAL;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof(raw), fmt, ap);
    va_end(ap);
    clean_text(a.message, sizeof(a.message), raw);
    if (dcv_proto_abort_to_json(&a, &json, NULL, err, sizeof(err)) < 0) {
        snprintf(a.message, sizeof(a.message), "aborted");
        if (dcv_proto_abort_to_json(&a, &json, NULL, err, sizeof(err)) < 0) {
            dcv_log(DCV_LOG_ERROR, COMP, "cannot build ABORT: %s", err);
            return;
        }
    }
    send_json(s, peer, DCV_CMD_ABORT, json);
    free(json);
}

/* ---- transfer life ------------------------------------------------------- */

static void xfer_free(struct dcv_xsrv *s, struct xfer *x)
{
    if (x->f.fd >= 0)
        close(x->f.fd);
    if (x->have_chunk)
        s->buffered -= x->chunk.len;
    dcv_xfer_rx_free(&x->rx);
    dcv_xfer_tx_free(&x->tx);
    free(x->buf);
    free(x);
}

/* Free transfers that ended, once no caller is iterating. */
static void reap(struct dcv_xsrv *s)
{
    if (s->depth > 0)
        return;
    struct xfer **pp = &s->xfers;
    while (*pp) {
        struct xfer *x = *pp;
        if (x->dead) {
            *pp = x->next;
            xfer_free(s, x);
        } else {
            pp = &x->next;
        }
    }
}

/* A receive file that did not complete: keep exactly the contiguous
 * prefix, durably, for a resume. */
static void rx_keep_prefix(struct xfer *x)
{
    if (x->f.fd < 0 || !x->rx)
        return; /* never started: the file is as the application gave it */
    if (ftruncate(x->f.fd, (off_t)x->written) < 0 || fdatasync(x->f.fd) < 0)
        dcv_log(DCV_LOG_WARN, COMP, "%s: keeping %" PRIu64 " bytes for a resume: %s", x->tag,
                x->written, strerror(errno));
}

/* End a transfer: exactly one callback, fd closed first. */
static void finish(struct dcv_xsrv *s, struct xfer *x, int ok, const char *reason)
{
    if (x->dead)
        return;
    x->dead = 1;
    if (x->dir == DIR_RX && !ok)
        rx_keep_prefix(x);
    if (x->f.fd >= 0) {
        close(x->f.fd);
        x->f.fd = -1;
    }
    if (x->have_chunk) {
        s->buffered -= x->chunk.len;
        x->have_chunk = 0;
    }
    dcv_log(ok ? DCV_LOG_DEBUG : DCV_LOG_INFO, COMP, "%s: %s%s%s", x->tag, ok ? "done" : "failed",
            reason && reason[0] ? ": " : "", reason ? reason : "");
    s->depth++;
    if (x->dir == DIR_RX)
        s->cb.on_received(s->ud, &x->open, x->f.user, ok, reason ? reason : "");
    else if (s->cb.on_sent)
        s->cb.on_sent(s->ud, &x->open, x->f.user, ok, reason ? reason : "");
    s->depth--;
}

/* Tell the peer and end it. */
static void abort_xfer(struct dcv_xsrv *s, struct xfer *x, int code, const char *reason)
{
    if (x->dead)
        return;
    send_abort(s, &x->peer, x->id, code, "%s", reason);
    finish(s, x, 0, reason);
}

static void peer_gone(struct dcv_xsrv *s, const struct dcv_tx_peer *peer)
{
    char hex[32];
    dcv_peer_hex(peer, hex, sizeof(hex));
    for (struct xfer *x = s->xfers; x; x = x->next)
        if (!x->dead && dcv_peer_equal(&x->peer, peer))
            finish(s, x, 0, "peer gone");
    /* queued messages for it can never be delivered */
    struct ctl **pp = &s->ctl_head;
    s->ctl_tail = NULL;
    while (*pp) {
        struct ctl *c = *pp;
        if (dcv_peer_equal(&c->peer, peer)) {
            *pp = c->next;
            s->n_ctl--;
            free(c->json);
            free(c);
        } else {
            s->ctl_tail = c;
            pp = &c->next;
        }
    }
    dcv_log(DCV_LOG_DEBUG, COMP, "peer %s gone", hex);
}

static struct xfer *find(struct dcv_xsrv *s, const struct dcv_tx_peer *peer, uint64_t id, int dir)
{
    for (struct xfer *x = s->xfers; x; x = x->next)
        if (!x->dead && x->id == id && x->dir == dir && (!peer || dcv_peer_equal(&x->peer, peer)))
            return x;
    return NULL;
}

static struct xfer *xfer_new(struct dcv_xsrv *s, const struct dcv_tx_peer *peer, int dir,
                             const struct dcv_proto_xfer_open *o)
{
    static const char *const purpose[] = {"upload", "input", "output", "download"};
    struct xfer *x = calloc(1, sizeof(*x));
    if (!x)
        return NULL;
    x->dir = dir;
    x->peer = *peer;
    x->id = (uint64_t)o->blob.xfer_id;
    x->open = *o;
    x->f.fd = -1;
    x->range_end = UINT64_MAX;
    x->last_credit = s->now;
    snprintf(x->tag, sizeof(x->tag), "%s%s %" PRIu64,
             o->purpose >= 0 && o->purpose < 4 ? purpose[o->purpose] : "?",
             o->range ? " range" : "", x->id);
    return x;
}

static void xfer_link(struct dcv_xsrv *s, struct xfer *x)
{
    x->next = s->xfers;
    s->xfers = x;
}

/* A new transfer the application must agree to (on_offer / on_fetch hand
 * over its file). NULL when refused or out of memory: the peer has been
 * sent ABORT with the application's code and reason. cm: chunk size of a
 * receive, 0 for a send. */
static struct xfer *xfer_open_app(struct dcv_xsrv *s, const struct dcv_tx_peer *peer, int dir,
                                  const struct dcv_proto_xfer_open *o, uint32_t cm,
                                  int (*ask)(void *ud, const struct dcv_tx_peer *peer,
                                             const struct dcv_proto_xfer_open *o,
                                             struct dcv_xsrv_file *f, int *code, char *msg,
                                             size_t msglen))
{
    uint64_t id = (uint64_t)o->blob.xfer_id;
    char msg[DCV_PROTO_TEXT] = "";
    int code = DCV_CODE_INTERNAL, r;
    struct xfer *x = xfer_new(s, peer, dir, o);

    if (!x) {
        send_abort(s, peer, id, DCV_CODE_INTERNAL, "out of memory");
        return NULL;
    }
    x->cm = cm;
    r = ask(s->ud, peer, o, &x->f, &code, msg, sizeof(msg));
    if (r < 0) {
        if (x->f.fd >= 0)
            close(x->f.fd);
        free(x);
        send_abort(s, peer, id, code, "%s", msg[0] ? msg : strerror(-r));
        return NULL;
    }
    xfer_link(s, x);
    return x;
}

/* ---- receiving (OFFER) --------------------------------------------------- */

static void rx_flush_credit(struct dcv_xsrv *s, struct xfer *x)
{
    struct dcv_xfer_credit c;
    uint8_t buf[DCV_XFER_CREDIT_LEN];
    char err[256];

    while (dcv_xfer_rx_next_credit(x->rx, s->now, &c)) {
        if (x->have_credit && c.offset == x->credit.offset + (uint64_t)x->credit.chunks * x->cm &&
            x->credit.chunks + (uint64_t)c.chunks <= DCV_XFER_WINDOW_LIMIT) {
            x->credit.chunks += c.chunks; /* an extension of the grant still waiting */
        } else {
            x->credit = c; /* a reset supersedes whatever waited */
            x->have_credit = 1;
        }
    }
    if (!x->have_credit)
        return;
    if (dcv_xfer_credit_encode(&x->credit, buf, sizeof(buf), err, sizeof(err)) < 0) {
        abort_xfer(s, x, DCV_CODE_INTERNAL, err);
        return;
    }
    int r = dcv_sock_send(s->sock, &x->peer, DCV_CMD_CREDIT, buf, sizeof(buf), NULL, 0, err,
                          sizeof(err));
    if (r == 0) {
        x->have_credit = 0;
    } else if (r == -EAGAIN) {
        s->blocked = 1;
    } else if (r == -EHOSTUNREACH) {
        peer_gone(s, &x->peer);
    } else {
        abort_xfer(s, x, DCV_CODE_INTERNAL, err);
    }
}

/* The receiver reached a verdict (COMMITTED or MISMATCH): COMMIT, callback. */
static void rx_conclude(struct dcv_xsrv *s, struct xfer *x)
{
    enum dcv_xfer_state st = dcv_xfer_rx_state(x->rx);
    struct dcv_xfer_rx_info info;
    struct dcv_proto_commit c;
    char err[256], *json = NULL;
    struct stat sb;

    if (st == DCV_XFER_RUNNING || st == DCV_XFER_WAIT_SHA)
        return;
    if (st == DCV_XFER_ABORTED) {
        abort_xfer(s, x, DCV_CODE_TRANSFER, dcv_xfer_rx_reason(x->rx));
        return;
    }
    dcv_xfer_rx_info(x->rx, &info);
    /* COMMIT promises durability: sync what is not yet, and drop bytes a
     * longer earlier attempt may have left past the end */
    if (fstat(x->f.fd, &sb) == 0 && (uint64_t)sb.st_size > info.size &&
        ftruncate(x->f.fd, (off_t)info.size) < 0) {
        snprintf(err, sizeof(err), "truncate to %" PRIu64 ": %s", info.size, strerror(errno));
        abort_xfer(s, x, DCV_CODE_IO, err);
        return;
    }
    if (x->synced < info.size || x->synced == 0) {
        if (fdatasync(x->f.fd) < 0) {
            snprintf(err, sizeof(err), "fdatasync: %s", strerror(errno));
            abort_xfer(s, x, errno == ENOSPC ? DCV_CODE_NOSPACE : DCV_CODE_IO, err);
            return;
        }
        x->synced = info.size;
    }
    memset(&c, 0, sizeof(c));
    c.xfer_id = (int64_t)x->id;
    c.ok = st == DCV_XFER_COMMITTED;
    c.size = (int64_t)info.size;
    dcv_sha256_hex(info.digest, c.sha256);
    if (dcv_proto_commit_to_json(&c, &json, NULL, err, sizeof(err)) < 0) {
        abort_xfer(s, x, DCV_CODE_INTERNAL, err);
        return;
    }
    send_json(s, &x->peer, DCV_CMD_COMMIT, json);
    free(json);
    finish(s, x, c.ok, c.ok ? "" : dcv_xfer_rx_reason(x->rx));
}

/* Re-hash the resume prefix a little at a time. */
static void rx_prefix(struct dcv_xsrv *s, struct xfer *x)
{
    char err[256];
    uint64_t budget = PREFIX_BUDGET;
    while (x->hashed < x->resume && budget > 0) {
        size_t n = SCRATCH_LEN;
        if (n > x->resume - x->hashed)
            n = (size_t)(x->resume - x->hashed);
        ssize_t got = pread(x->f.fd, s->scratch, n, (off_t)x->hashed);
        if (got <= 0) {
            snprintf(err, sizeof(err), "re-reading the first %" PRIu64 " bytes for a resume: %s "
                     "(the fd must be open for reading and writing)", x->resume,
                     got == 0 ? "file shorter than reported" : strerror(errno));
            abort_xfer(s, x, DCV_CODE_IO, err);
            return;
        }
        if (dcv_xfer_rx_prefix(x->rx, s->scratch, (size_t)got, err, sizeof(err)) < 0) {
            abort_xfer(s, x, DCV_CODE_INTERNAL, err);
            return;
        }
        x->hashed += (uint64_t)got;
        budget = budget > (uint64_t)got ? budget - (uint64_t)got : 0;
    }
    if (x->hashed == x->resume) {
        rx_conclude(s, x);
        if (!x->dead)
            rx_flush_credit(s, x);
    }
}

/* OFFER's chunk size may differ from ours: keep the bytes in flight (the
 * transport's queue holds up to a window of chunks) within our budget. */
static uint32_t window_for(const struct dcv_xsrv *s, uint32_t cm)
{
    uint64_t budget = (uint64_t)s->p.chunk_max * s->p.credit_chunks;
    uint64_t w = budget / cm;
    if (w < 1)
        w = 1;
    if (w > DCV_XFER_WINDOW_LIMIT)
        w = DCV_XFER_WINDOW_LIMIT;
    return (uint32_t)w;
}

static void on_offer(struct dcv_xsrv *s, const struct dcv_tx_peer *peer,
                     const struct dcv_proto_xfer_open *o)
{
    uint64_t id = (uint64_t)o->blob.xfer_id;
    char err[256];
    uint8_t sha[DCV_SHA256_LEN];

    if (o->purpose != DCV_PURPOSE_UPLOAD && o->purpose != DCV_PURPOSE_OUTPUT) {
        send_abort(s, peer, id, DCV_CODE_PROTOCOL, "OFFER with purpose %s: only upload and output "
                   "are offered to the coordinator", o->purpose == DCV_PURPOSE_INPUT ? "input"
                                                                                     : "download");
        return;
    }
    struct xfer *old = find(s, NULL, id, DIR_RX);
    if (old) {
        if (old->open.purpose != o->purpose || old->open.blob.size != o->blob.size ||
            strcmp(old->open.blob.sha256, o->blob.sha256) != 0) {
            send_abort(s, peer, id, DCV_CODE_PROTOCOL, "xfer_id %" PRIu64 " already in use", id);
            return;
        }
        /* the same file again: the sender retried or reconnected. The old
         * state goes (its prefix is kept), the new one resumes from it. */
        finish(s, old, 0, "superseded by a new OFFER of the same file");
    }
    if (dcv_sha256_parse_hex(o->blob.sha256, sha, err, sizeof(err)) < 0) {
        send_abort(s, peer, id, DCV_CODE_PROTOCOL, "OFFER sha256: %s", err);
        return;
    }

    struct xfer *x = xfer_open_app(s, peer, DIR_RX, o, (uint32_t)o->chunk_max, s->cb.on_offer);
    if (!x)
        return;
    if (x->f.fd < 0 || x->f.durable < 0 || x->f.durable > o->blob.size) {
        abort_xfer(s, x, DCV_CODE_INTERNAL, "receiver: bad file from the application");
        return;
    }
    struct dcv_xfer_rx_params rp = {
        .xfer_id = id,
        .size = (uint64_t)o->blob.size,
        .chunk_max = x->cm,
        .window = window_for(s, x->cm),
        .durable_offset = (uint64_t)x->f.durable,
        .sha256 = sha,
        .stall_ms = s->p.stall_ms ? s->p.stall_ms : 6000,
        .max_retries = s->p.max_retries ? s->p.max_retries : 3,
    };
    if (dcv_xfer_rx_new(&rp, s->now, &x->rx, err, sizeof(err)) < 0) {
        abort_xfer(s, x, DCV_CODE_INTERNAL, err);
        return;
    }
    struct dcv_xfer_rx_info info;
    dcv_xfer_rx_info(x->rx, &info);
    x->resume = x->written = x->synced = info.resume_offset;
    dcv_log(DCV_LOG_DEBUG, COMP, "%s: receiving %" PRId64 " bytes, resuming at %" PRIu64, x->tag,
            o->blob.size, x->resume);
    rx_prefix(s, x); /* also the first CREDIT, or the COMMIT of what is all there */
}

static uint64_t read_id(const void *body, size_t len)
{
    uint64_t id = 0;
    if (len < 8)
        return 0;
    for (int i = 7; i >= 0; i--)
        id = (id << 8) | ((const uint8_t *)body)[i];
    return id;
}

static void on_chunk(struct dcv_xsrv *s, const struct dcv_tx_peer *peer,
                     const struct dcv_proto_msg *m)
{
    struct dcv_xfer_chunk c;
    struct dcv_xfer_write w;
    char err[256];

    if (dcv_xfer_chunk_decode(m->body, m->body_len, DCV_XFER_CHUNK_MAX_LIMIT, &c, err,
                              sizeof(err)) < 0) {
        send_abort(s, peer, read_id(m->body, m->body_len), DCV_CODE_PROTOCOL, "%s", err);
        return;
    }
    struct xfer *x = find(s, peer, c.xfer_id, DIR_RX);
    if (!x) {
        /* ended, or we restarted: "busy" makes the peer open it again */
        send_abort(s, peer, c.xfer_id, DCV_CODE_BUSY, "CHUNK for unknown transfer %" PRIu64
                   ": open it again", c.xfer_id);
        return;
    }
    int r = dcv_xfer_rx_chunk(x->rx, &c, m->payload, m->payload_len, s->now, &w, err, sizeof(err));
    if (r == -EPROTO) {
        abort_xfer(s, x, DCV_CODE_PROTOCOL, err);
        return;
    }
    if (r < 0) { /* duplicate, gap, crc: the stall timer recovers */
        dcv_log(DCV_LOG_DEBUG, COMP, "%s: chunk dropped: %s", x->tag, err);
        return;
    }
    buffered_add(s, w.len);
    size_t done = 0;
    while (done < w.len) {
        ssize_t n = pwrite(x->f.fd, w.data + done, w.len - done, (off_t)(w.offset + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = n < 0 ? errno : EIO;
            s->buffered -= w.len;
            snprintf(err, sizeof(err), "write at %" PRIu64 ": %s", w.offset + done, strerror(e));
            abort_xfer(s, x, e == ENOSPC || e == EDQUOT ? DCV_CODE_NOSPACE : DCV_CODE_IO, err);
            return;
        }
        done += (size_t)n;
    }
    s->buffered -= w.len;
    x->written = w.offset + w.len;
    s->bytes_in += w.len;
    uint64_t sync_bytes = s->p.sync_bytes ? s->p.sync_bytes : DEFAULT_SYNC_BYTES;
    if (x->written - x->synced >= sync_bytes) {
        if (fdatasync(x->f.fd) < 0) {
            int e = errno;
            snprintf(err, sizeof(err), "fdatasync: %s", strerror(e));
            abort_xfer(s, x, e == ENOSPC ? DCV_CODE_NOSPACE : DCV_CODE_IO, err);
            return;
        }
        x->synced = x->written;
    }
    if (dcv_xfer_rx_durable(x->rx, x->written, err, sizeof(err)) < 0) {
        abort_xfer(s, x, DCV_CODE_INTERNAL, err);
        return;
    }
    if (s->cb.on_progress) {
        s->depth++;
        s->cb.on_progress(s->ud, &x->open, x->f.user, (int64_t)x->written);
        s->depth--;
        if (x->dead)
            return;
    }
    rx_conclude(s, x);
    if (!x->dead)
        rx_flush_credit(s, x);
}

/* ---- sending (FETCH) ----------------------------------------------------- */

static void tx_send(struct dcv_xsrv *s, struct xfer *x)
{
    uint8_t hdr[DCV_XFER_CHUNK_HDR_LEN];
    char err[256];

    for (;;) {
        if (!x->have_chunk) {
            struct dcv_xfer_chunk c;
            if (!dcv_xfer_tx_next(x->tx, &c))
                return;
            if (!x->buf && !(x->buf = malloc(x->cm ? x->cm : 1))) {
                abort_xfer(s, x, DCV_CODE_INTERNAL, "out of memory");
                return;
            }
            size_t done = 0;
            while (done < c.len) {
                ssize_t n = pread(x->f.fd, x->buf + done, c.len - done, (off_t)(c.offset + done));
                if (n < 0 && errno == EINTR)
                    continue;
                if (n <= 0) {
                    snprintf(err, sizeof(err), "read at %" PRIu64 ": %s", c.offset + done,
                             n < 0 ? strerror(errno) : "file shorter than its size");
                    abort_xfer(s, x, DCV_CODE_IO, err);
                    return;
                }
                done += (size_t)n;
            }
            c.crc32c = dcv_crc32c(0, x->buf, c.len);
            x->chunk = c;
            x->have_chunk = 1;
            buffered_add(s, c.len);
        }
        if (dcv_xfer_chunk_encode(&x->chunk, hdr, sizeof(hdr), err, sizeof(err)) < 0) {
            abort_xfer(s, x, DCV_CODE_INTERNAL, err);
            return;
        }
        int r = dcv_sock_send(s->sock, &x->peer, DCV_CMD_CHUNK, hdr, sizeof(hdr), x->buf,
                              x->chunk.len, err, sizeof(err));
        if (r == -EAGAIN) {
            s->blocked = 1;
            return;
        }
        if (r == -EHOSTUNREACH) {
            peer_gone(s, &x->peer);
            return;
        }
        if (r < 0) {
            abort_xfer(s, x, DCV_CODE_INTERNAL, err);
            return;
        }
        x->have_chunk = 0;
        s->buffered -= x->chunk.len;
        s->bytes_out += x->chunk.len;
        x->sent += x->chunk.len;
        if (s->cb.on_progress) {
            s->depth++;
            s->cb.on_progress(s->ud, &x->open, x->f.user, x->sent);
            s->depth--;
            if (x->dead)
                return;
        }
    }
}

static void on_fetch(struct dcv_xsrv *s, const struct dcv_tx_peer *peer,
                     const struct dcv_proto_xfer_open *o)
{
    uint64_t id = (uint64_t)o->blob.xfer_id;
    char err[256];

    if (o->purpose != DCV_PURPOSE_INPUT && o->purpose != DCV_PURPOSE_DOWNLOAD) {
        send_abort(s, peer, id, DCV_CODE_PROTOCOL, "FETCH with purpose %s: only input and "
                   "download are fetched from the coordinator",
                   o->purpose == DCV_PURPOSE_UPLOAD ? "upload" : "output");
        return;
    }
    /* the same peer asking again (a retry after a stall, or a range reader
     * coming back after a pause) replaces its old state */
    struct xfer *old = find(s, peer, id, DIR_TX);
    if (old)
        finish(s, old, 0, "superseded by a new FETCH");

    struct xfer *x = xfer_open_app(s, peer, DIR_TX, o, 0, s->cb.on_fetch);
    if (!x)
        return;
    if (x->f.fd < 0 || x->f.size < 0 || x->f.size > DCV_PROTO_MAX_SIZE) {
        abort_xfer(s, x, DCV_CODE_INTERNAL, "sender: bad file from the application");
        return;
    }
    if (o->blob.size >= 0 && o->blob.size != x->f.size) {
        snprintf(err, sizeof(err), "size %" PRId64 " asked, the file has %" PRId64, o->blob.size,
                 x->f.size);
        abort_xfer(s, x, DCV_CODE_STALE, err);
        return;
    }
    if (o->blob.sha256[0] && x->f.sha256[0] && strcmp(o->blob.sha256, x->f.sha256) != 0) {
        abort_xfer(s, x, DCV_CODE_STALE, "sha256 asked differs from the file's");
        return;
    }
    /* The receiver's chunk size when it names one (it has to: its credit
     * offsets count in it); ours otherwise. */
    x->cm = o->chunk_max > 0 ? (uint32_t)o->chunk_max : s->p.chunk_max;
    x->range = o->range;
    if (dcv_xfer_tx_new(id, (uint64_t)x->f.size, x->cm, &x->tx, err, sizeof(err)) < 0) {
        abort_xfer(s, x, DCV_CODE_INTERNAL, err);
        return;
    }
    dcv_log(DCV_LOG_DEBUG, COMP, "%s: sending %" PRId64 " bytes in chunks of %" PRIu32, x->tag,
            x->f.size, x->cm);
}

static void on_credit(struct dcv_xsrv *s, const struct dcv_tx_peer *peer,
                      const struct dcv_proto_msg *m)
{
    struct dcv_xfer_credit c;
    char err[256];

    if (dcv_xfer_credit_decode(m->body, m->body_len, &c, err, sizeof(err)) < 0) {
        uint64_t id = read_id(m->body, m->body_len);
        struct xfer *x = find(s, peer, id, DIR_TX);
        if (x)
            abort_xfer(s, x, DCV_CODE_PROTOCOL, err);
        else
            send_abort(s, peer, id, DCV_CODE_PROTOCOL, "%s", err);
        return;
    }
    struct xfer *x = find(s, peer, c.xfer_id, DIR_TX);
    if (!x) {
        /* ended, or we restarted: "busy" makes the peer open it again */
        send_abort(s, peer, c.xfer_id, DCV_CODE_BUSY, "CREDIT for unknown transfer %" PRIu64
                   ": open it again", c.xfer_id);
        return;
    }
    x->last_credit = s->now;
    if (x->range && x->range_end != UINT64_MAX && c.offset != x->range_end &&
        dcv_xfer_tx_state(x->tx) == DCV_XFER_RUNNING) {
        /* a random-access reader jumped: start over there (a fresh sender
         * takes its first grant as the start, wherever it is) */
        dcv_xfer_tx_free(&x->tx);
        if (dcv_xfer_tx_new(x->id, (uint64_t)x->f.size, x->cm, &x->tx, err, sizeof(err)) < 0) {
            abort_xfer(s, x, DCV_CODE_INTERNAL, err);
            return;
        }
        if (x->have_chunk) {
            x->have_chunk = 0;
            s->buffered -= x->chunk.len;
        }
    }
    if (x->open.blob.size < 0 && !x->range && c.offset % x->cm == 0 &&
        c.offset >= (uint64_t)x->f.size && c.offset > 0) {
        /* a FETCH without a size cannot know where the file ends: grants
         * past the LAST chunk are harmless, not a violation */
        return;
    }
    int r = dcv_xfer_tx_credit(x->tx, &c, err, sizeof(err));
    if (r == -EPROTO) {
        abort_xfer(s, x, DCV_CODE_PROTOCOL, err);
        return;
    }
    if (r < 0)
        return; /* finished already: a late grant */
    if (x->range)
        x->range_end = c.offset + (uint64_t)c.chunks * x->cm;
    if (x->have_chunk) {
        struct dcv_xfer_tx_info ti;
        dcv_xfer_tx_info(x->tx, &ti);
        if (ti.next_offset <= x->chunk.offset) { /* a reset: it will be read again */
            x->have_chunk = 0;
            s->buffered -= x->chunk.len;
        }
    }
    tx_send(s, x);
}

static void on_commit(struct dcv_xsrv *s, const struct dcv_tx_peer *peer,
                      const struct dcv_proto_msg *m)
{
    struct dcv_proto_commit c;
    char err[256], why[256];

    if (dcv_proto_commit_from_json(m->body, m->body_len, &c, err, sizeof(err)) < 0) {
        dcv_log(DCV_LOG_INFO, COMP, "bad COMMIT dropped: %s", err);
        return;
    }
    struct xfer *x = find(s, peer, (uint64_t)c.xfer_id, DIR_TX);
    if (!x)
        return; /* answering a late COMMIT would only add noise */
    int ok = c.ok;
    why[0] = '\0';
    if (!ok)
        snprintf(why, sizeof(why), "receiver reported a sha256 mismatch (it has %s)", c.sha256);
    else if (x->f.sha256[0] && strcmp(x->f.sha256, c.sha256) != 0) {
        ok = 0;
        snprintf(why, sizeof(why), "receiver committed sha256 %s, the file has %s", c.sha256,
                 x->f.sha256);
    } else if (c.size != x->f.size) {
        ok = 0;
        snprintf(why, sizeof(why), "receiver committed %" PRId64 " bytes, the file has %" PRId64,
                 c.size, x->f.size);
    }
    dcv_xfer_tx_commit(x->tx, ok, err, sizeof(err));
    finish(s, x, ok, why);
}

static void on_abort(struct dcv_xsrv *s, const struct dcv_tx_peer *peer,
                     const struct dcv_proto_msg *m)
{
    struct dcv_proto_abort a;
    char err[256], why[DCV_PROTO_TEXT + 64];

    if (dcv_proto_abort_from_json(m->body, m->body_len, &a, err, sizeof(err)) < 0) {
        dcv_log(DCV_LOG_INFO, COMP, "bad ABORT dropped: %s", err);
        return;
    }
    struct xfer *x = find(s, peer, (uint64_t)a.xfer_id, DIR_RX);
    if (!x)
        x = find(s, peer, (uint64_t)a.xfer_id, DIR_TX);
    if (!x)
        return; /* never answer an ABORT with an ABORT */
    if (x->dir == DIR_TX && x->range && a.code == DCV_CODE_CANCELLED) {
        finish(s, x, 1, "range read ended by the reader");
        return;
    }
    snprintf(why, sizeof(why), "peer aborted: %s: %s", dcv_proto_code_name(a.code), a.message);
    finish(s, x, 0, why);
}

/* A JSON body we could not parse: answer its xfer_id if we can find one. */
static uint64_t guess_id(const void *body, size_t len)
{
    static const char key[] = "\"xfer_id\"";
    const char *b = body;
    for (size_t i = 0; i + sizeof(key) - 1 < len; i++) {
        if (memcmp(b + i, key, sizeof(key) - 1) != 0)
            continue;
        size_t k = i + sizeof(key) - 1;
        while (k < len && (b[k] == ' ' || b[k] == ':'))
            k++;
        uint64_t v = 0;
        int digits = 0;
        while (k < len && b[k] >= '0' && b[k] <= '9' && digits < 17) {
            v = v * 10 + (uint64_t)(b[k++] - '0');
            digits++;
        }
        return digits ? v : 0;
    }
    return 0;
}

/* ---- public -------------------------------------------------------------- */

int dcv_xsrv_new(struct dcv_sock *data_sock, const struct dcv_xsrv_params *p,
                 const struct dcv_xsrv_cbs *cbs, void *ud, struct dcv_xsrv **out, char *err,
                 size_t errlen)
{
    if (!out)
        return dcv_err(err, errlen, -EINVAL, "data server: missing output");
    *out = NULL;
    if (!data_sock || !p || !cbs || !cbs->on_offer || !cbs->on_fetch || !cbs->on_received)
        return dcv_err(err, errlen, -EINVAL, "data server: socket, parameters and the offer, "
                       "fetch and received callbacks are required");
    if (p->chunk_max < 4096 || p->chunk_max % 4096 || p->chunk_max > DCV_XFER_CHUNK_MAX_LIMIT)
        return dcv_err(err, errlen, -EINVAL, "data server: chunk_max %" PRIu32
                       " must be a multiple of 4096 in 4096..%u", p->chunk_max,
                       DCV_XFER_CHUNK_MAX_LIMIT);
    if (p->credit_chunks < 1 || p->credit_chunks > DCV_XFER_WINDOW_LIMIT)
        return dcv_err(err, errlen, -EINVAL, "data server: credit_chunks %" PRIu32
                       " out of range 1..%u", p->credit_chunks, DCV_XFER_WINDOW_LIMIT);
    struct dcv_xsrv *s = calloc(1, sizeof(*s));
    if (!s || !(s->scratch = malloc(SCRATCH_LEN))) {
        free(s);
        return dcv_err(err, errlen, -ENOMEM, "data server: out of memory");
    }
    s->sock = data_sock;
    s->p = *p;
    if (!s->p.idle_ms)
        s->p.idle_ms = (s->p.stall_ms ? s->p.stall_ms : 6000) * 2;
    s->cb = *cbs;
    s->ud = ud;
    *out = s;
    return 0;
}

void dcv_xsrv_free(struct dcv_xsrv **sp)
{
    struct dcv_xsrv *s = sp ? *sp : NULL;
    if (!s)
        return;
    while (s->xfers) {
        struct xfer *x = s->xfers;
        s->xfers = x->next;
        xfer_free(s, x);
    }
    while (s->ctl_head)
        ctl_pop(s);
    free(s->scratch);
    free(s);
    *sp = NULL;
}

void dcv_xsrv_input(struct dcv_xsrv *s, const struct dcv_tx_peer *from,
                    const struct dcv_proto_msg *m, uint64_t now_ms)
{
    struct dcv_proto_xfer_open o;
    char err[512];

    s->now = now_ms;
    s->depth++;
    switch (m->cmd) {
    case DCV_CMD_OFFER:
        if (dcv_proto_offer_from_json(m->body, m->body_len, &o, err, sizeof(err)) < 0)
            send_abort(s, from, guess_id(m->body, m->body_len), DCV_CODE_PROTOCOL, "%s", err);
        else
            on_offer(s, from, &o);
        break;
    case DCV_CMD_FETCH:
        if (dcv_proto_fetch_from_json(m->body, m->body_len, &o, err, sizeof(err)) < 0)
            send_abort(s, from, guess_id(m->body, m->body_len), DCV_CODE_PROTOCOL, "%s", err);
        else
            on_fetch(s, from, &o);
        break;
    case DCV_CMD_CHUNK:
        on_chunk(s, from, m);
        break;
    case DCV_CMD_CREDIT:
        on_credit(s, from, m);
        break;
    case DCV_CMD_COMMIT:
        on_commit(s, from, m);
        break;
    case DCV_CMD_ABORT:
        on_abort(s, from, m);
        break;
    default:
        dcv_log(DCV_LOG_DEBUG, COMP, "command 0x%02x ignored on the data plane", m->cmd);
        break;
    }
    s->depth--;
    reap(s);
}

void dcv_xsrv_pump(struct dcv_xsrv *s, uint64_t now_ms)
{
    char err[256];

    s->now = now_ms;
    s->blocked = 0;
    s->depth++;
    ctl_flush(s);
    for (struct xfer *x = s->xfers; x; x = x->next) {
        if (x->dead)
            continue;
        if (x->dir == DIR_RX) {
            if (x->hashed < x->resume) {
                rx_prefix(s, x);
                continue;
            }
            if (dcv_xfer_rx_tick(x->rx, now_ms, err, sizeof(err)) == -ETIMEDOUT) {
                abort_xfer(s, x, DCV_CODE_TIMEOUT, dcv_xfer_rx_reason(x->rx));
                continue;
            }
            rx_flush_credit(s, x);
        } else {
            if (now_ms >= x->last_credit + s->p.idle_ms) {
                snprintf(err, sizeof(err), "no CREDIT for %" PRIu32 " ms", s->p.idle_ms);
                /* a range reader that paused may come back with a new FETCH;
                 * it must not find a stale ABORT waiting then */
                if (x->range)
                    finish(s, x, 0, err);
                else
                    abort_xfer(s, x, DCV_CODE_TIMEOUT, err);
                continue;
            }
            tx_send(s, x);
        }
    }
    s->depth--;
    reap(s);
}

uint64_t dcv_xsrv_deadline(const struct dcv_xsrv *s)
{
    uint64_t d = UINT64_MAX, soon = s->now + RETRY_MS;

    if (s->ctl_head || s->blocked)
        d = soon;
    for (const struct xfer *x = s->xfers; x; x = x->next) {
        uint64_t t;
        if (x->dead)
            continue;
        if (x->dir == DIR_RX) {
            if (x->hashed < x->resume)
                t = s->now;
            else if (x->have_credit)
                t = soon;
            else
                t = dcv_xfer_rx_deadline(x->rx);
        } else {
            t = x->have_chunk ? soon : x->last_credit + s->p.idle_ms;
        }
        if (t < d)
            d = t;
    }
    return d;
}

void dcv_xsrv_abort_job(struct dcv_xsrv *s, const char *job_id, int code, const char *reason)
{
    if (!job_id || !job_id[0])
        return;
    s->depth++;
    for (struct xfer *x = s->xfers; x; x = x->next)
        if (!x->dead && strcmp(x->open.fence.job_id, job_id) == 0)
            abort_xfer(s, x, code, reason && reason[0] ? reason : "job cancelled");
    s->depth--;
    reap(s);
}

void dcv_xsrv_stats(const struct dcv_xsrv *s, struct dcv_xsrv_stats *out)
{
    memset(out, 0, sizeof(*out));
    for (const struct xfer *x = s->xfers; x; x = x->next) {
        if (x->dead)
            continue;
        if (x->dir == DIR_RX)
            out->active_rx++;
        else
            out->active_tx++;
    }
    out->bytes_in = s->bytes_in;
    out->bytes_out = s->bytes_out;
    out->buffered_max = s->buffered_max;
}

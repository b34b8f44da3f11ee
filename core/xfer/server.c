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
#include "xfer/server_int.h"

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

void xsrv_buffered_add(struct dcv_xsrv *s, uint64_t n)
{
    s->buffered += n;
    if (s->buffered > s->buffered_max)
        s->buffered_max = s->buffered;
}

/* ---- sending ------------------------------------------------------------- */

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
void xsrv_send_json(struct dcv_xsrv *s, const struct dcv_tx_peer *peer, int cmd, const char *json)
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
        xsrv_peer_gone(s, peer);
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
            xsrv_peer_gone(s, &peer);
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

void xsrv_send_abort(struct dcv_xsrv *s, const struct dcv_tx_peer *peer, uint64_t id, int code,
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
    xsrv_send_json(s, peer, DCV_CMD_ABORT, json);
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
void xsrv_finish(struct dcv_xsrv *s, struct xfer *x, int ok, const char *reason)
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
void xsrv_abort_xfer(struct dcv_xsrv *s, struct xfer *x, int code, const char *reason)
{
    if (x->dead)
        return;
    xsrv_send_abort(s, &x->peer, x->id, code, "%s", reason);
    xsrv_finish(s, x, 0, reason);
}

void xsrv_peer_gone(struct dcv_xsrv *s, const struct dcv_tx_peer *peer)
{
    char hex[32];
    dcv_peer_hex(peer, hex, sizeof(hex));
    for (struct xfer *x = s->xfers; x; x = x->next)
        if (!x->dead && dcv_peer_equal(&x->peer, peer))
            xsrv_finish(s, x, 0, "peer gone");
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

struct xfer *xsrv_find(struct dcv_xsrv *s, const struct dcv_tx_peer *peer, uint64_t id, int dir)
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
struct xfer *xsrv_open_app(struct dcv_xsrv *s, const struct dcv_tx_peer *peer, int dir,
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
        xsrv_send_abort(s, peer, id, DCV_CODE_INTERNAL, "out of memory");
        return NULL;
    }
    x->cm = cm;
    r = ask(s->ud, peer, o, &x->f, &code, msg, sizeof(msg));
    if (r < 0) {
        if (x->f.fd >= 0)
            close(x->f.fd);
        free(x);
        xsrv_send_abort(s, peer, id, code, "%s", msg[0] ? msg : strerror(-r));
        return NULL;
    }
    xfer_link(s, x);
    return x;
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
    struct xfer *x = xsrv_find(s, peer, (uint64_t)a.xfer_id, DIR_RX);
    if (!x)
        x = xsrv_find(s, peer, (uint64_t)a.xfer_id, DIR_TX);
    if (!x)
        return; /* never answer an ABORT with an ABORT */
    if (x->dir == DIR_TX && x->range && a.code == DCV_CODE_CANCELLED) {
        xsrv_finish(s, x, 1, "range read ended by the reader");
        return;
    }
    snprintf(why, sizeof(why), "peer aborted: %s: %s", dcv_proto_code_name(a.code), a.message);
    xsrv_finish(s, x, 0, why);
}

uint64_t xsrv_read_id(const void *body, size_t len)
{
    uint64_t id = 0;
    if (len < 8)
        return 0;
    for (int i = 7; i >= 0; i--)
        id = (id << 8) | ((const uint8_t *)body)[i];
    return id;
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
            xsrv_send_abort(s, from, guess_id(m->body, m->body_len), DCV_CODE_PROTOCOL, "%s", err);
        else
            xsrv_on_offer(s, from, &o);
        break;
    case DCV_CMD_FETCH:
        if (dcv_proto_fetch_from_json(m->body, m->body_len, &o, err, sizeof(err)) < 0)
            xsrv_send_abort(s, from, guess_id(m->body, m->body_len), DCV_CODE_PROTOCOL, "%s", err);
        else
            xsrv_on_fetch(s, from, &o);
        break;
    case DCV_CMD_CHUNK:
        xsrv_on_chunk(s, from, m);
        break;
    case DCV_CMD_CREDIT:
        xsrv_on_credit(s, from, m);
        break;
    case DCV_CMD_COMMIT:
        xsrv_on_commit(s, from, m);
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
                xsrv_rx_prefix(s, x);
                continue;
            }
            if (dcv_xfer_rx_tick(x->rx, now_ms, err, sizeof(err)) == -ETIMEDOUT) {
                xsrv_abort_xfer(s, x, DCV_CODE_TIMEOUT, dcv_xfer_rx_reason(x->rx));
                continue;
            }
            xsrv_rx_flush_credit(s, x);
        } else {
            if (now_ms >= x->last_credit + s->p.idle_ms) {
                snprintf(err, sizeof(err), "no CREDIT for %" PRIu32 " ms", s->p.idle_ms);
                /* a range reader that paused may come back with a new FETCH;
                 * it must not find a stale ABORT waiting then */
                if (x->range)
                    xsrv_finish(s, x, 0, err);
                else
                    xsrv_abort_xfer(s, x, DCV_CODE_TIMEOUT, err);
                continue;
            }
            xsrv_tx_send(s, x);
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
            xsrv_abort_xfer(s, x, code, reason && reason[0] ? reason : "job cancelled");
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

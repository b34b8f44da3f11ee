/*
 * The blocking peer side of the data plane: see client.h and
 * docs/protocol.md §7.
 *
 * One DEALER, one transfer at a time: messages for any other xfer_id (late
 * chunks or ABORTs of an earlier transfer) are dropped. Every wait is a
 * poll of at most 200 ms so the cancel flag is seen quickly.
 *
 * Recovery without the caller: a sender that hears nothing for stall_ms
 * OFFERs again (the receiver resumes from its durable bytes); a receiver
 * that stalls FETCHes again before its reset CREDIT (a lost FETCH, or a
 * sender that dropped an idle range read, then starts over). The DEALER
 * reconnects by itself when the coordinator comes back.
 *
 * Durability on the receiving side: credit for a chunk is returned once it
 * is pwrite()n; the file is fdatasync()ed once, before COMMIT.
 */
#include "xfer/client.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "errbuf.h"
#include "log.h"
#include "rand.h"
#include "xfer/chunk.h"
#include "xfer/window.h"

#define COMP "xfer"
#define WAIT_SLICE_MS 200
#define DEFAULT_CHUNK (1u << 20)
#define DEFAULT_WINDOW 8u
#define DEFAULT_STALL_MS 6000u
#define DEFAULT_RETRIES 3u
#define DEFAULT_TIMEOUT_MS 30000
#define LINGER_MS 2000 /* the last COMMIT / ABORT must leave before close */
/* An ABORT with code "busy" means "not now" (a restarted coordinator whose
 * worker has not re-attached the job yet, a transfer id the server no
 * longer knows): open the transfer again after this pause, resuming where
 * we are, until timeout_ms passes without progress. */
#define BUSY_RETRY_MS 500

struct dcv_xcli {
    struct dcv_sock *sock;
    struct dcv_xcli_params p;
    uint8_t *buf; /* one chunk, sending */
};

static int64_t now_ms(void)
{
    return dcv_mono_ms();
}

static int cancelled(const struct dcv_xcli *c)
{
    return c->p.cancel && *c->p.cancel;
}

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL); /* EINTR: the caller looks at the cancel flag */
}

/* Send, retrying while the transport says EAGAIN (a DEALER that is not
 * connected yet, or a full pipe) until timeout_ms or cancel. */
static int csend(struct dcv_xcli *c, int cmd, const void *body, size_t len, const void *payload,
                 size_t plen, char *err, size_t errlen)
{
    int64_t until = now_ms() + c->p.timeout_ms;
    long nap = 1;
    for (;;) {
        int r = dcv_sock_send(c->sock, NULL, cmd, body, len, payload, plen, err, errlen);
        if (r != -EAGAIN)
            return r;
        if (cancelled(c))
            return dcv_err(err, errlen, -ECANCELED, "cancelled");
        if (now_ms() >= until)
            return dcv_err(err, errlen, -ETIMEDOUT, "data endpoint unreachable for %" PRId64
                           " ms", c->p.timeout_ms);
        nap_ms(nap);
        if (nap < 20)
            nap *= 2;
    }
}

static int csend_json(struct dcv_xcli *c, int cmd, const char *json, char *err, size_t errlen)
{
    return csend(c, cmd, json, strlen(json), NULL, 0, err, errlen);
}

/* Receive one message within wait_ms: 1 with *m (valid until the next
 * receive), 0 when none came, -ECANCELED. */
static int crecv(struct dcv_xcli *c, struct dcv_proto_msg *m, int64_t wait_ms, char *err,
                 size_t errlen)
{
    int64_t until = now_ms() + (wait_ms > 0 ? wait_ms : 0);
    char e2[256];
    for (;;) {
        int r = dcv_sock_recv(c->sock, NULL, m, e2, sizeof(e2));
        if (r == 0)
            return 1;
        if (r == -EPROTO) {
            dcv_log(DCV_LOG_DEBUG, COMP, "dropped a message: %s", e2);
            continue;
        }
        if (r != -EAGAIN)
            return dcv_err(err, errlen, r, "receive: %s", strerror(-r));
        if (cancelled(c))
            return dcv_err(err, errlen, -ECANCELED, "cancelled");
        int64_t left = until - now_ms();
        if (left <= 0)
            return 0;
        r = dcv_sock_wait(c->sock, (int)(left < WAIT_SLICE_MS ? left : WAIT_SLICE_MS));
        if (r < 0 && r != -EINTR)
            return dcv_err(err, errlen, r, "wait: %s", strerror(-r));
    }
}

/* Best effort: the transfer is over on our side whatever happens. */
static void send_abort(struct dcv_xcli *c, uint64_t id, int code, const char *fmt, ...)
    DCV_PRINTF(4, 5);
static void send_abort(struct dcv_xcli *c, uint64_t id, int code, const char *fmt, ...)
{
    struct dcv_proto_abort a;
    char *json = NULL, err[256];
    va_list ap;

    memset(&a, 0, sizeof(a));
    a.xfer_id = (int64_t)id;
    a.code = code;
    va_start(ap, fmt);
    vsnprintf(a.message, sizeof(a.message), fmt, ap);
    va_end(ap);
    for (char *p = a.message; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
    if (!a.message[0] || dcv_proto_abort_to_json(&a, &json, NULL, err, sizeof(err)) < 0) {
        snprintf(a.message, sizeof(a.message), "aborted");
        if (dcv_proto_abort_to_json(&a, &json, NULL, err, sizeof(err)) < 0)
            return;
    }
    for (int i = 0; i < 50; i++) { /* at most ~50 ms: do not hang a failing path */
        if (dcv_sock_send_json(c->sock, NULL, DCV_CMD_ABORT, json, err, sizeof(err)) != -EAGAIN)
            break;
        nap_ms(1);
    }
    free(json);
}

/* An ABORT for our transfer: its text into err. */
static int remote_abort(const struct dcv_proto_abort *a, int *abort_code, char *err,
                        size_t errlen)
{
    if (abort_code)
        *abort_code = a->code;
    return dcv_err(err, errlen, -EREMOTEIO, "%s: %s", dcv_proto_code_name(a->code), a->message);
}

/* The xfer_id of a data message, 0 when it has none we can read. */
static uint64_t msg_id(const struct dcv_proto_msg *m, struct dcv_proto_abort *a,
                       struct dcv_proto_commit *cm)
{
    char err[256];
    const uint8_t *b = m->body;
    uint64_t id = 0;
    switch (m->cmd) {
    case DCV_CMD_CHUNK:
    case DCV_CMD_CREDIT:
        if (m->body_len < 8)
            return 0;
        for (int i = 7; i >= 0; i--)
            id = (id << 8) | b[i];
        return id;
    case DCV_CMD_ABORT:
        return dcv_proto_abort_from_json(m->body, m->body_len, a, err, sizeof(err)) == 0
                   ? (uint64_t)a->xfer_id : 0;
    case DCV_CMD_COMMIT:
        return dcv_proto_commit_from_json(m->body, m->body_len, cm, err, sizeof(err)) == 0
                   ? (uint64_t)cm->xfer_id : 0;
    default:
        return 0;
    }
}

static int io_code(int e)
{
    return e == ENOSPC || e == EDQUOT ? DCV_CODE_NOSPACE : DCV_CODE_IO;
}

/* ---- public: setup ------------------------------------------------------- */

int dcv_xcli_open(struct dcv_net *net, const char *data_endpoint, const struct dcv_xcli_params *p,
                  struct dcv_xcli **out, char *err, size_t errlen)
{
    if (!out)
        return dcv_err(err, errlen, -EINVAL, "data client: missing output");
    *out = NULL;
    if (!net || !data_endpoint || !data_endpoint[0])
        return dcv_err(err, errlen, -EINVAL, "data client: transport and endpoint required");
    struct dcv_xcli *c = calloc(1, sizeof(*c));
    if (!c)
        return dcv_err(err, errlen, -ENOMEM, "data client: out of memory");
    if (p)
        c->p = *p;
    if (!c->p.chunk_max)
        c->p.chunk_max = DEFAULT_CHUNK;
    if (!c->p.credit_chunks)
        c->p.credit_chunks = DEFAULT_WINDOW;
    if (!c->p.stall_ms)
        c->p.stall_ms = DEFAULT_STALL_MS;
    if (!c->p.max_retries)
        c->p.max_retries = DEFAULT_RETRIES;
    if (c->p.timeout_ms <= 0)
        c->p.timeout_ms = DEFAULT_TIMEOUT_MS;
    if (c->p.chunk_max % 4096 || c->p.chunk_max > DCV_XFER_CHUNK_MAX_LIMIT ||
        c->p.credit_chunks > DCV_XFER_WINDOW_LIMIT) {
        free(c);
        return dcv_err(err, errlen, -EINVAL, "data client: chunk_max must be a multiple of 4096 "
                       "up to %u and credit_chunks at most %u", DCV_XFER_CHUNK_MAX_LIMIT,
                       DCV_XFER_WINDOW_LIMIT);
    }
    struct dcv_sock_opts so = {
        .plane = DCV_PLANE_DATA,
        .role = DCV_TX_CONNECT_DEALER,
        .endpoint = data_endpoint,
        .linger_ms = LINGER_MS,
    };
    int r = dcv_sock_open(net, &so, &c->sock, err, errlen);
    if (r < 0) {
        free(c);
        return r;
    }
    *out = c;
    return 0;
}

void dcv_xcli_close(struct dcv_xcli **cp)
{
    struct dcv_xcli *c = cp ? *cp : NULL;
    if (!c)
        return;
    dcv_sock_close(&c->sock);
    free(c->buf);
    free(c);
    *cp = NULL;
}

int dcv_xcli_sha256_fd(int fd, int64_t *size, char sha[65], char *err, size_t errlen)
{
    return dcv_xcli_sha256_fd_progress(fd, size, sha, NULL, NULL, NULL, err, errlen);
}

int dcv_xcli_sha256_fd_progress(int fd, int64_t *size, char sha[65],
                                dcv_xcli_progress_fn progress, void *ud,
                                volatile sig_atomic_t *cancel, char *err, size_t errlen)
{
    struct dcv_sha256 *h = NULL;
    uint8_t digest[DCV_SHA256_LEN];
    const size_t blen = 1u << 20;
    uint8_t *buf = malloc(blen);
    int64_t off = 0, total = -1;
    struct stat sb;

    if (!buf || dcv_sha256_new(&h) < 0) {
        free(buf);
        return dcv_err(err, errlen, -ENOMEM, "sha256: out of memory");
    }
    if (progress && fstat(fd, &sb) == 0)
        total = (int64_t)sb.st_size;
    for (;;) {
        ssize_t n = pread(fd, buf, blen, (off_t)off);
        if (cancel && *cancel) {
            dcv_sha256_free(&h);
            free(buf);
            return dcv_err(err, errlen, -ECANCELED, "sha256: cancelled");
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            dcv_sha256_free(&h);
            free(buf);
            return dcv_err(err, errlen, -e, "sha256: read at %" PRId64 ": %s", off, strerror(e));
        }
        if (n == 0)
            break;
        dcv_sha256_update(h, buf, (size_t)n);
        off += n;
        if (progress)
            progress(off, total, ud);
    }
    dcv_sha256_final(h, digest);
    dcv_sha256_hex(digest, sha);
    dcv_sha256_free(&h);
    free(buf);
    if (size)
        *size = off;
    return 0;
}

static void fill_open(struct dcv_proto_xfer_open *o, int purpose,
                      const struct dcv_proto_fence *fence, const struct dcv_proto_blob *blob,
                      uint32_t cm)
{
    memset(o, 0, sizeof(*o));
    o->purpose = purpose;
    o->blob = *blob;
    o->chunk_max = cm;
    if (fence && fence->job_id[0])
        o->fence = *fence;
}

/* ---- send ---------------------------------------------------------------- */

int dcv_xcli_send_file(struct dcv_xcli *c, int purpose, const struct dcv_proto_fence *fence,
                       int fd, struct dcv_proto_blob *blob, dcv_xcli_progress_fn progress,
                       void *ud, int *abort_code, char *err, size_t errlen)
{
    struct dcv_proto_xfer_open o;
    struct dcv_xfer_tx *tx = NULL;
    char *offer = NULL;
    uint32_t cm = c->p.chunk_max;
    int r;

    if (abort_code)
        *abort_code = -1;
    if (!blob)
        return dcv_err(err, errlen, -EINVAL, "send: blob required");
    if (!blob->sha256[0]) {
        int64_t sz;
        if ((r = dcv_xcli_sha256_fd_progress(fd, &sz, blob->sha256, NULL, NULL, c->p.cancel, err,
                                             errlen)) < 0)
            return r;
        blob->size = sz;
    } else if (blob->size < 0) {
        struct stat sb;
        if (fstat(fd, &sb) < 0)
            return dcv_err(err, errlen, -errno, "send: fstat: %s", strerror(errno));
        blob->size = sb.st_size;
    }
    if (blob->xfer_id <= 0 && (r = dcv_random_id53(&blob->xfer_id, err, errlen)) < 0)
        return r;
    uint64_t id = (uint64_t)blob->xfer_id;
    fill_open(&o, purpose, fence, blob, cm);
    if ((r = dcv_proto_offer_to_json(&o, &offer, NULL, err, errlen)) < 0)
        return r;
    if (!c->buf && !(c->buf = malloc(cm))) {
        free(offer);
        return dcv_err(err, errlen, -ENOMEM, "send: out of memory");
    }
    if ((r = dcv_xfer_tx_new(id, (uint64_t)blob->size, cm, &tx, err, errlen)) < 0) {
        free(offer);
        return r;
    }
    if ((r = csend_json(c, DCV_CMD_OFFER, offer, err, errlen)) < 0)
        goto out;

    int64_t last_heard = now_ms(), last_progress = last_heard, busy_at = 0;
    uint32_t reoffers = 0;
    uint8_t hdr[DCV_XFER_CHUNK_HDR_LEN];
    for (;;) {
        struct dcv_xfer_chunk ch;
        while (dcv_xfer_tx_next(tx, &ch)) {
            size_t done = 0;
            while (done < ch.len) {
                ssize_t n = pread(fd, c->buf + done, ch.len - done, (off_t)(ch.offset + done));
                if (n < 0 && errno == EINTR)
                    continue;
                if (n <= 0) {
                    int e = n < 0 ? errno : EIO;
                    r = dcv_err(err, errlen, n < 0 ? -e : -EIO, "send: read at %" PRIu64 ": %s",
                                ch.offset + done, n < 0 ? strerror(e) : "file shrank");
                    send_abort(c, id, DCV_CODE_IO, "sender: %s", err);
                    goto out;
                }
                done += (size_t)n;
            }
            ch.crc32c = dcv_crc32c(0, c->buf, ch.len);
            if ((r = dcv_xfer_chunk_encode(&ch, hdr, sizeof(hdr), err, errlen)) < 0 ||
                (r = csend(c, DCV_CMD_CHUNK, hdr, sizeof(hdr), c->buf, ch.len, err, errlen)) < 0) {
                if (r == -ECANCELED)
                    send_abort(c, id, DCV_CODE_CANCELLED, "sender cancelled");
                goto out;
            }
            if (progress)
                progress((int64_t)(ch.offset + ch.len), blob->size, ud);
        }

        struct dcv_proto_msg m;
        r = crecv(c, &m, WAIT_SLICE_MS, err, errlen);
        if (r == -ECANCELED)
            send_abort(c, id, DCV_CODE_CANCELLED, "sender cancelled");
        if (r < 0)
            goto out;
        int64_t now = now_ms();
        if (r == 0) {
            if (now - last_progress >= c->p.timeout_ms) {
                send_abort(c, id, DCV_CODE_TIMEOUT, "sender heard nothing for %" PRId64 " ms",
                           now - last_progress);
                r = dcv_err(err, errlen, -ETIMEDOUT, "send xfer %" PRIu64 ": no answer for %"
                            PRId64 " ms", id, now - last_progress);
                goto out;
            }
            if (busy_at && now >= busy_at) {
                /* not a stall: no re-offer spent */
                busy_at = 0;
                last_heard = now;
                if ((r = csend_json(c, DCV_CMD_OFFER, offer, err, errlen)) < 0)
                    goto out;
            } else if (now - last_heard >= (int64_t)c->p.stall_ms &&
                       reoffers < c->p.max_retries) {
                /* the receiver lost us (restart, reconnect): offer again,
                 * it resumes from what it has */
                reoffers++;
                last_heard = now;
                dcv_log(DCV_LOG_INFO, COMP, "xfer %" PRIu64 ": no answer for %" PRIu32
                        " ms, offering again", id, c->p.stall_ms);
                if ((r = csend_json(c, DCV_CMD_OFFER, offer, err, errlen)) < 0)
                    goto out;
            }
            continue;
        }
        struct dcv_proto_abort a;
        struct dcv_proto_commit cmt;
        if (msg_id(&m, &a, &cmt) != id)
            continue;
        if (m.cmd == DCV_CMD_ABORT && a.code == DCV_CODE_BUSY) {
            if (!busy_at)
                dcv_log(DCV_LOG_INFO, COMP, "xfer %" PRIu64 ": receiver busy (%s), offering "
                        "again", id, a.message);
            busy_at = now + BUSY_RETRY_MS;
            continue;
        }
        last_heard = last_progress = now;
        if (m.cmd == DCV_CMD_CREDIT) {
            struct dcv_xfer_credit cr;
            reoffers = 0;
            if (dcv_xfer_credit_decode(m.body, m.body_len, &cr, err, errlen) < 0 ||
                dcv_xfer_tx_credit(tx, &cr, err, errlen) == -EPROTO) {
                send_abort(c, id, DCV_CODE_PROTOCOL, "%s", err);
                r = -EPROTO;
                goto out;
            }
        } else if (m.cmd == DCV_CMD_COMMIT) {
            if (cmt.ok) {
                r = 0;
                goto out;
            }
            r = dcv_err(err, errlen, -EBADMSG, "receiver reported a sha256 mismatch: it has %s, "
                        "we sent %s", cmt.sha256, blob->sha256);
            goto out;
        } else if (m.cmd == DCV_CMD_ABORT) {
            r = remote_abort(&a, abort_code, err, errlen);
            goto out;
        }
    }
out:
    dcv_xfer_tx_free(&tx);
    free(offer);
    return r;
}

/* ---- fetch --------------------------------------------------------------- */

static int send_credit(struct dcv_xcli *c, const struct dcv_xfer_credit *cr, char *err,
                       size_t errlen)
{
    uint8_t b[DCV_XFER_CREDIT_LEN];
    int r = dcv_xfer_credit_encode(cr, b, sizeof(b), err, errlen);
    return r < 0 ? r : csend(c, DCV_CMD_CREDIT, b, sizeof(b), NULL, 0, err, errlen);
}

/* COMMIT for what we received. */
static int send_commit(struct dcv_xcli *c, uint64_t id, int ok,
                       const struct dcv_xfer_rx_info *info, char *err, size_t errlen)
{
    struct dcv_proto_commit cm;
    char *json = NULL;
    memset(&cm, 0, sizeof(cm));
    cm.xfer_id = (int64_t)id;
    cm.ok = ok;
    cm.size = (int64_t)info->size;
    dcv_sha256_hex(info->digest, cm.sha256);
    int r = dcv_proto_commit_to_json(&cm, &json, NULL, err, errlen);
    if (r == 0)
        r = csend_json(c, DCV_CMD_COMMIT, json, err, errlen);
    free(json);
    return r;
}

/* The receive reached its end: sync, COMMIT, verdict. */
static int fetch_conclude(struct dcv_xcli *c, struct dcv_xfer_rx *rx, uint64_t id, int fd,
                          char *err, size_t errlen)
{
    struct dcv_xfer_rx_info info;
    enum dcv_xfer_state st = dcv_xfer_rx_state(rx);
    char why[256];

    dcv_xfer_rx_info(rx, &info);
    if (st == DCV_XFER_ABORTED)
        return dcv_err(err, errlen, -EPROTO, "fetch xfer %" PRIu64 ": %s", id,
                       dcv_xfer_rx_reason(rx));
    if (st == DCV_XFER_MISMATCH) {
        send_commit(c, id, 0, &info, why, sizeof(why));
        return dcv_err(err, errlen, -EBADMSG, "fetch xfer %" PRIu64 ": %s", id,
                       dcv_xfer_rx_reason(rx));
    }
    /* COMMITTED, or WAIT_SHA when nobody told us the digest: the sender
     * judges the one we report */
    struct stat sb;
    if ((fstat(fd, &sb) == 0 && (uint64_t)sb.st_size > info.size &&
         ftruncate(fd, (off_t)info.size) < 0) ||
        fdatasync(fd) < 0) {
        int e = errno;
        send_abort(c, id, io_code(e), "receiver: sync: %s", strerror(e));
        return dcv_err(err, errlen, e == ENOSPC ? -ENOSPC : -EIO, "fetch: sync: %s",
                       strerror(e));
    }
    return send_commit(c, id, 1, &info, err, errlen);
}

int dcv_xcli_fetch_file(struct dcv_xcli *c, int purpose, const struct dcv_proto_fence *fence,
                        const struct dcv_proto_blob *blob, int fd, dcv_xcli_progress_fn progress,
                        void *ud, int *abort_code, char *err, size_t errlen)
{
    struct dcv_proto_xfer_open o;
    struct dcv_xfer_rx *rx = NULL;
    char *fetch = NULL;
    uint8_t sha[DCV_SHA256_LEN];
    uint32_t cm = c->p.chunk_max;
    int r;

    if (abort_code)
        *abort_code = -1;
    if (!blob || blob->xfer_id <= 0)
        return dcv_err(err, errlen, -EINVAL, "fetch: xfer_id required");
    uint64_t id = (uint64_t)blob->xfer_id;
    if (blob->sha256[0] && (r = dcv_sha256_parse_hex(blob->sha256, sha, err, errlen)) < 0)
        return r;
    struct dcv_proto_blob b = *blob;
    if (b.size < 0)
        b.size = -1;
    fill_open(&o, purpose, fence, &b, cm);
    if ((r = dcv_proto_fetch_to_json(&o, &fetch, NULL, err, errlen)) < 0)
        return r;
    struct dcv_xfer_rx_params rp = {
        .xfer_id = id,
        .size = blob->size >= 0 ? (uint64_t)blob->size : DCV_XFER_SIZE_UNKNOWN,
        .chunk_max = cm,
        .window = c->p.credit_chunks,
        .durable_offset = 0,
        .sha256 = blob->sha256[0] ? sha : NULL,
        .stall_ms = c->p.stall_ms,
        .max_retries = c->p.max_retries,
    };
    if ((r = dcv_xfer_rx_new(&rp, (uint64_t)now_ms(), &rx, err, errlen)) < 0) {
        free(fetch);
        return r;
    }
    if ((r = csend_json(c, DCV_CMD_FETCH, fetch, err, errlen)) < 0)
        goto out;

    int64_t last_progress = now_ms(), busy_at = 0;
    uint32_t seen_retries = 0;
    for (;;) {
        struct dcv_xfer_credit cr;
        struct dcv_xfer_rx_info info;
        int64_t now = now_ms();

        if (busy_at && now >= busy_at) {
            /* the sender said "not now": ask again; a RESET credit from
             * what we hold follows the FETCH */
            busy_at = 0;
            if ((r = csend_json(c, DCV_CMD_FETCH, fetch, err, errlen)) < 0)
                goto out;
            dcv_xfer_rx_restart(rx, (uint64_t)now);
        }

        if (dcv_xfer_rx_state(rx) != DCV_XFER_RUNNING) {
            /* every byte is in (a zero-byte file is complete from the start) */
            r = fetch_conclude(c, rx, id, fd, err, errlen);
            goto out;
        }
        if (!busy_at && (r = dcv_xfer_rx_tick(rx, (uint64_t)now, err, errlen)) < 0) {
            send_abort(c, id, DCV_CODE_TIMEOUT, "receiver: %s", dcv_xfer_rx_reason(rx));
            goto out;
        }
        dcv_xfer_rx_info(rx, &info);
        if (info.retries > seen_retries) {
            /* a stall: the FETCH may be lost, or the sender may have
             * dropped us; ask again, the reset CREDIT says from where */
            seen_retries = info.retries;
            if ((r = csend_json(c, DCV_CMD_FETCH, fetch, err, errlen)) < 0)
                goto out;
        } else if (info.retries == 0) {
            seen_retries = 0;
        }
        while (dcv_xfer_rx_next_credit(rx, (uint64_t)now, &cr))
            if ((r = send_credit(c, &cr, err, errlen)) < 0)
                goto out;
        if (now - last_progress >= c->p.timeout_ms) {
            send_abort(c, id, DCV_CODE_TIMEOUT, "receiver heard nothing for %" PRId64 " ms",
                       now - last_progress);
            r = dcv_err(err, errlen, -ETIMEDOUT, "fetch xfer %" PRIu64 ": nothing for %" PRId64
                        " ms", id, now - last_progress);
            goto out;
        }
        uint64_t due = dcv_xfer_rx_deadline(rx);
        int64_t wait = WAIT_SLICE_MS;
        if (due != UINT64_MAX && (int64_t)due - now < wait)
            wait = (int64_t)due - now < 0 ? 0 : (int64_t)due - now;
        if (busy_at && busy_at - now < wait)
            wait = busy_at - now < 0 ? 0 : busy_at - now;

        struct dcv_proto_msg m;
        r = crecv(c, &m, wait, err, errlen);
        if (r == -ECANCELED)
            send_abort(c, id, DCV_CODE_CANCELLED, "receiver cancelled");
        if (r < 0)
            goto out;
        if (r == 0)
            continue;
        struct dcv_proto_abort a;
        struct dcv_proto_commit cmt;
        if (msg_id(&m, &a, &cmt) != id)
            continue;
        if (m.cmd == DCV_CMD_ABORT && a.code == DCV_CODE_BUSY) {
            if (!busy_at)
                dcv_log(DCV_LOG_INFO, COMP, "xfer %" PRIu64 ": sender busy (%s), asking again",
                        id, a.message);
            busy_at = now_ms() + BUSY_RETRY_MS;
            continue;
        }
        if (m.cmd == DCV_CMD_ABORT) {
            r = remote_abort(&a, abort_code, err, errlen);
            goto out;
        }
        if (m.cmd != DCV_CMD_CHUNK)
            continue;
        struct dcv_xfer_chunk ch;
        struct dcv_xfer_write w;
        char why[256];
        if (dcv_xfer_chunk_decode(m.body, m.body_len, cm, &ch, why, sizeof(why)) < 0) {
            send_abort(c, id, DCV_CODE_PROTOCOL, "%s", why);
            r = dcv_err(err, errlen, -EPROTO, "fetch xfer %" PRIu64 ": %s", id, why);
            goto out;
        }
        int k = dcv_xfer_rx_chunk(rx, &ch, m.payload, m.payload_len, (uint64_t)now_ms(), &w, why,
                                  sizeof(why));
        if (k == -EPROTO) {
            send_abort(c, id, DCV_CODE_PROTOCOL, "%s", why);
            r = dcv_err(err, errlen, -EPROTO, "fetch: %s", why);
            goto out;
        }
        if (k < 0)
            continue; /* duplicate or gap after a reset: normal */
        size_t done = 0;
        while (done < w.len) {
            ssize_t n = pwrite(fd, w.data + done, w.len - done, (off_t)(w.offset + done));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                int e = n < 0 ? errno : EIO;
                send_abort(c, id, io_code(e), "receiver: write: %s", strerror(e));
                r = dcv_err(err, errlen, e == ENOSPC || e == EDQUOT ? -ENOSPC : -EIO,
                            "fetch: write at %" PRIu64 ": %s", w.offset + done, strerror(e));
                goto out;
            }
            done += (size_t)n;
        }
        last_progress = now_ms();
        if ((r = dcv_xfer_rx_durable(rx, w.offset + w.len, err, errlen)) < 0)
            goto out;
        if (progress)
            progress((int64_t)(w.offset + w.len), blob->size, ud);
    }
out:
    dcv_xfer_rx_free(&rx);
    free(fetch);
    return r;
}

/* ---- random-access stream ------------------------------------------------- */

struct slot {
    uint64_t idx;
    uint32_t len;
    int valid;
};

struct dcv_xstream {
    struct dcv_xcli *c;
    char *fetch;       /* the FETCH body, sent again after a pause or a stall */
    uint64_t id;
    int64_t size;
    uint32_t cm, w;
    uint64_t n_chunks;
    uint8_t *mem;      /* w chunks */
    struct slot *slots;
    uint64_t base;     /* chunks before it are released */
    uint64_t next;     /* next chunk expected (all in [base, next) are held) */
    uint64_t granted;  /* end of the grant, chunks */
    uint32_t ra;       /* read-ahead now: grows while reads stay sequential */
    int open;          /* FETCH sent, not ended by either side */
    int64_t last_send; /* ms: the sender drops a range read after a silence */
    int64_t fetched;
};

int dcv_xstream_open(struct dcv_xcli *c, const struct dcv_proto_fence *fence,
                     const struct dcv_proto_blob *blob, struct dcv_xstream **out, char *err,
                     size_t errlen)
{
    struct dcv_proto_xfer_open o;
    if (!out)
        return dcv_err(err, errlen, -EINVAL, "stream: missing output");
    *out = NULL;
    if (!c || !blob || blob->xfer_id <= 0 || blob->size < 0)
        return dcv_err(err, errlen, -EINVAL, "stream: xfer_id and size required");
    struct dcv_xstream *s = calloc(1, sizeof(*s));
    if (!s)
        return dcv_err(err, errlen, -ENOMEM, "stream: out of memory");
    s->c = c;
    s->id = (uint64_t)blob->xfer_id;
    s->size = blob->size;
    s->cm = c->p.chunk_max;
    s->w = c->p.credit_chunks;
    s->n_chunks = blob->size == 0 ? 1 : ((uint64_t)blob->size - 1) / s->cm + 1;
    if ((uint64_t)s->w > s->n_chunks)
        s->w = (uint32_t)s->n_chunks;
    fill_open(&o, DCV_PURPOSE_INPUT, fence, blob, s->cm);
    o.purpose = fence && fence->job_id[0] ? DCV_PURPOSE_INPUT : DCV_PURPOSE_DOWNLOAD;
    o.range = 1;
    int r = dcv_proto_fetch_to_json(&o, &s->fetch, NULL, err, errlen);
    if (r < 0) {
        free(s);
        return r;
    }
    s->mem = malloc((size_t)s->w * s->cm);
    s->slots = calloc(s->w, sizeof(*s->slots));
    if (!s->mem || !s->slots) {
        dcv_xstream_close(&s);
        return dcv_err(err, errlen, -ENOMEM, "stream: out of memory for %" PRIu32 " chunks",
                       c->p.credit_chunks);
    }
    *out = s;
    return 0;
}

int64_t dcv_xstream_size(const struct dcv_xstream *s)
{
    return s->size;
}

int64_t dcv_xstream_bytes_fetched(const struct dcv_xstream *s)
{
    return s->fetched;
}

void dcv_xstream_close(struct dcv_xstream **sp)
{
    struct dcv_xstream *s = sp ? *sp : NULL;
    if (!s)
        return;
    if (s->open)
        send_abort(s->c, s->id, DCV_CODE_CANCELLED, "range read closed");
    free(s->fetch);
    free(s->mem);
    free(s->slots);
    free(s);
    *sp = NULL;
}

static uint32_t chunk_len(const struct dcv_xstream *s, uint64_t idx)
{
    uint64_t off = idx * s->cm;
    uint64_t left = (uint64_t)s->size - off;
    return left < s->cm ? (uint32_t)left : s->cm;
}

/* Grant up to the read-ahead. `reset`: start over at `next` (a seek, a
 * stall or a pause): FETCH again first when the sender may have dropped
 * us, then a CREDIT that is not the end of the previous grant. */
static int xs_grant(struct dcv_xstream *s, int reset, char *err, size_t errlen)
{
    uint64_t want = s->base + (s->ra < s->w ? s->ra : s->w);
    if (want > s->n_chunks)
        want = s->n_chunks;
    int64_t now = now_ms();
    int refetch = !s->open || now - s->last_send >= (int64_t)s->c->p.stall_ms / 2;
    if (refetch)
        reset = 1;
    if (!reset && want <= s->granted)
        return 0;
    struct dcv_xfer_credit cr = {.xfer_id = s->id};
    if (reset) {
        if (want <= s->next)
            want = s->next + 1 <= s->n_chunks ? s->next + 1 : s->n_chunks;
        cr.offset = s->next * s->cm;
        cr.chunks = (uint32_t)(want - s->next);
    } else {
        cr.offset = s->granted * s->cm;
        cr.chunks = (uint32_t)(want - s->granted);
    }
    if (cr.chunks == 0)
        return 0;
    int r;
    if (refetch && (r = csend_json(s->c, DCV_CMD_FETCH, s->fetch, err, errlen)) < 0)
        return r;
    s->open = 1;
    if ((r = send_credit(s->c, &cr, err, errlen)) < 0)
        return r;
    s->granted = want;
    s->last_send = now_ms();
    return 0;
}

/* Wait until chunk idx is held. */
static int xs_wait(struct dcv_xstream *s, uint64_t idx, char *err, size_t errlen)
{
    struct dcv_xcli *c = s->c;
    int64_t last_progress = now_ms(), last_heard = last_progress, busy_at = 0;
    uint32_t retries = 0;
    int r;

    while (s->next <= idx) {
        struct dcv_proto_msg m;
        r = crecv(c, &m, busy_at ? BUSY_RETRY_MS / 5 : WAIT_SLICE_MS, err, errlen);
        if (r < 0)
            return r;
        int64_t now = now_ms();
        if (busy_at && now >= busy_at) {
            /* the sender said "not now": FETCH again and re-grant from next */
            int g;
            busy_at = 0;
            last_heard = now;
            if ((g = xs_grant(s, 1, err, errlen)) < 0)
                return g;
        }
        if (r == 0) {
            if (now - last_progress >= c->p.timeout_ms)
                return dcv_err(err, errlen, -ETIMEDOUT, "stream xfer %" PRIu64 ": nothing for %"
                               PRId64 " ms", s->id, now - last_progress);
            if (!busy_at && now - last_heard >= (int64_t)c->p.stall_ms) {
                if (retries >= c->p.max_retries) {
                    send_abort(c, s->id, DCV_CODE_TIMEOUT, "range reader: no chunk for %" PRIu32
                               " ms after %" PRIu32 " retries", c->p.stall_ms, retries);
                    s->open = 0;
                    return dcv_err(err, errlen, -ETIMEDOUT, "stream xfer %" PRIu64 ": no chunk "
                                   "for %" PRIu32 " ms after %" PRIu32 " retries", s->id,
                                   c->p.stall_ms, retries);
                }
                retries++;
                last_heard = now;
                s->open = 0; /* FETCH again, then a reset CREDIT from `next` */
                if ((r = xs_grant(s, 1, err, errlen)) < 0)
                    return r;
            }
            continue;
        }
        struct dcv_proto_abort a;
        struct dcv_proto_commit cmt;
        if (msg_id(&m, &a, &cmt) != s->id)
            continue;
        if (m.cmd == DCV_CMD_ABORT && a.code == DCV_CODE_BUSY) {
            if (!busy_at)
                dcv_log(DCV_LOG_INFO, COMP, "stream xfer %" PRIu64 ": sender busy (%s), asking "
                        "again", s->id, a.message);
            s->open = 0;
            busy_at = now + BUSY_RETRY_MS;
            continue;
        }
        if (m.cmd == DCV_CMD_ABORT) {
            s->open = 0;
            return remote_abort(&a, NULL, err, errlen);
        }
        if (m.cmd != DCV_CMD_CHUNK)
            continue;
        struct dcv_xfer_chunk ch;
        char why[256];
        if (dcv_xfer_chunk_decode(m.body, m.body_len, s->cm, &ch, why, sizeof(why)) < 0) {
            send_abort(c, s->id, DCV_CODE_PROTOCOL, "%s", why);
            s->open = 0;
            return dcv_err(err, errlen, -EPROTO, "stream: %s", why);
        }
        /* strictly in order within the grant; anything else is a late
         * chunk of an earlier position (or a retransmission): drop it */
        if (ch.offset % s->cm || ch.offset / s->cm != s->next || s->next >= s->granted)
            continue;
        uint32_t want_len = chunk_len(s, s->next);
        int last = s->next + 1 == s->n_chunks;
        if (ch.len != want_len || m.payload_len != ch.len ||
            !!(ch.flags & DCV_XFER_FLAG_LAST) != last) {
            send_abort(c, s->id, DCV_CODE_PROTOCOL, "chunk at %" PRIu64 ": len %" PRIu32
                       " flags %" PRIu32 ", expected len %" PRIu32, ch.offset, ch.len, ch.flags,
                       want_len);
            s->open = 0;
            return dcv_err(err, errlen, -EPROTO, "stream: chunk at %" PRIu64 " has a bad length",
                           ch.offset);
        }
        if (dcv_crc32c(0, m.payload, ch.len) != ch.crc32c)
            continue; /* the stall timer recovers */
        struct slot *sl = &s->slots[s->next % s->w];
        if (ch.len)
            memcpy(s->mem + (size_t)(s->next % s->w) * s->cm, m.payload, ch.len);
        sl->idx = s->next;
        sl->len = ch.len;
        sl->valid = 1;
        s->next++;
        s->fetched += ch.len;
        last_progress = last_heard = now;
        retries = 0;
    }
    return 0;
}

int64_t dcv_xstream_pread(struct dcv_xstream *s, void *buf, size_t len, int64_t off, char *err,
                          size_t errlen)
{
    size_t done = 0;
    int r;

    if (off < 0)
        return dcv_err(err, errlen, -EINVAL, "stream: negative offset");
    while (done < len && off + (int64_t)done < s->size) {
        uint64_t pos = (uint64_t)off + done;
        uint64_t idx = pos / s->cm;
        int reset = 0;
        if (idx < s->base || idx > s->granted || !s->open) {
            /* a seek (or the first read): start over there. Reading the
             * chunk right after the grant is not one: the grant grows */
            s->base = s->next = s->granted = idx;
            s->ra = s->w < 2 ? s->w : 2;
            reset = 1;
        } else {
            /* keep one chunk behind the reader when the window allows:
             * demuxers often step back a little */
            uint64_t keep = s->w >= 3 && idx > 0 ? idx - 1 : idx;
            if (keep > s->base) {
                s->base = keep;
                s->ra = s->ra * 2 < s->w ? s->ra * 2 : s->w;
            }
        }
        if ((r = xs_grant(s, reset, err, errlen)) < 0)
            return r;
        if (idx >= s->next && (r = xs_wait(s, idx, err, errlen)) < 0)
            return r;
        const struct slot *sl = &s->slots[idx % s->w];
        if (!sl->valid || sl->idx != idx)
            return dcv_err(err, errlen, -EIO, "stream: chunk %" PRIu64 " lost", idx);
        uint64_t in = pos - idx * s->cm;
        size_t n = sl->len - in;
        if (n > len - done)
            n = len - done;
        memcpy((uint8_t *)buf + done, s->mem + (size_t)(idx % s->w) * s->cm + in, n);
        done += n;
        /* return what is here rather than wait for more */
        if (done < len && (pos + n) / s->cm >= s->next)
            break;
    }
    return (int64_t)done;
}

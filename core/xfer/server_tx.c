/*
 * The data server's send side (FETCH, CREDIT in, CHUNK out, the receiver's
 * COMMIT): one chunk is pread into a per-transfer buffer and sent while
 * credit lasts; range readers may jump. See server.c for the transfer life.
 */
#include "xfer/server_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

/* ---- sending (FETCH) ----------------------------------------------------- */

void xsrv_tx_send(struct dcv_xsrv *s, struct xfer *x)
{
    uint8_t hdr[DCV_XFER_CHUNK_HDR_LEN];
    char err[256];

    for (;;) {
        if (!x->have_chunk) {
            struct dcv_xfer_chunk c;
            if (!dcv_xfer_tx_next(x->tx, &c))
                return;
            if (!x->buf && !(x->buf = malloc(x->cm ? x->cm : 1))) {
                xsrv_abort_xfer(s, x, DCV_CODE_INTERNAL, "out of memory");
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
                    xsrv_abort_xfer(s, x, DCV_CODE_IO, err);
                    return;
                }
                done += (size_t)n;
            }
            c.crc32c = dcv_crc32c(0, x->buf, c.len);
            x->chunk = c;
            x->have_chunk = 1;
            xsrv_buffered_add(s, c.len);
        }
        if (dcv_xfer_chunk_encode(&x->chunk, hdr, sizeof(hdr), err, sizeof(err)) < 0) {
            xsrv_abort_xfer(s, x, DCV_CODE_INTERNAL, err);
            return;
        }
        int r = dcv_sock_send(s->sock, &x->peer, DCV_CMD_CHUNK, hdr, sizeof(hdr), x->buf,
                              x->chunk.len, err, sizeof(err));
        if (r == -EAGAIN) {
            s->blocked = 1;
            return;
        }
        if (r == -EHOSTUNREACH) {
            xsrv_peer_gone(s, &x->peer);
            return;
        }
        if (r < 0) {
            xsrv_abort_xfer(s, x, DCV_CODE_INTERNAL, err);
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

void xsrv_on_fetch(struct dcv_xsrv *s, const struct dcv_tx_peer *peer,
                   const struct dcv_proto_xfer_open *o)
{
    uint64_t id = (uint64_t)o->blob.xfer_id;
    char err[256];

    if (o->purpose != DCV_PURPOSE_INPUT && o->purpose != DCV_PURPOSE_DOWNLOAD) {
        xsrv_send_abort(s, peer, id, DCV_CODE_PROTOCOL, "FETCH with purpose %s: only input and "
                   "download are fetched from the coordinator",
                   o->purpose == DCV_PURPOSE_UPLOAD ? "upload" : "output");
        return;
    }
    /* the same peer asking again (a retry after a stall, or a range reader
     * coming back after a pause) replaces its old state */
    struct xfer *old = xsrv_find(s, peer, id, DIR_TX);
    if (old)
        xsrv_finish(s, old, 0, "superseded by a new FETCH");

    struct xfer *x = xsrv_open_app(s, peer, DIR_TX, o, 0, s->cb.on_fetch);
    if (!x)
        return;
    if (x->f.fd < 0 || x->f.size < 0 || x->f.size > DCV_PROTO_MAX_SIZE) {
        xsrv_abort_xfer(s, x, DCV_CODE_INTERNAL, "sender: bad file from the application");
        return;
    }
    if (o->blob.size >= 0 && o->blob.size != x->f.size) {
        snprintf(err, sizeof(err), "size %" PRId64 " asked, the file has %" PRId64, o->blob.size,
                 x->f.size);
        xsrv_abort_xfer(s, x, DCV_CODE_STALE, err);
        return;
    }
    if (o->blob.sha256[0] && x->f.sha256[0] && strcmp(o->blob.sha256, x->f.sha256) != 0) {
        xsrv_abort_xfer(s, x, DCV_CODE_STALE, "sha256 asked differs from the file's");
        return;
    }
    /* The receiver's chunk size when it names one (it has to: its credit
     * offsets count in it); ours otherwise. */
    x->cm = o->chunk_max > 0 ? (uint32_t)o->chunk_max : s->p.chunk_max;
    x->range = o->range;
    if (dcv_xfer_tx_new(id, (uint64_t)x->f.size, x->cm, &x->tx, err, sizeof(err)) < 0) {
        xsrv_abort_xfer(s, x, DCV_CODE_INTERNAL, err);
        return;
    }
    dcv_log(DCV_LOG_DEBUG, COMP, "%s: sending %" PRId64 " bytes in chunks of %" PRIu32, x->tag,
            x->f.size, x->cm);
}

void xsrv_on_credit(struct dcv_xsrv *s, const struct dcv_tx_peer *peer,
                    const struct dcv_proto_msg *m)
{
    struct dcv_xfer_credit c;
    char err[256];

    if (dcv_xfer_credit_decode(m->body, m->body_len, &c, err, sizeof(err)) < 0) {
        uint64_t id = xsrv_read_id(m->body, m->body_len);
        struct xfer *x = xsrv_find(s, peer, id, DIR_TX);
        if (x)
            xsrv_abort_xfer(s, x, DCV_CODE_PROTOCOL, err);
        else
            xsrv_send_abort(s, peer, id, DCV_CODE_PROTOCOL, "%s", err);
        return;
    }
    struct xfer *x = xsrv_find(s, peer, c.xfer_id, DIR_TX);
    if (!x) {
        /* ended, or we restarted: "busy" makes the peer open it again */
        xsrv_send_abort(s, peer, c.xfer_id, DCV_CODE_BUSY, "CREDIT for unknown transfer %" PRIu64
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
            xsrv_abort_xfer(s, x, DCV_CODE_INTERNAL, err);
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
        xsrv_abort_xfer(s, x, DCV_CODE_PROTOCOL, err);
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
    xsrv_tx_send(s, x);
}

void xsrv_on_commit(struct dcv_xsrv *s, const struct dcv_tx_peer *peer,
                    const struct dcv_proto_msg *m)
{
    struct dcv_proto_commit c;
    char err[256], why[256];

    if (dcv_proto_commit_from_json(m->body, m->body_len, &c, err, sizeof(err)) < 0) {
        dcv_log(DCV_LOG_INFO, COMP, "bad COMMIT dropped: %s", err);
        return;
    }
    struct xfer *x = xsrv_find(s, peer, (uint64_t)c.xfer_id, DIR_TX);
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
    xsrv_finish(s, x, ok, why);
}

/*
 * The data server's receive side (OFFER, CHUNK, CREDIT out, COMMIT out):
 * chunks are pwritten at their offset straight from the message buffer, a
 * resume re-hashes the prefix a slice per pump, and COMMIT goes out only
 * once the whole file is synced. See server.c for the transfer life.
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

/* ---- receiving (OFFER) --------------------------------------------------- */

void xsrv_rx_flush_credit(struct dcv_xsrv *s, struct xfer *x)
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
        xsrv_abort_xfer(s, x, DCV_CODE_INTERNAL, err);
        return;
    }
    int r = dcv_sock_send(s->sock, &x->peer, DCV_CMD_CREDIT, buf, sizeof(buf), NULL, 0, err,
                          sizeof(err));
    if (r == 0) {
        x->have_credit = 0;
    } else if (r == -EAGAIN) {
        s->blocked = 1;
    } else if (r == -EHOSTUNREACH) {
        xsrv_peer_gone(s, &x->peer);
    } else {
        xsrv_abort_xfer(s, x, DCV_CODE_INTERNAL, err);
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
        xsrv_abort_xfer(s, x, DCV_CODE_TRANSFER, dcv_xfer_rx_reason(x->rx));
        return;
    }
    dcv_xfer_rx_info(x->rx, &info);
    /* COMMIT promises durability: sync what is not yet, and drop bytes a
     * longer earlier attempt may have left past the end */
    if (fstat(x->f.fd, &sb) == 0 && (uint64_t)sb.st_size > info.size &&
        ftruncate(x->f.fd, (off_t)info.size) < 0) {
        snprintf(err, sizeof(err), "truncate to %" PRIu64 ": %s", info.size, strerror(errno));
        xsrv_abort_xfer(s, x, DCV_CODE_IO, err);
        return;
    }
    if (x->synced < info.size || x->synced == 0) {
        if (fdatasync(x->f.fd) < 0) {
            snprintf(err, sizeof(err), "fdatasync: %s", strerror(errno));
            xsrv_abort_xfer(s, x, errno == ENOSPC ? DCV_CODE_NOSPACE : DCV_CODE_IO, err);
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
        xsrv_abort_xfer(s, x, DCV_CODE_INTERNAL, err);
        return;
    }
    xsrv_send_json(s, &x->peer, DCV_CMD_COMMIT, json);
    free(json);
    xsrv_finish(s, x, c.ok, c.ok ? "" : dcv_xfer_rx_reason(x->rx));
}

/* Re-hash the resume prefix a little at a time. */
void xsrv_rx_prefix(struct dcv_xsrv *s, struct xfer *x)
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
            xsrv_abort_xfer(s, x, DCV_CODE_IO, err);
            return;
        }
        if (dcv_xfer_rx_prefix(x->rx, s->scratch, (size_t)got, err, sizeof(err)) < 0) {
            xsrv_abort_xfer(s, x, DCV_CODE_INTERNAL, err);
            return;
        }
        x->hashed += (uint64_t)got;
        budget = budget > (uint64_t)got ? budget - (uint64_t)got : 0;
    }
    if (x->hashed == x->resume) {
        rx_conclude(s, x);
        if (!x->dead)
            xsrv_rx_flush_credit(s, x);
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

void xsrv_on_offer(struct dcv_xsrv *s, const struct dcv_tx_peer *peer,
                   const struct dcv_proto_xfer_open *o)
{
    uint64_t id = (uint64_t)o->blob.xfer_id;
    char err[256];
    uint8_t sha[DCV_SHA256_LEN];

    if (o->purpose != DCV_PURPOSE_UPLOAD && o->purpose != DCV_PURPOSE_OUTPUT) {
        xsrv_send_abort(s, peer, id, DCV_CODE_PROTOCOL, "OFFER with purpose %s: only upload and output "
                   "are offered to the coordinator", o->purpose == DCV_PURPOSE_INPUT ? "input"
                                                                                     : "download");
        return;
    }
    struct xfer *old = xsrv_find(s, NULL, id, DIR_RX);
    if (old) {
        if (old->open.purpose != o->purpose || old->open.blob.size != o->blob.size ||
            strcmp(old->open.blob.sha256, o->blob.sha256) != 0) {
            xsrv_send_abort(s, peer, id, DCV_CODE_PROTOCOL, "xfer_id %" PRIu64 " already in use", id);
            return;
        }
        /* the same file again: the sender retried or reconnected. The old
         * state goes (its prefix is kept), the new one resumes from it. */
        xsrv_finish(s, old, 0, "superseded by a new OFFER of the same file");
    }
    if (dcv_sha256_parse_hex(o->blob.sha256, sha, err, sizeof(err)) < 0) {
        xsrv_send_abort(s, peer, id, DCV_CODE_PROTOCOL, "OFFER sha256: %s", err);
        return;
    }

    struct xfer *x = xsrv_open_app(s, peer, DIR_RX, o, (uint32_t)o->chunk_max, s->cb.on_offer);
    if (!x)
        return;
    if (x->f.fd < 0 || x->f.durable < 0 || x->f.durable > o->blob.size) {
        xsrv_abort_xfer(s, x, DCV_CODE_INTERNAL, "receiver: bad file from the application");
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
        xsrv_abort_xfer(s, x, DCV_CODE_INTERNAL, err);
        return;
    }
    struct dcv_xfer_rx_info info;
    dcv_xfer_rx_info(x->rx, &info);
    x->resume = x->written = x->synced = info.resume_offset;
    dcv_log(DCV_LOG_DEBUG, COMP, "%s: receiving %" PRId64 " bytes, resuming at %" PRIu64, x->tag,
            o->blob.size, x->resume);
    xsrv_rx_prefix(s, x); /* also the first CREDIT, or the COMMIT of what is all there */
}

void xsrv_on_chunk(struct dcv_xsrv *s, const struct dcv_tx_peer *peer,
                   const struct dcv_proto_msg *m)
{
    struct dcv_xfer_chunk c;
    struct dcv_xfer_write w;
    char err[256];

    if (dcv_xfer_chunk_decode(m->body, m->body_len, DCV_XFER_CHUNK_MAX_LIMIT, &c, err,
                              sizeof(err)) < 0) {
        xsrv_send_abort(s, peer, xsrv_read_id(m->body, m->body_len), DCV_CODE_PROTOCOL, "%s", err);
        return;
    }
    struct xfer *x = xsrv_find(s, peer, c.xfer_id, DIR_RX);
    if (!x) {
        /* ended, or we restarted: "busy" makes the peer open it again */
        xsrv_send_abort(s, peer, c.xfer_id, DCV_CODE_BUSY, "CHUNK for unknown transfer %" PRIu64
                   ": open it again", c.xfer_id);
        return;
    }
    int r = dcv_xfer_rx_chunk(x->rx, &c, m->payload, m->payload_len, s->now, &w, err, sizeof(err));
    if (r == -EPROTO) {
        xsrv_abort_xfer(s, x, DCV_CODE_PROTOCOL, err);
        return;
    }
    if (r < 0) { /* duplicate, gap, crc: the stall timer recovers */
        dcv_log(DCV_LOG_DEBUG, COMP, "%s: chunk dropped: %s", x->tag, err);
        return;
    }
    xsrv_buffered_add(s, w.len);
    size_t done = 0;
    while (done < w.len) {
        ssize_t n = pwrite(x->f.fd, w.data + done, w.len - done, (off_t)(w.offset + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = n < 0 ? errno : EIO;
            s->buffered -= w.len;
            snprintf(err, sizeof(err), "write at %" PRIu64 ": %s", w.offset + done, strerror(e));
            xsrv_abort_xfer(s, x, e == ENOSPC || e == EDQUOT ? DCV_CODE_NOSPACE : DCV_CODE_IO, err);
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
            xsrv_abort_xfer(s, x, e == ENOSPC ? DCV_CODE_NOSPACE : DCV_CODE_IO, err);
            return;
        }
        x->synced = x->written;
    }
    if (dcv_xfer_rx_durable(x->rx, x->written, err, sizeof(err)) < 0) {
        xsrv_abort_xfer(s, x, DCV_CODE_INTERNAL, err);
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
        xsrv_rx_flush_credit(s, x);
}

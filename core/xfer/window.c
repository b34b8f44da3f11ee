/*
 * Data-plane flow control state machines. See window.h for the protocol.
 *
 * Both sides count in chunk indices (offset / chunk_max): every chunk but
 * the LAST is exactly chunk_max long, so indices map to byte ranges
 * exactly and credit arithmetic cannot drift.
 */
#include "xfer/window.h"
#include "errbuf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REASON_LEN 256


const char *dcv_xfer_state_name(enum dcv_xfer_state st)
{
    switch (st) {
    case DCV_XFER_RUNNING:
        return "running";
    case DCV_XFER_WAIT_SHA:
        return "waiting for digest";
    case DCV_XFER_COMMITTED:
        return "committed";
    case DCV_XFER_MISMATCH:
        return "sha256 mismatch";
    case DCV_XFER_ABORTED:
        return "aborted";
    }
    return "?";
}

/* Chunks in a file of `size` bytes; an empty file still has one (empty,
 * LAST) chunk so the receiver learns that it ended. */
static uint64_t chunk_count(uint64_t size, uint32_t cm)
{
    if (size == DCV_XFER_SIZE_UNKNOWN)
        return UINT64_MAX;
    return size == 0 ? 1 : (size - 1) / cm + 1;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/* ---- receiver ------------------------------------------------------------ */

struct dcv_xfer_rx {
    uint64_t xfer_id;
    uint32_t cm;
    uint32_t window;
    uint32_t stall_ms;
    uint32_t max_retries;
    uint64_t size;     /* declared, or learnt from LAST; DCV_XFER_SIZE_UNKNOWN until then */
    uint64_t n_chunks; /* UINT64_MAX while the size is unknown */

    uint64_t resume_off;
    uint64_t hashed; /* prefix bytes fed so far */
    int ready;       /* prefix complete */

    uint64_t next_idx;    /* next chunk expected */
    uint64_t durable_off; /* caller's last durable report */
    uint64_t durable_idx; /* chunks fully durable */
    uint64_t grant_idx;   /* credit we are willing to give: durable_idx + window, clamped */
    uint64_t announced;   /* credit the sender has been told about */
    int reset_pending;    /* next credit restarts the sender at next_idx */
    int last_seen;

    uint64_t last_progress; /* ms: last accepted chunk or credit sent */
    uint32_t retries;
    uint32_t resets;

    struct dcv_sha256 *sha;
    int have_expected;
    uint8_t expected[DCV_SHA256_LEN];
    int have_digest;
    uint8_t digest[DCV_SHA256_LEN];

    enum dcv_xfer_state state;
    char reason[REASON_LEN];
};

static void rx_set_reason(struct dcv_xfer_rx *rx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void rx_set_reason(struct dcv_xfer_rx *rx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rx->reason, sizeof(rx->reason), fmt, ap);
    va_end(ap);
}

static void rx_verify(struct dcv_xfer_rx *rx)
{
    if (!rx->have_expected) {
        rx->state = DCV_XFER_WAIT_SHA;
        return;
    }
    if (memcmp(rx->digest, rx->expected, DCV_SHA256_LEN) == 0) {
        rx->state = DCV_XFER_COMMITTED;
        rx->reason[0] = '\0';
        return;
    }
    char got[2 * DCV_SHA256_LEN + 1], want[2 * DCV_SHA256_LEN + 1];
    dcv_sha256_hex(rx->digest, got);
    dcv_sha256_hex(rx->expected, want);
    rx->state = DCV_XFER_MISMATCH;
    rx_set_reason(rx, "sha256 mismatch: received %s, expected %s", got, want);
}

/* Every byte is durable: close the digest and judge it. */
static void rx_finish(struct dcv_xfer_rx *rx)
{
    dcv_sha256_final(rx->sha, rx->digest);
    rx->have_digest = 1;
    rx_verify(rx);
}

static void rx_update_grant(struct dcv_xfer_rx *rx)
{
    uint64_t g = rx->durable_idx + rx->window;
    rx->grant_idx = min_u64(g, rx->n_chunks);
}

int dcv_xfer_rx_new(const struct dcv_xfer_rx_params *p, uint64_t now_ms,
                    struct dcv_xfer_rx **out, char *err, size_t errlen)
{
    if (!p || !out)
        return dcv_err(err, errlen, -EINVAL, "xfer receiver: missing parameters");
    if (p->chunk_max == 0 || p->chunk_max > DCV_XFER_CHUNK_MAX_LIMIT)
        return dcv_err(err, errlen, -EINVAL, "xfer receiver: chunk_max %" PRIu32
                    " out of range 1..%u", p->chunk_max, DCV_XFER_CHUNK_MAX_LIMIT);
    if (p->window == 0 || p->window > DCV_XFER_WINDOW_LIMIT)
        return dcv_err(err, errlen, -EINVAL, "xfer receiver: window %" PRIu32
                    " out of range 1..%u", p->window, DCV_XFER_WINDOW_LIMIT);
    if (p->stall_ms == 0)
        return dcv_err(err, errlen, -EINVAL, "xfer receiver: stall_ms must be > 0");
    if (p->size != DCV_XFER_SIZE_UNKNOWN && p->durable_offset > p->size)
        return dcv_err(err, errlen, -EINVAL, "xfer receiver: durable_offset %" PRIu64
                    " beyond size %" PRIu64, p->durable_offset, p->size);
    if (p->size == DCV_XFER_SIZE_UNKNOWN && p->durable_offset == DCV_XFER_SIZE_UNKNOWN)
        return dcv_err(err, errlen, -EINVAL, "xfer receiver: durable_offset out of range");

    struct dcv_xfer_rx *rx = calloc(1, sizeof(*rx));
    if (!rx)
        return dcv_err(err, errlen, -ENOMEM, "xfer receiver: out of memory");
    if (dcv_sha256_new(&rx->sha) < 0) {
        free(rx);
        return dcv_err(err, errlen, -ENOMEM, "xfer receiver: out of memory");
    }
    rx->xfer_id = p->xfer_id;
    rx->cm = p->chunk_max;
    rx->window = p->window;
    rx->stall_ms = p->stall_ms;
    rx->max_retries = p->max_retries;
    rx->size = p->size;
    rx->n_chunks = chunk_count(p->size, p->chunk_max);
    if (p->sha256) {
        memcpy(rx->expected, p->sha256, DCV_SHA256_LEN);
        rx->have_expected = 1;
    }

    if (p->size != DCV_XFER_SIZE_UNKNOWN && p->durable_offset == p->size) {
        /* everything was already written before a restart: only the digest
         * (over the prefix) and the COMMIT are left */
        rx->resume_off = p->size;
        rx->next_idx = rx->n_chunks;
        rx->durable_idx = rx->n_chunks;
        rx->last_seen = 1;
    } else {
        uint64_t idx = p->durable_offset / p->chunk_max;
        /* with no declared size, only the LAST flag tells where the file
         * ends, so the chunk carrying it must come again */
        if (p->size == DCV_XFER_SIZE_UNKNOWN && idx > 0 && p->durable_offset % p->chunk_max == 0)
            idx--;
        rx->resume_off = idx * p->chunk_max;
        rx->next_idx = idx;
        rx->durable_idx = idx;
        rx->reset_pending = 1;
    }
    rx->durable_off = rx->resume_off;
    rx->announced = rx->next_idx;
    rx_update_grant(rx);
    rx->last_progress = now_ms;
    rx->state = DCV_XFER_RUNNING;
    if (rx->resume_off == 0) {
        rx->ready = 1;
        if (rx->last_seen)
            rx_finish(rx);
    }
    *out = rx;
    return 0;
}

void dcv_xfer_rx_free(struct dcv_xfer_rx **rx)
{
    if (!rx || !*rx)
        return;
    dcv_sha256_free(&(*rx)->sha);
    free(*rx);
    *rx = NULL;
}

int dcv_xfer_rx_prefix(struct dcv_xfer_rx *rx, const void *data, size_t len, char *err,
                       size_t errlen)
{
    if (rx->ready)
        return dcv_err(err, errlen, -EINVAL, "xfer %" PRIu64 ": resume prefix already complete",
                    rx->xfer_id);
    if (len > rx->resume_off - rx->hashed)
        return dcv_err(err, errlen, -EINVAL, "xfer %" PRIu64 ": prefix of %" PRIu64
                    " bytes would pass the resume offset %" PRIu64, rx->xfer_id,
                    rx->hashed + (uint64_t)len, rx->resume_off);
    if (len && !data)
        return dcv_err(err, errlen, -EINVAL, "xfer %" PRIu64 ": prefix data missing", rx->xfer_id);
    dcv_sha256_update(rx->sha, data, len);
    rx->hashed += len;
    if (rx->hashed == rx->resume_off) {
        rx->ready = 1;
        if (rx->last_seen && rx->state == DCV_XFER_RUNNING)
            rx_finish(rx);
    }
    return 0;
}

int dcv_xfer_rx_expect(struct dcv_xfer_rx *rx, const uint8_t sha256[DCV_SHA256_LEN], char *err,
                       size_t errlen)
{
    if (rx->have_expected)
        return dcv_err(err, errlen, -EINVAL, "xfer %" PRIu64 ": expected sha256 already set",
                    rx->xfer_id);
    memcpy(rx->expected, sha256, DCV_SHA256_LEN);
    rx->have_expected = 1;
    if (rx->state == DCV_XFER_WAIT_SHA)
        rx_verify(rx);
    return 0;
}

int dcv_xfer_rx_next_credit(struct dcv_xfer_rx *rx, uint64_t now_ms, struct dcv_xfer_credit *out)
{
    if (rx->state != DCV_XFER_RUNNING || !rx->ready)
        return 0;
    uint64_t from;
    if (rx->reset_pending) {
        rx->reset_pending = 0;
        if (rx->grant_idx <= rx->next_idx)
            return 0; /* the whole window is with the caller's writes */
        from = rx->next_idx;
        rx->resets++;
    } else if (rx->grant_idx > rx->announced) {
        from = rx->announced;
    } else {
        return 0;
    }
    out->xfer_id = rx->xfer_id;
    out->offset = from * rx->cm;
    out->chunks = (uint32_t)(rx->grant_idx - from); /* <= window */
    rx->announced = rx->grant_idx;
    rx->last_progress = now_ms;
    return 1;
}

/* A sender that breaks these rules is buggy or hostile; retransmitting
 * would not fix it, so the transfer ends now with the reason. */
static int rx_violation(struct dcv_xfer_rx *rx, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int rx_violation(struct dcv_xfer_rx *rx, char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rx->reason, sizeof(rx->reason), fmt, ap);
    va_end(ap);
    rx->state = DCV_XFER_ABORTED;
    return dcv_err(err, errlen, -EPROTO, "xfer %" PRIu64 ": %s", rx->xfer_id, rx->reason);
}

int dcv_xfer_rx_chunk(struct dcv_xfer_rx *rx, const struct dcv_xfer_chunk *c,
                      const void *payload, size_t payload_len, uint64_t now_ms,
                      struct dcv_xfer_write *w, char *err, size_t errlen)
{
    if (rx->state != DCV_XFER_RUNNING)
        return dcv_err(err, errlen, -ESTALE, "xfer %" PRIu64 ": chunk after the transfer ended (%s)",
                    rx->xfer_id, dcv_xfer_state_name(rx->state));
    if (c->xfer_id != rx->xfer_id)
        return dcv_err(err, errlen, -ESTALE, "chunk for xfer %" PRIu64 ", this is xfer %" PRIu64,
                    c->xfer_id, rx->xfer_id);
    if (!rx->ready)
        return dcv_err(err, errlen, -EAGAIN, "xfer %" PRIu64 ": resume prefix not hashed yet",
                    rx->xfer_id);
    if (payload_len != c->len || (c->len && !payload))
        return dcv_err(err, errlen, -EBADMSG, "xfer %" PRIu64 ": payload of %zu bytes, header len %"
                    PRIu32, rx->xfer_id, payload ? payload_len : 0, c->len);

    /* structural rules: no loss, duplication or reordering can break these */
    if (c->flags & ~DCV_XFER_FLAG_LAST)
        return rx_violation(rx, err, errlen, "chunk flags 0x%" PRIx32 " has unknown bits",
                            c->flags);
    if (c->len > rx->cm)
        return rx_violation(rx, err, errlen, "chunk len %" PRIu32 " exceeds chunk_max %" PRIu32,
                            c->len, rx->cm);
    if (c->offset % rx->cm != 0)
        return rx_violation(rx, err, errlen, "chunk offset %" PRIu64
                            " is not a multiple of chunk_max %" PRIu32, c->offset, rx->cm);
    int last = (c->flags & DCV_XFER_FLAG_LAST) != 0;
    if (!last && c->len != rx->cm)
        return rx_violation(rx, err, errlen, "chunk at offset %" PRIu64 " has len %" PRIu32
                            " without LAST (only the LAST chunk may be shorter than %" PRIu32 ")",
                            c->offset, c->len, rx->cm);
    uint64_t end = c->offset + c->len; /* decode guarantees no overflow */
    if (end < c->offset)
        return rx_violation(rx, err, errlen, "chunk offset + len overflows");
    if (rx->size != DCV_XFER_SIZE_UNKNOWN) {
        if (end > rx->size)
            return rx_violation(rx, err, errlen, "chunk [%" PRIu64 ", %" PRIu64
                                ") goes beyond the size %" PRIu64, c->offset, end, rx->size);
        if (last && end != rx->size)
            return rx_violation(rx, err, errlen, "LAST chunk ends at %" PRIu64
                                " but the size is %" PRIu64, end, rx->size);
        if (!last && end == rx->size)
            return rx_violation(rx, err, errlen, "chunk reaches the size %" PRIu64
                                " without the LAST flag", rx->size);
    }

    /* position: duplicates and gaps are normal on a lossy path; ignore them */
    uint64_t idx = c->offset / rx->cm;
    if (idx < rx->next_idx)
        return dcv_err(err, errlen, -ESTALE, "xfer %" PRIu64 ": duplicate chunk at offset %" PRIu64
                    " (expecting %" PRIu64 ")", rx->xfer_id, c->offset, rx->next_idx * rx->cm);
    if (idx > rx->next_idx)
        return dcv_err(err, errlen, -ERANGE, "xfer %" PRIu64 ": out-of-order chunk at offset %"
                    PRIu64 " (expecting %" PRIu64 ")", rx->xfer_id, c->offset,
                    rx->next_idx * rx->cm);
    if (rx->last_seen)
        return rx_violation(rx, err, errlen, "chunk at offset %" PRIu64 " after the LAST one",
                            c->offset);
    if (idx >= rx->announced)
        return dcv_err(err, errlen, -ERANGE, "xfer %" PRIu64 ": chunk at offset %" PRIu64
                    " is beyond the granted credit (ends at %" PRIu64 ")", rx->xfer_id,
                    c->offset, rx->announced * rx->cm);

    uint32_t crc = dcv_crc32c(0, payload, c->len);
    if (crc != c->crc32c)
        return dcv_err(err, errlen, -EBADMSG, "xfer %" PRIu64 ": crc32c mismatch at offset %" PRIu64
                    " (header 0x%08" PRIx32 ", payload 0x%08" PRIx32 ")", rx->xfer_id, c->offset,
                    c->crc32c, crc);

    dcv_sha256_update(rx->sha, payload, c->len);
    rx->next_idx++;
    if (last) {
        rx->last_seen = 1;
        if (rx->size == DCV_XFER_SIZE_UNKNOWN)
            rx->size = end;
        rx->n_chunks = rx->next_idx;
        rx_update_grant(rx);
        /* credit past the end was never usable; it must not look outstanding */
        rx->announced = min_u64(rx->announced, rx->n_chunks);
    }
    rx->last_progress = now_ms;
    rx->retries = 0;
    w->offset = c->offset;
    w->data = payload;
    w->len = c->len;
    return 1;
}

int dcv_xfer_rx_durable(struct dcv_xfer_rx *rx, uint64_t offset, char *err, size_t errlen)
{
    if (rx->state != DCV_XFER_RUNNING)
        return 0; /* late report after the end: nothing left to grant */
    uint64_t accepted = rx->next_idx * rx->cm;
    if (rx->last_seen)
        accepted = rx->size;
    if (offset < rx->durable_off)
        return dcv_err(err, errlen, -EINVAL, "xfer %" PRIu64 ": durable offset went back from %"
                    PRIu64 " to %" PRIu64, rx->xfer_id, rx->durable_off, offset);
    if (offset > accepted)
        return dcv_err(err, errlen, -EINVAL, "xfer %" PRIu64 ": durable offset %" PRIu64
                    " beyond the %" PRIu64 " bytes accepted", rx->xfer_id, offset, accepted);
    rx->durable_off = offset;
    if (rx->last_seen && offset == rx->size)
        rx->durable_idx = rx->next_idx;
    else
        rx->durable_idx = offset / rx->cm;
    rx_update_grant(rx);
    if (rx->last_seen && rx->durable_idx == rx->n_chunks)
        rx_finish(rx);
    return 0;
}

int dcv_xfer_rx_tick(struct dcv_xfer_rx *rx, uint64_t now_ms, char *err, size_t errlen)
{
    uint64_t due = dcv_xfer_rx_deadline(rx);
    if (due == UINT64_MAX || now_ms < due)
        return 0;
    if (rx->retries >= rx->max_retries) {
        rx->state = DCV_XFER_ABORTED;
        rx_set_reason(rx, "no chunk for %" PRIu32 " ms at offset %" PRIu64
                      " after %" PRIu32 " credit re-issues", rx->stall_ms,
                      rx->next_idx * rx->cm, rx->retries);
        return dcv_err(err, errlen, -ETIMEDOUT, "xfer %" PRIu64 ": %s", rx->xfer_id, rx->reason);
    }
    rx->retries++;
    rx->reset_pending = 1;
    return 0;
}

void dcv_xfer_rx_restart(struct dcv_xfer_rx *rx, uint64_t now_ms)
{
    if (rx->state != DCV_XFER_RUNNING)
        return;
    rx->reset_pending = 1;
    rx->last_progress = now_ms;
}

uint64_t dcv_xfer_rx_deadline(const struct dcv_xfer_rx *rx)
{
    /* only credit the sender holds can stall; a window full of our own
     * pending writes is waiting on the caller, not the peer */
    if (rx->state != DCV_XFER_RUNNING || !rx->ready || rx->reset_pending ||
        rx->announced <= rx->next_idx)
        return UINT64_MAX;
    if (rx->last_progress > UINT64_MAX - rx->stall_ms)
        return UINT64_MAX;
    return rx->last_progress + rx->stall_ms;
}

void dcv_xfer_rx_abort(struct dcv_xfer_rx *rx, const char *reason)
{
    if (rx->state != DCV_XFER_RUNNING && rx->state != DCV_XFER_WAIT_SHA)
        return;
    rx->state = DCV_XFER_ABORTED;
    rx_set_reason(rx, "%s", reason ? reason : "aborted");
}

enum dcv_xfer_state dcv_xfer_rx_state(const struct dcv_xfer_rx *rx)
{
    return rx->state;
}

const char *dcv_xfer_rx_reason(const struct dcv_xfer_rx *rx)
{
    return rx->reason;
}

void dcv_xfer_rx_info(const struct dcv_xfer_rx *rx, struct dcv_xfer_rx_info *out)
{
    memset(out, 0, sizeof(*out));
    out->resume_offset = rx->resume_off;
    out->next_offset = rx->last_seen ? rx->size : rx->next_idx * rx->cm;
    out->durable_offset = rx->durable_off;
    out->granted_end = rx->last_seen && rx->announced >= rx->n_chunks ? rx->size
                                                                       : rx->announced * rx->cm;
    out->size = rx->size;
    out->outstanding = rx->announced > rx->next_idx ? (uint32_t)(rx->announced - rx->next_idx) : 0;
    out->pending = (uint32_t)(rx->next_idx - rx->durable_idx);
    out->retries = rx->retries;
    out->resets = rx->resets;
    out->have_digest = rx->have_digest;
    if (rx->have_digest)
        memcpy(out->digest, rx->digest, DCV_SHA256_LEN);
}

/* ---- sender -------------------------------------------------------------- */

struct dcv_xfer_tx {
    uint64_t xfer_id;
    uint64_t size;
    uint32_t cm;
    uint64_t n_chunks;
    int have_credit;
    uint64_t next_idx;
    uint64_t grant_idx;
    uint32_t resets;
    uint64_t sent;
    enum dcv_xfer_state state;
    char reason[REASON_LEN];
};

int dcv_xfer_tx_new(uint64_t xfer_id, uint64_t size, uint32_t chunk_max,
                    struct dcv_xfer_tx **out, char *err, size_t errlen)
{
    if (!out)
        return dcv_err(err, errlen, -EINVAL, "xfer sender: missing output");
    if (chunk_max == 0 || chunk_max > DCV_XFER_CHUNK_MAX_LIMIT)
        return dcv_err(err, errlen, -EINVAL, "xfer sender: chunk_max %" PRIu32
                    " out of range 1..%u", chunk_max, DCV_XFER_CHUNK_MAX_LIMIT);
    if (size == DCV_XFER_SIZE_UNKNOWN)
        return dcv_err(err, errlen, -EINVAL, "xfer sender: the size must be known");
    struct dcv_xfer_tx *tx = calloc(1, sizeof(*tx));
    if (!tx)
        return dcv_err(err, errlen, -ENOMEM, "xfer sender: out of memory");
    tx->xfer_id = xfer_id;
    tx->size = size;
    tx->cm = chunk_max;
    tx->n_chunks = chunk_count(size, chunk_max);
    tx->state = DCV_XFER_RUNNING;
    *out = tx;
    return 0;
}

void dcv_xfer_tx_free(struct dcv_xfer_tx **tx)
{
    if (!tx || !*tx)
        return;
    free(*tx);
    *tx = NULL;
}

int dcv_xfer_tx_credit(struct dcv_xfer_tx *tx, const struct dcv_xfer_credit *c, char *err,
                       size_t errlen)
{
    if (tx->state != DCV_XFER_RUNNING)
        return dcv_err(err, errlen, -ESTALE, "xfer %" PRIu64 ": credit after the transfer ended (%s)",
                    tx->xfer_id, dcv_xfer_state_name(tx->state));
    if (c->xfer_id != tx->xfer_id)
        return dcv_err(err, errlen, -ESTALE, "credit for xfer %" PRIu64 ", this is xfer %" PRIu64,
                    c->xfer_id, tx->xfer_id);
    if (c->offset % tx->cm != 0 || c->offset / tx->cm >= tx->n_chunks || c->chunks == 0) {
        tx->state = DCV_XFER_ABORTED;
        if (c->chunks == 0)
            snprintf(tx->reason, sizeof(tx->reason), "credit of 0 chunks");
        else if (c->offset % tx->cm != 0)
            snprintf(tx->reason, sizeof(tx->reason),
                     "credit offset %" PRIu64 " is not a multiple of chunk_max %" PRIu32,
                     c->offset, tx->cm);
        else
            snprintf(tx->reason, sizeof(tx->reason),
                     "credit offset %" PRIu64 " is beyond the file (%" PRIu64 " bytes)",
                     c->offset, tx->size);
        return dcv_err(err, errlen, -EPROTO, "xfer %" PRIu64 ": %s", tx->xfer_id, tx->reason);
    }
    uint64_t from = c->offset / tx->cm;
    uint64_t end = min_u64(from + c->chunks, tx->n_chunks);
    if (!tx->have_credit || from <= tx->next_idx) {
        /* Ordinary grants start at the end of the previous one, never
         * behind what we sent; one at or behind our position restarts us
         * there (resume, or retransmit after a stall). The first grant
         * also sets the start, which is how a fresh sender resumes. */
        if (tx->have_credit && from < tx->next_idx)
            tx->resets++;
        tx->next_idx = from;
        tx->grant_idx = end;
        tx->have_credit = 1;
    } else if (end > tx->grant_idx) {
        /* grants are contiguous, so a lost earlier one is covered too */
        tx->grant_idx = end;
    }
    return 0;
}

int dcv_xfer_tx_next(struct dcv_xfer_tx *tx, struct dcv_xfer_chunk *c)
{
    if (tx->state != DCV_XFER_RUNNING || !tx->have_credit || tx->next_idx >= tx->grant_idx)
        return 0;
    uint64_t off = tx->next_idx * tx->cm;
    uint64_t left = tx->size - off;
    c->xfer_id = tx->xfer_id;
    c->offset = off;
    c->len = (uint32_t)min_u64(left, tx->cm);
    c->flags = tx->next_idx + 1 == tx->n_chunks ? DCV_XFER_FLAG_LAST : 0;
    c->crc32c = 0;
    tx->next_idx++;
    tx->sent++;
    return 1;
}

int dcv_xfer_tx_commit(struct dcv_xfer_tx *tx, int ok, char *err, size_t errlen)
{
    if (tx->state != DCV_XFER_RUNNING)
        return dcv_err(err, errlen, -ESTALE, "xfer %" PRIu64 ": COMMIT after the transfer ended (%s)",
                    tx->xfer_id, dcv_xfer_state_name(tx->state));
    /* a COMMIT may come before we sent everything: a receiver that had the
     * whole file from an earlier attempt commits at once */
    if (ok) {
        tx->state = DCV_XFER_COMMITTED;
    } else {
        tx->state = DCV_XFER_MISMATCH;
        snprintf(tx->reason, sizeof(tx->reason), "receiver reported a sha256 mismatch");
    }
    return 0;
}

void dcv_xfer_tx_abort(struct dcv_xfer_tx *tx, const char *reason)
{
    if (tx->state != DCV_XFER_RUNNING)
        return;
    tx->state = DCV_XFER_ABORTED;
    snprintf(tx->reason, sizeof(tx->reason), "%s", reason ? reason : "aborted");
}

enum dcv_xfer_state dcv_xfer_tx_state(const struct dcv_xfer_tx *tx)
{
    return tx->state;
}

const char *dcv_xfer_tx_reason(const struct dcv_xfer_tx *tx)
{
    return tx->reason;
}

void dcv_xfer_tx_info(const struct dcv_xfer_tx *tx, struct dcv_xfer_tx_info *out)
{
    memset(out, 0, sizeof(*out));
    out->next_offset = min_u64(tx->next_idx * tx->cm, tx->size);
    out->granted_end = min_u64(tx->grant_idx * tx->cm, tx->size);
    out->resets = tx->resets;
    out->chunks_sent = tx->sent;
}

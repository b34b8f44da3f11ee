/*
 * Data-plane flow control: the receiver and sender state machines of one
 * transfer (DESIGN §4, zguide ch. 7 credit flow). Pure logic: no I/O, no
 * clock (callers pass a monotonic time in ms), and no payload buffering,
 * so memory is bounded by the credit window, never by the file size.
 *
 * Credit protocol, in chunk units (every chunk but the LAST one is exactly
 * chunk_max bytes, so chunk i covers [i*chunk_max, ...)):
 *  - The receiver grants CREDIT {offset, chunks}: "you may send `chunks`
 *    chunks starting at `offset`". Ordinary grants extend the previous one
 *    (offset = end of what was already granted). A grant whose offset is at
 *    or behind the sender's position is a RESET: the sender goes back there
 *    (resume after a restart, or retransmission after a stall).
 *  - The receiver accepts chunks strictly in order, crc-checked, within the
 *    grant; it hands each accepted payload to the caller to write, and only
 *    when the caller reports those bytes durably written does it grant the
 *    chunk's credit back. So granted-but-unsent + in flight + being written
 *    never exceeds `window` chunks.
 *  - If no chunk arrives for stall_ms while credit is outstanding, the
 *    receiver re-issues the credit as a RESET from its next expected offset
 *    (every byte before it is already with the caller), up to max_retries
 *    times in a row, then aborts.
 *  - After the LAST chunk is durable, the sha256 of the whole file (hashed
 *    as chunks are accepted) decides COMMIT ok or mismatch.
 *
 * Return conventions: 0 / documented positive values, or a negative errno
 * with the reason written to err.
 */
#ifndef DCV_XFER_WINDOW_H
#define DCV_XFER_WINDOW_H

#include <stddef.h>
#include <stdint.h>

#include "xfer/chunk.h"

#define DCV_XFER_SIZE_UNKNOWN UINT64_MAX
#define DCV_XFER_WINDOW_LIMIT 4096u

enum dcv_xfer_state {
    DCV_XFER_RUNNING = 0,
    DCV_XFER_WAIT_SHA,  /* receiver: every byte durable, expected digest not known yet */
    DCV_XFER_COMMITTED, /* complete and the sha256 matched */
    DCV_XFER_MISMATCH,  /* complete but the sha256 differs */
    DCV_XFER_ABORTED,
};
const char *dcv_xfer_state_name(enum dcv_xfer_state st);

/* ---- receiver ------------------------------------------------------------ */

struct dcv_xfer_rx_params {
    uint64_t xfer_id;
    uint64_t size;           /* DCV_XFER_SIZE_UNKNOWN: the LAST chunk decides */
    uint32_t chunk_max;      /* 1..DCV_XFER_CHUNK_MAX_LIMIT */
    uint32_t window;         /* credit in chunks, 1..DCV_XFER_WINDOW_LIMIT */
    uint64_t durable_offset; /* bytes [0, durable_offset) are already on disk */
    const uint8_t *sha256;   /* expected digest (32 bytes), or NULL: dcv_xfer_rx_expect() */
    uint32_t stall_ms;       /* > 0 */
    uint32_t max_retries;    /* credit re-issues in a row before aborting */
};

/* What the caller must write: data points into the payload it passed in. */
struct dcv_xfer_write {
    uint64_t offset;
    const uint8_t *data;
    uint32_t len;
};

struct dcv_xfer_rx_info {
    uint64_t resume_offset;  /* where this receiver started */
    uint64_t next_offset;    /* next byte expected */
    uint64_t durable_offset; /* last durable report */
    uint64_t granted_end;    /* end of the credit announced to the sender (bytes) */
    uint64_t size;           /* DCV_XFER_SIZE_UNKNOWN until known */
    uint32_t outstanding;    /* chunks announced but not received */
    uint32_t pending;        /* chunks accepted but not yet durable */
    uint32_t retries;        /* consecutive stall re-issues */
    uint32_t resets;         /* RESET credits issued so far (initial one included) */
    int have_digest;
    uint8_t digest[DCV_SHA256_LEN]; /* of the received file, once complete */
};

struct dcv_xfer_rx;

/* The resume offset is durable_offset rounded down to a chunk boundary (one
 * more chunk back when the size is unknown, so the LAST chunk is seen). */
int dcv_xfer_rx_new(const struct dcv_xfer_rx_params *p, uint64_t now_ms,
                    struct dcv_xfer_rx **out, char *err, size_t errlen);
void dcv_xfer_rx_free(struct dcv_xfer_rx **rx);

/* After a resume, feed the bytes [0, resume_offset) already on disk, in
 * order, so the final sha256 covers the whole file. Until they are all in,
 * no credit is issued and chunks are refused with -EAGAIN. */
int dcv_xfer_rx_prefix(struct dcv_xfer_rx *rx, const void *data, size_t len, char *err,
                       size_t errlen);

/* Supply the expected digest later (e.g. a size-unknown upload announces
 * it at the end). -EINVAL if one was already given. */
int dcv_xfer_rx_expect(struct dcv_xfer_rx *rx, const uint8_t sha256[DCV_SHA256_LEN], char *err,
                       size_t errlen);

/* 1 and *out filled when a CREDIT must be sent now, else 0. Grants freed by
 * several durable reports are coalesced into one message. */
int dcv_xfer_rx_next_credit(struct dcv_xfer_rx *rx, uint64_t now_ms, struct dcv_xfer_credit *out);

/* Offer a received chunk (header already decoded). Returns 1 with *w set
 * when accepted: the caller writes w->len bytes at w->offset, then reports
 * durability with dcv_xfer_rx_durable(). Refusals (nothing to write):
 *   -ESTALE  another transfer, a duplicate, or the transfer is finished
 *   -ERANGE  out of order (a gap before it) or beyond the granted credit
 *   -EBADMSG crc32c mismatch, or payload length differs from the header
 *   -EAGAIN  resume prefix not hashed yet
 *   -EPROTO  the sender broke the protocol (misaligned offset, short
 *            non-LAST chunk, beyond or short of the declared size): the
 *            transfer is now ABORTED; send ABORT with the reason. */
int dcv_xfer_rx_chunk(struct dcv_xfer_rx *rx, const struct dcv_xfer_chunk *c,
                      const void *payload, size_t payload_len, uint64_t now_ms,
                      struct dcv_xfer_write *w, char *err, size_t errlen);

/* Bytes [0, offset) are durably written. Monotonic and never beyond what
 * was accepted (-EINVAL). Frees credit; once the LAST chunk is durable the
 * digest is checked and the state becomes COMMITTED / MISMATCH (or
 * WAIT_SHA). */
int dcv_xfer_rx_durable(struct dcv_xfer_rx *rx, uint64_t offset, char *err, size_t errlen);

/* Run the stall timer. 0, or -ETIMEDOUT when retries ran out (the
 * transfer is now ABORTED). */
int dcv_xfer_rx_tick(struct dcv_xfer_rx *rx, uint64_t now_ms, char *err, size_t errlen);
/* The sender forgot the transfer (it restarted and asked us to open it
 * again): re-issue the credit as a RESET from the next expected offset now,
 * without spending one of the stall retries. */
void dcv_xfer_rx_restart(struct dcv_xfer_rx *rx, uint64_t now_ms);
/* Time (ms) at which tick has something to do; UINT64_MAX for never. */
uint64_t dcv_xfer_rx_deadline(const struct dcv_xfer_rx *rx);

/* The peer sent ABORT, or the caller gives up (write error, cancel). */
void dcv_xfer_rx_abort(struct dcv_xfer_rx *rx, const char *reason);

enum dcv_xfer_state dcv_xfer_rx_state(const struct dcv_xfer_rx *rx);
const char *dcv_xfer_rx_reason(const struct dcv_xfer_rx *rx); /* "" when none */
void dcv_xfer_rx_info(const struct dcv_xfer_rx *rx, struct dcv_xfer_rx_info *out);

/* ---- sender -------------------------------------------------------------- */

struct dcv_xfer_tx_info {
    uint64_t next_offset; /* next chunk to send */
    uint64_t granted_end; /* bytes the receiver allows so far */
    uint32_t resets;      /* credits that moved the sender back */
    uint64_t chunks_sent; /* including retransmissions */
};

struct dcv_xfer_tx;

int dcv_xfer_tx_new(uint64_t xfer_id, uint64_t size, uint32_t chunk_max,
                    struct dcv_xfer_tx **out, char *err, size_t errlen);
void dcv_xfer_tx_free(struct dcv_xfer_tx **tx);

/* Apply a CREDIT (decoded). 0 when applied; -ESTALE for another transfer
 * or a finished one (ignore it); -EPROTO when the offset is misaligned or
 * beyond the file: the transfer is now ABORTED. */
int dcv_xfer_tx_credit(struct dcv_xfer_tx *tx, const struct dcv_xfer_credit *c, char *err,
                       size_t errlen);

/* 1 with *c filled (offset, len, flags; crc32c = 0) when a chunk may be
 * sent now: the caller reads c->len bytes at c->offset, sets
 * c->crc32c = dcv_crc32c(0, bytes, len) and sends it. 0 when out of credit
 * (or finished). */
int dcv_xfer_tx_next(struct dcv_xfer_tx *tx, struct dcv_xfer_chunk *c);

/* COMMIT arrived: ok != 0 means the receiver's sha256 matched. -ESTALE if
 * the transfer already ended. */
int dcv_xfer_tx_commit(struct dcv_xfer_tx *tx, int ok, char *err, size_t errlen);
void dcv_xfer_tx_abort(struct dcv_xfer_tx *tx, const char *reason);

enum dcv_xfer_state dcv_xfer_tx_state(const struct dcv_xfer_tx *tx);
const char *dcv_xfer_tx_reason(const struct dcv_xfer_tx *tx);
void dcv_xfer_tx_info(const struct dcv_xfer_tx *tx, struct dcv_xfer_tx_info *out);

#endif

/*
 * Internal to the data server (server.c, server_rx.c, server_tx.c): the
 * transfer and server records and what the three files call of each
 * other. The public API is xfer/server.h.
 */
#ifndef DCV_XFER_SERVER_INT_H
#define DCV_XFER_SERVER_INT_H

#include <stdint.h>

#include "xfer/chunk.h"
#include "xfer/server.h"
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

/* server.c: control messages and the transfer life */
void xsrv_buffered_add(struct dcv_xsrv *s, uint64_t n);
/* Send a JSON message now, or queue it behind a full pipe. A gone peer
 * ends its transfers. */
void xsrv_send_json(struct dcv_xsrv *s, const struct dcv_tx_peer *peer, int cmd, const char *json);
void xsrv_send_abort(struct dcv_xsrv *s, const struct dcv_tx_peer *peer, uint64_t id, int code,
                     const char *fmt, ...) DCV_PRINTF(5, 6);
void xsrv_peer_gone(struct dcv_xsrv *s, const struct dcv_tx_peer *peer);
/* End a transfer: exactly one callback, fd closed first. */
void xsrv_finish(struct dcv_xsrv *s, struct xfer *x, int ok, const char *reason);
/* Tell the peer and end it. */
void xsrv_abort_xfer(struct dcv_xsrv *s, struct xfer *x, int code, const char *reason);
struct xfer *xsrv_find(struct dcv_xsrv *s, const struct dcv_tx_peer *peer, uint64_t id, int dir);
/* A new transfer the application must agree to; NULL when refused (the
 * peer has been sent ABORT). */
struct xfer *xsrv_open_app(struct dcv_xsrv *s, const struct dcv_tx_peer *peer, int dir,
                           const struct dcv_proto_xfer_open *o, uint32_t cm,
                           int (*ask)(void *ud, const struct dcv_tx_peer *peer,
                                      const struct dcv_proto_xfer_open *o,
                                      struct dcv_xsrv_file *f, int *code, char *msg,
                                      size_t msglen));
/* The xfer_id at the start of a binary body (CHUNK, CREDIT), 0 if short. */
uint64_t xsrv_read_id(const void *body, size_t len);

/* server_rx.c */
void xsrv_on_offer(struct dcv_xsrv *s, const struct dcv_tx_peer *peer,
                   const struct dcv_proto_xfer_open *o);
void xsrv_on_chunk(struct dcv_xsrv *s, const struct dcv_tx_peer *peer,
                   const struct dcv_proto_msg *m);
void xsrv_rx_prefix(struct dcv_xsrv *s, struct xfer *x);
void xsrv_rx_flush_credit(struct dcv_xsrv *s, struct xfer *x);

/* server_tx.c */
void xsrv_on_fetch(struct dcv_xsrv *s, const struct dcv_tx_peer *peer,
                   const struct dcv_proto_xfer_open *o);
void xsrv_on_credit(struct dcv_xsrv *s, const struct dcv_tx_peer *peer,
                    const struct dcv_proto_msg *m);
void xsrv_on_commit(struct dcv_xsrv *s, const struct dcv_tx_peer *peer,
                    const struct dcv_proto_msg *m);
void xsrv_tx_send(struct dcv_xsrv *s, struct xfer *x);

#endif

/*
 * The coordinator's side of the data plane (docs/protocol.md §7): many
 * transfers at once over one data ROUTER, non-blocking, driven by the
 * coordinator's loop. Files are plain fds the application hands over
 * (blob storage decides names and fences); this module moves the bytes
 * with the credit windows of xfer/window.h, so memory stays bounded by
 * chunk_size x credit_chunks per transfer, never by the file size.
 *
 * Receiving (OFFER: purposes upload, output): the application's on_offer
 * gives an fd opened for reading and writing (a temporary file; a resume
 * re-reads the durable prefix to hash it) and how many bytes of it are
 * already durable (resume). A receive that fails leaves the file truncated
 * to the prefix written, synced: its length is the next attempt's durable. Chunks are pwrite()n at their offsets;
 * credit for a chunk is returned once it is written (and the fd is
 * fdatasync()ed every `sync_bytes` and before COMMIT, so "durable" holds for
 * what a resume trusts). After the LAST chunk the sha256 decides COMMIT
 * ok/mismatch, and on_received() tells the application (which renames the
 * temporary file into place on ok).
 *
 * Sending (FETCH: purposes input, download): on_fetch gives an fd to read,
 * its size and sha256; chunks are pread() as credit arrives. A FETCH with
 * `range: true` is a random-access read (streaming input): the receiver's
 * CREDITs may point anywhere chunk-aligned, no COMMIT is expected, and the
 * receiver ends it with ABORT (code `cancelled`). Idle senders (no CREDIT
 * for idle_ms) are dropped.
 *
 * Ownership: fds handed over are closed by the server when the transfer
 * ends (or in dcv_xsrv_free). The socket is borrowed.
 * Threading: the loop's thread only.
 */
#ifndef DCV_XFER_SERVER_H
#define DCV_XFER_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "net.h"
#include "proto.h"

struct dcv_xsrv;

struct dcv_xsrv_params {
    uint32_t chunk_max;     /* bytes, multiple of 4096 (config transfer.chunk_size) */
    uint32_t credit_chunks; /* window (config transfer.credit_chunks) */
    uint32_t stall_ms;      /* liveness x heartbeat: receiver re-issues credit */
    uint32_t max_retries;   /* stall re-issues before ABORT timeout (3) */
    uint32_t idle_ms;       /* sender state dropped after this long without CREDIT */
    uint64_t sync_bytes;    /* fdatasync receive files every this many bytes, 0 = 64 MiB */
};

/* A file the application hands to the server. */
struct dcv_xsrv_file {
    int fd;              /* receive: open O_RDWR; send: open for reading */
    int64_t size;        /* send: bytes to serve */
    char sha256[65];     /* send: hex digest (FETCH replies do not carry it, but
                            the application knows it and may check it) */
    int64_t durable;     /* receive: bytes [0, durable) already in fd (resume) */
    void *user;          /* the application's, given back in the callbacks */
};

struct dcv_xsrv_cbs {
    /* A peer OFFERs a file (purpose upload or output: o->purpose, fence,
     * xfer_id, size, sha256, chunk_max). Return 0 with f filled to accept,
     * or a negative errno with *code (enum dcv_proto_code) and msg to
     * refuse (the server sends ABORT). */
    int (*on_offer)(void *ud, const struct dcv_tx_peer *peer, const struct dcv_proto_xfer_open *o,
                    struct dcv_xsrv_file *f, int *code, char *msg, size_t msglen);
    /* A peer FETCHes a file (purpose input or download). Same contract. */
    int (*on_fetch)(void *ud, const struct dcv_tx_peer *peer, const struct dcv_proto_xfer_open *o,
                    struct dcv_xsrv_file *f, int *code, char *msg, size_t msglen);
    /* A received file is finished: ok = every byte durable and the sha256
     * matched (COMMIT ok was sent). Otherwise reason says why (mismatch,
     * ABORT from the peer, stall timeout, write error). The fd is closed
     * already. Called exactly once per accepted OFFER. */
    void (*on_received)(void *ud, const struct dcv_proto_xfer_open *o, void *user, int ok,
                        const char *reason);
    /* A sent file is finished (COMMIT received, ABORT, or idle). ok: COMMIT
     * ok with the file's size and sha256, or a range read its reader ended
     * (ABORT cancelled). May be NULL. */
    void (*on_sent)(void *ud, const struct dcv_proto_xfer_open *o, void *user, int ok,
                    const char *reason);
    /* Bytes moved, for progress (receive: durable bytes; send: bytes sent).
     * May be NULL; called at most once per chunk. */
    void (*on_progress)(void *ud, const struct dcv_proto_xfer_open *o, void *user, int64_t done);
};

int dcv_xsrv_new(struct dcv_sock *data_sock, const struct dcv_xsrv_params *p,
                 const struct dcv_xsrv_cbs *cbs, void *ud, struct dcv_xsrv **out, char *err,
                 size_t errlen);
/* Aborts every transfer (no callbacks), closes their fds, frees. NULL ok. */
void dcv_xsrv_free(struct dcv_xsrv **s);

/* Handle one message received on the data socket (as dcv_sock_recv gave
 * it). Protocol violations are answered with ABORT and logged, never fatal. */
void dcv_xsrv_input(struct dcv_xsrv *s, const struct dcv_tx_peer *from,
                    const struct dcv_proto_msg *m, uint64_t now_ms);
/* Send what credit allows (retrying -EAGAIN sends), run stall and idle
 * timers. Call after input and whenever dcv_xsrv_deadline() passes. */
void dcv_xsrv_pump(struct dcv_xsrv *s, uint64_t now_ms);
/* The next time pump has work (ms, dcv_loop_now_ms clock); UINT64_MAX none. */
uint64_t dcv_xsrv_deadline(const struct dcv_xsrv *s);
/* Abort (ABORT to the peer, callbacks with ok 0) every transfer fenced to
 * this job: the attempt was cancelled, requeued or superseded. */
void dcv_xsrv_abort_job(struct dcv_xsrv *s, const char *job_id, int code, const char *reason);

struct dcv_xsrv_stats {
    unsigned active_rx, active_tx;
    uint64_t bytes_in, bytes_out;
    uint64_t buffered_max; /* largest number of payload bytes held at once */
};
void dcv_xsrv_stats(const struct dcv_xsrv *s, struct dcv_xsrv_stats *out);

#endif

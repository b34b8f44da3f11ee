/*
 * The peer side of the data plane (docs/protocol.md §7) for processes that
 * do one thing at a time: distconvctl (upload, download) and a worker's job
 * process (input fetch, streamed input reads, output upload). Blocking, over
 * one DEALER to the coordinator's data ROUTER; every wait is bounded and
 * interruptible.
 *
 * Cancellation: if params.cancel is non-NULL, every wait returns
 * -ECANCELED soon after *cancel becomes non-zero (the job process's SIGTERM
 * handler sets it). Waits are poll()s of at most 200 ms.
 *
 * Errors: 0 or a negative errno with the reason in err:
 *   -ETIMEDOUT   no progress for params.timeout_ms (peer gone, stalls out)
 *   -ECANCELED   *cancel was set
 *   -EREMOTEIO   the peer sent ABORT (its code and message are in err as
 *                "CODE: message"; *abort_code receives the code when given)
 *   -EBADMSG     the received file's sha256 differs from the announced one
 *   -EPROTO      the peer broke the protocol
 *   -EIO/-ENOSPC local file errors
 */
#ifndef DCV_XFER_CLIENT_H
#define DCV_XFER_CLIENT_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "net.h"
#include "proto.h"

struct dcv_xcli;

struct dcv_xcli_params {
    uint32_t chunk_max;     /* what this side offers / asks for; 0 = 1 MiB */
    uint32_t credit_chunks; /* window when receiving; 0 = 8 */
    uint32_t stall_ms;      /* receive: re-issue credit after this; 0 = 6000 */
    uint32_t max_retries;   /* 0 = 3 */
    int64_t timeout_ms;     /* give up after this long without progress; 0 = 30000 */
    volatile sig_atomic_t *cancel; /* optional */
};

/* Progress: bytes done of total (total -1 when unknown). */
typedef void (*dcv_xcli_progress_fn)(int64_t done, int64_t total, void *ud);

/* Connect a DEALER to the data endpoint (nothing is sent yet). */
int dcv_xcli_open(struct dcv_net *net, const char *data_endpoint, const struct dcv_xcli_params *p,
                  struct dcv_xcli **out, char *err, size_t errlen);
void dcv_xcli_close(struct dcv_xcli **c);

/* SHA-256 of a whole file (reads it once): hex into sha (65 bytes), the
 * bytes read into *size when size is not NULL. */
int dcv_xcli_sha256_fd(int fd, int64_t *size, char sha[65], char *err, size_t errlen);
/* The same with progress (optional: after each MiB read, of the file's
 * size at the start) and cancellation (optional: -ECANCELED soon after
 * *cancel becomes non-zero), for a large file that takes a while. */
int dcv_xcli_sha256_fd_progress(int fd, int64_t *size, char sha[65],
                                dcv_xcli_progress_fn progress, void *ud,
                                volatile sig_atomic_t *cancel, char *err, size_t errlen);

/*
 * Send the file open on fd (from offset 0): OFFER with `purpose`
 * (DCV_PURPOSE_UPLOAD without a fence, DCV_PURPOSE_OUTPUT with one), then
 * CHUNKs as credit arrives, until COMMIT. In: blob->xfer_id (0 = pick a
 * random one), blob->sha256 ("" = computed here first), blob->size (-1 =
 * fstat). Out: blob filled. Re-sending with the same xfer_id resumes where
 * the receiver's first CREDIT says (after a reconnect or a retry).
 */
int dcv_xcli_send_file(struct dcv_xcli *c, int purpose, const struct dcv_proto_fence *fence,
                       int fd, struct dcv_proto_blob *blob, dcv_xcli_progress_fn progress,
                       void *ud, int *abort_code, char *err, size_t errlen);

/*
 * Fetch a whole file into fd (written from offset 0, fdatasync()ed at the
 * end): FETCH with purpose (DCV_PURPOSE_INPUT with a fence,
 * DCV_PURPOSE_DOWNLOAD without) and blob->xfer_id; the sha256 is checked
 * against blob->sha256 when given, and always against the sender's
 * announced digest when it has one. blob->size -1 when unknown.
 */
int dcv_xcli_fetch_file(struct dcv_xcli *c, int purpose, const struct dcv_proto_fence *fence,
                        const struct dcv_proto_blob *blob, int fd, dcv_xcli_progress_fn progress,
                        void *ud, int *abort_code, char *err, size_t errlen);

/*
 * Random-access reads of a file the coordinator holds (streamed input):
 * FETCH with `range: true` and the fence; reads at any offset; sequential
 * reads are served from a read-ahead of up to credit_chunks chunks (it
 * grows while reads stay sequential); a seek elsewhere restarts the range
 * there with a reset CREDIT (protocol.md §7.2). Closing sends ABORT
 * cancelled.
 * Memory: at most credit_chunks x chunk_max bytes.
 */
struct dcv_xstream;
int dcv_xstream_open(struct dcv_xcli *c, const struct dcv_proto_fence *fence,
                     const struct dcv_proto_blob *blob, struct dcv_xstream **out, char *err,
                     size_t errlen);
/* Up to len bytes at off: returns bytes read (> 0), 0 at or past the end,
 * or a negative errno. */
int64_t dcv_xstream_pread(struct dcv_xstream *s, void *buf, size_t len, int64_t off, char *err,
                          size_t errlen);
int64_t dcv_xstream_size(const struct dcv_xstream *s);
/* Bytes fetched over the network so far (read-ahead included). */
int64_t dcv_xstream_bytes_fetched(const struct dcv_xstream *s);
void dcv_xstream_close(struct dcv_xstream **s);

#endif

/*
 * distconvctl's admin-plane client (docs/protocol.md §8): one REQUEST, one
 * FINAL, as a Lazy Pirate client. Each try opens a new DEALER (so a reply
 * lost with a dead connection cannot be confused with a later one), sends
 * the request with a fresh req_id and waits up to timeout_ms; after `tries`
 * tries without a FINAL it gives up. The caller keeps the idempotency key
 * the same across tries, which is what makes retrying `submit` safe.
 *
 * A FINAL with status 500 ("internal: retry later") is retried like a lost
 * reply; when it is still 500 after the last try it is returned as is.
 *
 * Threading: the calling thread only (a blocking client).
 */
#ifndef DCV_CLI_ADMINC_H
#define DCV_CLI_ADMINC_H

#include <signal.h>
#include <stddef.h>

#include "net.h"
#include "proto.h"

struct dcv_adminc {
    struct dcv_net *net;
    const char *endpoint;          /* the admin ROUTER, e.g. ipc:///var/lib/distconv/admin.sock */
    int timeout_ms;                /* per try; 5000 by the protocol */
    int tries;                     /* 3 by the protocol */
    volatile sig_atomic_t *cancel; /* optional: stop waiting once non-zero */
};

/*
 * Send req (its req_id is overwritten per try) and wait for the FINAL with
 * the same req_id; PARTIALs are skipped (each one proves the coordinator is
 * alive and restarts the try's timer). On 0, *reply holds the FINAL (any
 * status): free it with dcv_proto_reply_clear().
 * -ETIMEDOUT: no FINAL after every try ("cannot reach the coordinator at
 * EP: no reply after N tries" in err). -ECANCELED: *cancel was set. Other
 * negative errno: a local failure (socket, codec), with the reason.
 */
int dcv_adminc_call(const struct dcv_adminc *c, struct dcv_proto_request *req,
                    struct dcv_proto_reply *reply, char *err, size_t errlen);

/* Random lower-case hex (2 * nbytes characters + NUL into out): request ids,
 * idempotency keys, transfer ids. 0 or a negative errno. */
int dcv_adminc_random_hex(char *out, size_t nbytes);

#endif

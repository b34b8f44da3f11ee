/*
 * Lazy Pirate admin client: see adminc.h.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adminc.h"
#include "rand.h"
#include "clock.h"
#include "errbuf.h"
#include "log.h"

int dcv_adminc_random_hex(char *out, size_t nbytes)
{
    if (nbytes > 64)
        return -EINVAL;
    return dcv_random_hex(out, nbytes, NULL, 0);
}

/* One try: 1 = *reply filled, 0 = nothing before the deadline, <0 error. */
static int one_try(const struct dcv_adminc *c, const char *json, const char *req_id,
                   struct dcv_proto_reply *reply, char *err, size_t errlen)
{
    struct dcv_sock_opts o = {0};
    struct dcv_sock *s = NULL;
    int64_t deadline = dcv_mono_ms() + c->timeout_ms;
    int sent = 0, r;

    o.plane = DCV_PLANE_ADMIN;
    o.role = DCV_TX_CONNECT_DEALER;
    o.endpoint = c->endpoint;
    o.linger_ms = 0; /* a request nobody took is dropped with the socket */
    if ((r = dcv_sock_open(c->net, &o, &s, err, errlen)) < 0)
        return r;

    for (;;) {
        int64_t left = deadline - dcv_mono_ms();
        if (c->cancel && *c->cancel) {
            r = dcv_err(err, errlen, -ECANCELED, "interrupted");
            break;
        }
        if (left <= 0) {
            r = 0;
            break;
        }
        if (!sent) {
            /* The DEALER connects asynchronously (and with ZMQ_IMMEDIATE
             * says EAGAIN until it has): keep trying within the deadline. */
            r = dcv_sock_send_json(s, NULL, DCV_CMD_REQUEST, json, err, errlen);
            if (r == 0) {
                sent = 1;
                continue;
            }
            if (r != -EAGAIN)
                break;
            r = dcv_sock_wait(s, left < 20 ? (int)left : 20);
            if (r < 0 && r != -EINTR) {
                dcv_errf(err, errlen, "wait on %s: %s", c->endpoint, strerror(-r));
                break;
            }
            continue;
        }
        {
            struct dcv_proto_msg m;
            char why[512];
            r = dcv_sock_recv(s, NULL, &m, why, sizeof why);
            if (r == -EAGAIN) {
                /* At most 200 ms per wait so a cancel is seen promptly. */
                r = dcv_sock_wait(s, left < 200 ? (int)left : 200);
                if (r < 0 && r != -EINTR) {
                    dcv_errf(err, errlen, "wait on %s: %s", c->endpoint, strerror(-r));
                    break;
                }
                continue;
            }
            if (r == -EPROTO) {
                dcv_log(DCV_LOG_WARN, "admin", "dropped a malformed reply: %s", why);
                continue;
            }
            if (r < 0) {
                dcv_errf(err, errlen, "receive from %s: %s", c->endpoint, why);
                break;
            }
            if (m.cmd == DCV_CMD_PARTIAL) {
                struct dcv_proto_reply p = {0};
                if (dcv_proto_partial_from_json(m.body, m.body_len, &p, why, sizeof why) == 0 &&
                    strcmp(p.req_id, req_id) == 0)
                    deadline = dcv_mono_ms() + c->timeout_ms;
                dcv_proto_reply_clear(&p);
                continue;
            }
            if (m.cmd != DCV_CMD_FINAL)
                continue;
            r = dcv_proto_final_from_json(m.body, m.body_len, reply, why, sizeof why);
            if (r < 0) {
                dcv_log(DCV_LOG_WARN, "admin", "dropped an invalid FINAL: %s", why);
                dcv_proto_reply_clear(reply);
                continue;
            }
            if (strcmp(reply->req_id, req_id) != 0) {
                /* Not ours (cannot happen on a fresh socket, but cheap). */
                dcv_proto_reply_clear(reply);
                continue;
            }
            r = 1;
            break;
        }
    }
    dcv_sock_close(&s);
    return r;
}

int dcv_adminc_call(const struct dcv_adminc *c, struct dcv_proto_request *req,
                    struct dcv_proto_reply *reply, char *err, size_t errlen)
{
    int tries = c->tries > 0 ? c->tries : 3;
    int had_500 = 0;

    memset(reply, 0, sizeof *reply);
    for (int t = 1; t <= tries; t++) {
        char *json = NULL;
        size_t len = 0;
        int r;

        if ((r = dcv_adminc_random_hex(req->req_id, 16)) < 0)
            return dcv_err(err, errlen, r, "random request id: %s", strerror(-r));
        if ((r = dcv_proto_request_to_json(req, &json, &len, err, errlen)) < 0)
            return r;
        r = one_try(c, json, req->req_id, reply, err, errlen);
        free(json);
        if (r < 0)
            return r;
        if (r == 1) {
            if (reply->status != 500 || t == tries)
                return 0;
            had_500 = 1;
            dcv_log(DCV_LOG_DEBUG, "admin", "try %d: 500 %s; retrying", t, reply->error);
            dcv_proto_reply_clear(reply);
            continue;
        }
        dcv_log(DCV_LOG_DEBUG, "admin", "try %d of %d: no reply from %s within %d ms", t, tries,
                c->endpoint, c->timeout_ms);
    }
    return dcv_err(err, errlen, -ETIMEDOUT, "cannot reach the coordinator at %s: no reply after %d %s%s",
                   c->endpoint, tries, tries == 1 ? "try" : "tries",
                   had_500 ? " (it answered 500 before)" : "");
}

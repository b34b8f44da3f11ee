/*
 * Sending (outbox.h): sends never block; a full peer queue parks the
 * message in an ordered per-peer backlog retried from a timer, and a
 * departed peer is forgotten until it says HELLO again.
 */
#include "coordinator/outbox.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "loop.h"

#define OUT_MAX 20000            /* queued messages over all peers before we drop a peer's */
#define OUT_PEER_MAX 2000        /* per peer */

static int peer_has_backlog(struct dcv_coord *c, struct dcv_sock *s, const struct dcv_tx_peer *p,
                            size_t *count)
{
    size_t n = 0;
    for (struct co_out *o = c->out.head; o; o = o->next)
        if (o->sock == s && dcv_peer_equal(&o->peer, p))
            n++;
    if (count)
        *count = n;
    return n > 0;
}

void co_drop_backlog(struct dcv_coord *c, struct dcv_sock *s, const struct dcv_tx_peer *p)
{
    struct co_out **pp = &c->out.head, *o;
    c->out.tail = NULL;
    while ((o = *pp)) {
        if (o->sock == s && dcv_peer_equal(&o->peer, p)) {
            *pp = o->next;
            free(o->body);
            free(o);
            c->out.n--;
            continue;
        }
        c->out.tail = o;
        pp = &o->next;
    }
}

static void flush_cb(struct dcv_loop *loop, uint64_t id, void *arg);

static void arm_flush(struct dcv_coord *c)
{
    char err[256];
    if (c->out.timer || !c->out.head)
        return;
    if (dcv_loop_add_timer(c->loop, 10, 0, flush_cb, c, &c->out.timer, err, sizeof err) < 0)
        c->out.timer = 0; /* the tick flushes too */
}

static int enqueue(struct dcv_coord *c, struct dcv_sock *s, const struct dcv_tx_peer *to, int cmd,
                   const char *body, size_t len)
{
    struct co_out *o;
    size_t n;

    peer_has_backlog(c, s, to, &n);
    if (n >= OUT_PEER_MAX || c->out.n >= OUT_MAX) {
        char hex[80];
        dcv_peer_hex(to, hex, sizeof hex);
        dcv_log(DCV_LOG_WARN, CO_LOG, "peer %s does not read its messages: dropping its backlog", hex);
        co_drop_backlog(c, s, to);
        return -EHOSTUNREACH;
    }
    if (!(o = calloc(1, sizeof *o)) || !(o->body = malloc(len ? len : 1))) {
        free(o);
        return -ENOMEM;
    }
    memcpy(o->body, body, len);
    o->len = len;
    o->sock = s;
    o->peer = *to;
    o->cmd = cmd;
    if (c->out.tail)
        c->out.tail->next = o;
    else
        c->out.head = o;
    c->out.tail = o;
    c->out.n++;
    arm_flush(c);
    return 0;
}

int co_send(struct dcv_coord *c, struct dcv_sock *s, const struct dcv_tx_peer *to, int cmd,
            const char *body, size_t len)
{
    char err[256];
    int r;

    if (!to || !to->len)
        return -EHOSTUNREACH;
    /* Order per peer: behind its backlog, never past it. */
    if (peer_has_backlog(c, s, to, NULL))
        return enqueue(c, s, to, cmd, body, len);
    r = dcv_sock_send(s, to, cmd, body, len, NULL, 0, err, sizeof err);
    if (r == -EAGAIN)
        return enqueue(c, s, to, cmd, body, len);
    if (r < 0 && r != -EHOSTUNREACH)
        dcv_log(DCV_LOG_WARN, CO_LOG, "send %s: %s",
                dcv_proto_cmd_name(dcv_sock_plane(s), cmd) ? dcv_proto_cmd_name(dcv_sock_plane(s), cmd) : "?",
                err);
    return r;
}

static void flush(struct dcv_coord *c)
{
    struct co_out **pp = &c->out.head, *o;
    /* Peers found full in this pass keep their order: skip the rest of theirs. */
    struct dcv_tx_peer blocked[16];
    struct dcv_sock *blocked_s[16];
    unsigned nb = 0;
    char err[256];

    c->out.tail = NULL;
    while ((o = *pp)) {
        int skip = 0, r;
        for (unsigned i = 0; i < nb && !skip; i++)
            skip = blocked_s[i] == o->sock && dcv_peer_equal(&blocked[i], &o->peer);
        if (skip || nb == 16) {
            c->out.tail = o;
            pp = &o->next;
            continue;
        }
        r = dcv_sock_send(o->sock, &o->peer, o->cmd, o->body, o->len, NULL, 0, err, sizeof err);
        if (r == -EAGAIN) {
            blocked[nb] = o->peer;
            blocked_s[nb++] = o->sock;
            c->out.tail = o;
            pp = &o->next;
            continue;
        }
        *pp = o->next;
        c->out.n--;
        if (r == -EHOSTUNREACH) {
            struct dcv_tx_peer p = o->peer;
            struct dcv_sock *s = o->sock;
            free(o->body);
            free(o);
            co_drop_backlog(c, s, &p);
            if (c->out.on_gone)
                c->out.on_gone(c, s, &p);
            /* the list changed under us: start over */
            pp = &c->out.head;
            c->out.tail = NULL;
            continue;
        }
        free(o->body);
        free(o);
    }
    for (o = c->out.head; o; o = o->next)
        c->out.tail = o;
}

static void flush_cb(struct dcv_loop *loop, uint64_t id, void *arg)
{
    struct dcv_coord *c = arg;
    (void)loop;
    (void)id;
    c->out.timer = 0;
    flush(c);
    arm_flush(c);
}

/* Serialise with the codec (which re-validates what we send) and send. */
int co_send_msg(struct dcv_coord *c, struct dcv_sock *s, const struct dcv_tx_peer *to, int cmd,
                const void *msg, char *err, size_t errlen)
{
    char *buf = NULL, e[256];
    size_t len = 0;
    int r = dcv_proto_encode(dcv_sock_plane(s), cmd, msg, &buf, &len, e, sizeof e);

    if (r < 0) {
        const char *name = dcv_proto_cmd_name(dcv_sock_plane(s), cmd);
        dcv_log(DCV_LOG_ERROR, CO_LOG, "cannot encode %s: %s", name ? name : "?", e);
        if (err && errlen)
            copy_str(err, errlen, e);
    } else {
        r = co_send(c, s, to, cmd, buf, len);
    }
    free(buf);
    return r;
}

void co_send_disconnect(struct dcv_coord *c, const struct dcv_tx_peer *to, const char *reason)
{
    struct dcv_proto_disconnect d;
    memset(&d, 0, sizeof d);
    copy_str(d.reason, sizeof d.reason, reason && *reason ? reason : "protocol error");
    /* a reason with control characters would not encode: keep it printable */
    for (char *p = d.reason; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
    (void)co_send_msg(c, c->ctl, to, DCV_CMD_DISCONNECT, &d, NULL, 0);
}

void co_send_cancel(struct dcv_coord *c, const struct co_worker *w, const char *job_id,
                    int attempt, const char *session, const char *reason)
{
    struct dcv_proto_cancel m;

    if (!w || !w->online || !w->peer.len || !session || !*session)
        return;
    memset(&m, 0, sizeof m);
    copy_str(m.fence.job_id, sizeof m.fence.job_id, job_id);
    m.fence.attempt = attempt;
    copy_str(m.fence.session, sizeof m.fence.session, session);
    copy_str(m.reason, sizeof m.reason, reason);
    (void)co_send_msg(c, c->ctl, &w->peer, DCV_CMD_CANCEL, &m, NULL, 0);
}

void co_send_drain(struct dcv_coord *c, struct co_worker *w)
{
    struct dcv_proto_drain d = { .draining = w->admin_drain };
    if (w->online && w->peer.len)
        (void)co_send_msg(c, c->ctl, &w->peer, DCV_CMD_DRAIN, &d, NULL, 0);
}

void co_outbox_flush(struct dcv_coord *c)
{
    flush(c);
    arm_flush(c);
}

void co_outbox_free(struct dcv_coord *c)
{
    while (c->out.head) {
        struct co_out *o = c->out.head;
        c->out.head = o->next;
        free(o->body);
        free(o);
    }
    c->out.tail = NULL;
    c->out.n = 0;
}

/*
 * Sockets through the transport plugin: see net.h.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "errbuf.h"
#include "loop.h"
#include "net.h"
#include "pluginhost.h"

struct dcv_net {
    struct dcv_plugin_set set; /* holds the one transport plugin */
    struct dcv_plugin *p;
    unsigned n_socks;
};

struct dcv_sock {
    struct dcv_net *net;
    const struct dcv_transport_ops *ops;
    void *tx;
    enum dcv_proto_plane plane;
    int role;
    struct dcv_tx_msg msg; /* the current received message */
    int have_msg;
    struct dcv_loop *loop;
    dcv_sock_cb cb;
    void *cb_arg;
};

int dcv_net_open(const char *plugin_dir, const char *name, struct dcv_conf *conf,
                 struct dcv_net **out, char *err, size_t errlen)
{
    char path[PATH_MAX];
    struct dcv_net *n;
    struct dcv_plugin *p = NULL;
    int r;

    *out = NULL;
    if (!name || !name[0])
        name = "zmq";
    if ((size_t)snprintf(path, sizeof path, "%s/transport-%s.so", plugin_dir, name) >=
        sizeof path)
        return dcv_errf(err, errlen, "plugin_dir too long"), -ENAMETOOLONG;
    n = calloc(1, sizeof *n);
    if (!n)
        return dcv_errf(err, errlen, "out of memory"), -ENOMEM;
    if ((r = dcv_plugin_load(path, NULL, &p, err, errlen)) < 0) {
        free(n);
        return r;
    }
    if (p->hdr.kind != DCV_PLUGIN_TRANSPORT) {
        dcv_errf(err, errlen, "%s: refused: not a transport plugin", path);
        free(p);
        free(n);
        return -EINVAL;
    }
    if ((r = dcv_plugin_set_add(&n->set, p)) < 0) {
        dcv_errf(err, errlen, "out of memory");
        free(p);
        free(n);
        return r;
    }
    if ((r = dcv_plugin_init(p, conf, err, errlen)) < 0) {
        dcv_plugin_set_clear(&n->set);
        free(n);
        return r;
    }
    n->p = p;
    *out = n;
    return 0;
}

void dcv_net_close(struct dcv_net **netp)
{
    struct dcv_net *n = netp ? *netp : NULL;
    if (!n)
        return;
    dcv_plugin_set_clear(&n->set);
    free(n);
    *netp = NULL;
}

int dcv_sock_open(struct dcv_net *net, const struct dcv_sock_opts *o, struct dcv_sock **out,
                  char *err, size_t errlen)
{
    struct dcv_tx_config cfg;
    struct dcv_sock *s;
    int r;

    *out = NULL;
    if (!net || !o || !o->endpoint || (o->role != DCV_TX_BIND_ROUTER &&
                                       o->role != DCV_TX_CONNECT_DEALER))
        return dcv_errf(err, errlen, "bad socket options"), -EINVAL;
    s = calloc(1, sizeof *s);
    if (!s)
        return dcv_errf(err, errlen, "out of memory"), -ENOMEM;
    memset(&cfg, 0, sizeof cfg);
    cfg.struct_size = sizeof cfg;
    cfg.role = (uint32_t)o->role;
    cfg.endpoint = o->endpoint;
    cfg.max_msg_size = o->max_msg;
    if (!cfg.max_msg_size)
        /* Data messages carry a chunk of up to 64 MiB plus a 32-byte header;
         * control/admin stop at 1 MiB of JSON and framing. */
        cfg.max_msg_size = o->plane == DCV_PLANE_DATA ? (64u << 20) + 4096u : (1u << 20) + 4096u;
    cfg.sndhwm = o->sndhwm;
    cfg.rcvhwm = o->rcvhwm;
    cfg.heartbeat_ivl_ms = o->heartbeat_ivl_ms;
    cfg.linger_ms = o->linger_ms;
    s->net = net;
    s->ops = &net->p->tx;
    s->plane = o->plane;
    s->role = o->role;
    r = s->ops->open(net->p->ctx, &cfg, &s->tx, err, errlen);
    if (r < 0) {
        free(s);
        return r;
    }
    net->n_socks++;
    *out = s;
    return 0;
}

static void drop_msg(struct dcv_sock *s)
{
    if (s->have_msg) {
        s->ops->msg_free(s->tx, &s->msg);
        s->have_msg = 0;
    }
}

void dcv_sock_close(struct dcv_sock **sp)
{
    struct dcv_sock *s = sp ? *sp : NULL;
    if (!s)
        return;
    if (s->loop)
        dcv_loop_remove_transport(s->loop, s->tx);
    drop_msg(s);
    s->ops->close(s->tx);
    s->net->n_socks--;
    free(s);
    *sp = NULL;
}

int dcv_sock_send(struct dcv_sock *s, const struct dcv_tx_peer *to, int cmd, const void *body,
                  size_t body_len, const void *payload, size_t payload_len, char *err,
                  size_t errlen)
{
    struct dcv_tx_frame fr[4];
    unsigned n = 0;
    int r = dcv_proto_frames(s->plane, cmd, body, body_len, payload, payload_len, fr, &n, err,
                             errlen);
    if (r < 0)
        return r;
    if (s->role == DCV_TX_CONNECT_DEALER)
        to = NULL;
    r = s->ops->send(s->tx, to, fr, n);
    if (r < 0)
        dcv_errf(err, errlen, "send %s: %s", dcv_proto_cmd_name(s->plane, cmd),
                 s->ops->last_error(s->tx));
    return r;
}

int dcv_sock_send_json(struct dcv_sock *s, const struct dcv_tx_peer *to, int cmd,
                       const char *json, char *err, size_t errlen)
{
    return dcv_sock_send(s, to, cmd, json, strlen(json), NULL, 0, err, errlen);
}

int dcv_sock_recv(struct dcv_sock *s, struct dcv_tx_peer *from, struct dcv_proto_msg *m,
                  char *err, size_t errlen)
{
    struct dcv_tx_peer peer;
    int r;

    drop_msg(s);
    memset(&peer, 0, sizeof peer);
    r = s->ops->recv(s->tx, &peer, &s->msg);
    if (r == -EPROTO) {
        dcv_errf(err, errlen, "message over the transport's limits dropped");
        return r;
    }
    if (r < 0)
        return r;
    s->have_msg = 1;
    if (from)
        *from = peer;
    r = dcv_proto_parse(s->plane, s->msg.frames, s->msg.n, m, err, errlen);
    if (r < 0) {
        drop_msg(s);
        return -EPROTO;
    }
    return 0;
}

static void on_tx(struct dcv_loop *loop, void *tx, void *arg)
{
    struct dcv_sock *s = arg;
    (void)loop;
    (void)tx;
    s->cb(s, s->cb_arg);
}

int dcv_sock_attach(struct dcv_sock *s, struct dcv_loop *loop, dcv_sock_cb cb, void *arg,
                    char *err, size_t errlen)
{
    int r;
    if (s->loop)
        return dcv_errf(err, errlen, "socket already attached"), -EEXIST;
    s->cb = cb;
    s->cb_arg = arg;
    r = dcv_loop_add_transport(loop, s->ops, s->tx, on_tx, s, err, errlen);
    if (r == 0)
        s->loop = loop;
    return r;
}

int dcv_sock_pause(struct dcv_sock *s, int paused)
{
    return s->loop ? dcv_loop_pause_transport(s->loop, s->tx, paused) : -ENOENT;
}

int dcv_sock_wait(struct dcv_sock *s, int timeout_ms)
{
    int readable = 0, writable = 0, fd = -1, r;
    struct pollfd pfd;

    if ((r = s->ops->events(s->tx, &readable, &writable)) < 0)
        return r;
    if (readable)
        return 1;
    if ((r = s->ops->get_fd(s->tx, &fd)) < 0)
        return r;
    pfd.fd = fd;
    pfd.events = POLLIN;
    pfd.revents = 0;
    r = poll(&pfd, 1, timeout_ms);
    if (r < 0)
        return -errno;
    /* The fd is an edge: it only says "look again". */
    if ((r = s->ops->events(s->tx, &readable, &writable)) < 0)
        return r;
    return readable ? 1 : 0;
}

int dcv_sock_endpoint(struct dcv_sock *s, char *buf, size_t len)
{
    return s->ops->endpoint(s->tx, buf, len);
}

enum dcv_proto_plane dcv_sock_plane(const struct dcv_sock *s)
{
    return s->plane;
}

int dcv_peer_equal(const struct dcv_tx_peer *a, const struct dcv_tx_peer *b)
{
    return a->len == b->len && memcmp(a->id, b->id, a->len) == 0;
}

void dcv_peer_hex(const struct dcv_tx_peer *p, char *buf, size_t len)
{
    size_t o = 0;
    if (!len)
        return;
    buf[0] = '\0';
    for (uint32_t i = 0; i < p->len && o + 2 < len; i++, o += 2)
        snprintf(buf + o, len - o, "%02x", p->id[i]);
}

/* The host part of "tcp://HOST:PORT" as [start, end) pointers; 0 when not tcp. */
static int tcp_host(const char *ep, const char **h, const char **e)
{
    const char *colon;
    if (strncmp(ep, "tcp://", 6) != 0)
        return 0;
    colon = strrchr(ep + 6, ':');
    if (!colon)
        return 0;
    *h = ep + 6;
    *e = colon;
    return 1;
}

int dcv_endpoint_for_peer(const char *announced, const char *via, char *out, size_t len)
{
    const char *ah, *ae, *vh, *ve;
    int n;

    if (tcp_host(announced, &ah, &ae) && tcp_host(via, &vh, &ve)) {
        size_t al = (size_t)(ae - ah);
        int wild = (al == 1 && *ah == '*') || (al == 7 && strncmp(ah, "0.0.0.0", 7) == 0) ||
                   (al == 4 && strncmp(ah, "[::]", 4) == 0);
        if (wild) {
            n = snprintf(out, len, "tcp://%.*s%s", (int)(ve - vh), vh, ae);
            return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
        }
    }
    n = snprintf(out, len, "%s", announced);
    return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}

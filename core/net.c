/*
 * Sockets through the transport plugin: see net.h.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "config.h"
#include "errbuf.h"
#include "loop.h"
#include "net.h"
#include "pluginhost.h"

/* What dcv_net_secure() set up; keys are loaded on first need. */
struct net_sec {
    int on;
    enum dcv_sec_mode mode;
    struct dcv_auth *auth;
    int standalone;      /* the coordinator is this process: its key is the server key */
    char secret_path[PATH_MAX], server_path[PATH_MAX], token_path[PATH_MAX];
    char user[64];       /* token mode: the PLAIN user name */
    int have_secret, have_server, have_token;
    char secret[DCV_TX_KEY_LEN + 1], public[DCV_TX_KEY_LEN + 1], server[DCV_TX_KEY_LEN + 1];
    char token[256];
};

struct dcv_net {
    struct dcv_plugin_set set; /* holds the one transport plugin */
    struct dcv_plugin *p;
    unsigned n_socks;
    struct net_sec sec;
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
    memset(&n->sec, 0, sizeof n->sec); /* no key material left in freed memory */
    dcv_plugin_set_clear(&n->set);
    free(n);
    *netp = NULL;
}

/* ---- security ----------------------------------------------------------------------- */

static int has_security(const struct dcv_plugin *p)
{
    return p->hdr.abi_minor >= 1 &&
           DCV_HAS_FIELD(&p->tx, struct dcv_transport_ops, curve_public) && p->tx.curve_public &&
           p->tx.curve_keypair;
}

int dcv_net_keypair(struct dcv_net *net, char pub[DCV_TX_KEY_LEN + 1],
                    char sec[DCV_TX_KEY_LEN + 1], char *err, size_t errlen)
{
    if (!has_security(net->p))
        return dcv_err(err, errlen, -ENOTSUP, "transport plugin %s (ABI 1.%u) cannot make "
                       "CURVE keys: it predates ABI 1.1", net->p->hdr.name, net->p->hdr.abi_minor);
    return net->p->tx.curve_keypair(net->p->ctx, pub, sec, err, errlen);
}

int dcv_net_public_key(struct dcv_net *net, const char *sec, char pub[DCV_TX_KEY_LEN + 1],
                       char *err, size_t errlen)
{
    if (!has_security(net->p))
        return dcv_err(err, errlen, -ENOTSUP, "transport plugin %s (ABI 1.%u) has no CURVE "
                       "support: it predates ABI 1.1", net->p->hdr.name, net->p->hdr.abi_minor);
    return net->p->tx.curve_public(net->p->ctx, sec, pub, err, errlen);
}

static int load_secret(struct dcv_net *net, char *err, size_t errlen)
{
    struct net_sec *x = &net->sec;
    char e[1024];
    int r;
    if (x->have_secret)
        return 0;
    if ((r = dcv_auth_read_key(x->secret_path, 1, x->secret, e, sizeof e)) < 0)
        return dcv_err(err, errlen, r, "security.mode = curve: this host's secret key: %s (make "
                       "one with `distconvctl keygen`, or set security.secret_key)", e);
    if ((r = dcv_net_public_key(net, x->secret, x->public, e, sizeof e)) < 0)
        return dcv_err(err, errlen, r, "%s: %s", x->secret_path, e);
    x->have_secret = 1;
    return 0;
}

static int load_client(struct dcv_net *net, char *err, size_t errlen)
{
    struct net_sec *x = &net->sec;
    char e[1024];
    int r;
    if (x->mode == DCV_SEC_TOKEN) {
        if (!x->have_token) {
            if ((r = dcv_auth_read_token(x->token_path, x->token, sizeof x->token, e, sizeof e)) < 0)
                return dcv_err(err, errlen, r, "security.mode = token: %s", e);
            x->have_token = 1;
        }
        return 0;
    }
    if ((r = load_secret(net, err, errlen)) < 0)
        return r;
    if (x->have_server)
        return 0;
    if (x->standalone) {
        memcpy(x->server, x->public, sizeof x->server);
    } else if ((r = dcv_auth_read_key(x->server_path, 0, x->server, e, sizeof e)) < 0) {
        return dcv_err(err, errlen, r, "security.mode = curve: the coordinator's public key: %s "
                       "(copy the coordinator's .pub file here, or set "
                       "security.coordinator_key)", e);
    }
    x->have_server = 1;
    return 0;
}

static int is_tcp(const char *ep)
{
    return ep && strncmp(ep, "tcp://", 6) == 0;
}

int dcv_net_secure(struct dcv_net *net, const struct dcv_settings *s, const char *self,
                   char *err, size_t errlen)
{
    struct net_sec *x = &net->sec;
    const char *home = getenv("HOME");
    char leaf[128];
    int r;

    memset(x, 0, sizeof *x);
    if (s->sec_mode == DCV_SEC_NONE)
        return 0;
    if (!has_security(net->p))
        return dcv_err(err, errlen, -ENOTSUP,
                       "transport plugin %s (ABI 1.%u) predates security support (ABI 1.1): "
                       "update it, or set security.mode = none", net->p->hdr.name,
                       net->p->hdr.abi_minor);
    x->on = 1;
    x->mode = s->sec_mode;
    x->standalone = self && strcmp(self, "standalone") == 0;
    snprintf(x->server_path, sizeof x->server_path, "%s", s->sec_coordinator_key);
    snprintf(x->token_path, sizeof x->token_path, "%s", s->sec_token_file);
    snprintf(x->user, sizeof x->user, "%s", s->name);
    if (s->sec_secret_key[0]) {
        snprintf(x->secret_path, sizeof x->secret_path, "%s", s->sec_secret_key);
    } else if (self) {
        snprintf(leaf, sizeof leaf, "keys/%s.key", self);
        /* beside the configuration file in use, as the other security files */
        if (s->conf_dir[0]) {
            if ((size_t)snprintf(x->secret_path, sizeof x->secret_path, "%s/%s", s->conf_dir,
                                 leaf) >= sizeof x->secret_path)
                return dcv_err(err, errlen, -ENAMETOOLONG, "default key path too long");
        } else if (dcv_auth_default_path(leaf, x->secret_path, sizeof x->secret_path) < 0) {
            return dcv_err(err, errlen, -ENAMETOOLONG, "default key path too long");
        }
    } else if (home && home[0] == '/') {
        if ((size_t)snprintf(x->secret_path, sizeof x->secret_path,
                             "%s/.config/distconv/client.key", home) >= sizeof x->secret_path)
            return dcv_err(err, errlen, -ENAMETOOLONG, "$HOME too long");
    } else {
        snprintf(x->secret_path, sizeof x->secret_path, "(security.secret_key is not set)");
    }
    if (!self) {
        /* distconvctl: in token mode it names itself after its user. */
        const char *u = getenv("USER");
        snprintf(x->user, sizeof x->user, "%s", u && dcv_auth_valid_name(u) ? u : "distconvctl");
        return 0;
    }
    /* A daemon refuses to start without what its own endpoints need. */
    if (strcmp(self, "worker") != 0 && x->mode == DCV_SEC_CURVE &&
        (is_tcp(s->bind) || is_tcp(s->data_bind) || is_tcp(s->admin)) &&
        (r = load_secret(net, err, errlen)) < 0)
        return r;
    if (strcmp(self, "coordinator") != 0 && (is_tcp(s->coordinator) || (x->standalone && is_tcp(s->bind))) &&
        (r = load_client(net, err, errlen)) < 0)
        return r;
    return 0;
}

void dcv_net_set_auth(struct dcv_net *net, struct dcv_auth *auth)
{
    net->sec.auth = auth;
}

const char *dcv_net_own_public(const struct dcv_net *net)
{
    return net->sec.have_secret ? net->sec.public : "";
}

struct dcv_auth *dcv_net_auth(const struct dcv_net *net)
{
    return net && net->sec.on ? net->sec.auth : NULL;
}

static const char *plane_domain(enum dcv_proto_plane plane)
{
    return plane == DCV_PLANE_CONTROL ? DCV_AUTH_DOMAIN_CONTROL
           : plane == DCV_PLANE_DATA  ? DCV_AUTH_DOMAIN_DATA
                                      : DCV_AUTH_DOMAIN_ADMIN;
}

/* Fill the ABI 1.1 fields of cfg for this socket. */
static int secure_cfg(struct dcv_net *net, const struct dcv_sock_opts *o, struct dcv_tx_config *cfg,
                      char *err, size_t errlen)
{
    struct net_sec *x = &net->sec;
    int r;

    if (!x->on)
        return 0;
    cfg->handshake_ivl_ms = 10000;
    if (o->role == DCV_TX_BIND_ROUTER) {
        if (is_tcp(o->endpoint)) {
            if (!x->auth)
                return dcv_err(err, errlen, -EACCES, "security.mode = %s: no authorisation "
                               "policy for a tcp server socket (refusing to accept anyone)",
                               x->mode == DCV_SEC_CURVE ? "curve" : "token");
            if (x->mode == DCV_SEC_CURVE) {
                if ((r = load_secret(net, err, errlen)) < 0)
                    return r;
                cfg->mechanism = DCV_TX_MECH_CURVE;
                cfg->curve_secret = x->secret;
            } else {
                cfg->mechanism = DCV_TX_MECH_PLAIN;
            }
        } else if (o->plane != DCV_PLANE_ADMIN || !x->auth) {
            return 0; /* ipc control/data: the socket file's permissions */
        }
        cfg->auth_domain = plane_domain(o->plane);
        cfg->authorize = dcv_auth_authorize;
        cfg->auth_ctx = x->auth;
        return 0;
    }
    if (!is_tcp(o->endpoint))
        return 0;
    if ((r = load_client(net, err, errlen)) < 0)
        return r;
    if (x->mode == DCV_SEC_CURVE) {
        cfg->mechanism = DCV_TX_MECH_CURVE;
        cfg->curve_secret = x->secret;
        cfg->curve_public = x->public;
        cfg->curve_server = x->server;
    } else {
        cfg->mechanism = DCV_TX_MECH_PLAIN;
        cfg->plain_user = x->user;
        cfg->plain_password = x->token;
    }
    return 0;
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
    if ((r = secure_cfg(net, o, &cfg, err, errlen)) < 0) {
        free(s);
        return r;
    }
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
    memset(m, 0, sizeof *m);
    /* A 1.0 plugin does not know the 1.1 fields: they must read "none". */
    memset(&s->msg, 0, sizeof s->msg);
    s->msg.peer_uid = s->msg.peer_gid = -1;
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
        /* A body over the plane's limit in a valid frame set: parse filled
         * *m, which stays valid until the next recv so the caller can
         * address an error reply (it must not parse the body). */
        if (!m->body)
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

const char *dcv_sock_user(const struct dcv_sock *s, int64_t *peer_uid)
{
    if (peer_uid)
        *peer_uid = s->have_msg ? s->msg.peer_uid : -1;
    if (!s->have_msg)
        return "";
    /* A user id is only as good as the socket that authenticated it. */
    return s->msg.user_id;
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
    const char *ah, *ae = NULL, *vh = NULL, *ve = NULL;
    int n;

    if (tcp_host(announced, &ah, &ae)) {
        size_t al = (size_t)(ae - ah);
        int any4 = (al == 1 && *ah == '*') || (al == 7 && strncmp(ah, "0.0.0.0", 7) == 0);
        int wild = any4 || (al == 4 && strncmp(ah, "[::]", 4) == 0);
        if (wild && !tcp_host(via, &vh, &ve)) {
            vh = NULL;
            /* Reached over ipc there is no host to substitute: the
             * coordinator is on this machine. */
            if (any4 && strncmp(via, "ipc://", 6) == 0) {
                vh = "127.0.0.1";
                ve = vh + 9;
            }
        }
    }
    if (vh)
        n = snprintf(out, len, "tcp://%.*s%s", (int)(ve - vh), vh, ae);
    else
        n = snprintf(out, len, "%s", announced);
    return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}

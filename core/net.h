/*
 * Sockets for the daemons and the CLI, through the transport plugin
 * (DESIGN §4): the core never links libzmq, it dlopen()s transport-<name>.so
 * and speaks the protocol of docs/protocol.md over its ops.
 *
 * A dcv_sock is one socket on one plane (control, data or admin): sends
 * build the frame set with dcv_proto_frames(), receives check it with
 * dcv_proto_parse(), so nothing above this layer sees a malformed frame set.
 *
 * Threading: a dcv_net and its sockets belong to one thread (the transport
 * ops' I/O thread, see plugin.h). A forked child must not use its parent's
 * sockets; it opens its own dcv_net.
 *
 * Errors: 0 or a negative errno with the reason in err.
 */
#ifndef DCV_NET_H
#define DCV_NET_H

#include <stddef.h>
#include <stdint.h>

#include "distconv/plugin.h"
#include "proto.h"

struct dcv_conf;
struct dcv_loop;

struct dcv_net;
struct dcv_sock;

/*
 * Load and initialise the transport plugin `name` ("zmq": the file
 * transport-zmq.so in plugin_dir). conf may be NULL (the plugin then sees
 * an empty config subtree). The plugin is never unloaded (pluginhost rules).
 */
int dcv_net_open(const char *plugin_dir, const char *name, struct dcv_conf *conf,
                 struct dcv_net **out, char *err, size_t errlen);
/* Calls the plugin's fini(); every socket must be closed first. NULL ok. */
void dcv_net_close(struct dcv_net **net);

struct dcv_sock_opts {
    enum dcv_proto_plane plane;
    int role;                /* DCV_TX_BIND_ROUTER or DCV_TX_CONNECT_DEALER */
    const char *endpoint;    /* "tcp://127.0.0.1:*" binds an ephemeral port */
    uint64_t max_msg;        /* 0: control/admin 1 MiB + 4 KiB; data 64 MiB + 4 KiB */
    int32_t sndhwm, rcvhwm;  /* 0: transport default (1000 messages) */
    int32_t heartbeat_ivl_ms; /* ZMTP heartbeats, 0 = off */
    int32_t linger_ms;       /* 0: discard queued messages on close */
};

int dcv_sock_open(struct dcv_net *net, const struct dcv_sock_opts *o, struct dcv_sock **out,
                  char *err, size_t errlen);
/* Removes the socket from a loop it was attached to, closes it. NULL ok. */
void dcv_sock_close(struct dcv_sock **s);

/*
 * Send one message: [signature][cmd][body] (+ payload for CHUNK). `to` is
 * required on a ROUTER, NULL on a DEALER. Never blocks: -EAGAIN (queue
 * full, or a DEALER not connected yet), -EHOSTUNREACH (ROUTER peer gone),
 * -EMSGSIZE, -EINVAL (command foreign to the plane).
 */
int dcv_sock_send(struct dcv_sock *s, const struct dcv_tx_peer *to, int cmd, const void *body,
                  size_t body_len, const void *payload, size_t payload_len, char *err,
                  size_t errlen);
/* The same with a NUL-terminated JSON body. */
int dcv_sock_send_json(struct dcv_sock *s, const struct dcv_tx_peer *to, int cmd,
                       const char *json, char *err, size_t errlen);

/*
 * Receive one message. 0: *m points into the socket's current message,
 * valid until the next dcv_sock_recv() or dcv_sock_close() on it (so a
 * handler may not recv again while it still uses m). *from is the ROUTER
 * peer (len 0 on a DEALER; from may be NULL).
 * -EAGAIN: nothing pending. -EPROTO: one message was dropped (over the
 * limits, or not a valid frame set of this plane: err says why, and *from
 * is filled when known so a control peer can be sent DISCONNECT); call
 * again for the next one. When the frame set was valid but its JSON body
 * over the plane's limit, *m is filled all the same (m->body non-NULL, else
 * NULL), valid until the next recv, so the caller can address an error
 * reply; it must not parse that body.
 */
int dcv_sock_recv(struct dcv_sock *s, struct dcv_tx_peer *from, struct dcv_proto_msg *m,
                  char *err, size_t errlen);

/* Register on a loop: cb is called while a message may be received and
 * must call dcv_sock_recv() until -EAGAIN (or pause). The socket remembers
 * the loop and leaves it in dcv_sock_close(). */
typedef void (*dcv_sock_cb)(struct dcv_sock *s, void *arg);
int dcv_sock_attach(struct dcv_sock *s, struct dcv_loop *loop, dcv_sock_cb cb, void *arg,
                    char *err, size_t errlen);

/* For blocking clients (CLI, job process): wait until a message may be
 * received or timeout_ms passes (-1 = forever). 1 readable, 0 timeout,
 * -EINTR (a signal arrived: check your cancel flag), other -errno. */
int dcv_sock_wait(struct dcv_sock *s, int timeout_ms);

/* The endpoint actually bound ("tcp://127.0.0.1:41234" for a "*" port). */
int dcv_sock_endpoint(struct dcv_sock *s, char *buf, size_t len);
enum dcv_proto_plane dcv_sock_plane(const struct dcv_sock *s);

/*
 * Security (docs/security.md): after this call every socket opened on net
 * follows security.mode of s. On tcp, a ROUTER authenticates its peers
 * through the policy of dcv_net_set_auth() (CURVE keys or the token;
 * required on a process that binds tcp, else the open fails closed) and a DEALER presents this process's
 * key (or the token). An ipc admin ROUTER checks the peer's uid/gid
 * through auth; other ipc sockets rely on file permissions. Without this
 * call (unit tests) nothing is authenticated.
 *   self: the key name of this process's role ("coordinator", "worker",
 *         "standalone": keys/<self>.key), or NULL for distconvctl
 *         (~/.config/distconv/client.key) when security.secret_key is
 *         not set. Keys are read now when the role's own endpoints need
 *         them (a daemon refuses to start without them), else lazily.
 * -ENOTSUP when the transport plugin predates ABI 1.1 and the mode is not
 * none.
 */
struct dcv_settings;
struct dcv_auth;
int dcv_net_secure(struct dcv_net *net, const struct dcv_settings *s, const char *self,
                   char *err, size_t errlen);
/* The policy server sockets opened from now on authorise with (borrowed:
 * it must outlive them), and the one in use (NULL: none, full trust). */
void dcv_net_set_auth(struct dcv_net *net, struct dcv_auth *auth);
struct dcv_auth *dcv_net_auth(const struct dcv_net *net);
/* This process's public key once its secret key was read ("" before, and
 * outside curve mode): the coordinator enrolls itself with it. */
const char *dcv_net_own_public(const struct dcv_net *net);
/* CURVE keys through the transport plugin (the core never links libzmq). */
int dcv_net_keypair(struct dcv_net *net, char pub[DCV_TX_KEY_LEN + 1],
                    char sec[DCV_TX_KEY_LEN + 1], char *err, size_t errlen);
int dcv_net_public_key(struct dcv_net *net, const char *sec, char pub[DCV_TX_KEY_LEN + 1],
                       char *err, size_t errlen);

/* The authenticated user id of the message dcv_sock_recv() returned last
 * ("" when the socket authenticates nobody) and, over ipc, the peer's uid
 * (-1 unknown; peer_uid may be NULL). Valid as long as that message. */
const char *dcv_sock_user(const struct dcv_sock *s, int64_t *peer_uid);

/* ROUTER peer ids name connections: equal when the bytes are. */
int dcv_peer_equal(const struct dcv_tx_peer *a, const struct dcv_tx_peer *b);
/* Lower-case hex of the id for logs ("" for a DEALER), at most len-1 chars. */
void dcv_peer_hex(const struct dcv_tx_peer *p, char *buf, size_t len);

/*
 * An announced data endpoint with a wildcard host (tcp, port 7401), as seen
 * from a peer that reached the coordinator at tcp://coord.lan:7400, becomes
 * tcp://coord.lan:7401: a wildcard or
 * 0.0.0.0 / [::] host is replaced by the host of `via`. Reached over ipc
 * (the coordinator is on this machine), a wildcard or 0.0.0.0 host becomes
 * 127.0.0.1. Other endpoints are copied. -ENOSPC when out is too small.
 */
int dcv_endpoint_for_peer(const char *announced, const char *via, char *out, size_t len);

#endif

/*
 * The coordinator service (coord.h): its lifetime, the draining of the
 * three sockets, and the periodic tick, which hands each module its turn
 * (a cron per module, in the manner of Redis's serverCron). The work is
 * in the modules (coord_int.h names the layers): attempts.c, outbox.c,
 * sessions.c, jobrec.c, inputhash.c, registry.c, control.c, dispatch.c,
 * dataplane.c and admin.c.
 *
 * Everything runs on the daemon's loop thread. The store is the truth for
 * job states and fences; the in-memory records (workers, attempts out with
 * them) are rebuilt from HELLOs after a restart.
 */
#include "coordinator/coord_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "clock.h"
#include "coordinator/admin.h"
#include "coordinator/attempts.h"
#include "coordinator/control.h"
#include "coordinator/dataplane.h"
#include "coordinator/dispatch.h"
#include "coordinator/http.h"
#include "coordinator/tokens.h"
#include "coordinator/inputhash.h"
#include "coordinator/outbox.h"
#include "coordinator/registry.h"
#include "coordinator/retention.h"
#include "errbuf.h"
#include "log.h"
#include "rand.h"
#include "loop.h"

/* ---- sockets ----------------------------------------------------------------------- */

typedef void (*co_msg_fn)(struct dcv_coord *c, const struct dcv_tx_peer *from,
                          const struct dcv_proto_msg *m);

/* Receive what a socket has (a bounded batch, so one busy plane cannot
 * starve the others; the loop calls again while messages remain). Dropped
 * messages are logged; on the control plane the sender is told DISCONNECT
 * so a confused worker starts again with HELLO. */
static void drain_socket(struct dcv_coord *c, struct dcv_sock *s, const char *plane,
                         co_msg_fn handle)
{
    struct dcv_tx_peer from;
    struct dcv_proto_msg m;
    char err[512];
    int r;

    for (int i = 0; i < 256; i++) {
        memset(&from, 0, sizeof from);
        r = dcv_sock_recv(s, &from, &m, err, sizeof err);
        if (r == -EAGAIN)
            break;
        if (r == -EPROTO) {
            char hex[80];
            dcv_peer_hex(&from, hex, sizeof hex);
            dcv_log(s == c->ctl ? DCV_LOG_WARN : DCV_LOG_DEBUG, CO_LOG,
                    "%s message from %s dropped: %s", plane, hex[0] ? hex : "?", err);
            if (s == c->ctl && from.len)
                co_send_disconnect(c, &from, err);
            if (s == c->adm && from.len && m.body && m.cmd == DCV_CMD_REQUEST)
                co_admin_refuse(c, &from, &m, err); /* over the size limit: say so */
            continue;
        }
        if (r < 0) {
            dcv_log(DCV_LOG_ERROR, CO_LOG, "%s socket: %s", plane, err);
            break;
        }
        handle(c, &from, &m);
    }
}

static void on_ctl_sock(struct dcv_sock *s, void *arg)
{
    drain_socket(arg, s, "control", co_on_control);
}

static void on_data_sock(struct dcv_sock *s, void *arg)
{
    struct dcv_coord *c = arg;
    drain_socket(c, s, "data", co_on_data);
    dcv_xsrv_pump(c->xsrv, co_now());
    co_arm_pump(c);
}

static void on_adm_sock(struct dcv_sock *s, void *arg)
{
    drain_socket(arg, s, "admin", co_admin_input);
}

/* ---- the periodic tick ------------------------------------------------------------ */

static void tick_cb(struct dcv_loop *loop, uint64_t id, void *arg)
{
    struct dcv_coord *c = arg;
    uint64_t now = co_now();
    (void)loop;
    (void)id;

    registry_cron(c, now);   /* liveness, busy pauses, heartbeats */
    attempts_cron(c, now);   /* accept leases, the restart grace */
    dispatch_cron(c, now);   /* back-offs, GPU waits, session holds */
    dataplane_cron(c, now);  /* part GC, download expiry, the pump */
    retention_cron(c, now);  /* storage.keep_*, the orphan sweep */
    co_outbox_flush(c);      /* backlogged sends */
}

/* ---- lifetime --------------------------------------------------------------------- */

/* An ipc endpoint's socket file left by a dead coordinator would make the
 * bind fail: remove it, but only when nobody answers on it. */
static int clear_stale_ipc(const char *endpoint, char *err, size_t errlen)
{
    struct sockaddr_un sa;
    const char *path;
    struct stat st;
    int fd, r;

    if (strncmp(endpoint, "ipc://", 6) != 0)
        return 0;
    path = endpoint + 6;
    if (lstat(path, &st) < 0)
        return 0;
    if (!S_ISSOCK(st.st_mode))
        return dcv_err(err, errlen, -EEXIST, "%s exists and is not a socket", path);
    if (strlen(path) >= sizeof sa.sun_path)
        return 0; /* the transport will say the path is too long */
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
        return 0;
    r = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    close(fd);
    if (r == 0)
        return dcv_err(err, errlen, -EADDRINUSE, "%s: another process is listening on it", endpoint);
    if (unlink(path) == 0)
        dcv_log(DCV_LOG_INFO, CO_LOG, "removed stale socket %s", path);
    return 0;
}

static int bind_router(struct dcv_coord *c, enum dcv_proto_plane plane, const char *endpoint,
                       struct dcv_sock **out, char *bound, size_t boundlen, dcv_sock_cb cb,
                       const char *what, char *err, size_t errlen)
{
    struct dcv_sock_opts o;
    char e[512];
    int r;

    if ((r = clear_stale_ipc(endpoint, e, sizeof e)) < 0)
        return dcv_err(err, errlen, r, "%s endpoint: %s", what, e);
    memset(&o, 0, sizeof o);
    o.plane = plane;
    o.role = DCV_TX_BIND_ROUTER;
    o.endpoint = endpoint;
    /* Control: let the goodbye DISCONNECTs of dcv_coord_free() leave. */
    if (plane == DCV_PLANE_CONTROL)
        o.linger_ms = 500;
    /* Data messages: the default limit (64 MiB + 4 KiB) is the protocol's
     * largest chunk; a peer's OFFER picks its own chunk_max, not ours. */
    if ((r = dcv_sock_open(c->net, &o, out, e, sizeof e)) < 0)
        return dcv_err(err, errlen, r, "%s endpoint %s: %s", what, endpoint, e);
    if (dcv_sock_endpoint(*out, bound, boundlen) < 0)
        copy_str(bound, boundlen, endpoint);
    /* The state dir is 0700 too; this is belt and braces. An admin socket
     * that ipc groups may use must be connectable by them: its ZAP uid/gid
     * check (core/auth.c) decides, and the directory says who may try. */
    if (strncmp(bound, "ipc://", 6) == 0)
        (void)chmod(bound + 6, plane == DCV_PLANE_ADMIN && dcv_net_auth(c->net) &&
                                       (c->set->sec_ipc_operator_group[0] ||
                                        c->set->sec_ipc_submitter_group[0])
                                   ? 0666 : 0600);
    if ((r = dcv_sock_attach(*out, c->loop, cb, c, e, sizeof e)) < 0)
        return dcv_err(err, errlen, r, "%s endpoint: %s", what, e);
    dcv_log(DCV_LOG_INFO, CO_LOG, "%s endpoint bound: %s", what, bound);
    return 0;
}

int dcv_coord_new(struct dcv_loop *loop, struct dcv_net *net, struct dcv_conf *conf,
                  struct dcv_coord **out, char *err, size_t errlen)
{
    struct dcv_xsrv_params xp;
    struct dcv_coord *c;
    char e[512];
    uint64_t tick;
    int r;

    *out = NULL;
    if (!loop || !net || !conf)
        return dcv_err(err, errlen, -EINVAL, "coordinator: loop, net and conf are required");
    if (!(c = calloc(1, sizeof *c)))
        return dcv_err(err, errlen, -ENOMEM, "coordinator: out of memory");
    c->loop = loop;
    c->net = net;
    c->conf = conf;
    c->set = dcv_conf_settings(conf);
    c->hb_ms = (uint64_t)c->set->heartbeat_ms;
    c->dead_ms = c->hb_ms * (uint64_t)c->set->liveness;
    /* The two calls upward (coord_int.h): the dispatch kick, a peer gone. */
    c->att.dispatch = co_dispatch;
    c->out.on_gone = co_peer_gone;
    if ((r = dcv_random_hex(c->epoch, 16, err, errlen)) < 0)
        goto fail;

    if (mkdir(c->set->state_dir, 0700) < 0 && errno != EEXIST) {
        r = dcv_err(err, errlen, -errno, "state_dir %s: %s", c->set->state_dir, strerror(errno));
        goto fail;
    }
    if (!realpath(c->set->state_dir, c->state_dir)) {
        r = dcv_err(err, errlen, -errno, "state_dir %s: %s", c->set->state_dir, strerror(errno));
        goto fail;
    }
    if ((r = dcv_store_open(c->state_dir, &c->store, e, sizeof e)) < 0) {
        dcv_errf(err, errlen, "%s", e);
        goto fail;
    }
    if ((r = dcv_blobs_open(c->state_dir, &c->blobs, e, sizeof e)) < 0) {
        dcv_errf(err, errlen, "%s", e);
        goto fail;
    }
    dcv_store_set_backoff(c->store, c->set->retry_backoff_ms, c->set->retry_backoff_max_ms);
    /* Orphans of the previous run: parts of attempts that ended while we
     * were down, crash leftovers, uploads abandoned long ago. */
    co_gc_sweep(c, "start-up");
    if ((r = bind_router(c, DCV_PLANE_CONTROL, c->set->bind, &c->ctl, c->ep_ctl, sizeof c->ep_ctl,
                         on_ctl_sock, "control", err, errlen)) < 0 ||
        (r = bind_router(c, DCV_PLANE_DATA, c->set->data_bind, &c->data, c->ep_data,
                         sizeof c->ep_data, on_data_sock, "data", err, errlen)) < 0 ||
        (r = bind_router(c, DCV_PLANE_ADMIN, c->set->admin, &c->adm, c->ep_adm, sizeof c->ep_adm,
                         on_adm_sock, "admin", err, errlen)) < 0)
        goto fail;
    memset(&xp, 0, sizeof xp);
    xp.chunk_max = (uint32_t)c->set->chunk_size;
    xp.credit_chunks = (uint32_t)c->set->credit_chunks;
    xp.stall_ms = (uint32_t)c->dead_ms;
    xp.max_retries = 3;
    xp.idle_ms = (uint32_t)c->dead_ms;
    if ((r = dcv_xsrv_new(c->data, &xp, &co_xsrv_cbs, c, &c->xsrv, e, sizeof e)) < 0) {
        dcv_errf(err, errlen, "data-plane server: %s", e);
        goto fail;
    }
    c->started_at = co_now();
    c->started_wall_ms = co_wall_ms();
    if ((r = co_tokens_load(c, e, sizeof e)) < 0) {
        dcv_errf(err, errlen, "API tokens: %s", e);
        goto fail;
    }
    if ((r = co_http_start(c, e, sizeof e)) < 0) {
        dcv_errf(err, errlen, "http: %s", e);
        goto fail;
    }
    tick = c->hb_ms / 4;
    tick = tick < 20 ? 20 : tick > 500 ? 500 : tick;
    if ((r = dcv_loop_add_timer(loop, tick, tick, tick_cb, c, &c->tick_timer, e, sizeof e)) < 0) {
        dcv_errf(err, errlen, "coordinator timer: %s", e);
        goto fail;
    }
    dcv_log(DCV_LOG_INFO, CO_LOG, "coordinator up: epoch %s, state %s, heartbeat %" PRIu64
            " ms x %d", c->epoch, c->state_dir, c->hb_ms, c->set->liveness);
    co_dispatch_soon(c);
    *out = c;
    return 0;
fail:
    dcv_coord_free(&c);
    return r;
}

static void unlink_ipc(const char *ep)
{
    if (strncmp(ep, "ipc://", 6) == 0)
        unlink(ep + 6);
}

void dcv_coord_free(struct dcv_coord **cp)
{
    struct dcv_coord *c = cp ? *cp : NULL;
    char err[256];

    if (!c)
        return;
    /* Best effort goodbye: workers reconnect to the next coordinator at once. */
    if (c->ctl)
        for (struct co_worker *w = c->reg.workers; w; w = w->next)
            if (w->online && w->peer.len &&
                dcv_sock_send_json(c->ctl, &w->peer, DCV_CMD_DISCONNECT,
                                   "{\"reason\":\"coordinator shutting down\"}", err,
                                   sizeof err) < 0)
                dcv_log(DCV_LOG_DEBUG, CO_LOG, "goodbye to %s: %s", w->id, err);
    if (c->tick_timer)
        dcv_loop_cancel_timer(c->loop, c->tick_timer);
    if (c->att.pump_timer)
        dcv_loop_cancel_timer(c->loop, c->att.pump_timer);
    if (c->att.kick_timer)
        dcv_loop_cancel_timer(c->loop, c->att.kick_timer);
    if (c->out.timer)
        dcv_loop_cancel_timer(c->loop, c->out.timer);
    if (c->hash.timer)
        dcv_loop_cancel_timer(c->loop, c->hash.timer);
    co_http_free(c);
    co_tokens_free(c);
    /* The timers are off: what follows frees what their callbacks use. */
    dcv_xsrv_free(&c->xsrv);
    co_dataplane_free(c);
    dcv_sock_close(&c->ctl);
    dcv_sock_close(&c->data);
    dcv_sock_close(&c->adm);
    unlink_ipc(c->ep_ctl);
    unlink_ipc(c->ep_data);
    unlink_ipc(c->ep_adm);
    dcv_store_close(&c->store);
    dcv_blobs_free(&c->blobs);
    co_registry_free(c);
    co_attempts_free(c);
    co_hash_free(c);
    co_outbox_free(c);
    co_dispatch_free(c);
    free(c);
    *cp = NULL;
}

const char *dcv_coord_control_endpoint(const struct dcv_coord *c)
{
    return c->ep_ctl;
}

const char *dcv_coord_data_endpoint(const struct dcv_coord *c)
{
    return c->ep_data;
}

const char *dcv_coord_admin_endpoint(const struct dcv_coord *c)
{
    return c->ep_adm;
}

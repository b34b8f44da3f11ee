/*
 * transport-zmq: the dcv_transport_ops over libzmq ROUTER (bind) / DEALER
 * (connect) sockets. The only part of distconv that links libzmq.
 *
 * libzmq facts this file is built around (Debian 12, libzmq 4.3.4):
 *   - A ROUTER drops unroutable messages silently unless ROUTER_MANDATORY=1;
 *     with it and ZMQ_DONTWAIT, an unknown peer gives EHOSTUNREACH and a full
 *     pipe EAGAIN. A blocking send could hang forever (libzmq PR #4665), so
 *     every send here is ZMQ_DONTWAIT.
 *   - ZMQ_FD is edge-triggered; ZMQ_EVENTS is the truth (events()).
 *   - ZMQ_MAXMSGSIZE bounds single frames only (the peer is disconnected);
 *     frame count and total size of a multipart message are checked here.
 *   - No fixed routing ids on DEALERs: a reconnecting peer with a fixed id
 *     is silently ignored by 4.3.4 (#4503). DRAFT options are absent.
 *
 *   - CURVE/PLAIN servers consult ZAP (inproc://zeromq.zap.01, one
 *     handler per zmq context). Without a handler libzmq 4.3.4 admits any
 *     key, so this plugin runs the handler itself (one thread per plugin
 *     context, started before the first authenticated server socket) and
 *     open() of such a socket fails when it is not running.
 *
 * The security thread also reads the socket monitors of every open socket
 * and logs failed handshakes (mechanism mismatch, refused keys), rate
 * limited: a refused peer retries every 100 ms.
 *
 * Configuration, plugins.zmq { ... }:
 *   io_threads = 1;   libzmq I/O threads of this plugin's context
 *
 * Test hook (compiled in, for tests only, documented in docs/security.md):
 * DISTCONV_TEST_ZAP_OCCUPY=1 binds a dummy socket on the ZAP endpoint
 * before the handler, so the handler cannot start and authenticated
 * server sockets must refuse to open.
 */

#include "transport_zmq_int.h"

/* What recv() hands out: the zmq messages themselves, so a 1 MiB chunk is
 * never copied. */
struct zmsgs {
    unsigned n;
    zmq_msg_t parts[DCV_TX_MAX_FRAMES];
};

void plog(const struct zplug *zp, int level, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    if (!zp || !zp->host || !zp->host->log)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    zp->host->log(zp->host->host_ctx, level, "%s", line);
}

/* Records "WHAT: zmq text" and returns -errno, so every failure is one line. */
static int fail(struct ztx *t, int e, const char *fmt, ...) DCV_PRINTF(3, 4);
static int fail(struct ztx *t, int e, const char *fmt, ...)
{
    va_list ap;
    size_t n;
    va_start(ap, fmt);
    vsnprintf(t->error, sizeof(t->error), fmt, ap);
    va_end(ap);
    n = strlen(t->error);
    if (n + 2 < sizeof(t->error))
        snprintf(t->error + n, sizeof(t->error) - n, ": %s", zmq_strerror(e));
    return -e;
}

static int zinit(const struct dcv_host_api *host, const struct dcv_config *cfg, void **pctx,
                 char *err, size_t errlen)
{
    int64_t io_threads = 1;
    struct zplug *zp = calloc(1, sizeof(*zp));
    if (!zp) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    zp->host = host;
    pthread_mutex_init(&zp->mu, NULL);
    if (host && DCV_HAS_FIELD(host, struct dcv_host_api, cfg_get_int) && host->cfg_get_int &&
        cfg) {
        int rc = host->cfg_get_int(cfg, "io_threads", &io_threads);
        if (rc == -EINVAL || (rc == 0 && (io_threads < 1 || io_threads > 64))) {
            snprintf(err, errlen, "plugins.zmq.io_threads must be an integer in 1..64");
            pthread_mutex_destroy(&zp->mu);
            free(zp);
            return -EINVAL;
        }
    }
    zp->zctx = zmq_ctx_new();
    if (!zp->zctx) {
        snprintf(err, errlen, "zmq_ctx_new: %s", zmq_strerror(errno));
        pthread_mutex_destroy(&zp->mu);
        free(zp);
        return -ENOMEM;
    }
    /* BLOCKY=0: sockets left open get linger 0 at term instead of hanging
     * fini forever (linger is set per socket anyway). */
    zmq_ctx_set(zp->zctx, ZMQ_BLOCKY, 0);
    zmq_ctx_set(zp->zctx, ZMQ_IO_THREADS, (int)io_threads);
    *pctx = zp;
    return 0;
}

static void zclose(void *tx);

static void zfini(void *pctx)
{
    struct zplug *zp = pctx;
    if (!zp)
        return;
    if (zp->open)
        plog(zp, DCV_LOG_WARN, "zmq: fini with transports still open; closing them");
    while (zp->open)
        zclose(zp->open);
    sec_stop(zp);
    /* Joins libzmq's I/O and reaper threads once every socket's linger ran out. */
    while (zmq_ctx_term(zp->zctx) != 0 && errno == EINTR)
        ;
    pthread_mutex_destroy(&zp->mu);
    free(zp);
}

static int setopt_int(struct ztx *t, int opt, int v, const char *name)
{
    if (zmq_setsockopt(t->sock, opt, &v, sizeof(v)) != 0)
        return fail(t, errno, "setsockopt %s=%d", name, v);
    return 0;
}

#define CFG(cfg, f, dflt) (DCV_HAS_FIELD(cfg, struct dcv_tx_config, f) ? (cfg)->f : (dflt))

static int check_endpoint(const char *ep, char *err, size_t errlen)
{
    if (!ep || !*ep) {
        snprintf(err, errlen, "transport endpoint is empty");
        return -EINVAL;
    }
    if (strlen(ep) >= EP_LEN) {
        snprintf(err, errlen, "transport endpoint is longer than %d bytes", EP_LEN - 1);
        return -EINVAL;
    }
    if (strncmp(ep, "tcp://", 6) != 0 && strncmp(ep, "ipc://", 6) != 0) {
        snprintf(err, errlen,
                 "transport endpoint '%s' must start with tcp:// or ipc:// "
                 "(e.g. tcp://127.0.0.1:7400, ipc:///run/distconv/admin.sock)",
                 ep);
        return -EINVAL;
    }
    return 0;
}

static int valid_key(const char *k)
{
    static const char z85[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                              ".-:+=^!/*?&<>()[]{}@%$#";
    return k && strlen(k) == DCV_TX_KEY_LEN && strspn(k, z85) == DCV_TX_KEY_LEN;
}

static int setkey(struct ztx *t, int opt, const char *k, const char *what)
{
    if (!valid_key(k)) {
        snprintf(t->error, sizeof(t->error), "CURVE %s is missing or not a %d-character Z85 key",
                 what, DCV_TX_KEY_LEN);
        return -EINVAL;
    }
    if (zmq_setsockopt(t->sock, opt, k, DCV_TX_KEY_LEN) != 0)
        return fail(t, errno, "setsockopt CURVE %s", what);
    return 0;
}

/* Mechanism, keys and the ZAP domain (ABI 1.1 fields). A server socket
 * that authenticates registers its domain with the security thread, which
 * must be running before the socket binds (fail closed: libzmq 4.3.4 lets
 * every CURVE key in when nobody answers ZAP). */
static int setup_security(struct ztx *t, const struct dcv_tx_config *cfg)
{
    uint32_t mech = CFG(cfg, mechanism, DCV_TX_MECH_NONE);
    const char *domain = CFG(cfg, auth_domain, NULL);
    int32_t hs = CFG(cfg, handshake_ivl_ms, 0);
    int server = t->role == DCV_TX_BIND_ROUTER, rc;
    int (*authorize)(void *, const struct dcv_tx_auth_req *, char *, size_t, char *, size_t) =
        DCV_HAS_FIELD(cfg, struct dcv_tx_config, authorize) ? cfg->authorize : NULL;

    if (mech > DCV_TX_MECH_PLAIN) {
        snprintf(t->error, sizeof(t->error), "unknown security mechanism %u", mech);
        return -EINVAL;
    }
    if (hs < 0) {
        snprintf(t->error, sizeof(t->error), "negative handshake interval");
        return -EINVAL;
    }
    if ((rc = setopt_int(t, ZMQ_HANDSHAKE_IVL, hs ? hs : 10000, "ZMQ_HANDSHAKE_IVL")) < 0)
        return rc;
    if (!server) {
        const char *u = CFG(cfg, plain_user, NULL), *pw = CFG(cfg, plain_password, NULL);
        if (mech == DCV_TX_MECH_CURVE &&
            ((rc = setkey(t, ZMQ_CURVE_SERVERKEY, CFG(cfg, curve_server, NULL), "server key")) < 0 ||
             (rc = setkey(t, ZMQ_CURVE_PUBLICKEY, CFG(cfg, curve_public, NULL), "public key")) < 0 ||
             (rc = setkey(t, ZMQ_CURVE_SECRETKEY, CFG(cfg, curve_secret, NULL), "secret key")) < 0))
            return rc;
        if (mech == DCV_TX_MECH_PLAIN) {
            if (!u || !*u || strlen(u) > 255 || !pw || !*pw || strlen(pw) > 255) {
                snprintf(t->error, sizeof(t->error),
                         "PLAIN needs a user name and a password of 1..255 bytes");
                return -EINVAL;
            }
            if (zmq_setsockopt(t->sock, ZMQ_PLAIN_USERNAME, u, strlen(u)) != 0 ||
                zmq_setsockopt(t->sock, ZMQ_PLAIN_PASSWORD, pw, strlen(pw)) != 0)
                return fail(t, errno, "setsockopt PLAIN credentials");
        }
        return 0;
    }
    if (mech != DCV_TX_MECH_NONE && (!domain || !*domain || !authorize)) {
        snprintf(t->error, sizeof(t->error),
                 "a %s server socket needs an auth domain and an authorize callback",
                 mech == DCV_TX_MECH_CURVE ? "CURVE" : "PLAIN");
        return -EINVAL;
    }
    if (mech == DCV_TX_MECH_CURVE) {
        if ((rc = setopt_int(t, ZMQ_CURVE_SERVER, 1, "ZMQ_CURVE_SERVER")) < 0 ||
            (rc = setkey(t, ZMQ_CURVE_SECRETKEY, CFG(cfg, curve_secret, NULL), "secret key")) < 0)
            return rc;
    } else if (mech == DCV_TX_MECH_PLAIN) {
        if ((rc = setopt_int(t, ZMQ_PLAIN_SERVER, 1, "ZMQ_PLAIN_SERVER")) < 0)
            return rc;
    }
    if (!domain || !*domain)
        return 0;
    if (!authorize) {
        snprintf(t->error, sizeof(t->error), "auth domain '%s' without an authorize callback",
                 domain);
        return -EINVAL;
    }
    if ((rc = sec_start(t->plug)) < 0) {
        snprintf(t->error, sizeof(t->error),
                 "ZAP handler not running (%.120s): refusing an unauthenticated server socket",
                 t->plug->thread_error);
        return -EACCES;
    }
    if ((rc = domain_add(t, domain, authorize, CFG(cfg, auth_ctx, NULL))) < 0)
        return rc;
    if (zmq_setsockopt(t->sock, ZMQ_ZAP_DOMAIN, domain, strlen(domain)) != 0)
        return fail(t, errno, "setsockopt ZMQ_ZAP_DOMAIN");
    return 0;
}

static void domain_release(struct ztx *t)
{
    struct zplug *zp = t->plug;
    if (t->domain < 0)
        return;
    pthread_mutex_lock(&zp->mu);
    if (zp->domains[t->domain].refs > 0)
        zp->domains[t->domain].refs--;
    pthread_mutex_unlock(&zp->mu);
    t->domain = -1;
}

static void mon_detach(struct ztx *t)
{
    if (!t->mon)
        return;
    zmq_socket_monitor(t->sock, NULL, 0);
    pthread_mutex_lock(&t->plug->mu);
    t->mon->dead = 1;
    pthread_mutex_unlock(&t->plug->mu);
    t->mon = NULL;
}

static int setup_socket(struct ztx *t, const struct dcv_tx_config *cfg)
{
    int rc;
    int32_t sndhwm = CFG(cfg, sndhwm, 0), rcvhwm = CFG(cfg, rcvhwm, 0);
    int32_t hb_ivl = CFG(cfg, heartbeat_ivl_ms, 0), hb_to = CFG(cfg, heartbeat_timeout_ms, 0);
    int32_t linger = CFG(cfg, linger_ms, 0);
    int64_t maxmsg = (int64_t)t->max_msg;

    if (sndhwm < 0 || rcvhwm < 0 || hb_ivl < 0 || hb_to < 0 || linger < 0) {
        snprintf(t->error, sizeof(t->error),
                 "negative high-water mark, heartbeat or linger in the transport config");
        return -EINVAL;
    }
    if ((rc = setopt_int(t, ZMQ_LINGER, linger, "ZMQ_LINGER")) < 0 ||
        (rc = setopt_int(t, ZMQ_SNDHWM, sndhwm ? sndhwm : 1000, "ZMQ_SNDHWM")) < 0 ||
        (rc = setopt_int(t, ZMQ_RCVHWM, rcvhwm ? rcvhwm : 1000, "ZMQ_RCVHWM")) < 0)
        return rc;
    if (zmq_setsockopt(t->sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof(maxmsg)) != 0)
        return fail(t, errno, "setsockopt ZMQ_MAXMSGSIZE");
    if (hb_ivl > 0) {
        if (!hb_to)
            hb_to = hb_ivl > INT32_MAX / 3 ? INT32_MAX : hb_ivl * 3;
        if ((rc = setopt_int(t, ZMQ_HEARTBEAT_IVL, hb_ivl, "ZMQ_HEARTBEAT_IVL")) < 0 ||
            (rc = setopt_int(t, ZMQ_HEARTBEAT_TIMEOUT, hb_to, "ZMQ_HEARTBEAT_TIMEOUT")) < 0)
            return rc;
    }
    if ((rc = setup_security(t, cfg)) < 0)
        return rc;
    if (t->role == DCV_TX_BIND_ROUTER) {
        if ((rc = setopt_int(t, ZMQ_ROUTER_MANDATORY, 1, "ZMQ_ROUTER_MANDATORY")) < 0)
            return rc;
    } else {
        /* Without IMMEDIATE a DEALER queues onto a pipe that is not connected
         * yet and delivers late after reconnect; with it, send says EAGAIN. */
        if ((rc = setopt_int(t, ZMQ_IMMEDIATE, 1, "ZMQ_IMMEDIATE")) < 0)
            return rc;
    }
    return 0;
}

static int zopen(void *pctx, const struct dcv_tx_config *cfg, void **tx, char *err,
                 size_t errlen)
{
    struct zplug *zp = pctx;
    struct ztx *t;
    size_t len = EP_LEN;
    int rc;

    if (!zp || !cfg || !tx) {
        snprintf(err, errlen, "transport open: missing plugin context, config or result");
        return -EINVAL;
    }
    if (cfg->struct_size < offsetof(struct dcv_tx_config, endpoint) + sizeof(cfg->endpoint)) {
        snprintf(err, errlen, "transport config struct_size %u is too small", cfg->struct_size);
        return -EINVAL;
    }
    if (cfg->role != DCV_TX_BIND_ROUTER && cfg->role != DCV_TX_CONNECT_DEALER) {
        snprintf(err, errlen, "transport role %u is neither BIND_ROUTER (1) nor CONNECT_DEALER (2)",
                 cfg->role);
        return -EINVAL;
    }
    if ((rc = check_endpoint(cfg->endpoint, err, errlen)) < 0)
        return rc;
    t = calloc(1, sizeof(*t));
    if (!t) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    t->plug = zp;
    t->domain = -1;
    t->ipc = strncmp(cfg->endpoint, "ipc://", 6) == 0;
    t->role = cfg->role;
    t->max_msg = CFG(cfg, max_msg_size, 0);
    if (!t->max_msg)
        t->max_msg = DCV_TX_DEFAULT_MAX_MSG;
    if (t->max_msg > (uint64_t)INT64_MAX)
        t->max_msg = (uint64_t)INT64_MAX;
    t->sock = zmq_socket(zp->zctx, t->role == DCV_TX_BIND_ROUTER ? ZMQ_ROUTER : ZMQ_DEALER);
    if (!t->sock) {
        rc = fail(t, errno, "zmq_socket");
        goto out;
    }
    if ((rc = setup_socket(t, cfg)) < 0)
        goto out;
    if (t->role == DCV_TX_BIND_ROUTER ? zmq_bind(t->sock, cfg->endpoint)
                                      : zmq_connect(t->sock, cfg->endpoint)) {
        rc = fail(t, errno, "%s %s", t->role == DCV_TX_BIND_ROUTER ? "bind" : "connect",
                  cfg->endpoint);
        goto out;
    }
    if (zmq_getsockopt(t->sock, ZMQ_LAST_ENDPOINT, t->endpoint, &len) != 0 || !t->endpoint[0])
        snprintf(t->endpoint, sizeof(t->endpoint), "%s", cfg->endpoint);
    len = sizeof(t->fd);
    if (zmq_getsockopt(t->sock, ZMQ_FD, &t->fd, &len) != 0) {
        rc = fail(t, errno, "getsockopt ZMQ_FD");
        goto out;
    }
    /* Failed handshakes are logged from the monitor. On a client only an
     * authenticating socket is worth a thread; a server's peers may be
     * wrong even when it has no keys (a CURVE client against NONE). */
    if (t->domain >= 0 || CFG(cfg, mechanism, DCV_TX_MECH_NONE) != DCV_TX_MECH_NONE)
        mon_attach(t, t->role == DCV_TX_BIND_ROUTER);
    t->st.struct_size = sizeof(t->st);
    snprintf(t->error, sizeof(t->error), "no error");
    t->next = zp->open;
    zp->open = t;
    *tx = t;
    return 0;
out:
    snprintf(err, errlen, "%s", t->error);
    domain_release(t);
    if (t->sock) {
        int zero = 0;
        zmq_setsockopt(t->sock, ZMQ_LINGER, &zero, sizeof(zero));
        zmq_close(t->sock);
    }
    free(t);
    return rc;
}

static void zclose(void *tx)
{
    struct ztx *t = tx, **pp;
    if (!t)
        return;
    for (pp = &t->plug->open; *pp; pp = &(*pp)->next)
        if (*pp == t) {
            *pp = t->next;
            break;
        }
    mon_detach(t);
    domain_release(t);
    zmq_close(t->sock); /* linger continues in libzmq's reaper until ctx term */
    free(t);
}

static int zsend(void *tx, const struct dcv_tx_peer *to, const struct dcv_tx_frame *frames,
                 unsigned n)
{
    struct ztx *t = tx;
    uint64_t total = 0;
    unsigned i;

    if (!t)
        return -EINVAL;
    if (n == 0 || n > DCV_TX_MAX_FRAMES || !frames) {
        snprintf(t->error, sizeof(t->error), "send: %u frames (allowed 1..%d)", n,
                 DCV_TX_MAX_FRAMES);
        return n > DCV_TX_MAX_FRAMES ? -EMSGSIZE : -EINVAL;
    }
    for (i = 0; i < n; i++) {
        if (!frames[i].data && frames[i].len) {
            snprintf(t->error, sizeof(t->error), "send: frame %u has no data", i);
            return -EINVAL;
        }
        total += frames[i].len;
    }
    if (total > t->max_msg) {
        snprintf(t->error, sizeof(t->error), "send: message of %llu bytes exceeds the %llu byte limit",
                 (unsigned long long)total, (unsigned long long)t->max_msg);
        return -EMSGSIZE;
    }
    if (t->role == DCV_TX_BIND_ROUTER) {
        if (!to || to->len == 0 || to->len > DCV_TX_MAX_PEER_ID) {
            snprintf(t->error, sizeof(t->error), "send: a ROUTER needs a peer id of 1..%d bytes",
                     DCV_TX_MAX_PEER_ID);
            return -EINVAL;
        }
        /* The envelope is where MANDATORY reports EHOSTUNREACH / EAGAIN:
         * nothing of the message has been queued yet when it fails. */
        if (zmq_send(t->sock, to->id, to->len, ZMQ_DONTWAIT | ZMQ_SNDMORE) < 0) {
            int e = errno;
            if (e == EAGAIN)
                t->st.send_eagain++;
            else if (e == EHOSTUNREACH)
                t->st.send_unreachable++;
            return fail(t, e, "send to peer");
        }
    } else if (to && to->len) {
        snprintf(t->error, sizeof(t->error), "send: a DEALER has no peer ids");
        return -EINVAL;
    }
    for (i = 0; i < n; i++) {
        int fl = ZMQ_DONTWAIT | (i + 1 < n ? ZMQ_SNDMORE : 0);
        if (zmq_send(t->sock, frames[i].data, frames[i].len, fl) < 0) {
            int e = errno;
            /* On a DEALER the first frame is the atomic point; on a ROUTER the
             * envelope was. libzmq counts HWM per whole message, so a later
             * frame cannot hit it: this is a broken socket, not back-pressure. */
            if (i == 0 && t->role == DCV_TX_CONNECT_DEALER) {
                if (e == EAGAIN)
                    t->st.send_eagain++;
                return fail(t, e, "send");
            }
            fail(t, e, "send: frame %u of %u failed after the message started", i, n);
            return -EIO;
        }
    }
    t->st.msgs_out++;
    t->st.bytes_out += total;
    return 0;
}

int more(void *sock)
{
    int m = 0;
    size_t len = sizeof(m);
    return zmq_getsockopt(sock, ZMQ_RCVMORE, &m, &len) == 0 && m;
}

/* Reads and throws away the rest of a multipart message. */
void discard_rest(void *sock)
{
    zmq_msg_t part;
    zmq_msg_init(&part);
    while (more(sock)) {
        if (zmq_msg_recv(&part, sock, ZMQ_DONTWAIT) < 0)
            break;
    }
    zmq_msg_close(&part);
}

static int zrecv(void *tx, struct dcv_tx_peer *from, struct dcv_tx_msg *msg)
{
    struct ztx *t = tx;
    struct zmsgs *m;
    uint64_t total = 0;
    uint32_t id_len = 0;
    uint8_t id[DCV_TX_MAX_PEER_ID];
    int rc;

    if (!t || !msg)
        return -EINVAL;
    memset(msg, 0, sizeof(*msg));
    if (t->role == DCV_TX_BIND_ROUTER) {
        zmq_msg_t env;
        zmq_msg_init(&env);
        if (zmq_msg_recv(&env, t->sock, ZMQ_DONTWAIT) < 0) {
            int e = errno;
            zmq_msg_close(&env);
            return e == EAGAIN ? -EAGAIN : fail(t, e, "recv");
        }
        if (zmq_msg_size(&env) == 0 || zmq_msg_size(&env) > DCV_TX_MAX_PEER_ID || !more(t->sock)) {
            zmq_msg_close(&env);
            discard_rest(t->sock);
            t->st.dropped_malformed++;
            snprintf(t->error, sizeof(t->error), "recv: message without a valid envelope discarded");
            return -EPROTO;
        }
        id_len = (uint32_t)zmq_msg_size(&env);
        memcpy(id, zmq_msg_data(&env), id_len);
        zmq_msg_close(&env);
    }
    m = malloc(sizeof(*m));
    if (!m) {
        /* The message stays queued; the caller can retry after freeing memory. */
        snprintf(t->error, sizeof(t->error), "recv: out of memory");
        if (t->role == DCV_TX_BIND_ROUTER)
            discard_rest(t->sock); /* the envelope is already gone */
        return -ENOMEM;
    }
    m->n = 0;
    for (;;) {
        zmq_msg_t *p;
        if (m->n == DCV_TX_MAX_FRAMES) {
            discard_rest(t->sock);
            t->st.dropped_frames++;
            snprintf(t->error, sizeof(t->error),
                     "recv: message with more than %d frames discarded", DCV_TX_MAX_FRAMES);
            rc = -EPROTO;
            goto drop;
        }
        p = &m->parts[m->n];
        zmq_msg_init(p);
        if (zmq_msg_recv(p, t->sock, ZMQ_DONTWAIT) < 0) {
            int e = errno;
            zmq_msg_close(p);
            if (m->n == 0 && e == EAGAIN && t->role == DCV_TX_CONNECT_DEALER) {
                free(m);
                return -EAGAIN;
            }
            /* Multipart delivery is atomic, so a missing part is a bug or a
             * dying context, never "later". */
            rc = fail(t, e, "recv: frame %u", m->n);
            goto drop;
        }
        m->n++;
        total += zmq_msg_size(p);
        if (!more(t->sock))
            break;
    }
    if (total > t->max_msg) {
        t->st.dropped_oversize++;
        snprintf(t->error, sizeof(t->error),
                 "recv: message of %llu bytes over the %llu byte limit discarded",
                 (unsigned long long)total, (unsigned long long)t->max_msg);
        rc = -EPROTO;
        goto drop;
    }
    msg->n = m->n;
    for (unsigned i = 0; i < m->n; i++) {
        msg->frames[i].data = zmq_msg_data(&m->parts[i]);
        msg->frames[i].len = zmq_msg_size(&m->parts[i]);
    }
    msg->total = (size_t)total;
    msg->priv = m;
    msg->peer_uid = msg->peer_gid = -1;
    if (m->n) {
        /* Connection metadata rides on every frame: the ZAP user id, and
         * for ipc the peer's credentials ("localhost:UID:GID:PID"). */
        const char *uid = zmq_msg_gets(&m->parts[0], "User-Id");
        if (uid)
            snprintf(msg->user_id, sizeof(msg->user_id), "%s", uid);
        if (t->ipc) {
            int64_t pid;
            parse_ucred(zmq_msg_gets(&m->parts[0], "Peer-Address"), &msg->peer_uid,
                        &msg->peer_gid, &pid);
        }
    }
    if (from) {
        from->len = id_len;
        memcpy(from->id, id, id_len);
    }
    t->st.msgs_in++;
    t->st.bytes_in += total;
    return 0;
drop:
    for (unsigned i = 0; i < m->n; i++)
        zmq_msg_close(&m->parts[i]);
    free(m);
    return rc;
}

static void zmsg_free(void *tx, struct dcv_tx_msg *msg)
{
    struct zmsgs *m;
    if (!msg || !msg->priv)
        return;
    m = msg->priv;
    for (unsigned i = 0; i < m->n; i++)
        zmq_msg_close(&m->parts[i]);
    free(m);
    memset(msg, 0, sizeof(*msg));
}

static int zget_fd(void *tx, int *fd)
{
    struct ztx *t = tx;
    if (!t || !fd)
        return -EINVAL;
    *fd = t->fd;
    return 0;
}

static int zevents(void *tx, int *readable, int *writable)
{
    struct ztx *t = tx;
    int ev = 0;
    size_t len = sizeof(ev);
    if (!t)
        return -EINVAL;
    /* Reading ZMQ_EVENTS also processes libzmq's pending commands: this is
     * what re-arms the edge-triggered fd. */
    if (zmq_getsockopt(t->sock, ZMQ_EVENTS, &ev, &len) != 0)
        return fail(t, errno, "getsockopt ZMQ_EVENTS");
    if (readable)
        *readable = !!(ev & ZMQ_POLLIN);
    if (writable)
        *writable = !!(ev & ZMQ_POLLOUT);
    return 0;
}

static int zendpoint(void *tx, char *buf, size_t len)
{
    struct ztx *t = tx;
    if (!t || !buf)
        return -EINVAL;
    if (strlen(t->endpoint) >= len)
        return -ENOSPC;
    memcpy(buf, t->endpoint, strlen(t->endpoint) + 1);
    return 0;
}

static int zstats(void *tx, struct dcv_tx_stats *out)
{
    struct ztx *t = tx;
    uint32_t sz;
    if (!t || !out || out->struct_size < offsetof(struct dcv_tx_stats, msgs_in))
        return -EINVAL;
    /* The host's struct may be older (smaller) or newer (larger) than ours. */
    sz = out->struct_size < sizeof(t->st) ? out->struct_size : (uint32_t)sizeof(t->st);
    memcpy((char *)out + sizeof(uint32_t), (const char *)&t->st + sizeof(uint32_t),
           sz - sizeof(uint32_t));
    return 0;
}

static const char *zlast_error(void *tx)
{
    struct ztx *t = tx;
    return t ? t->error : "no transport";
}

static int zkeypair(void *pctx, char pub[DCV_TX_KEY_LEN + 1], char sec[DCV_TX_KEY_LEN + 1],
                    char *err, size_t errlen)
{
    (void)pctx;
    if (zmq_curve_keypair(pub, sec) != 0) {
        snprintf(err, errlen, "zmq_curve_keypair: %s", zmq_strerror(errno));
        return errno == ENOTSUP ? -ENOTSUP : -EIO;
    }
    return 0;
}

static int zpublic(void *pctx, const char *sec, char pub[DCV_TX_KEY_LEN + 1], char *err,
                   size_t errlen)
{
    (void)pctx;
    if (!valid_key(sec)) {
        snprintf(err, errlen, "not a %d-character Z85 secret key", DCV_TX_KEY_LEN);
        return -EINVAL;
    }
    if (zmq_curve_public(pub, sec) != 0) {
        snprintf(err, errlen, "zmq_curve_public: %s", zmq_strerror(errno));
        return errno == ENOTSUP ? -ENOTSUP : -EINVAL;
    }
    return 0;
}

static const struct dcv_transport_ops zmq_ops = {
    .struct_size = sizeof(struct dcv_transport_ops),
    .open = zopen,
    .send = zsend,
    .recv = zrecv,
    .msg_free = zmsg_free,
    .get_fd = zget_fd,
    .events = zevents,
    .endpoint = zendpoint,
    .stats = zstats,
    .last_error = zlast_error,
    .close = zclose,
    .curve_keypair = zkeypair,
    .curve_public = zpublic,
};

static const struct dcv_plugin_header zmq_header = {
    .magic = DCV_PLUGIN_MAGIC,
    .abi_major = DCV_ABI_MAJOR,
    .abi_minor = DCV_ABI_MINOR,
    .struct_size = sizeof(struct dcv_plugin_header),
    .kind = DCV_PLUGIN_TRANSPORT,
    .avcodec_major = 0,
    .avutil_major = 0,
    .flags = 0,
    .name = "zmq",
    .version = "1.1",
    .license = "GPL-2.0-or-later",
    .description = "ZeroMQ ROUTER/DEALER transport (libzmq " ZMQ_VERSION_STR ")",
    .init = zinit,
    .fini = zfini,
    .ops = &zmq_ops,
};

DCV_EXPORT const struct dcv_plugin_header *dcv_plugin_query_v1(void)
{
    return &zmq_header;
}

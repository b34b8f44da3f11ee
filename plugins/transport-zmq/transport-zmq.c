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

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zmq.h>

#include "distconv/plugin.h"

#define ZSTR_(x) #x
#define ZSTR(x) ZSTR_(x)
#define ZMQ_VERSION_STR ZSTR(ZMQ_VERSION_MAJOR) "." ZSTR(ZMQ_VERSION_MINOR) "." ZSTR(ZMQ_VERSION_PATCH)

#define ERR_LEN 256
#define EP_LEN 1024

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define MAX_DOMAINS 8
#define DOMAIN_LEN 64

struct zplug;

/* A socket monitor's reading end, owned by the security thread once
 * handed over (under zplug.mu). `dead`: the transport let go of it (the
 * thread closes and frees it); `stopped`: no more events (the thread stops
 * polling it, the transport still points at it). */
struct zmon {
    struct zmon *next;
    void *pair;
    int dead, stopped;
    int server; /* 1: a bound socket (peers are clients), 0: a client */
    char endpoint[EP_LEN];
};

/* A line slog() folds: its text, when it was last logged, how many times
 * it came again since. */
#define FOLD_LINES 8
#define FOLD_S 60
struct zfold {
    char line[512];
    time_t at;
    unsigned repeats;
};

struct ztx {
    struct zplug *plug;
    struct ztx *next; /* the plugin's list of open transports */
    void *sock;
    uint32_t role;
    uint64_t max_msg;
    int fd;
    int ipc;               /* peer credentials come from Peer-Address */
    int domain;            /* index into plug->domains, -1 none */
    struct zmon *mon;
    char endpoint[EP_LEN];
    char error[ERR_LEN];
    struct dcv_tx_stats st;
};

/* Who answers ZAP requests for one auth domain. */
struct zdomain {
    char name[DOMAIN_LEN];
    int (*authorize)(void *, const struct dcv_tx_auth_req *, char *, size_t, char *, size_t);
    void *ctx;
    int refs;
};

struct zplug {
    const struct dcv_host_api *host;
    void *zctx;
    struct ztx *open; /* closed by fini() if the host forgot them */

    /* The security thread (ZAP handler + monitors). mu guards what the
     * I/O thread and the security thread share: domains, mons, stop. */
    pthread_mutex_t mu;
    pthread_t thread;
    int thread_state; /* 0 not started, 1 running, < 0 -errno it could not start with */
    char thread_error[ERR_LEN];
    void *zap;        /* the handler's REP socket (the thread's once started) */
    void *occupier;   /* test hook: what holds the ZAP endpoint */
    int stop;
    struct zdomain domains[MAX_DOMAINS];
    struct zmon *mons;
    unsigned mon_seq;
    /* log rate limit (security thread only) */
    struct zfold fold[FOLD_LINES];
};

/* What recv() hands out: the zmq messages themselves, so a 1 MiB chunk is
 * never copied. */
struct zmsgs {
    unsigned n;
    zmq_msg_t parts[DCV_TX_MAX_FRAMES];
};

static void plog(const struct zplug *zp, int level, const char *fmt, ...) DCV_PRINTF(3, 4);
static void plog(const struct zplug *zp, int level, const char *fmt, ...)
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

/* ---- the security thread: ZAP handler and socket monitors -------------------- */

static int more(void *sock);
static void discard_rest(void *sock);

/* Log from the security thread, folding a line that repeats within FOLD_S
 * into a count: a refused peer reconnects ten times a second, and one
 * failure logs several lines that interleave (a key error, then the hang
 * up), so the last FOLD_LINES distinct lines are remembered, not only the
 * last one. A folded line comes again with its count once its time is up. */
static void slog(struct zplug *zp, int level, const char *fmt, ...) DCV_PRINTF(3, 4);
static void slog(struct zplug *zp, int level, const char *fmt, ...)
{
    char line[512];
    time_t now = time(NULL);
    struct zfold *f = NULL, *oldest = &zp->fold[0];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    for (int i = 0; i < FOLD_LINES && !f; i++) {
        if (strcmp(line, zp->fold[i].line) == 0)
            f = &zp->fold[i];
        else if (zp->fold[i].at < oldest->at)
            oldest = &zp->fold[i];
    }
    if (f && now - f->at < FOLD_S) {
        f->repeats++;
        return;
    }
    if (f && f->repeats) {
        plog(zp, level, "%s (and %u more time%s in the last %d s)", line, f->repeats,
             f->repeats == 1 ? "" : "s", (int)(now - f->at));
    } else {
        plog(zp, level, "%s", line);
    }
    if (!f) {
        f = oldest;
        snprintf(f->line, sizeof(f->line), "%s", line);
    }
    f->repeats = 0;
    f->at = now;
}

/* ipc peers: "localhost:UID:GID:PID" (libzmq fills it from SO_PEERCRED). */
static void parse_ucred(const char *addr, int64_t *uid, int64_t *gid, int64_t *pid)
{
    long long u, g, p;
    const char *c = addr ? strchr(addr, ':') : NULL;
    *uid = *gid = *pid = -1;
    if (c && sscanf(c, ":%lld:%lld:%lld", &u, &g, &p) == 3 && u >= 0 && g >= 0) {
        *uid = u;
        *gid = g;
        *pid = p;
    }
}

static int send_str(void *sock, const char *s, int more)
{
    return zmq_send(sock, s, strlen(s), more ? ZMQ_SNDMORE : 0) < 0 ? -1 : 0;
}

/* One ZAP request (RFC 27): version, request id, domain, address, identity,
 * mechanism, credentials... -> version, request id, status, text, user id,
 * metadata. A malformed request gets 500 (libzmq then refuses the peer). */
static void zap_serve(struct zplug *zp)
{
    enum { NF = 10 };
    zmq_msg_t f[NF];
    char domain[DOMAIN_LEN] = "", address[256] = "", mech[16] = "", key[DCV_TX_KEY_LEN + 1] = "";
    char user[DCV_TX_MAX_USER_ID + 1] = "", reason[256] = "", name[256] = "", pass[256] = "";
    const char *status = "500";
    struct dcv_tx_auth_req rq;
    unsigned n = 0;
    int code = 500;

    for (;;) {
        zmq_msg_init(&f[n]);
        if (zmq_msg_recv(&f[n], zp->zap, 0) < 0) {
            zmq_msg_close(&f[n]);
            goto out_nosend; /* ETERM: shutting down */
        }
        n++;
        if (!more(zp->zap))
            break;
        if (n == NF) {
            discard_rest(zp->zap);
            break;
        }
    }
#define FSTR(i, buf)                                                                             \
    do {                                                                                         \
        size_t l_ = zmq_msg_size(&f[i]) < sizeof(buf) - 1 ? zmq_msg_size(&f[i]) : sizeof(buf) - 1; \
        memcpy(buf, zmq_msg_data(&f[i]), l_);                                                    \
        buf[l_] = '\0';                                                                          \
    } while (0)
    if (n < 6 || zmq_msg_size(&f[0]) != 3 || memcmp(zmq_msg_data(&f[0]), "1.0", 3) != 0) {
        snprintf(reason, sizeof reason, "malformed ZAP request");
        goto reply;
    }
    FSTR(2, domain);
    FSTR(3, address);
    FSTR(5, mech);
    memset(&rq, 0, sizeof rq);
    rq.struct_size = sizeof rq;
    rq.domain = domain;
    rq.mechanism = mech;
    rq.address = address;
    parse_ucred(address, &rq.uid, &rq.gid, &rq.pid);
    if (strcmp(mech, "CURVE") == 0) {
        if (n < 7 || zmq_msg_size(&f[6]) != 32) {
            snprintf(reason, sizeof reason, "malformed CURVE credentials");
            goto reply;
        }
        zmq_z85_encode(key, zmq_msg_data(&f[6]), 32);
        rq.curve_key = key;
    } else if (strcmp(mech, "PLAIN") == 0) {
        if (n < 8) {
            snprintf(reason, sizeof reason, "malformed PLAIN credentials");
            goto reply;
        }
        FSTR(6, name);
        FSTR(7, pass);
        rq.username = name;
        rq.password = pass;
    }
    {
        int (*cb)(void *, const struct dcv_tx_auth_req *, char *, size_t, char *, size_t) = NULL;
        void *ctx = NULL;
        pthread_mutex_lock(&zp->mu);
        for (int i = 0; i < MAX_DOMAINS; i++)
            if (zp->domains[i].refs && strcmp(zp->domains[i].name, domain) == 0) {
                cb = zp->domains[i].authorize;
                ctx = zp->domains[i].ctx;
            }
        pthread_mutex_unlock(&zp->mu);
        if (!domain[0] && strcmp(mech, "NULL") == 0) {
            /* A NULL socket without a domain authenticates nobody by
             * design (libzmq asks anyway in some versions): admit, with
             * no user id, exactly as if no handler existed. */
            code = 200;
        } else if (!cb) {
            code = 400;
            snprintf(reason, sizeof reason, "no socket of this process authenticates domain '%s'",
                     domain);
        } else {
            code = cb(ctx, &rq, user, sizeof user, reason, sizeof reason);
        }
    }
reply:
    status = code == 200 ? "200" : code == 400 ? "400" : "500";
    if (code != 200)
        slog(zp, DCV_LOG_WARN, "zmq: refused %s peer %s%s%s on '%s': %s", mech[0] ? mech : "?",
             address[0] ? address : "?", key[0] ? " with key " : name[0] ? " user " : "",
             key[0] ? key : name, domain, reason[0] ? reason : "not authorised");
    if (n >= 2) {
        if (send_str(zp->zap, "1.0", 1) == 0 &&
            zmq_send(zp->zap, zmq_msg_data(&f[1]), zmq_msg_size(&f[1]), ZMQ_SNDMORE) >= 0 &&
            send_str(zp->zap, status, 1) == 0 &&
            send_str(zp->zap, code == 200 ? "OK" : reason[0] ? reason : "refused", 1) == 0 &&
            send_str(zp->zap, code == 200 ? user : "", 1) == 0)
            (void)zmq_send(zp->zap, "", 0, 0);
    } else {
        /* A REP must answer something: an empty error reply. */
        (void)send_str(zp->zap, "1.0", 1);
        (void)send_str(zp->zap, "", 1);
        (void)send_str(zp->zap, "500", 1);
        (void)send_str(zp->zap, "malformed", 1);
        (void)send_str(zp->zap, "", 1);
        (void)zmq_send(zp->zap, "", 0, 0);
    }
out_nosend:
    for (unsigned i = 0; i < n; i++)
        zmq_msg_close(&f[i]);
#undef FSTR
}

/* One monitor event: [u16 event, u32 value] + an endpoint frame. */
static int mon_read(struct zplug *zp, struct zmon *m)
{
    zmq_msg_t a, b;
    uint16_t ev = 0;
    uint32_t val = 0;
    int stopped = 0;

    zmq_msg_init(&a);
    zmq_msg_init(&b);
    if (zmq_msg_recv(&a, m->pair, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&a);
        zmq_msg_close(&b);
        return errno == EAGAIN ? 0 : -1;
    }
    if (more(m->pair)) /* the endpoint frame: ours, not the peer's; we know it */
        (void)zmq_msg_recv(&b, m->pair, ZMQ_DONTWAIT);
    if (zmq_msg_size(&a) >= 6) {
        memcpy(&ev, zmq_msg_data(&a), 2);
        memcpy(&val, (char *)zmq_msg_data(&a) + 2, 4);
    }
    switch (ev) {
    case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
        if (m->server) /* the ZAP handler logged why, with the key */
            slog(zp, DCV_LOG_DEBUG, "zmq: %s: handshake refused (ZAP status %u)", m->endpoint, val);
        else
            slog(zp, DCV_LOG_WARN,
                 "zmq: %s refused our credentials (status %u): is this host's key enrolled "
                 "there, and is the server key right?",
                 m->endpoint, val);
        break;
    case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL: {
        /* libzmq names the socket's endpoint here, not the peer's. */
        int crypto = val >= ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC && val < 0x20000000;
        slog(zp, DCV_LOG_WARN, "zmq: %s: a %s handshake failed: protocol error %#x%s",
             m->endpoint, m->server ? "peer's" : "connection's", val,
             val == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH
                 ? " (security mechanism mismatch: the peer is not using the same "
                   "security.mode)"
             : crypto && m->server
                 ? " (cryptographic error: a client has the wrong server key for this "
                   "endpoint: its security.coordinator_key must be this coordinator's public "
                   "key, keys/coordinator.pub)"
             : crypto ? " (cryptographic error: wrong keys)"
                      : "");
        break;
    }
    case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
        /* Mostly the tail of a failure already logged (the peer hung up). */
        slog(zp, DCV_LOG_DEBUG, "zmq: %s: a handshake failed (%s)", m->endpoint,
             zmq_strerror((int)val));
        break;
    case ZMQ_EVENT_MONITOR_STOPPED:
        stopped = 1;
        break;
    default:
        break;
    }
    zmq_msg_close(&a);
    zmq_msg_close(&b);
    return stopped ? -1 : 1;
}

static void *sec_thread(void *arg)
{
    struct zplug *zp = arg;
    enum { MAXP = 64 };
    zmq_pollitem_t items[MAXP];
    struct zmon *mons[MAXP];
    sigset_t all;

    /* Signals belong to the host's loop (signalfd), never to this thread. */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    for (;;) {
        int n = 1, rc;
        pthread_mutex_lock(&zp->mu);
        if (zp->stop) {
            pthread_mutex_unlock(&zp->mu);
            break;
        }
        for (struct zmon **pp = &zp->mons; *pp;) {
            struct zmon *m = *pp;
            if (m->dead) {
                *pp = m->next;
                zmq_close(m->pair);
                free(m);
                continue;
            }
            if (n < MAXP && !m->stopped) {
                mons[n] = m;
                items[n].socket = m->pair;
                items[n].fd = 0;
                items[n].events = ZMQ_POLLIN;
                items[n].revents = 0;
                n++;
            }
            pp = &m->next;
        }
        pthread_mutex_unlock(&zp->mu);
        items[0].socket = zp->zap;
        items[0].fd = 0;
        items[0].events = ZMQ_POLLIN;
        items[0].revents = 0;
        /* The timeout bounds how late a new monitor or stop is noticed. */
        rc = zmq_poll(items, n, 100);
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            break; /* ETERM */
        }
        if (items[0].revents & ZMQ_POLLIN)
            zap_serve(zp);
        for (int i = 1; i < n; i++) {
            if (!(items[i].revents & ZMQ_POLLIN))
                continue;
            for (int k = 0; k < 16; k++) {
                int r = mon_read(zp, mons[i]);
                if (r < 0) {
                    pthread_mutex_lock(&zp->mu);
                    mons[i]->stopped = 1;
                    pthread_mutex_unlock(&zp->mu);
                }
                if (r <= 0)
                    break;
            }
        }
    }
    pthread_mutex_lock(&zp->mu);
    while (zp->mons) {
        struct zmon *m = zp->mons;
        zp->mons = m->next;
        zmq_close(m->pair);
        free(m);
    }
    pthread_mutex_unlock(&zp->mu);
    zmq_close(zp->zap);
    zp->zap = NULL;
    return NULL;
}

/* Start the security thread once; 0 when it runs. Binding the ZAP
 * endpoint here, on the caller's thread, makes "the handler is bound" a
 * fact before open() binds any server socket. */
static int sec_start(struct zplug *zp)
{
    const char *hook = getenv("DISTCONV_TEST_ZAP_OCCUPY");
    int zero = 0, r;

    if (zp->thread_state != 0)
        return zp->thread_state > 0 ? 0 : zp->thread_state;
    if (hook && strcmp(hook, "1") == 0 && !zp->occupier) {
        zp->occupier = zmq_socket(zp->zctx, ZMQ_REP);
        if (zp->occupier) {
            zmq_setsockopt(zp->occupier, ZMQ_LINGER, &zero, sizeof(zero));
            if (zmq_bind(zp->occupier, ZAP_ENDPOINT) == 0)
                plog(zp, DCV_LOG_WARN, "zmq: test hook DISTCONV_TEST_ZAP_OCCUPY: %s is taken",
                     ZAP_ENDPOINT);
        }
    }
    zp->zap = zmq_socket(zp->zctx, ZMQ_REP);
    if (!zp->zap) {
        r = -errno;
        snprintf(zp->thread_error, sizeof(zp->thread_error), "ZAP socket: %s", zmq_strerror(-r));
        goto fail;
    }
    zmq_setsockopt(zp->zap, ZMQ_LINGER, &zero, sizeof(zero));
    if (zmq_bind(zp->zap, ZAP_ENDPOINT) != 0) {
        r = -errno;
        snprintf(zp->thread_error, sizeof(zp->thread_error), "bind %s: %s%s", ZAP_ENDPOINT,
                 zmq_strerror(-r),
                 r == -EADDRINUSE ? " (another ZAP handler in this process)" : "");
        goto fail;
    }
    if ((r = pthread_create(&zp->thread, NULL, sec_thread, zp)) != 0) {
        r = -r;
        snprintf(zp->thread_error, sizeof(zp->thread_error), "thread: %s", strerror(-r));
        goto fail;
    }
    zp->thread_state = 1;
    return 0;
fail:
    if (zp->zap)
        zmq_close(zp->zap);
    zp->zap = NULL;
    zp->thread_state = r;
    return r;
}

static void sec_stop(struct zplug *zp)
{
    if (zp->thread_state > 0) {
        pthread_mutex_lock(&zp->mu);
        zp->stop = 1;
        pthread_mutex_unlock(&zp->mu);
        pthread_join(zp->thread, NULL);
        zp->thread_state = 0;
    }
    if (zp->occupier)
        zmq_close(zp->occupier);
    zp->occupier = NULL;
}

/* Hand the socket's monitor to the security thread (best effort: a socket
 * without one works, it only logs less). */
static void mon_attach(struct ztx *t, int server)
{
    struct zplug *zp = t->plug;
    char ep[64];
    struct zmon *m;
    int zero = 0;

    if (zp->thread_state <= 0 && sec_start(zp) < 0)
        return;
    snprintf(ep, sizeof(ep), "inproc://dcv-monitor-%u", ++zp->mon_seq);
    if (zmq_socket_monitor(t->sock, ep,
                           ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_MONITOR_STOPPED) != 0)
        return;
    if (!(m = calloc(1, sizeof(*m))) || !(m->pair = zmq_socket(zp->zctx, ZMQ_PAIR)) ||
        zmq_connect(m->pair, ep) != 0) {
        if (m && m->pair)
            zmq_close(m->pair);
        free(m);
        zmq_socket_monitor(t->sock, NULL, 0);
        return;
    }
    zmq_setsockopt(m->pair, ZMQ_LINGER, &zero, sizeof(zero));
    m->server = server;
    snprintf(m->endpoint, sizeof(m->endpoint), "%s", t->endpoint);
    pthread_mutex_lock(&zp->mu);
    m->next = zp->mons;
    zp->mons = m;
    pthread_mutex_unlock(&zp->mu);
    t->mon = m;
}

static int domain_add(struct ztx *t, const char *name,
                      int (*cb)(void *, const struct dcv_tx_auth_req *, char *, size_t, char *,
                                size_t),
                      void *ctx)
{
    struct zplug *zp = t->plug;
    int slot = -1, r = 0;

    if (strlen(name) >= DOMAIN_LEN) {
        snprintf(t->error, sizeof(t->error), "auth domain longer than %d bytes", DOMAIN_LEN - 1);
        return -EINVAL;
    }
    pthread_mutex_lock(&zp->mu);
    for (int i = 0; i < MAX_DOMAINS; i++) {
        if (zp->domains[i].refs && strcmp(zp->domains[i].name, name) == 0) {
            if (zp->domains[i].authorize != cb || zp->domains[i].ctx != ctx) {
                snprintf(t->error, sizeof(t->error),
                         "auth domain '%s' is already served by another authorize callback", name);
                r = -EEXIST;
            }
            slot = i;
            break;
        }
        if (!zp->domains[i].refs && slot < 0)
            slot = i;
    }
    if (r == 0 && slot < 0) {
        snprintf(t->error, sizeof(t->error), "more than %d auth domains", MAX_DOMAINS);
        r = -ENOSPC;
    }
    if (r == 0) {
        struct zdomain *d = &zp->domains[slot];
        if (!d->refs) {
            snprintf(d->name, sizeof(d->name), "%s", name);
            d->authorize = cb;
            d->ctx = ctx;
        }
        d->refs++;
        t->domain = slot;
    }
    pthread_mutex_unlock(&zp->mu);
    return r;
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

static int more(void *sock)
{
    int m = 0;
    size_t len = sizeof(m);
    return zmq_getsockopt(sock, ZMQ_RCVMORE, &m, &len) == 0 && m;
}

/* Reads and throws away the rest of a multipart message. */
static void discard_rest(void *sock)
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

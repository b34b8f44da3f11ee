/*
 * transport-zmq's security thread (transport_zmq_int.h): the ZAP handler
 * every CURVE/PLAIN server socket of this plugin's context consults, and
 * the socket monitors whose failed handshakes it logs, folded.
 */
#include "transport_zmq_int.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

/* ---- the security thread: ZAP handler and socket monitors -------------------- */


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
void parse_ucred(const char *addr, int64_t *uid, int64_t *gid, int64_t *pid)
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

/* ---- who a failed handshake came from ------------------------------------------ */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The peer of an accepted connection: its IP without the port (a client
 * retrying comes from a new port each time, and the line must fold), or the
 * local user of an ipc:// one. "" when the fd is already gone. */
static void peer_of_fd(int fd, char *out, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;

    out[0] = '\0';
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) != 0)
        return;
    if (ss.ss_family == AF_INET) {
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, out, (socklen_t)len);
    } else if (ss.ss_family == AF_INET6) {
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, out, (socklen_t)len);
    } else if (ss.ss_family == AF_UNIX) {
        struct ucred cr;
        socklen_t cl = sizeof cr;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) == 0)
            snprintf(out, len, "local uid %u", (unsigned)cr.uid);
    }
}

static void peer_add(struct zmon *m, int fd)
{
    struct zpeer *p = NULL;
    for (unsigned i = 0; i < MON_PEERS && !p; i++)
        if (m->peers[i].fd < 0)
            p = &m->peers[i];
    if (!p) /* all taken (long-lived connections): reuse the oldest slot */
        p = &m->peers[m->next_peer++ % MON_PEERS];
    p->fd = fd;
    peer_of_fd(fd, p->addr, sizeof p->addr);
}

/* The address recorded for fd into out ("" unknown), and the slot freed. */
static void peer_take(struct zmon *m, int fd, char *out, size_t len)
{
    out[0] = '\0';
    for (unsigned i = 0; i < MON_PEERS; i++)
        if (m->peers[i].fd == fd) {
            snprintf(out, len, "%s", m->peers[i].addr);
            m->peers[i].fd = -1;
        }
}

/* Log the failed handshake held for its peer, with the peer when known. */
static void fail_flush(struct zplug *zp, struct zmon *m, const char *peer)
{
    if (!m->fail[0])
        return;
    /* The peer is known when this thread read the fd's address before
     * libzmq closed it: a handshake that fails at once often wins. */
    slog(zp, m->fail_level, "zmq: %s: a handshake from %s failed: %s", m->endpoint,
         peer && *peer ? peer : "a peer already gone", m->fail);
    m->fail[0] = '\0';
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
        /* libzmq names the socket's endpoint here, not the peer's: a bound
         * socket holds the line for the DISCONNECTED that follows, whose
         * value is the connection's fd (see fail_flush). */
        int crypto = val >= ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC && val < 0x20000000;
        const char *why =
            val == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH
                ? " (security mechanism mismatch: the peer is not using the same "
                  "security.mode)"
            : crypto && m->server
                ? " (cryptographic error: a client has the wrong server key for this "
                  "endpoint: its security.coordinator_key must be this coordinator's public "
                  "key, keys/coordinator.pub)"
            : crypto ? " (cryptographic error: wrong keys)"
                     : "";
        if (m->server) {
            fail_flush(zp, m, NULL); /* one still held never saw its hang-up */
            snprintf(m->fail, sizeof m->fail, "protocol error %#x%s", val, why);
            m->fail_level = DCV_LOG_WARN;
            m->fail_at = mono_ms();
        } else {
            slog(zp, DCV_LOG_WARN, "zmq: %s: a connection's handshake failed: protocol error %#x%s",
                 m->endpoint, val, why);
        }
        break;
    }
    case ZMQ_EVENT_ACCEPTED:
        peer_add(m, (int)val);
        break;
    case ZMQ_EVENT_DISCONNECTED: {
        char peer[64];
        peer_take(m, (int)val, peer, sizeof peer);
        fail_flush(zp, m, peer);
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
        /* A failure whose hang-up did not follow: log it without a peer. */
        for (int i = 1; i < n; i++)
            if (mons[i]->fail[0] && mono_ms() - mons[i]->fail_at > 500)
                fail_flush(zp, mons[i], NULL);
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
int sec_start(struct zplug *zp)
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

void sec_stop(struct zplug *zp)
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
void mon_attach(struct ztx *t, int server)
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
                               ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_MONITOR_STOPPED |
                               (server ? ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED : 0)) != 0)
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
    for (unsigned i = 0; i < MON_PEERS; i++)
        m->peers[i].fd = -1;
    snprintf(m->endpoint, sizeof(m->endpoint), "%s", t->endpoint);
    pthread_mutex_lock(&zp->mu);
    m->next = zp->mons;
    zp->mons = m;
    pthread_mutex_unlock(&zp->mu);
    t->mon = m;
}

int domain_add(struct ztx *t, const char *name,
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

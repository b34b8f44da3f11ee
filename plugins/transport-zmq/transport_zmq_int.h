/*
 * transport-zmq's internal records and the calls between its two files:
 * transport-zmq.c (the ops: sockets, send, receive) and zsec.c (the
 * security thread: the ZAP handler, socket monitors, auth domains). Not
 * installed; the plugin exports one symbol (hidden visibility for these).
 */
#ifndef DCV_TRANSPORT_ZMQ_INT_H
#define DCV_TRANSPORT_ZMQ_INT_H

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
/* A bound socket's connections in their handshake: the fd libzmq's
 * ACCEPTED event names and the peer's address, so a failed handshake can
 * say where it came from (libzmq names only our own endpoint there). */
#define MON_PEERS 32
struct zpeer {
    int fd; /* -1: free */
    char addr[64];
};

struct zmon {
    struct zmon *next;
    void *pair;
    int dead, stopped;
    int server; /* 1: a bound socket (peers are clients), 0: a client */
    char endpoint[EP_LEN];
    struct zpeer peers[MON_PEERS];
    unsigned next_peer;   /* round-robin slot when all are taken */
    /* A failed handshake waits for the DISCONNECTED that follows it (the
     * same engine reports both, the fd in the second) to name the peer. */
    char fail[400];
    int fail_level;
    int64_t fail_at;      /* monotonic ms; flushed without a peer after 500 ms */
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

/* transport-zmq.c */
void plog(const struct zplug *zp, int level, const char *fmt, ...) DCV_PRINTF(3, 4);
int more(void *sock);
void discard_rest(void *sock);

/* zsec.c: the security thread, started before the first authenticated
 * server socket; mon_attach hands a socket's monitor to it; domain_add
 * registers who answers ZAP for an auth domain. */
int sec_start(struct zplug *zp);
void sec_stop(struct zplug *zp);
void mon_attach(struct ztx *t, int server);
/* ipc peers' "localhost:UID:GID:PID" (also read by recv for Peer-Address) */
void parse_ucred(const char *addr, int64_t *uid, int64_t *gid, int64_t *pid);
int domain_add(struct ztx *t, const char *name,
               int (*cb)(void *, const struct dcv_tx_auth_req *, char *, size_t, char *, size_t),
               void *ctx);

#endif

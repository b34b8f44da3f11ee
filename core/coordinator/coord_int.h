/*
 * Internal state of the coordinator service, shared by its modules (see
 * docs/architecture.md; each module's own header says who may call it).
 * Not installed, not part of any interface: see coord.h.
 *
 * Layers, each calling only those below it: attempts.c (the base) <
 * outbox.c < sessions.c, jobrec.c, inputhash.c < registry.c < control.c,
 * dispatch.c, dataplane.c, admin*.c < coord.c (lifetime, sockets, tick).
 * The two calls upward go through function pointers set by dcv_coord_new:
 * the dispatch kick (c->att.dispatch) and a vanished peer (c->out.on_gone).
 */
#ifndef DCV_COORD_INT_H
#define DCV_COORD_INT_H

#include <limits.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "coordinator/blobs.h"
#include "coordinator/coord.h"
#include "coordinator/progress.h"
#include "coordinator/scheduler.h"
#include "coordinator/store.h"
#include "net.h"
#include "proto.h"
#include "xfer/server.h"

/* A worker the coordinator has seen (kept, offline, until restart). */
struct co_worker {
    struct co_worker *next;
    char id[DCV_PROTO_ID];
    char session[DCV_PROTO_ID];
    char host[DCV_PROTO_HOST], hostname[DCV_PROTO_HOST], version[DCV_PROTO_ID];
    struct dcv_tx_peer peer; /* current connection; len 0 = none known */
    int online;              /* heartbeats arriving (liveness window not passed) */
    int64_t slots;
    int64_t max_cpu_jobs, max_gpu_jobs; /* per class, 0 = slots */
    size_t n_plugins;
    struct dcv_proto_plugin plugins[DCV_PROTO_MAX_PLUGINS];
    size_t n_devices;
    struct dcv_proto_device devices[DCV_PROTO_MAX_DEVICES];
    size_t n_paths;
    char (*paths)[DCV_PROTO_PATH]; /* HELLO.paths, malloc'd */
    int has_tel;
    struct dcv_proto_telemetry tel;
    uint64_t tel_at;        /* monotonic ms of the last telemetry (newest NVML report wins) */
    int admin_drain;        /* operator said drain */
    uint64_t last_rx;       /* monotonic ms of the last message */
    int64_t last_seen_ms;   /* wall clock, for display */
    uint64_t last_hb_tx;
    uint64_t busy_until;    /* monotonic ms: after a busy REJECT/FAIL, leave it alone a while */
    uint64_t dup_logged;    /* monotonic ms of the last "name in use" line (rate limit) */
    int benchmarking;       /* its startup benchmark is measuring: no figures yet */
};

/* An attempt out with a worker, as this coordinator process knows it. */
#define CO_XFER_ADOPT (-1)
struct co_job {
    struct co_job *next;
    char id[DCV_PROTO_JOB_ID];
    char worker[DCV_PROTO_ID], session[DCV_PROTO_ID];
    int attempt;
    int accepted;            /* ACCEPT (or re-attach) seen */
    uint64_t assigned_at;    /* monotonic ms */
    char skey[DCV_SCHED_KEY_MAX]; /* session-table key it counts against, "" none */
    char phys[DCV_SCHED_KEY_MAX]; /* physical device "host/device_id" of a hw placement */
    int hw;                       /* placed on a hardware device: a GPU job */
    char place_dev[DCV_PROTO_HOST]; /* placement device_id, for messages */
    char codec[16];                 /* the placement's codec, for /metrics */
    char reattach_plugin[DCV_PROTO_ID]; /* re-attached, device not yet matched */
    uint64_t progress_stored; /* monotonic ms of the last PROGRESS written to the store */
    struct co_progress prog;  /* the latest figures, the ETA's and stall detector's input */
    double ev_pct;            /* http_events.c: progress as last published */
    int64_t ev_frames;
    int ev_stalled;
    int has_encoder;
    char plugin[DCV_PROTO_ID], encoder[DCV_PROTO_ID], device_id[DCV_PROTO_HOST];
    /* input served on the data plane (0 = none: kind path; CO_XFER_ADOPT =
     * re-attached after a restart, the first FETCH of the attempt names it) */
    int64_t in_xfer, in_size;
    char in_path[PATH_MAX];
    char in_sha[DCV_PROTO_SHA];
    /* output received on the data plane */
    int out_state; /* 0 none, 1 receiving, 2 committed */
    int64_t out_xfer, out_size;
    char out_sha[DCV_PROTO_SHA];
};

/* A session key's limit lowered after a device refused a session (-EBUSY):
 * it holds until `until` or until a job counted on the key ends. */
struct co_hold {
    char key[DCV_SCHED_KEY_MAX];
    uint32_t limit;
    uint64_t until; /* monotonic ms */
};

/* A job's size hint (duration * width * height of its input), probed once
 * per input file version. */
struct co_hint {
    struct co_hint *next;
    char path[PATH_MAX];
    int64_t size, mtime_ns;
    double hint; /* 0 = unknown */
    uint64_t used; /* monotonic ms, for eviction */
};

/* A file `get` made fetchable (purpose download). */
struct co_download {
    struct co_download *next;
    int64_t xfer_id, size;
    char sha[DCV_PROTO_SHA];
    char path[PATH_MAX];
    uint64_t expires; /* monotonic ms */
    char job_id[DCV_PROTO_JOB_ID]; /* whose blob (retention.c) */
    int output;                    /* the job's output (a whole FETCH counts as its download) */
    int active;                    /* FETCHes of it under way: never expired or removed */
    int fetched;                   /* fetched whole once: retention no longer waits for it */
};

/* SHA-256 of an input on shared storage, computed a slice per loop turn. */
struct co_hash {
    struct co_hash *next;
    char path[PATH_MAX];
    int64_t size, mtime_ns;
    int fd;
    struct dcv_sha256 *h;
    int64_t done;
    int state;  /* 0 running, 1 ready, < 0 failed (-errno) */
    char sha[DCV_PROTO_SHA];
    uint64_t used; /* monotonic ms, for eviction */
};

/* A message waiting for a peer's queue to drain (-EAGAIN). */
struct co_out {
    struct co_out *next;
    struct dcv_sock *sock;
    struct dcv_tx_peer peer;
    int cmd;
    char *body;
    size_t len;
};

/* A receive in progress (upload or output): what to rename on success. */
struct co_rx {
    struct co_rx *next, *prev;
    int purpose;
    char final_path[PATH_MAX];
    int64_t xfer_id, size;
    char sha[DCV_PROTO_SHA];
    char job_id[DCV_PROTO_JOB_ID];
    int attempt;
    int committed; /* an upload offered again after its COMMIT: the blob is the file */
};

/* struct dcv_coord's fields grouped by owner: a sub-struct is written only
 * by the file named on it (others read it); the loose fields are the
 * lifetime's (coord.c), set once by dcv_coord_new. */
struct co_registry {          /* registry.c */
    struct co_worker *workers;
};
struct co_attempts {          /* attempts.c */
    struct co_job *jobs;
    uint64_t pump_timer, pump_at;
    uint64_t kick_timer;
    void (*dispatch)(struct dcv_coord *c); /* set by dcv_coord_new: dispatch.c's pass */
};
struct co_holds {             /* attempts.c: GPU session limits lowered after -EBUSY */
    struct co_hold *v;
    size_t n, cap;
};
struct co_outbox {            /* outbox.c */
    struct co_out *head, *tail;
    size_t n;
    uint64_t timer;
    /* A send found the peer gone; set by dcv_coord_new (registry.c). */
    void (*on_gone)(struct dcv_coord *c, struct dcv_sock *s, const struct dcv_tx_peer *p);
};
struct co_hashes {            /* inputhash.c */
    struct co_hash *list;
    uint64_t timer;
};
struct co_wait;

/* stats.c: counters and histograms since this process started (/metrics). */
#define CO_HIST_BOUNDS 12 /* bucket upper bounds in seconds, +Inf after them */
#define CO_HIST_SERIES 24 /* codec x family pairs kept; more go to "other" */
struct co_hist {
    char codec[16], family[DCV_PROTO_ID];
    uint64_t bucket[CO_HIST_BOUNDS + 1]; /* not cumulative; +Inf last */
    uint64_t count;
    double sum;
};
struct co_stats {
    uint64_t submitted;
    uint64_t ended[DCV_JOB_STATE_COUNT]; /* jobs that reached done, failed, cancelled */
    uint64_t attempts[DCV_EV_COUNT];     /* attempts ended, by the event that ended them */
    struct co_hist wait[CO_HIST_SERIES], run[CO_HIST_SERIES];
    size_t n_wait, n_run;
};
struct dcv_httpd;
struct co_dispatcher {        /* dispatch.c, waits.c */
    struct dcv_sched_cursor cursor;
    struct co_hint *hints;
    size_t n_hints;
    int64_t backoff_at;  /* wall ms the earliest backed-off queued job is due; 0 none */
    int64_t gpu_wait_at; /* wall ms the first job waiting for a GPU times out; 0 none */
    int64_t unsched_at;  /* wall ms the first unschedulable job times out; 0 none */
    uint64_t last_pass;  /* monotonic ms of the last pass */
    struct co_wait *waits; /* waits.c: why queued jobs wait */
    size_t n_waits;
};
struct co_dataplane {         /* dataplane.c (admin.c's `get` adds downloads) */
    struct co_download *downloads;
    struct co_rx *rxs;
    uint64_t gc_last;    /* monotonic ms of the last sweep of abandoned parts */
};

/* The HTTP plane's state (http.c, http_auth.c, http_api.c, http_events.c;
 * tokens.c owns the token cache). */
struct dcv_token_rec;
struct co_session;
struct co_login_fail {
    char addr[48];
    uint64_t since; /* monotonic ms of the window's first failure */
    int n;
};
#define CO_LOGIN_FAILS 64
struct co_web {
    struct dcv_token_rec *tokens; /* tokens.c: the store's, cached */
    size_t n_tokens;
    struct co_session *sessions;  /* http_auth.c */
    size_t n_sessions;
    struct co_login_fail fails[CO_LOGIN_FAILS];
    int loopback;                 /* http.bind is a loopback address */
    int anon_roles;               /* what a request without credentials gets */
    char scrape[256];             /* http.metrics_token_file's token, "" none */
    char *tls_cert, *tls_key;     /* PEM text read at start */
    uint64_t events_timer;        /* http_events.c */
    struct co_wsig *wsig;         /* http_events.c: workers as last published */
    size_t n_wsig;
};

struct co_retention {         /* retention.c */
    uint64_t last, swept; /* monotonic ms of the last pass / orphan sweep */
};

struct dcv_coord {
    struct dcv_loop *loop;
    struct dcv_net *net;
    struct dcv_conf *conf;
    const struct dcv_settings *set;
    struct dcv_store *store;
    struct dcv_blobs *blobs;
    struct dcv_xsrv *xsrv;
    struct dcv_sock *ctl, *data, *adm;
    char ep_ctl[DCV_ENDPOINT_MAX], ep_data[DCV_ENDPOINT_MAX], ep_adm[DCV_ENDPOINT_MAX];
    char state_dir[PATH_MAX]; /* realpath */
    char epoch[DCV_PROTO_ID];
    uint64_t hb_ms, dead_ms;  /* heartbeat interval, liveness window */
    uint64_t tick_timer;
    uint64_t started_at;
    int64_t started_wall_ms;  /* for process_start_time_seconds */
    struct dcv_httpd *http;   /* http.c; NULL without http.bind */
    struct co_web web;        /* http*.c, tokens.c */
    struct co_admin_res *admin_sink; /* admin.c: co_admin_call's reply, while it runs */
    struct co_stats stats;    /* stats.c */
    int grace_done;

    struct co_registry reg;
    struct co_attempts att;
    struct co_holds holds;
    struct co_outbox out;
    struct co_hashes hash;
    struct co_dispatcher disp;
    struct co_dataplane dp;
    struct co_retention ret;
};

#define CO_LOG "coord"
#define CO_DOWNLOAD_TTL_MS (3600u * 1000u) /* a `get` xfer_id stays fetchable this long */
#define CO_DOWNLOAD_MAX 1024

static inline void copy_str(char *dst, size_t len, const char *src)
{
    snprintf(dst, len, "%s", src ? src : "");
}

/* coord.c */

#endif

/*
 * Internal state of the coordinator service, shared by coord.c (sockets,
 * registry, dispatch, control and data planes) and admin.c (admin verbs).
 * Not installed, not part of any interface: see coord.h.
 */
#ifndef DCV_COORD_INT_H
#define DCV_COORD_INT_H

#include <limits.h>
#include <stdint.h>

#include "config.h"
#include "coordinator/blobs.h"
#include "coordinator/coord.h"
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
    char reattach_plugin[DCV_PROTO_ID]; /* re-attached, device not yet matched */
    int has_progress;
    uint64_t progress_stored; /* monotonic ms of the last PROGRESS written to the store */
    int phase;
    double pct, fps;
    int64_t frames;
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

    struct co_worker *workers;
    struct co_job *jobs;
    struct co_download *downloads;
    struct co_hash *hashes;
    struct co_out *out_head, *out_tail;
    size_t n_out;
    struct co_rx *rxs;

    uint64_t tick_timer, pump_timer, pump_at, dispatch_timer, flush_timer, hash_timer;
    uint64_t started_at;
    int grace_done;
    int64_t backoff_at;  /* wall ms the earliest backed-off queued job is due; 0 none */
    uint64_t gc_last;    /* monotonic ms of the last sweep of abandoned parts */
    struct dcv_sched_cursor cursor;
    struct co_hold *holds; /* GPU session limits lowered after -EBUSY */
    size_t n_holds, cap_holds;
    struct co_hint *hints;
    size_t n_hints;
    int64_t gpu_wait_at;   /* wall ms the first job waiting for a GPU times out; 0 none */
    char *enc_buf; /* scratch of SEND_MSG */
    size_t enc_len;
    char enc_err[256];
};

#define CO_LOG "coord"
#define CO_DOWNLOAD_TTL_MS (3600u * 1000u) /* a `get` xfer_id stays fetchable this long */
#define CO_DOWNLOAD_MAX 1024

/* coord.c, for admin.c */
uint64_t co_now(void);
int64_t co_wall_ms(void);
struct co_worker *co_worker_find(struct dcv_coord *c, const char *id);
struct co_job *co_job_find(struct dcv_coord *c, const char *id);
unsigned co_held_by(struct dcv_coord *c, const struct co_worker *w);
int co_path_under(const char *file, const char *prefix);
/* Send on a socket to a peer, queueing on -EAGAIN; -EHOSTUNREACH when gone. */
int co_send(struct dcv_coord *c, struct dcv_sock *s, const struct dcv_tx_peer *to, int cmd,
            const char *body, size_t len);
void co_dispatch_soon(struct dcv_coord *c);
/* The attempt is over for this coordinator: forget it, abort its transfers. */
void co_job_release(struct dcv_coord *c, const char *job_id, int code, const char *reason);
/* Tell the worker holding j to stop (CANCEL with its fence), best effort. */
void co_send_cancel(struct dcv_coord *c, const char *worker, const char *job_id, int attempt,
                    const char *session, const char *reason);
void co_send_drain(struct dcv_coord *c, struct co_worker *w);
/* 1 sha ready (copied), 0 being computed (started now if needed), -errno failed. */
int co_hash_get(struct dcv_coord *c, const char *path, int64_t size, char sha[DCV_PROTO_SHA]);
int64_t co_random_id(void);

/* admin.c */
void co_admin_input(struct dcv_coord *c, const struct dcv_tx_peer *from,
                    const struct dcv_proto_msg *m);

/* The job's stored input description (input_json), parsed. */
struct co_input {
    int kind;  /* DCV_SUBMIT_UPLOAD, DCV_SUBMIT_PATH or DCV_SUBMIT_URL (path = the URL) */
    int64_t xfer_id, size;
    char sha[DCV_PROTO_SHA]; /* "" when not known yet (path) */
    char path[PATH_MAX];     /* the file on the coordinator */
    char name[DCV_PROTO_HOST * 2];
};
struct dcv_profile;
/* Apply every key of a flat profile JSON object with dcv_profile_set(). */
int co_profile_parse(const char *profile_json, struct dcv_profile *p, char *err, size_t errlen);
int co_input_parse(struct dcv_coord *c, const char *input_json, struct co_input *in, char *err,
                   size_t errlen);

#endif

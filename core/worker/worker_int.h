/*
 * The worker service's internals (worker.h is its interface), shared by
 * its four files and nothing else:
 *
 *   worker.c  lifetime, the connection to the coordinator, admission, the
 *             tick, the runner's fds on the loop
 *   jobs.c    the job table and each job's state (wjob_step), JOB and
 *             CANCEL, the job processes' lines and exits
 *   hello.c   what HELLO says: identity, capabilities, path prefixes
 *   outbox.c  the ordered outbox to the coordinator; final messages
 *
 * struct wjob is jobs.c's and struct outmsg outbox.c's; the fields of
 * struct dcv_worker are grouped by the file that owns them.
 */
#ifndef DCV_WORKER_INT_H
#define DCV_WORKER_INT_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "proto.h"
#include "worker/telemetry.h"
#include "worker/worker.h"

#define COMP "worker"

struct dcv_httpd;
struct dcv_runner;
struct dcv_settings;
struct outmsg;
struct pollfd;
struct wjob;

enum conn_state { CONN_IDLE = 0, CONN_HELLO, CONN_READY };

struct dcv_worker {
    /* worker.c: lifetime and the connection */
    struct dcv_loop *loop;
    struct dcv_net *net;
    struct dcv_conf *conf;
    const struct dcv_settings *s;
    char coordinator[DCV_ENDPOINT_MAX];
    char self_exe[PATH_MAX];
    char conf_path[PATH_MAX];       /* "" = defaults and environment only */
    struct dcv_sock *sock;
    enum conn_state state;
    uint64_t next_try_ms;           /* IDLE: connect then; HELLO: give up on WELCOME then */
    uint32_t backoff_ms;
    unsigned unanswered;            /* HELLO rounds without a WELCOME since the last one */
    uint64_t unanswered_since;      /* monotonic ms of the first of them */
    int hello_pending;              /* HELLO not accepted by the socket yet */
    uint64_t last_rx_ms;
    uint64_t next_hb_ms;
    int64_t hb_ivl_ms, liveness, chunk_max, credit_chunks; /* WELCOME's; jobs get them too */
    char data_endpoint[DCV_PROTO_HOST * 2];
    char epoch[DCV_PROTO_ID];
    uint64_t tick_id;
    uint64_t tick_ms;
    uint64_t rng;
    int closing;
    int sigchld;

    /* hello.c, once; running is filled per send */
    struct dcv_proto_hello *hello;
    /* worker.c: the startup benchmark measuring in the background
     * (bgbench.h; hello->benchmarking meanwhile), and whether heartbeats
     * carry the figures it measured */
    struct dcv_bgbench *bgbench;
    int bench_in_hb;
    size_t n_local;
    char (*local)[DCV_PROTO_PATH];  /* opts->local_prefixes, copied */

    /* worker.c: the runner and its fds on the loop */
    struct dcv_runner *runner;
    int *watched;                   /* runner fds on the loop */
    size_t n_watched, cap_watched;
    struct pollfd *pfds;
    size_t cap_pfds;

    /* worker.c: admission (DESIGN §9) and drain */
    struct dcv_telem *telem;
    struct dcv_telem_limits limits;
    int busy;
    char busy_reason[256];
    int have_sample;
    int draining;

    struct wjob *jobs;                  /* jobs.c */
    uint64_t xfer_rx, xfer_tx;          /* jobs.c: data-plane bytes of its jobs (/metrics) */

    /* worker.c: the telemetry of the last heartbeat (or scrape), for /metrics */
    struct dcv_proto_telemetry *tel;
    uint64_t tel_ms;                    /* monotonic ms it was sampled; 0 = never */
    struct dcv_httpd *http;             /* http_metrics.c; NULL without worker.http_bind */
    int64_t started_wall_ms;            /* http_metrics.c: process_start_time_seconds */
    struct outmsg *out_head, *out_tail; /* outbox.c */
};

/* A job's events (jobs.c has the states and the table). */
enum wjob_event {
    WJ_EV_SPAWN = 0,  /* the job process started */
    WJ_EV_ACCEPT,     /* it printed accept */
    WJ_EV_REPORT,     /* its result is known: its final line, or one we make up */
    WJ_EV_CANCEL,     /* CANCEL from the coordinator: TERM sent */
    WJ_EV_SUPERSEDE,  /* a newer attempt of the job came: TERM sent, nothing to say */
    WJ_EV_LINGER,     /* alive too long after its result: TERM sent */
    WJ_EV_EXIT,       /* its process is gone */
    WJ_EV_QUEUE,      /* its final message entered the outbox */
    WJ_EV_SENT,       /* its final message left the outbox, or never will */
    WJ_EV_COUNT
};

/* jobs.c */
int wjob_step(struct wjob *j, enum wjob_event ev);
int wjob_spawned(const struct wjob *j);
void wk_on_job(struct dcv_worker *w, const struct dcv_proto_msg *m);
void wk_on_cancel(struct dcv_worker *w, const struct dcv_proto_msg *m);
unsigned wk_slots_used(const struct dcv_worker *w);
size_t wk_held_jobs(const struct dcv_worker *w, struct dcv_proto_jobref *out, size_t cap);
void wk_gc_jobs(struct dcv_worker *w);
/* For /metrics: jobs holding a slot by class ([0] cpu, [1] gpu) and their
 * limits, job processes alive, and the encoding jobs' fps summed. */
struct wk_job_stats {
    unsigned used[2], limit[2];
    unsigned processes;
    double fps;
};
void wk_jobs_stats(const struct dcv_worker *w, struct wk_job_stats *out);
/* Jobs holding a slot placed on this device. */
unsigned wk_jobs_on(const struct dcv_worker *w, const char *plugin, const char *device_id);
void wk_jobs_renew(struct dcv_worker *w, uint64_t now);
void wk_jobs_progress(struct dcv_worker *w, uint64_t now);
void wk_jobs_linger(struct dcv_worker *w, uint64_t now);
void wk_jobs_stop(struct dcv_worker *w, unsigned grace_ms);
void wk_jobs_orphan(struct dcv_worker *w);
void wk_jobs_free(struct dcv_worker *w);

/* outbox.c */
/* Encode a control message by its command (dcv_proto_encode) and queue it;
 * final_of: the job whose final message this is (it outlives the connection). */
void wk_send(struct dcv_worker *w, int cmd, const void *body, struct wjob *final_of);
void wk_flush(struct dcv_worker *w);
void wk_drop_transient(struct dcv_worker *w);
void wk_outbox_free(struct dcv_worker *w);

/* hello.c */
/* The benchmark report's figures into HELLO's devices; HELLO's devices'
 * figures as HEARTBEAT.bench entries (their count). */
void wk_hello_bench(struct dcv_worker *w, const char *bench_json);
size_t wk_hello_figures(const struct dcv_worker *w, struct dcv_proto_devbench *out, size_t cap);
int wk_hello_init(struct dcv_worker *w, const struct dcv_worker_opts *opts, char *err,
                  size_t errlen);

/* worker.c */
void wk_sync_fds(struct dcv_worker *w);
int wk_busy_now(struct dcv_worker *w);
/* The telemetry the last heartbeat carried, sampled afresh when older than
 * two heartbeat intervals (no coordinator: no heartbeats); NULL before any
 * sample could be taken. */
const struct dcv_proto_telemetry *wk_telemetry(struct dcv_worker *w);

/* http_metrics.c: the worker's own /metrics at worker.http_bind. */
int wk_http_start(struct dcv_worker *w, char *err, size_t errlen);
void wk_http_free(struct dcv_worker *w);

#endif

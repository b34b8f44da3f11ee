/*
 * The worker service (worker.h; docs/protocol.md §3, §5, §6).
 *
 * One DEALER to the coordinator's control ROUTER, driven by the daemon's
 * loop, and one child process per job through the runner. The connection
 * is a small state machine:
 *
 *   IDLE --(back-off expired)--> HELLO --(WELCOME)--> READY
 *     ^                            ^  |                 |
 *     |                            +--+ no WELCOME within the back-off:
 *     |                            |    new socket, HELLO again, back-off x2
 *     |                            +--- coordinator silent liveness x hb_ivl
 *     +------------------------------- DISCONNECT (wait the back-off)
 *
 * Every reconnect uses a fresh socket: a DEALER's queue may still hold
 * messages for the old connection, and the coordinator identifies us by
 * worker_id + session, never by the connection.
 *
 * The jobs are jobs.c's, what HELLO says is hello.c's, and every message
 * but HELLO and HEARTBEAT goes through outbox.c (worker_int.h).
 */
#include "worker/worker_int.h"
#include "worker/workdir.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "config.h"
#include "errbuf.h"
#include "log.h"
#include "loop.h"
#include "net.h"
#include "worker/bgbench.h"
#include "worker/runner.h"

#define TICK_MS 200             /* timers' resolution; at most hb_ivl / 2 */
#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 32000
#define SHUTDOWN_GRACE_MS 3000  /* TERM -> KILL for the jobs when the worker stops */
#define SOCK_LINGER_MS 200      /* a DISCONNECT on shutdown gets a chance to leave */

/* Admission control (DESIGN §9): refuse new jobs while the machine is in
 * trouble, by the admission.* settings. Load and CPU pressure are off by
 * default: running jobs keep every core busy on purpose, and their niceness
 * keeps the host responsive. */
static struct dcv_telem_limits admit_limits_of(const struct dcv_settings *s)
{
    return (struct dcv_telem_limits){
        .max_mem_pressure = s->adm_max_mem_pressure,
        .min_mem_avail = s->adm_min_mem_avail,
        .max_temp_c = s->adm_max_temp_c,
        .max_load_per_core = s->adm_max_load_per_core,
        .min_disk_free = s->adm_min_disk_free,
        .max_cpu_pressure = s->adm_max_cpu_pressure,
        .max_io_pressure = s->adm_max_io_pressure,
        .max_gpu_temp_c = s->adm_max_gpu_temp_c,
    };
}

/* ---- small helpers ------------------------------------------------------------ */

static uint64_t rng_next(struct dcv_worker *w)
{
    /* xorshift64*: jitter only, no security role. */
    w->rng ^= w->rng >> 12;
    w->rng ^= w->rng << 25;
    w->rng ^= w->rng >> 27;
    return w->rng * 0x2545F4914F6CDD1DULL;
}

/* delay x a random factor in [0.5, 1.5): workers that lost the same
 * coordinator do not all come back in the same millisecond. */
static uint64_t jittered(struct dcv_worker *w, uint32_t delay_ms)
{
    double f = 0.5 + (double)(rng_next(w) >> 11) / (double)(1ULL << 53);
    return (uint64_t)(delay_ms * f);
}

/* ---- admission --------------------------------------------------------------- */

/* Admission verdict of sample s. Only the transitions are logged: the
 * reason's figures change at every sample. */
static void admit(struct dcv_worker *w, const struct dcv_telem_sample *s)
{
    char why[sizeof w->busy_reason];
    int busy = dcv_telem_admit(&w->limits, s, why, sizeof why) == DCV_TELEM_BUSY;
    if (busy && !w->busy)
        dcv_log(DCV_LOG_WARN, COMP, "busy, taking no new jobs: %s", why);
    else if (!busy && w->busy)
        dcv_log(DCV_LOG_INFO, COMP, "no longer busy (was: %s): taking jobs again", w->busy_reason);
    w->busy = busy;
    snprintf(w->busy_reason, sizeof w->busy_reason, "%s", why);
    w->have_sample = 1;
}

/* The admission step of each heartbeat (the tick's, or DRAIN's at once):
 * a fresh sample decides, and the heartbeat then carries that sample. */
static int refresh_admission(struct dcv_worker *w, struct dcv_telem_sample *s)
{
    int r = dcv_telem_sample(w->telem, s);
    if (r == 0)
        admit(w, s);
    return r;
}

int wk_busy_now(struct dcv_worker *w)
{
    if (!w->have_sample) {
        struct dcv_telem_sample s;
        if (dcv_telem_sample(w->telem, &s) == 0)
            admit(w, &s);
    }
    return w->busy;
}

/* ---- connection ---------------------------------------------------------------------- */

static void on_sock(struct dcv_sock *s, void *arg);

static void close_sock(struct dcv_worker *w)
{
    dcv_sock_close(&w->sock);
    w->hello_pending = 0;
}

static int send_hello(struct dcv_worker *w)
{
    struct dcv_proto_hello *h = w->hello;
    char *json = NULL, err[512];
    size_t len;
    int r;

    h->n_running = wk_held_jobs(w, h->running, DCV_PROTO_MAX_JOBS);
    r = dcv_proto_hello_to_json(h, &json, &len, err, sizeof err);
    if (r < 0) {
        dcv_log(DCV_LOG_ERROR, COMP, "cannot encode HELLO: %s", err);
        return r;
    }
    r = dcv_sock_send_json(w->sock, NULL, DCV_CMD_HELLO, json, err, sizeof err);
    free(json);
    if (r == 0) {
        w->hello_pending = 0;
        dcv_log(DCV_LOG_DEBUG, COMP, "HELLO sent to %s (%zu running)", w->coordinator,
                h->n_running);
    } else if (r != -EAGAIN) {
        dcv_log(DCV_LOG_WARN, COMP, "HELLO to %s: %s", w->coordinator, err);
    }
    return r;
}

/*
 * Another HELLO round went unanswered. A wrong port, a coordinator that is
 * not running, a firewall and (with CURVE) a wrong coordinator key all look
 * like this from here: silence. Say so after 3 rounds (about 7 s), then
 * every 10th (the back-off tops out at 32 s), with what to check.
 */
static void no_answer(struct dcv_worker *w, uint64_t now)
{
    if (w->unanswered++ == 0)
        w->unanswered_since = now;
    if (w->unanswered != 3 && (w->unanswered < 3 || (w->unanswered - 3) % 10 != 0))
        return;
    dcv_log(DCV_LOG_WARN, COMP,
            "no answer from the coordinator at %s for %" PRIu64 " s (%u HELLOs): check that it "
            "runs and listens there (its log says \"control endpoint bound\"), the address and "
            "port (coordinator / DISTCONV_COORDINATOR)%s",
            w->coordinator, (now - w->unanswered_since) / 1000, w->unanswered,
            strncmp(w->coordinator, "tcp://", 6) == 0
                ? ", a firewall, and that security.coordinator_key is the coordinator's public "
                  "key (a wrong one looks like silence from here)"
                : "");
}

/* A fresh DEALER and a HELLO on it; the WELCOME must come within the
 * current back-off, which then doubles. */
static void connect_now(struct dcv_worker *w, uint64_t now)
{
    struct dcv_sock_opts o;
    char err[512];
    int r;

    close_sock(w);
    memset(&o, 0, sizeof o);
    o.plane = DCV_PLANE_CONTROL;
    o.role = DCV_TX_CONNECT_DEALER;
    o.endpoint = w->coordinator;
    o.linger_ms = SOCK_LINGER_MS;
    r = dcv_sock_open(w->net, &o, &w->sock, err, sizeof err);
    if (r == 0)
        r = dcv_sock_attach(w->sock, w->loop, on_sock, w, err, sizeof err);
    if (r < 0) {
        dcv_log(DCV_LOG_ERROR, COMP, "coordinator %s: %s", w->coordinator, err);
        close_sock(w);
        w->state = CONN_IDLE;
    } else {
        w->state = CONN_HELLO;
        w->hello_pending = 1;
        send_hello(w);
    }
    w->next_try_ms = now + jittered(w, w->backoff_ms);
    w->backoff_ms = w->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : w->backoff_ms * 2;
}

/*
 * The coordinator is gone (silent, or said DISCONNECT): start over.
 * After silence the first HELLO goes out at once on a new socket (a
 * coordinator that only stalled for a moment then finds us alive, with our
 * jobs, before it declares us lost); the back-off with jitter paces the
 * retries that follow. After a DISCONNECT the coordinator is there and
 * refusing: wait the back-off first, or we would hammer it.
 */
static void lose_coordinator(struct dcv_worker *w, uint64_t now, const char *why, int at_once)
{
    dcv_log(DCV_LOG_WARN, COMP, "coordinator %s: %s; reconnecting", w->coordinator, why);
    close_sock(w);
    wk_drop_transient(w);
    w->state = CONN_IDLE;
    if (at_once) {
        connect_now(w, now);
        return;
    }
    w->next_try_ms = now + jittered(w, w->backoff_ms);
    w->backoff_ms = w->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : w->backoff_ms * 2;
}

/* A heartbeat's telemetry from sample s (NULL: none), kept for /metrics. */
static void fill_telemetry(struct dcv_worker *w, const struct dcv_telem_sample *s,
                           struct dcv_proto_telemetry *t)
{
    if (s)
        dcv_telem_to_proto(s, t);
    else
        t->ncpu = 1;
    if (w->s->disk_quota > 0)
        dcv_telem_apply_quota(t, w->s->disk_quota, dcv_workdir_usage(w->s->work_dir));
    t->slots_used = wk_slots_used(w);
    t->busy = w->busy;
    snprintf(t->busy_reason, sizeof t->busy_reason, "%s", w->busy ? w->busy_reason : "");
    t->draining = w->draining;
    t->n_jobs = wk_held_jobs(w, t->jobs, DCV_PROTO_MAX_JOBS);
    if (s && w->tel) {
        *w->tel = *t;
        w->tel_ms = dcv_loop_now_ms();
    }
}

const struct dcv_proto_telemetry *wk_telemetry(struct dcv_worker *w)
{
    uint64_t now = dcv_loop_now_ms();
    struct dcv_telem_sample s;

    if (!w->tel)
        return NULL;
    if (!w->tel_ms || now - w->tel_ms > 2 * (uint64_t)w->hb_ivl_ms) {
        struct dcv_proto_telemetry *t = calloc(1, sizeof *t);
        if (t && refresh_admission(w, &s) == 0)
            fill_telemetry(w, &s, t);
        free(t);
    }
    return w->tel_ms ? w->tel : NULL;
}

/* s: the sample of the admission step just before; NULL: none. */
static void send_heartbeat(struct dcv_worker *w, const struct dcv_telem_sample *s)
{
    struct dcv_proto_heartbeat *hb = calloc(1, sizeof *hb);
    char *json = NULL, err[512];
    size_t len;

    if (!hb)
        return;
    hb->has_telemetry = 1;
    fill_telemetry(w, s, &hb->telemetry);
    hb->benchmarking = w->hello->benchmarking;
    /* Every beat of the session, not once: a lost or unheard one (the
     * coordinator restarting) is repaired by the next. HELLO carries them
     * from now on as well. */
    if (w->bench_in_hb)
        hb->n_bench = wk_hello_figures(w, hb->bench, DCV_PROTO_MAX_DEVICES);
    if (dcv_proto_heartbeat_to_json(hb, &json, &len, err, sizeof err) < 0) {
        dcv_log(DCV_LOG_ERROR, COMP, "cannot encode HEARTBEAT: %s", err);
    } else if (dcv_sock_send_json(w->sock, NULL, DCV_CMD_HEARTBEAT, json, err, sizeof err) < 0) {
        /* A missed heartbeat is repaired by the next one. */
        dcv_log(DCV_LOG_DEBUG, COMP, "HEARTBEAT not sent: %s", err);
    }
    free(json);
    free(hb);
}

static void set_tick(struct dcv_worker *w, uint64_t ms);

static void on_welcome(struct dcv_worker *w, const struct dcv_proto_msg *m, uint64_t now)
{
    struct dcv_proto_welcome wl;
    char err[512];

    if (dcv_proto_welcome_from_json(m->body, m->body_len, &wl, err, sizeof err) < 0) {
        dcv_log(DCV_LOG_WARN, COMP, "invalid WELCOME ignored: %s", err);
        return;
    }
    if (strcmp(wl.session, w->hello->session) != 0) {
        dcv_log(DCV_LOG_DEBUG, COMP, "WELCOME for session %s ignored", wl.session);
        return;
    }
    if (dcv_endpoint_for_peer(wl.data_endpoint, w->coordinator, w->data_endpoint,
                              sizeof w->data_endpoint) < 0) {
        dcv_log(DCV_LOG_WARN, COMP, "WELCOME: data endpoint %s too long", wl.data_endpoint);
        return;
    }
    if (w->epoch[0] && strcmp(w->epoch, wl.coordinator_epoch) != 0)
        dcv_log(DCV_LOG_INFO, COMP, "coordinator restarted (epoch %s -> %s)", w->epoch,
                wl.coordinator_epoch);
    snprintf(w->epoch, sizeof w->epoch, "%s", wl.coordinator_epoch);
    w->hb_ivl_ms = wl.hb_ivl_ms;
    w->liveness = wl.liveness;
    w->chunk_max = wl.chunk_max;
    w->credit_chunks = wl.credit_chunks;
    if (w->state != CONN_READY)
        dcv_log(DCV_LOG_INFO, COMP,
                "registered with %s as %s (session %s; heartbeat %" PRId64 " ms x %" PRId64
                "; data %s)",
                w->coordinator, w->hello->worker_id, w->hello->session, w->hb_ivl_ms,
                w->liveness, w->data_endpoint);
    w->state = CONN_READY;
    w->unanswered = 0;
    w->backoff_ms = BACKOFF_MIN_MS;
    w->hello_pending = 0;
    w->next_hb_ms = now;
    set_tick(w, (uint64_t)(w->hb_ivl_ms / 2 < TICK_MS ? w->hb_ivl_ms / 2 : TICK_MS));
    wk_flush(w);
    wk_jobs_renew(w, now);
}

static void on_drain(struct dcv_worker *w, const struct dcv_proto_msg *m)
{
    struct dcv_proto_drain d;
    struct dcv_telem_sample s;
    char err[512];

    if (dcv_proto_drain_from_json(m->body, m->body_len, &d, err, sizeof err) < 0) {
        dcv_log(DCV_LOG_WARN, COMP, "invalid DRAIN ignored: %s", err);
        return;
    }
    if (!!d.draining != w->draining)
        dcv_log(DCV_LOG_INFO, COMP, "%s", d.draining ? "draining: no new jobs"
                                                     : "undrained: taking jobs again");
    w->draining = !!d.draining;
    /* The coordinator sees the new state without waiting. */
    send_heartbeat(w, refresh_admission(w, &s) == 0 ? &s : NULL);
}

static void handle(struct dcv_worker *w, const struct dcv_proto_msg *m, uint64_t now)
{
    char err[512];

    switch (m->cmd) {
    case DCV_CMD_WELCOME:
        on_welcome(w, m, now);
        return;
    case DCV_CMD_DISCONNECT: {
        struct dcv_proto_disconnect d;
        char why[DCV_PROTO_TEXT + 32];
        if (dcv_proto_disconnect_from_json(m->body, m->body_len, &d, err, sizeof err) < 0)
            snprintf(d.reason, sizeof d.reason, "(no valid reason)");
        snprintf(why, sizeof why, "DISCONNECT: %s", d.reason);
        lose_coordinator(w, now, why, 0);
        return;
    }
    default:
        break;
    }
    /* Until WELCOME nothing else is expected. */
    if (w->state != CONN_READY)
        return;
    switch (m->cmd) {
    case DCV_CMD_HEARTBEAT:
        break; /* liveness only: last_rx_ms is updated for any message */
    case DCV_CMD_JOB:
        wk_on_job(w, m);
        break;
    case DCV_CMD_CANCEL:
        wk_on_cancel(w, m);
        break;
    case DCV_CMD_DRAIN:
        on_drain(w, m);
        break;
    default:
        dcv_log(DCV_LOG_DEBUG, COMP, "%s from the coordinator ignored",
                dcv_proto_cmd_name(DCV_PLANE_CONTROL, m->cmd));
    }
}

static void on_sock(struct dcv_sock *s, void *arg)
{
    struct dcv_worker *w = arg;
    struct dcv_proto_msg m;
    char err[512];

    /* handle() may close this socket (DISCONNECT): stop reading then. */
    while (w->sock == s) {
        int r = dcv_sock_recv(s, NULL, &m, err, sizeof err);
        uint64_t now = dcv_loop_now_ms();
        if (r == -EAGAIN)
            break;
        if (r == -EPROTO) {
            dcv_log(DCV_LOG_WARN, COMP, "malformed message from the coordinator: %s", err);
            continue;
        }
        if (r < 0) {
            dcv_log(DCV_LOG_WARN, COMP, "receive: %s", err);
            break;
        }
        w->last_rx_ms = now;
        handle(w, &m, now);
    }
    wk_gc_jobs(w);
}

/* ---- runner plumbing ------------------------------------------------------------------ */

static void on_child_fd(struct dcv_loop *loop, int fd, short revents, void *arg)
{
    struct dcv_worker *w = arg;
    struct pollfd p = {.fd = fd, .events = POLLIN, .revents = revents};

    (void)loop;
    dcv_runner_dispatch(w->runner, &p, 1);
    wk_sync_fds(w);
    wk_gc_jobs(w);
}

/* Keep the loop's fd watchers equal to the runner's fd set. Called after
 * every runner call that can open or close fds, before anything else can
 * reuse a closed fd's number. */
void wk_sync_fds(struct dcv_worker *w)
{
    size_t n = dcv_runner_pollfds(w->runner, w->pfds, w->cap_pfds);
    char err[256];

    if (n > w->cap_pfds) {
        struct pollfd *p = realloc(w->pfds, n * sizeof *p);
        if (!p) {
            dcv_log(DCV_LOG_ERROR, COMP, "out of memory watching job output");
            return;
        }
        w->pfds = p;
        w->cap_pfds = n;
        n = dcv_runner_pollfds(w->runner, w->pfds, w->cap_pfds);
    }
    /* Gone: remove (the loop may already have dropped an fd after POLLNVAL). */
    for (size_t i = 0; i < w->n_watched;) {
        size_t k;
        for (k = 0; k < n && w->pfds[k].fd != w->watched[i]; k++)
            ;
        if (k == n) {
            dcv_loop_remove_fd(w->loop, w->watched[i]);
            w->watched[i] = w->watched[--w->n_watched];
        } else {
            i++;
        }
    }
    /* New: add. */
    for (size_t k = 0; k < n; k++) {
        size_t i;
        for (i = 0; i < w->n_watched && w->watched[i] != w->pfds[k].fd; i++)
            ;
        if (i < w->n_watched)
            continue;
        if (w->n_watched == w->cap_watched) {
            size_t cap = w->cap_watched ? w->cap_watched * 2 : 16;
            int *nw = realloc(w->watched, cap * sizeof *nw);
            if (!nw) {
                dcv_log(DCV_LOG_ERROR, COMP, "out of memory watching job output");
                return;
            }
            w->watched = nw;
            w->cap_watched = cap;
        }
        if (dcv_loop_add_fd(w->loop, w->pfds[k].fd, POLLIN, on_child_fd, w, err, sizeof err) < 0) {
            dcv_log(DCV_LOG_ERROR, COMP, "watch job output fd %d: %s", w->pfds[k].fd, err);
            continue;
        }
        w->watched[w->n_watched++] = w->pfds[k].fd;
    }
}

static void reap(struct dcv_worker *w)
{
    int n = dcv_runner_reap(w->runner);
    n += dcv_runner_tick(w->runner);
    if (n > 0)
        wk_sync_fds(w);
}

static void on_sigchld(struct dcv_loop *loop, const struct signalfd_siginfo *si, void *arg)
{
    struct dcv_worker *w = arg;
    (void)loop;
    (void)si;
    reap(w);
    wk_sync_fds(w);
    wk_gc_jobs(w);
}

/* ---- the tick --------------------------------------------------------------------------- */

/* Every TICK_MS (hb_ivl / 2 when shorter), one step per owner: reap; the
 * connection's (connect, HELLO again, liveness); when a heartbeat is due,
 * admission then the heartbeat; the jobs' progress; the outbox; the jobs
 * that outlive their result; and the jobs that are done with. */
static void on_tick(struct dcv_loop *loop, uint64_t id, void *arg)
{
    struct dcv_worker *w = arg;
    uint64_t now = dcv_loop_now_ms();

    (void)loop;
    (void)id;
    /* SIGCHLD is the fast path; this catches one a transport thread took. */
    reap(w);

    switch (w->state) {
    case CONN_IDLE:
        if (now >= w->next_try_ms)
            connect_now(w, now);
        break;
    case CONN_HELLO:
        if (now >= w->next_try_ms) {
            dcv_log(DCV_LOG_DEBUG, COMP, "no WELCOME from %s; trying again", w->coordinator);
            no_answer(w, now);
            connect_now(w, now);
        } else if (w->hello_pending) {
            send_hello(w);
        }
        break;
    case CONN_READY:
        if ((int64_t)(now - w->last_rx_ms) > w->liveness * w->hb_ivl_ms) {
            char why[96];
            snprintf(why, sizeof why, "silent for %" PRIu64 " ms", now - w->last_rx_ms);
            lose_coordinator(w, now, why, 1);
            break;
        }
        if (now >= w->next_hb_ms) {
            struct dcv_telem_sample s;
            send_heartbeat(w, refresh_admission(w, &s) == 0 ? &s : NULL);
            w->next_hb_ms = now + (uint64_t)w->hb_ivl_ms;
        }
        wk_jobs_progress(w, now);
        wk_flush(w);
        break;
    }
    wk_jobs_linger(w, now);
    wk_gc_jobs(w);
}

static void set_tick(struct dcv_worker *w, uint64_t ms)
{
    char err[256];
    if (ms < 20)
        ms = 20;
    if (w->tick_id && w->tick_ms == ms)
        return;
    if (w->tick_id)
        dcv_loop_cancel_timer(w->loop, w->tick_id);
    w->tick_id = 0;
    if (dcv_loop_add_timer(w->loop, ms, ms, on_tick, w, &w->tick_id, err, sizeof err) < 0)
        dcv_log(DCV_LOG_ERROR, COMP, "timer: %s", err);
    else
        w->tick_ms = ms;
}

/* The background benchmark's pipe: its report ends the "benchmarking"
 * state, and the coordinator hears the figures at once. */
static void on_bench_fd(struct dcv_loop *loop, int fd, short revents, void *arg)
{
    struct dcv_worker *w = arg;
    struct dcv_telem_sample s;
    char *json = NULL, err[1024] = "";

    (void)revents;
    if (dcv_bgbench_read(w->bgbench, &json, err, sizeof err) == 0)
        return;
    dcv_loop_remove_fd(loop, fd);
    dcv_bgbench_destroy(&w->bgbench);
    w->hello->benchmarking = 0;
    if (json) {
        wk_hello_bench(w, json);
        w->bench_in_hb = 1;
        dcv_log(DCV_LOG_INFO, COMP, "startup benchmark done: figures announced");
    } else {
        dcv_log(DCV_LOG_WARN, COMP, "startup benchmark: %s (announcing no figures)", err);
    }
    free(json);
    if (w->state == CONN_READY)
        send_heartbeat(w, refresh_admission(w, &s) == 0 ? &s : NULL);
}

/* ---- lifetime ------------------------------------------------------------------------------ */

int dcv_worker_new(struct dcv_loop *loop, struct dcv_net *net, struct dcv_conf *conf,
                   const struct dcv_worker_opts *opts, struct dcv_worker **out, char *err,
                   size_t errlen)
{
    struct dcv_worker *w;
    struct dcv_proto_hello *h;
    int r;

    *out = NULL;
    if (!loop || !net || !conf || !opts || !opts->coordinator || !opts->coordinator[0] ||
        !opts->self_exe || !opts->probe_json) {
        struct dcv_bgbench *bg = opts ? opts->bgbench : NULL;
        dcv_bgbench_destroy(&bg);
        return dcv_err(err, errlen, -EINVAL,
                       "worker: coordinator endpoint, self_exe and probe report are required");
    }
    w = calloc(1, sizeof *w);
    if (!w || !(w->hello = calloc(1, sizeof *w->hello))) {
        struct dcv_bgbench *bg = opts->bgbench;
        dcv_bgbench_destroy(&bg);
        free(w);
        return dcv_err(err, errlen, -ENOMEM, "out of memory");
    }
    w->loop = loop;
    w->net = net;
    w->conf = conf;
    w->bgbench = opts->bgbench;
    w->s = dcv_conf_settings(conf);
    h = w->hello;
    if (snprintf(w->coordinator, sizeof w->coordinator, "%s", opts->coordinator) >=
            (int)sizeof w->coordinator ||
        snprintf(w->self_exe, sizeof w->self_exe, "%s", opts->self_exe) >=
            (int)sizeof w->self_exe) {
        r = dcv_err(err, errlen, -ENAMETOOLONG, "worker: endpoint or program path too long");
        goto fail;
    }
    if (dcv_conf_path(conf)[0] && !realpath(dcv_conf_path(conf), w->conf_path)) {
        /* Job processes run in their work dir: a relative path would break. */
        r = dcv_err(err, errlen, -errno, "configuration %s: %s", dcv_conf_path(conf),
                    strerror(errno));
        goto fail;
    }

    if ((r = wk_hello_init(w, opts, err, errlen)) < 0)
        goto fail;

    r = dcv_telem_new(&w->telem, NULL, w->s->work_dir, err, errlen);
    if (r < 0)
        goto fail;
    w->limits = admit_limits_of(w->s);
    if (!(w->tel = calloc(1, sizeof *w->tel))) {
        r = dcv_err(err, errlen, -ENOMEM, "out of memory");
        goto fail;
    }
    {
        /* No NVML is normal (no NVIDIA GPU, a container without the driver's
         * utility capability): one line, and no GPU figures. */
        char why[512];
        if (dcv_telem_use_nvml(w->telem, w->s->nvml_library, why, sizeof why) < 0)
            dcv_log(DCV_LOG_INFO, COMP, "no NVIDIA GPU telemetry: %s", why);
        else
            dcv_log(DCV_LOG_INFO, COMP, "NVIDIA GPU telemetry through %s", w->s->nvml_library);
    }
    /* Room for processes still cleaning up after their final line, on top
     * of the slots (see slots_used); the tick kills one that lingers. */
    w->runner = dcv_runner_new((unsigned)w->s->max_jobs * 2 + 4);
    if (!w->runner) {
        r = dcv_err(err, errlen, -ENOMEM, "out of memory");
        goto fail;
    }
    r = dcv_loop_add_signal(loop, SIGCHLD, on_sigchld, w, err, errlen);
    if (r < 0)
        goto fail;
    w->sigchld = 1;
    if (w->bgbench &&
        (r = dcv_loop_add_fd(loop, dcv_bgbench_fd(w->bgbench), POLLIN, on_bench_fd, w, err,
                             errlen)) < 0)
        goto fail;

    {
        uint64_t seed = 0;
        if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != sizeof seed)
            seed = (uint64_t)getpid() * 0x9E3779B97F4A7C15ULL ^ dcv_loop_now_ms();
        w->rng = seed ? seed : 0x1234567;
    }
    w->hb_ivl_ms = w->s->heartbeat_ms > 0 ? w->s->heartbeat_ms : 2000;
    w->liveness = w->s->liveness > 0 ? w->s->liveness : 3;
    w->chunk_max = w->s->chunk_size;
    w->credit_chunks = w->s->credit_chunks;
    w->backoff_ms = BACKOFF_MIN_MS;
    w->state = CONN_IDLE;
    w->next_try_ms = 0;
    set_tick(w, TICK_MS);
    if (!w->tick_id) {
        r = dcv_err(err, errlen, -ENOMEM, "worker: cannot add its timer");
        goto fail;
    }
    if ((r = wk_http_start(w, err, errlen)) < 0)
        goto fail;
    connect_now(w, dcv_loop_now_ms());

    dcv_log(DCV_LOG_INFO, COMP,
            "worker %s: %lld slot%s, %zu encoder device%s, %zu path prefix%s, coordinator %s",
            h->worker_id, (long long)h->slots, h->slots == 1 ? "" : "s", h->n_devices,
            h->n_devices == 1 ? "" : "s", h->n_paths, h->n_paths == 1 ? "" : "es",
            w->coordinator);
    *out = w;
    return 0;
fail:
    dcv_worker_free(&w);
    return r;
}

void dcv_worker_free(struct dcv_worker **wp)
{
    struct dcv_worker *w = wp ? *wp : NULL;

    if (!w)
        return;
    w->closing = 1;
    wk_http_free(w);
    if (w->sock && w->state == CONN_READY) {
        char err[128];
        dcv_sock_send_json(w->sock, NULL, DCV_CMD_DISCONNECT,
                           "{\"reason\":\"worker shutting down\"}", err, sizeof err);
    }
    if (w->runner) {
        /* TERM every job, give them the grace to clean up, then KILL. */
        uint64_t deadline = dcv_loop_now_ms() + SHUTDOWN_GRACE_MS + 1000;
        wk_jobs_stop(w, SHUTDOWN_GRACE_MS);
        while (dcv_runner_count(w->runner) > 0 && dcv_loop_now_ms() < deadline) {
            size_t n = dcv_runner_pollfds(w->runner, w->pfds, w->cap_pfds);
            if (n > w->cap_pfds) {
                struct pollfd *p = realloc(w->pfds, n * sizeof *p);
                if (p) {
                    w->pfds = p;
                    w->cap_pfds = n;
                }
                n = dcv_runner_pollfds(w->runner, w->pfds, w->cap_pfds);
                if (n > w->cap_pfds)
                    n = w->cap_pfds; /* reap drains what is left */
            }
            if (poll(w->pfds, n, 50) > 0)
                dcv_runner_dispatch(w->runner, w->pfds, n);
            dcv_runner_reap(w->runner);
            dcv_runner_tick(w->runner);
        }
        dcv_runner_destroy(&w->runner);
        wk_jobs_orphan(w);
    }
    for (size_t i = 0; i < w->n_watched; i++)
        dcv_loop_remove_fd(w->loop, w->watched[i]);
    if (w->sigchld)
        dcv_loop_remove_signal(w->loop, SIGCHLD);
    if (w->bgbench) {
        if (dcv_bgbench_fd(w->bgbench) >= 0)
            dcv_loop_remove_fd(w->loop, dcv_bgbench_fd(w->bgbench));
        dcv_bgbench_destroy(&w->bgbench);
    }
    if (w->tick_id)
        dcv_loop_cancel_timer(w->loop, w->tick_id);
    close_sock(w);
    dcv_telem_free(&w->telem);
    wk_jobs_free(w);
    wk_outbox_free(w);
    free(w->watched);
    free(w->pfds);
    free(w->local);
    free(w->hello);
    free(w->tel);
    free(w);
    *wp = NULL;
}


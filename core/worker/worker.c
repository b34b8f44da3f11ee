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
 * Messages to the coordinator go through one FIFO outbox so they keep their
 * order when a send would block. A job's final message (DONE, FAIL, or
 * REJECT for an attempt that never started) survives reconnects: the job
 * stays listed in HELLO.running until that message is sent, so the
 * coordinator does not requeue an attempt whose outcome is on its way.
 * Everything else (ACCEPT, PROGRESS, busy REJECTs) is dropped on reconnect:
 * HELLO.running re-attaches the attempt instead.
 */
#include "worker/worker.h"
#include "worker/workdir.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <unistd.h>

#include <json-c/json.h>

#include "build-config.h"
#include "caps_json.h"
#include "config.h"
#include "errbuf.h"
#include "log.h"
#include "loop.h"
#include "net.h"
#include "proto.h"
#include "worker/encbench.h"
#include "worker/jobspec.h"
#include "worker/runner.h"
#include "worker/telemetry.h"

#define COMP "worker"
#define TICK_MS 200             /* timers' resolution; at most hb_ivl / 2 */
#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 32000
#define CANCEL_GRACE_MS 5000    /* TERM -> KILL for a cancelled job */
#define SHUTDOWN_GRACE_MS 3000  /* the same when the worker stops */
#define PROGRESS_MIN_MS 1000    /* protocol: at most one PROGRESS per second */
#define JOB_MAX_LINE 16384
#define LINGER_MS 30000         /* a job alive this long after its final line is killed */
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

enum conn_state { CONN_IDLE = 0, CONN_HELLO, CONN_READY };

struct wjob;

/* Invariant: a job has at most one final message, and is not freed while
 * it sits in the outbox (gc_jobs waits for its outcome SENT, set when popped). */
struct outmsg {
    struct outmsg *next;
    int cmd;
    char *json;
    struct wjob *final_of; /* non-NULL: this is that job's final message */
};

/*
 * A job's life here is two states and a reason, moved only by wjob_step():
 *
 *   child    NONE -SPAWN-> STARTING -ACCEPT-> RUNNING
 *            STARTING|RUNNING -CANCEL|SUPERSEDE-> CANCELLING   TERM, then KILL
 *            STARTING|RUNNING -LINGER-> LINGERING   alive LINGER_MS after its
 *                                                   result: TERM, then KILL
 *            STARTING|RUNNING|CANCELLING|LINGERING -EXIT-> REAPED
 *   outcome  NONE -REPORT-> REPORTED -QUEUE-> QUEUED -SENT-> SENT
 *            REPORTED -SENT-> SENT   cannot be encoded, or superseded: nothing
 *                                    more will ever go out about the attempt
 *   stop     why it went CANCELLING: the coordinator's CANCEL, or SUPERSEDED
 *            by a newer attempt (which also settles its outcome at once)
 *
 * REPORTED: its final line arrived (or we made one up); QUEUED: the final
 * message is in the outbox; SENT: popped from it.
 *
 * Two deliberate differences from the five child states one would expect.
 * NONE: a JOB refused at once gets an entry only to carry its REJECT out;
 * it never had a process, so it is never listed as running in HELLO and
 * its REJECT is never turned into a FAIL on reconnect, both of which a
 * REAPED entry would get. And `stop` outlives CANCELLING: a cancelled
 * attempt whose FAIL is still queued after its process is reaped is not
 * held any more, so the reason must survive the move to REAPED.
 */
enum wjob_child {
    WJ_CHILD_NONE = 0, /* no process (yet, or ever: a refusal) */
    WJ_CHILD_STARTING, /* spawned, no accept line yet: a failure is a REJECT */
    WJ_CHILD_RUNNING,  /* printed accept (ACCEPT queued) */
    WJ_CHILD_CANCELLING,
    WJ_CHILD_LINGERING,
    WJ_CHILD_REAPED,
    WJ_CHILD_COUNT
};

enum wjob_outcome { WJ_OUT_NONE = 0, WJ_OUT_REPORTED, WJ_OUT_QUEUED, WJ_OUT_SENT, WJ_OUT_COUNT };

enum wjob_stop { WJ_STOP_NONE = 0, WJ_STOP_CANCELLED, WJ_STOP_SUPERSEDED };

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

struct wjob {
    struct wjob *next;
    struct dcv_worker *w;
    struct dcv_proto_fence fence;
    struct dcv_child *proc; /* the runner's handle; NULL unless child is alive */
    pid_t pid;
    enum wjob_child child;
    enum wjob_outcome outcome;
    enum wjob_stop stop;
    int gpu;           /* placed on a hardware encoder: counts as a GPU job */
    char place_plugin[DCV_PROTO_ID];  /* JOB.placement, "" without one: reported */
    char place_dev[DCV_PROTO_HOST];   /* in HELLO.running for re-attach */
    uint64_t reported_ms;
    int phase;         /* latest progress */
    double pct;
    int64_t frames;
    double fps;
    int progress_new;  /* newer than what was last forwarded */
    uint64_t progress_sent_ms;
    char work_dir[PATH_MAX];
    char tag[48];      /* "0123abcd/1" for logs */
};

struct dcv_worker {
    struct dcv_loop *loop;
    struct dcv_net *net;
    struct dcv_conf *conf;
    const struct dcv_settings *s;
    char coordinator[DCV_ENDPOINT_MAX];
    char self_exe[PATH_MAX];
    char conf_path[PATH_MAX];       /* "" = defaults and environment only */
    struct dcv_proto_hello *hello;  /* identity and capabilities; running filled per send */
    size_t n_local;
    char (*local)[DCV_PROTO_PATH];  /* opts->local_prefixes, copied */

    struct dcv_sock *sock;
    enum conn_state state;
    uint64_t next_try_ms;           /* IDLE: connect then; HELLO: give up on WELCOME then */
    uint32_t backoff_ms;
    int hello_pending;              /* HELLO not accepted by the socket yet */
    uint64_t last_rx_ms;
    uint64_t next_hb_ms;
    int64_t hb_ivl_ms, liveness, chunk_max, credit_chunks;
    char data_endpoint[DCV_PROTO_HOST * 2];
    char epoch[DCV_PROTO_ID];
    uint64_t tick_id;
    uint64_t tick_ms;
    uint64_t rng;

    struct dcv_runner *runner;
    int *watched;                   /* runner fds on the loop */
    size_t n_watched, cap_watched;
    struct pollfd *pfds;
    size_t cap_pfds;

    struct dcv_telem *telem;
    struct dcv_telem_limits limits;
    int busy;
    char busy_reason[256];
    int have_sample;
    int draining;
    int closing;
    int sigchld;

    struct wjob *jobs;
    struct outmsg *out_head, *out_tail;
};

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

static int is_token_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == ':' || c == '-';
}

/* Keep the token characters of src (at most cap-1 and 63). */
static void tokenize(char *dst, size_t cap, const char *src)
{
    size_t o = 0;
    for (; *src && o + 1 < cap && o < 63; src++)
        if (is_token_char(*src))
            dst[o++] = *src;
    dst[o] = '\0';
}

static int read_line(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "re");
    int ok;
    if (!f)
        return -errno;
    ok = fgets(buf, (int)len, f) != NULL;
    fclose(f);
    return ok ? 0 : -EIO;
}

/* The machine's identity for per-host GPU session limits: the kernel boot id
 * (machine-id when /proc lacks it), as a token. */
static void host_identity(char *out, size_t len)
{
    char buf[128];
    out[0] = '\0';
    if (read_line("/proc/sys/kernel/random/boot_id", buf, sizeof buf) == 0)
        tokenize(out, len, buf);
    if (!out[0] && read_line("/etc/machine-id", buf, sizeof buf) == 0)
        tokenize(out, len, buf);
    if (!out[0] && gethostname(buf, sizeof buf) == 0) {
        buf[sizeof buf - 1] = '\0';
        tokenize(out, len, buf);
    }
    if (!out[0])
        snprintf(out, len, "unknown-host");
}

static int new_session(char *out, size_t len)
{
    unsigned char r[16];
    size_t got = 0;
    while (got < sizeof r) {
        ssize_t n = getrandom(r + got, sizeof r - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        got += (size_t)n;
    }
    for (size_t i = 0; i < sizeof r && 2 * i + 2 < len; i++)
        snprintf(out + 2 * i, 3, "%02x", r[i]);
    return 0;
}


/* ---- the probe report -> HELLO -------------------------------------------------- */

static const char *jstr(struct json_object *o, const char *key)
{
    struct json_object *v;
    if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return "";
    return json_object_get_string(v);
}

static int add_devices(struct dcv_proto_hello *h, struct json_object *plugins, int available)
{
    size_t np = json_object_array_length(plugins);
    for (size_t i = 0; i < np; i++) {
        struct json_object *p = json_object_array_get_idx(plugins, i), *devs;
        const char *name = jstr(p, "name");
        if (strcmp(jstr(p, "kind"), "encoder") != 0 || strcmp(jstr(p, "status"), "ok") != 0 ||
            !json_object_object_get_ex(p, "devices", &devs) ||
            !json_object_is_type(devs, json_type_array))
            continue;
        for (size_t k = 0; k < json_object_array_length(devs); k++) {
            struct dcv_proto_device d;
            char err[256];
            memset(&d, 0, sizeof d);
            if (dcv_caps_from_json(json_object_array_get_idx(devs, k), &d.caps, err,
                                   sizeof err) < 0) {
                dcv_log(DCV_LOG_WARN, COMP, "plugin %s device %zu: %s (not announced)", name, k,
                        err);
                continue;
            }
            if (!!(d.caps.flags & DCV_CAP_AVAILABLE) != available)
                continue;
            if (h->n_devices >= DCV_PROTO_MAX_DEVICES) {
                dcv_log(DCV_LOG_WARN, COMP,
                        "more than %d encoder devices: plugin %s device %s not announced",
                        DCV_PROTO_MAX_DEVICES, name, d.caps.device_id);
                continue;
            }
            tokenize(d.plugin, sizeof d.plugin, name);
            d.bench_fps = -1;
            h->devices[h->n_devices++] = d;
        }
    }
    return 0;
}

static int hello_from_probe(struct dcv_proto_hello *h, const char *probe_json, char *err,
                            size_t errlen)
{
    struct json_object *root = json_tokener_parse(probe_json ? probe_json : ""), *plugins;
    size_t np;

    if (!root || !json_object_object_get_ex(root, "plugins", &plugins) ||
        !json_object_is_type(plugins, json_type_array)) {
        json_object_put(root);
        return dcv_err(err, errlen, -EINVAL, "capability probe: not a probe report");
    }
    np = json_object_array_length(plugins);
    for (size_t i = 0; i < np; i++) {
        struct json_object *p = json_object_array_get_idx(plugins, i), *v;
        struct dcv_proto_plugin *pl;
        if (strcmp(jstr(p, "kind"), "encoder") != 0 || strcmp(jstr(p, "status"), "ok") != 0)
            continue;
        if (h->n_plugins >= DCV_PROTO_MAX_PLUGINS)
            break;
        pl = &h->plugins[h->n_plugins];
        tokenize(pl->name, sizeof pl->name, jstr(p, "name"));
        if (!pl->name[0])
            continue;
        dcv_text_sanitize(pl->version, sizeof pl->version, jstr(p, "version"));
        /* The report carries the plugin's ABI minor when probe.c provides
         * it; 0 (the v1.0 baseline every accepted plugin meets) otherwise. */
        pl->abi_minor = 0;
        if (json_object_object_get_ex(p, "abi_minor", &v) && json_object_is_type(v, json_type_int))
            pl->abi_minor = json_object_get_int64(v) & 0xffff;
        h->n_plugins++;
    }
    /* Usable devices first, so a host with many absent GPUs still announces
     * everything it can actually use within the 16-device limit. */
    add_devices(h, plugins, 1);
    add_devices(h, plugins, 0);
    json_object_put(root);
    return 0;
}

/* The startup benchmark's figures for each announced device (HELLO
 * devices[].bench[] and bench_fps, the best of them). */
static void hello_bench(struct dcv_proto_hello *h, const char *bench_json)
{
    for (size_t i = 0; i < h->n_devices; i++) {
        struct dcv_proto_device *d = &h->devices[i];
        if (dcv_bench_figures(bench_json, d->plugin, d->caps.device_id, d->bench, DCV_MAX_CODECS,
                              &d->n_bench, &d->bench_fps) < 0) {
            dcv_log(DCV_LOG_WARN, COMP, "startup benchmark: not a report, no figures announced");
            return;
        }
    }
}

/* A prefix the protocol accepts in HELLO.paths: absolute, no ".." component. */
static int path_ok(const char *p)
{
    size_t n = strlen(p);
    if (p[0] != '/' || n >= DCV_PROTO_PATH)
        return 0;
    for (const char *q = p; (q = strstr(q, "..")) != NULL; q += 2)
        if ((q == p || q[-1] == '/') && (q[2] == '\0' || q[2] == '/'))
            return 0;
    return 1;
}

static void add_path(struct dcv_proto_hello *h, const char *p, size_t n)
{
    char buf[DCV_PROTO_PATH];
    if (n >= sizeof buf)
        return;
    memcpy(buf, p, n);
    buf[n] = '\0';
    while (n > 1 && buf[n - 1] == '/')
        buf[--n] = '\0';
    if (!path_ok(buf)) {
        dcv_log(DCV_LOG_WARN, COMP, "path prefix '%s' not announced (must be absolute, no ..)",
                buf);
        return;
    }
    for (size_t i = 0; i < h->n_paths; i++)
        if (strcmp(h->paths[i], buf) == 0)
            return;
    if (h->n_paths >= DCV_PROTO_MAX_PATHS) {
        dcv_log(DCV_LOG_WARN, COMP, "more than %d path prefixes: '%s' not announced",
                DCV_PROTO_MAX_PATHS, buf);
        return;
    }
    memcpy(h->paths[h->n_paths++], buf, n + 1);
}

/* Longest prefix match of a coordinator path; 1 if `prefix` covers `path`. */
static size_t prefix_len(const char *path, const char *prefix, size_t plen)
{
    while (plen > 1 && prefix[plen - 1] == '/')
        plen--;
    if (strncmp(path, prefix, plen) != 0)
        return 0;
    if (plen == 1 && prefix[0] == '/')
        return 1;
    return path[plen] == '/' || path[plen] == '\0' ? plen : 0;
}

/* JOB.input.path (the coordinator's view) -> our local path. */
static int map_path(const struct dcv_worker *w, const char *cpath, char *out, size_t len)
{
    const struct dcv_strlist *pm = &w->s->path_map;
    size_t best = 0;
    int found = 0;

    for (unsigned i = 0; i < pm->n; i++) {
        const char *eq = strchr(pm->v[i], '=');
        size_t l;
        if (!eq)
            continue;
        l = prefix_len(cpath, pm->v[i], (size_t)(eq - pm->v[i]));
        if (l > best) {
            const char *local = eq + 1, *rest = cpath + (l == 1 ? 0 : l);
            size_t ll = strlen(local);
            while (ll > 1 && local[ll - 1] == '/')
                ll--;
            if (ll == 1 && local[0] == '/')
                ll = 0; /* "/" + "/rest" */
            if ((size_t)snprintf(out, len, "%.*s%s", (int)ll, local, rest) >= len)
                return -ENAMETOOLONG;
            best = l;
            found = 1;
        }
    }
    for (size_t i = 0; i < w->n_local; i++) {
        size_t l = prefix_len(cpath, w->local[i], strlen(w->local[i]));
        if (l > best) {
            if ((size_t)snprintf(out, len, "%s", cpath) >= len)
                return -ENAMETOOLONG;
            best = l;
            found = 1;
        }
    }
    return found ? 0 : -ENOENT;
}

/* ---- a job's state ------------------------------------------------------------------ */

#define C(s) (1u << WJ_CHILD_##s)
#define O(s) (1u << WJ_OUT_##s)
#define KEEP (-1)

/* One row per event, because an event moves one or both of two states
 * (jobstate.c has one state, so it keeps a state x event matrix): the
 * states it is legal in, where it takes each, and the stop reason it
 * records. An event outside its row's states is a bug, refused and logged. */
static const struct wjob_rule {
    unsigned child_from, outcome_from;
    signed char child_to, outcome_to; /* KEEP: unchanged */
    enum wjob_stop stop;              /* NONE: unchanged */
} wjob_rules[WJ_EV_COUNT] = {
    [WJ_EV_SPAWN] = {C(NONE), O(NONE), WJ_CHILD_STARTING, KEEP, WJ_STOP_NONE},
    [WJ_EV_ACCEPT] = {C(STARTING), O(NONE), WJ_CHILD_RUNNING, KEEP, WJ_STOP_NONE},
    [WJ_EV_REPORT] = {C(NONE) | C(STARTING) | C(RUNNING) | C(REAPED), O(NONE), KEEP,
                      WJ_OUT_REPORTED, WJ_STOP_NONE},
    [WJ_EV_CANCEL] = {C(STARTING) | C(RUNNING), O(NONE), WJ_CHILD_CANCELLING, KEEP,
                      WJ_STOP_CANCELLED},
    [WJ_EV_SUPERSEDE] = {C(STARTING) | C(RUNNING), O(NONE), WJ_CHILD_CANCELLING,
                         WJ_OUT_REPORTED, WJ_STOP_SUPERSEDED},
    [WJ_EV_LINGER] = {C(STARTING) | C(RUNNING), O(REPORTED) | O(QUEUED) | O(SENT),
                      WJ_CHILD_LINGERING, KEEP, WJ_STOP_NONE},
    [WJ_EV_EXIT] = {C(STARTING) | C(RUNNING) | C(CANCELLING) | C(LINGERING),
                    (1u << WJ_OUT_COUNT) - 1, WJ_CHILD_REAPED, KEEP, WJ_STOP_NONE},
    [WJ_EV_QUEUE] = {C(NONE) | C(STARTING) | C(RUNNING) | C(REAPED), O(REPORTED), KEEP,
                     WJ_OUT_QUEUED, WJ_STOP_NONE},
    [WJ_EV_SENT] = {(1u << WJ_CHILD_COUNT) - 1, O(REPORTED) | O(QUEUED), KEEP, WJ_OUT_SENT,
                    WJ_STOP_NONE},
};

#undef C
#undef O

static const char *const wjob_child_names[WJ_CHILD_COUNT] = {
    "NONE", "STARTING", "RUNNING", "CANCELLING", "LINGERING", "REAPED",
};
static const char *const wjob_outcome_names[WJ_OUT_COUNT] = {
    "NONE", "REPORTED", "QUEUED", "SENT",
};
static const char *const wjob_event_names[WJ_EV_COUNT] = {
    "SPAWN", "ACCEPT", "REPORT", "CANCEL", "SUPERSEDE", "LINGER", "EXIT", "QUEUE", "SENT",
};

static int wjob_step(struct wjob *j, enum wjob_event ev)
{
    const struct wjob_rule *r = (unsigned)ev < WJ_EV_COUNT ? &wjob_rules[ev] : NULL;

    if (!r || !(r->child_from & (1u << j->child)) || !(r->outcome_from & (1u << j->outcome))) {
        dcv_log(DCV_LOG_ERROR, COMP, "job %s: job state %s/%s cannot take %s (a bug); ignored",
                j->tag, wjob_child_names[j->child], wjob_outcome_names[j->outcome],
                r ? wjob_event_names[ev] : "an unknown event");
        return -EINVAL;
    }
    if (r->child_to != KEEP)
        j->child = (enum wjob_child)r->child_to;
    if (r->outcome_to != KEEP)
        j->outcome = (enum wjob_outcome)r->outcome_to;
    if (r->stop != WJ_STOP_NONE)
        j->stop = r->stop;
    return 0;
}

#undef KEEP

/* It has (or had) a process: a refusal never did. */
static int wjob_spawned(const struct wjob *j)
{
    return j->child != WJ_CHILD_NONE;
}

static int wjob_alive(const struct wjob *j)
{
    return j->child != WJ_CHILD_NONE && j->child != WJ_CHILD_REAPED;
}

/* A job that printed its final line only cleans up before it exits: its
 * slot is free, as the coordinator sees it after DONE/FAIL. A cancelled one
 * holds its slot until it is gone; a superseded one frees it at once. */
static int wjob_holds_slot(const struct wjob *j)
{
    return wjob_alive(j) && j->outcome == WJ_OUT_NONE;
}

/* Running with nothing decided: its lines count, it renews its lease, and a
 * CANCEL or a newer attempt can stop it. */
static int wjob_open(const struct wjob *j)
{
    return (j->child == WJ_CHILD_STARTING || j->child == WJ_CHILD_RUNNING) &&
           j->outcome == WJ_OUT_NONE;
}

/* An attempt this process holds (HELLO.running, heartbeat jobs): running,
 * or finished with the outcome not yet delivered. Cancelled ones are the
 * coordinator's business no more; a refusal on its way out never started. */
static int wjob_is_held(const struct wjob *j)
{
    return wjob_spawned(j) && j->stop == WJ_STOP_NONE && j->outcome != WJ_OUT_SENT;
}

/* Its process is gone and its outcome went out (when the worker closes, an
 * outcome not in the outbox will never go: done with too). */
static int wjob_collectable(const struct wjob *j, int closing)
{
    return !wjob_alive(j) &&
           (j->outcome == WJ_OUT_SENT ||
            (closing && (j->outcome == WJ_OUT_NONE || j->outcome == WJ_OUT_REPORTED)));
}

/* Still alive LINGER_MS after its result, and not yet told to stop. */
static int wjob_lingers(const struct wjob *j, uint64_t now)
{
    return (j->child == WJ_CHILD_STARTING || j->child == WJ_CHILD_RUNNING) &&
           j->outcome != WJ_OUT_NONE && j->reported_ms && now - j->reported_ms > LINGER_MS;
}

/* ---- outbox ------------------------------------------------------------------------ */

static int queue_msg(struct dcv_worker *w, int cmd, char *json, struct wjob *final_of)
{
    struct outmsg *m = calloc(1, sizeof *m);
    if (!m) {
        free(json);
        dcv_log(DCV_LOG_ERROR, COMP, "out of memory: %s dropped",
                dcv_proto_cmd_name(DCV_PLANE_CONTROL, cmd));
        return -ENOMEM;
    }
    m->cmd = cmd;
    m->json = json;
    m->final_of = final_of;
    if (final_of)
        wjob_step(final_of, WJ_EV_QUEUE);
    if (w->out_tail)
        w->out_tail->next = m;
    else
        w->out_head = m;
    w->out_tail = m;
    return 0;
}

/* Send queued messages in order while the socket takes them. */
static void flush(struct dcv_worker *w)
{
    char err[256];

    while (w->state == CONN_READY && w->out_head) {
        struct outmsg *m = w->out_head;
        int r = dcv_sock_send_json(w->sock, NULL, m->cmd, m->json, err, sizeof err);
        if (r == -EAGAIN)
            return; /* next tick */
        if (r < 0)
            dcv_log(DCV_LOG_ERROR, COMP, "%s dropped: %s",
                    dcv_proto_cmd_name(DCV_PLANE_CONTROL, m->cmd), err);
        if (m->final_of)
            wjob_step(m->final_of, WJ_EV_SENT);
        w->out_head = m->next;
        if (!w->out_head)
            w->out_tail = NULL;
        free(m->json);
        free(m);
    }
}

/* A new connection: what only made sense on the old one goes. */
static void drop_transient(struct dcv_worker *w)
{
    struct outmsg **pp = &w->out_head;
    w->out_tail = NULL;
    while (*pp) {
        struct outmsg *m = *pp;
        if (!m->final_of) {
            *pp = m->next;
            free(m->json);
            free(m);
        } else {
            /* The next HELLO lists the attempt as running, so the
             * coordinator re-attaches it: from RUNNING a REJECT is not a
             * legal event, a FAIL is, and the bodies are identical. */
            if (m->cmd == DCV_CMD_REJECT && wjob_spawned(m->final_of))
                m->cmd = DCV_CMD_FAIL;
            w->out_tail = m;
            pp = &m->next;
        }
    }
}

typedef int (*to_json_fn)(const void *m, char **out, size_t *len, char *err, size_t errlen);

static void send_body(struct dcv_worker *w, int cmd, const void *body, to_json_fn fn,
                      struct wjob *final_of)
{
    char *json = NULL, err[512];
    size_t len;
    /* Only a final message outlives the connection it was meant for. */
    if (w->state != CONN_READY && !final_of)
        return;
    if (fn(body, &json, &len, err, sizeof err) < 0) {
        dcv_log(DCV_LOG_ERROR, COMP, "cannot encode %s: %s",
                dcv_proto_cmd_name(DCV_PLANE_CONTROL, cmd), err);
        if (final_of)
            wjob_step(final_of, WJ_EV_SENT); /* nothing better will come */
        return;
    }
    if (queue_msg(w, cmd, json, final_of) == 0)
        flush(w);
}

#define SEND(w, cmd, body, fn, fin) send_body((w), (cmd), (body), (to_json_fn)(fn), (fin))

static void send_failure(struct dcv_worker *w, struct wjob *j, int reject, int code,
                         int retryable, const char *fmt, ...) DCV_PRINTF(6, 7);
static void send_failure(struct dcv_worker *w, struct wjob *j, int reject, int code,
                         int retryable, const char *fmt, ...)
{
    struct dcv_proto_failure f;
    char msg[DCV_PROTO_TEXT * 2];
    va_list ap;

    memset(&f, 0, sizeof f);
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    f.fence = j->fence;
    f.code = code;
    f.retryable = retryable;
    dcv_text_sanitize(f.message, sizeof f.message, msg);
    dcv_log(code == DCV_CODE_BUSY || code == DCV_CODE_CANCELLED ? DCV_LOG_INFO : DCV_LOG_WARN,
            COMP, "job %s: %s %s (%s): %s", j->tag, reject ? "REJECT" : "FAIL",
            dcv_proto_code_name(code), retryable ? "retryable" : "final", f.message);
    if (reject)
        SEND(w, DCV_CMD_REJECT, &f, dcv_proto_reject_to_json, j);
    else
        SEND(w, DCV_CMD_FAIL, &f, dcv_proto_fail_to_json, j);
}

/* A JOB refused before any process: its entry only carries the REJECT out. */
static void refuse(struct dcv_worker *w, struct wjob *j, int code, const char *fmt, ...)
    DCV_PRINTF(4, 5);
static void refuse(struct dcv_worker *w, struct wjob *j, int code, const char *fmt, ...)
{
    char msg[DCV_PROTO_TEXT * 2];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    wjob_step(j, WJ_EV_REPORT);
    send_failure(w, j, 1, code, 1, "%s", msg);
}

/* ---- jobs ---------------------------------------------------------------------------- */

static unsigned slots_used(const struct dcv_worker *w)
{
    unsigned n = 0;
    for (const struct wjob *j = w->jobs; j; j = j->next)
        if (wjob_holds_slot(j))
            n++;
    return n;
}

/* The same count for one job class (worker.max_cpu_jobs / max_gpu_jobs). */
static unsigned class_used(const struct dcv_worker *w, int gpu)
{
    unsigned n = 0;
    for (const struct wjob *j = w->jobs; j; j = j->next)
        if (wjob_holds_slot(j) && j->gpu == gpu)
            n++;
    return n;
}

static unsigned class_limit(const struct dcv_worker *w, int gpu)
{
    int32_t lim = gpu ? w->s->max_gpu_jobs : w->s->max_cpu_jobs;
    return (unsigned)(lim > 0 ? lim : w->s->max_jobs);
}

static double job_progress(const struct wjob *j)
{
    if (j->outcome != WJ_OUT_NONE)
        return 100;
    if (j->phase == DCV_PHASE_ENCODE)
        return j->pct < 0 ? 0 : j->pct > 100 ? 100 : j->pct;
    if (j->phase == DCV_PHASE_VERIFY || j->phase == DCV_PHASE_UPLOAD)
        return 100;
    return 0;
}

static size_t held_jobs(const struct dcv_worker *w, struct dcv_proto_jobref *out, size_t cap)
{
    size_t n = 0;
    for (const struct wjob *j = w->jobs; j; j = j->next) {
        if (!wjob_is_held(j))
            continue;
        if (n >= cap)
            break;
        memcpy(out[n].job_id, j->fence.job_id, sizeof out[n].job_id);
        out[n].attempt = j->fence.attempt;
        out[n].progress = job_progress(j);
        memcpy(out[n].plugin, j->place_plugin, sizeof out[n].plugin);
        memcpy(out[n].device_id, j->place_dev, sizeof out[n].device_id);
        n++;
    }
    return n;
}

static void free_job(struct wjob *j)
{
    free(j);
}

static void gc_jobs(struct dcv_worker *w)
{
    struct wjob **pp = &w->jobs;
    while (*pp) {
        struct wjob *j = *pp;
        if (wjob_collectable(j, w->closing)) {
            *pp = j->next;
            free_job(j);
        } else {
            pp = &j->next;
        }
    }
}

static void send_progress(struct dcv_worker *w, struct wjob *j, uint64_t now)
{
    struct dcv_proto_progress p;

    memset(&p, 0, sizeof p);
    p.fence = j->fence;
    p.phase = j->phase >= 0 ? j->phase : DCV_PHASE_FETCH;
    p.pct = j->pct < 0 ? 0 : j->pct > 100 ? 100 : j->pct;
    p.frames = j->frames;
    p.fps = j->fps;
    j->progress_new = 0;
    j->progress_sent_ms = now;
    SEND(w, DCV_CMD_PROGRESS, &p, dcv_proto_progress_to_json, NULL);
}

static void sync_fds(struct dcv_worker *w);

/* A job's stderr: JSON log lines from the job process, re-logged under the
 * job's name at their own level; anything else as it came. */
static void relay_log(struct wjob *j, const char *line, size_t len)
{
    struct json_object *o = NULL, *v;
    int level = DCV_LOG_INFO;

    if (len > 0 && line[0] == '{')
        o = json_tokener_parse(line);
    if (o && json_object_is_type(o, json_type_object) &&
        json_object_object_get_ex(o, "msg", &v) && json_object_is_type(v, json_type_string)) {
        const char *lv = jstr(o, "level");
        if (dcv_log_level_parse(lv, &level) < 0)
            level = DCV_LOG_INFO;
        if (dcv_log_enabled(level))
            dcv_log(level, "job", "%s %s: %s", j->tag, jstr(o, "component"),
                    json_object_get_string(v));
    } else if (dcv_log_enabled(DCV_LOG_INFO)) {
        dcv_log(DCV_LOG_INFO, "job", "%s: %.*s", j->tag, (int)len, line);
    }
    json_object_put(o);
}

static int same_fence(const struct dcv_proto_fence *a, const struct dcv_proto_fence *b)
{
    return strcmp(a->job_id, b->job_id) == 0 && a->attempt == b->attempt &&
           strcmp(a->session, b->session) == 0;
}

static void on_job_line(struct dcv_child *c, enum dcv_child_stream stream, const char *line,
                        size_t len, unsigned flags, void *user)
{
    struct wjob *j = user;
    struct dcv_worker *w = j->w;
    struct dcv_jobline l;
    const struct dcv_proto_fence *f = NULL;
    char err[512];

    (void)c;
    if (stream == DCV_CHILD_STDERR) {
        relay_log(j, line, len);
        return;
    }
    if (flags & DCV_LINE_TRUNCATED) {
        dcv_log(DCV_LOG_WARN, COMP, "job %s: overlong output line ignored", j->tag);
        return;
    }
    if (dcv_jobline_parse(line, len, &l, err, sizeof err) < 0) {
        dcv_log(DCV_LOG_WARN, COMP, "job %s: unexpected output ignored: %s", j->tag, err);
        return;
    }
    switch (l.kind) {
    case DCV_JOBLINE_ACCEPT: f = &l.accept.fence; break;
    case DCV_JOBLINE_PROGRESS: f = &l.progress.fence; break;
    case DCV_JOBLINE_DONE: f = &l.done.fence; break;
    default: f = &l.fail.fence; break;
    }
    if (!same_fence(f, &j->fence)) {
        dcv_log(DCV_LOG_WARN, COMP, "job %s: line for another attempt ignored", j->tag);
        return;
    }
    /* After a cancel or a final line nothing the job says changes the outcome. */
    if (!wjob_open(j) || w->closing)
        return;
    switch (l.kind) {
    case DCV_JOBLINE_ACCEPT:
        if (j->child == WJ_CHILD_RUNNING)
            return;
        wjob_step(j, WJ_EV_ACCEPT);
        dcv_log(DCV_LOG_INFO, COMP, "job %s: encoding with %s (%s, device %s)", j->tag,
                l.accept.encoder, l.accept.plugin, l.accept.device_id);
        SEND(w, DCV_CMD_ACCEPT, &l.accept, dcv_proto_accept_to_json, NULL);
        break;
    case DCV_JOBLINE_PROGRESS: {
        uint64_t now = dcv_loop_now_ms();
        int phase_changed = l.progress.phase != j->phase;
        j->phase = l.progress.phase;
        j->pct = l.progress.pct;
        j->frames = l.progress.frames;
        j->fps = l.progress.fps;
        j->progress_new = 1;
        if (w->state == CONN_READY &&
            (now - j->progress_sent_ms >= PROGRESS_MIN_MS ||
             (phase_changed && j->child == WJ_CHILD_RUNNING && now - j->progress_sent_ms >= 250)))
            send_progress(w, j, now);
        break;
    }
    case DCV_JOBLINE_DONE:
        wjob_step(j, WJ_EV_REPORT);
        j->reported_ms = dcv_loop_now_ms();
        dcv_log(DCV_LOG_INFO, COMP,
                "job %s: done, output %" PRId64 " bytes (xfer %" PRId64 "), %" PRId64
                " frames in %" PRId64 " ms",
                j->tag, l.done.output.size, l.done.output.xfer_id, l.done.frames,
                l.done.elapsed_ms);
        SEND(w, DCV_CMD_DONE, &l.done, dcv_proto_done_to_json, j);
        break;
    case DCV_JOBLINE_FAIL:
        wjob_step(j, WJ_EV_REPORT);
        j->reported_ms = dcv_loop_now_ms();
        /* Before its accept the attempt never started (protocol §3.5). */
        send_failure(w, j, j->child == WJ_CHILD_STARTING, l.fail.code, l.fail.retryable, "%s",
                     l.fail.message);
        break;
    }
}

/* Its process is gone: so is its work dir. */
static void job_gone(struct wjob *j)
{
    wjob_step(j, WJ_EV_EXIT);
    j->proc = NULL;
    dcv_workdir_remove(j->work_dir, COMP);
}

static void on_job_exit(struct dcv_child *c, const struct dcv_child_status *st, void *user)
{
    struct wjob *j = user;
    struct dcv_worker *w = j->w;
    /* Before its accept the attempt never started (protocol §3.5). */
    int reject = j->child == WJ_CHILD_STARTING;

    (void)c;
    job_gone(j);
    if (w->closing)
        return;
    if (j->stop == WJ_STOP_SUPERSEDED) {
        /* Whatever it would say is stale (protocol §6): say nothing. */
        wjob_step(j, WJ_EV_SENT);
        return;
    }
    if (j->stop == WJ_STOP_CANCELLED) {
        dcv_log(DCV_LOG_INFO, COMP, "job %s: cancelled (pid %ld ended after %lld ms%s)", j->tag,
                (long)j->pid, st->runtime_ms, st->killed ? ", killed" : "");
        wjob_step(j, WJ_EV_REPORT);
        send_failure(w, j, 0, DCV_CODE_CANCELLED, 0, "cancelled by the coordinator");
        return;
    }
    if (j->outcome != WJ_OUT_NONE)
        return;
    wjob_step(j, WJ_EV_REPORT);
    if (st->exited)
        send_failure(w, j, reject, DCV_CODE_INTERNAL, 1,
                     "job process exited with status %d without a result", st->exit_code);
    else
        send_failure(w, j, reject, DCV_CODE_INTERNAL, 1,
                     "job process killed by signal %d (%s)%s", st->term_signal,
                     strsignal(st->term_signal), st->core_dumped ? ", core dumped" : "");
}

static struct wjob *find_job(struct dcv_worker *w, const char *job_id, int64_t attempt)
{
    for (struct wjob *j = w->jobs; j; j = j->next)
        if (strcmp(j->fence.job_id, job_id) == 0 && j->fence.attempt == attempt)
            return j;
    return NULL;
}

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

static int busy_now(struct dcv_worker *w)
{
    if (!w->have_sample) {
        struct dcv_telem_sample s;
        if (dcv_telem_sample(w->telem, &s) == 0)
            admit(w, &s);
    }
    return w->busy;
}

static int spawn_job(struct dcv_worker *w, struct wjob *j, const struct dcv_proto_job *job,
                     char *err, size_t errlen)
{
    struct dcv_jobspec *spec = calloc(1, sizeof *spec);
    struct dcv_spawn_opts so;
    char *spec_json = NULL;
    const char *argv[12];
    int argc = 0, r;

    if (!spec)
        return dcv_err(err, errlen, -ENOMEM, "out of memory");
    spec->fence = job->fence;
    spec->has_placement = job->has_placement;
    spec->placement = job->placement;
    if (job->input.kind == DCV_INPUT_PATH) {
        spec->input_kind = DCV_INPUT_PATH;
        r = map_path(w, job->input.path, spec->path, sizeof spec->path);
        if (r < 0) {
            free(spec);
            return dcv_err(err, errlen, r == -ENOENT ? -ENOENT : r,
                           "input %s is under none of this worker's paths", job->input.path);
        }
    } else if (job->input.kind == DCV_INPUT_URL) {
        spec->input_kind = DCV_INPUT_URL;
        snprintf(spec->path, sizeof spec->path, "%s", job->input.url);
        snprintf(spec->protocols, sizeof spec->protocols, "%s", job->input.protocols);
    } else {
        spec->input_kind = DCV_INPUT_XFER;
        spec->blob = job->input.blob;
        spec->mode = job->input.mode;
    }
    snprintf(spec->name, sizeof spec->name, "%s", job->input.name);
    snprintf(spec->data_endpoint, sizeof spec->data_endpoint, "%s", w->data_endpoint);
    spec->chunk_max = w->chunk_max;
    spec->credit_chunks = w->credit_chunks;
    spec->stall_ms = w->hb_ivl_ms * w->liveness;
    if (spec->stall_ms < 100)
        spec->stall_ms = 100;
    snprintf(spec->profile, sizeof spec->profile, "%s", job->profile[0] ? job->profile : "{}");
    snprintf(spec->work_dir, sizeof spec->work_dir, "%s", j->work_dir);
    spec->deadline_ms = job->deadline_ms;
    r = dcv_jobspec_to_json(spec, &spec_json, err, errlen);
    free(spec);
    if (r < 0)
        return r;

    /* A leftover of an earlier run of this very attempt is not ours to trust. */
    dcv_workdir_remove(j->work_dir, COMP);
    if (mkdir(j->work_dir, 0750) != 0) {
        r = -errno;
        free(spec_json);
        return dcv_err(err, errlen, r, "create %s: %s", j->work_dir, strerror(-r));
    }

    argv[argc++] = w->self_exe;
    if (w->conf_path[0]) {
        argv[argc++] = "-c";
        argv[argc++] = w->conf_path;
    }
    if (dcv_log_enabled(DCV_LOG_TRACE))
        argv[argc++] = "-vv";
    else if (dcv_log_enabled(DCV_LOG_DEBUG))
        argv[argc++] = "-v";
    else if (!dcv_log_enabled(DCV_LOG_INFO))
        argv[argc++] = "-q";
    argv[argc++] = "--job";
    argv[argc++] = spec_json;
    argv[argc] = NULL;

    memset(&so, 0, sizeof so);
    so.nice = w->s->job_nice;
    /* Hostile media is refused before decoding (media/verify.c); this
     * bounds whatever gets past that. AddressSanitizer reserves terabytes
     * of shadow address space, so such builds cannot run under a limit. */
#if !defined(__SANITIZE_ADDRESS__)
    so.rlimit_as = w->s->job_memory_limit > 0 ? (unsigned long long)w->s->job_memory_limit : 0;
#endif
    so.cwd = j->work_dir;
    so.log_prefix = j->tag;
    so.max_line = JOB_MAX_LINE;
    so.on_line = on_job_line;
    so.on_exit = on_job_exit;
    so.user = j;
    r = dcv_runner_spawn(w->runner, (char *const *)argv, NULL, &so, &j->proc, err, errlen);
    free(spec_json);
    if (r < 0) {
        dcv_workdir_remove(j->work_dir, COMP);
        return r;
    }
    j->pid = dcv_child_pid(j->proc);
    wjob_step(j, WJ_EV_SPAWN);
    sync_fds(w);
    return 0;
}

static void on_job(struct dcv_worker *w, const struct dcv_proto_msg *m)
{
    struct dcv_proto_job *job = malloc(sizeof *job);
    struct wjob *j;
    char err[1024];
    int r;

    if (!job) {
        dcv_log(DCV_LOG_ERROR, COMP, "out of memory: JOB dropped");
        return;
    }
    r = dcv_proto_job_from_json(m->body, m->body_len, job, err, sizeof err);
    if (r < 0) {
        dcv_log(DCV_LOG_WARN, COMP, "invalid JOB ignored: %s", err);
        free(job);
        return;
    }
    if (strcmp(job->fence.session, w->hello->session) != 0) {
        dcv_log(DCV_LOG_DEBUG, COMP, "JOB %s/%" PRId64 " for session %s ignored (ours: %s)",
                job->fence.job_id, job->fence.attempt, job->fence.session, w->hello->session);
        free(job);
        return;
    }
    if (find_job(w, job->fence.job_id, job->fence.attempt)) {
        dcv_log(DCV_LOG_DEBUG, COMP, "JOB %s/%" PRId64 " already held: repeat ignored",
                job->fence.job_id, job->fence.attempt);
        free(job);
        return;
    }
    /* The coordinator moved on (it declared us lost while we were away):
     * an older attempt of the same job still running here is superseded,
     * and its slot is better used by the new one. */
    for (struct wjob *o = w->jobs; o; o = o->next)
        if (wjob_open(o) && o->fence.attempt < job->fence.attempt &&
            strcmp(o->fence.job_id, job->fence.job_id) == 0) {
            dcv_log(DCV_LOG_INFO, COMP, "job %s: superseded by attempt %" PRId64 "; stopping it",
                    o->tag, job->fence.attempt);
            wjob_step(o, WJ_EV_SUPERSEDE); /* frees its slot now */
            dcv_runner_cancel(w->runner, o->proc, CANCEL_GRACE_MS);
        }
    j = calloc(1, sizeof *j);
    if (!j) {
        dcv_log(DCV_LOG_ERROR, COMP, "out of memory: JOB dropped");
        free(job);
        return;
    }
    j->w = w;
    j->fence = job->fence;
    j->phase = -1;
    j->frames = -1;
    j->fps = -1;
    /* A job without a placement chooses its own encoder: counted as CPU. */
    j->gpu = job->has_placement && job->placement.hw;
    if (job->has_placement) {
        memcpy(j->place_plugin, job->placement.plugin, sizeof j->place_plugin);
        memcpy(j->place_dev, job->placement.device_id, sizeof j->place_dev);
    }
    snprintf(j->tag, sizeof j->tag, "%.8s/%" PRId64, job->fence.job_id, job->fence.attempt);
    /* work_dir is PATH_MAX at most and checked absolute by the config;
     * the 45 bytes of "/<job>-<attempt>" must fit besides. */
    snprintf(j->work_dir, sizeof j->work_dir, "%.*s/%s-%" PRId64,
             (int)(sizeof j->work_dir - 48), w->s->work_dir, job->fence.job_id,
             job->fence.attempt);
    j->next = w->jobs;
    w->jobs = j;

    if (w->draining) {
        refuse(w, j, DCV_CODE_BUSY, "worker is draining");
    } else if (slots_used(w) >= (unsigned)w->s->max_jobs) {
        refuse(w, j, DCV_CODE_BUSY, "no free slot (%u of %d in use)", slots_used(w),
               w->s->max_jobs);
    } else if (class_used(w, j->gpu) >= class_limit(w, j->gpu)) {
        refuse(w, j, DCV_CODE_BUSY, "no free %s slot (%u of %u in use)", j->gpu ? "GPU" : "CPU",
               class_used(w, j->gpu), class_limit(w, j->gpu));
    } else if (busy_now(w)) {
        refuse(w, j, DCV_CODE_BUSY, "worker busy: %s", w->busy_reason);
    } else {
        r = spawn_job(w, j, job, err, sizeof err);
        if (r == -ENOENT && job->input.kind == DCV_INPUT_PATH) {
            refuse(w, j, DCV_CODE_UNSUPPORTED, "%s", err);
        } else if (r == -EBUSY) {
            refuse(w, j, DCV_CODE_BUSY, "%s", err);
        } else if (r < 0) {
            refuse(w, j, r == -ENOSPC ? DCV_CODE_NOSPACE : DCV_CODE_INTERNAL,
                   "cannot start the job process: %s", err);
        } else {
            dcv_log(DCV_LOG_INFO, COMP, "job %s: started (pid %ld, input %s%s%s)", j->tag,
                    (long)j->pid,
                    job->input.kind == DCV_INPUT_PATH  ? "path "
                    : job->input.kind == DCV_INPUT_URL ? "url "
                                                       : "xfer ",
                    job->input.kind == DCV_INPUT_PATH  ? job->input.path
                    : job->input.kind == DCV_INPUT_URL ? job->input.url
                    : job->input.mode == DCV_FETCH_STREAM ? "stream" : "copy",
                    "");
        }
    }
    free(job);
    gc_jobs(w);
}

static void on_cancel(struct dcv_worker *w, const struct dcv_proto_msg *m)
{
    struct dcv_proto_cancel c;
    struct wjob *j;
    char err[512];

    if (dcv_proto_cancel_from_json(m->body, m->body_len, &c, err, sizeof err) < 0) {
        dcv_log(DCV_LOG_WARN, COMP, "invalid CANCEL ignored: %s", err);
        return;
    }
    if (strcmp(c.fence.session, w->hello->session) != 0) {
        dcv_log(DCV_LOG_DEBUG, COMP, "CANCEL %s for session %s ignored", c.fence.job_id,
                c.fence.session);
        return;
    }
    j = find_job(w, c.fence.job_id, c.fence.attempt);
    /* Already reported: its outcome is on its way, and a job carries one
     * final message only (the outbox entry points at it). */
    if (!j || !wjob_open(j)) {
        dcv_log(DCV_LOG_DEBUG, COMP, "CANCEL %s/%" PRId64 ": no such running attempt",
                c.fence.job_id, c.fence.attempt);
        return;
    }
    dcv_log(DCV_LOG_INFO, COMP, "job %s: cancel%s%s", j->tag, c.reason[0] ? ": " : "", c.reason);
    wjob_step(j, WJ_EV_CANCEL);
    dcv_runner_cancel(w->runner, j->proc, CANCEL_GRACE_MS);
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

    h->n_running = held_jobs(w, h->running, DCV_PROTO_MAX_JOBS);
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
    drop_transient(w);
    w->state = CONN_IDLE;
    if (at_once) {
        connect_now(w, now);
        return;
    }
    w->next_try_ms = now + jittered(w, w->backoff_ms);
    w->backoff_ms = w->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : w->backoff_ms * 2;
}

static void send_heartbeat(struct dcv_worker *w)
{
    struct dcv_proto_heartbeat *hb = calloc(1, sizeof *hb);
    struct dcv_telem_sample s;
    char *json = NULL, err[512];
    size_t len;

    if (!hb)
        return;
    hb->has_telemetry = 1;
    if (dcv_telem_sample(w->telem, &s) == 0) {
        dcv_telem_to_proto(&s, &hb->telemetry);
        admit(w, &s);
    } else {
        hb->telemetry.ncpu = 1;
    }
    if (w->s->disk_quota > 0) {
        /* The quota is what this worker may use: report it as the disk, so
         * the coordinator's copy-or-stream choice respects it. */
        int64_t used = dcv_workdir_usage(w->s->work_dir), left = w->s->disk_quota - used;
        if (left < 0)
            left = 0;
        if (hb->telemetry.disk_free > left || hb->telemetry.disk_total == 0)
            hb->telemetry.disk_free = left;
        hb->telemetry.disk_total = w->s->disk_quota;
        if (hb->telemetry.disk_free > hb->telemetry.disk_total)
            hb->telemetry.disk_free = hb->telemetry.disk_total;
    }
    hb->telemetry.slots_used = slots_used(w);
    hb->telemetry.busy = w->busy;
    snprintf(hb->telemetry.busy_reason, sizeof hb->telemetry.busy_reason, "%s",
             w->busy ? w->busy_reason : "");
    hb->telemetry.draining = w->draining;
    hb->telemetry.n_jobs = held_jobs(w, hb->telemetry.jobs, DCV_PROTO_MAX_JOBS);
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
    w->backoff_ms = BACKOFF_MIN_MS;
    w->hello_pending = 0;
    w->next_hb_ms = now;
    set_tick(w, (uint64_t)(w->hb_ivl_ms / 2 < TICK_MS ? w->hb_ivl_ms / 2 : TICK_MS));
    flush(w);
    /* Running attempts renew their leases at once. */
    for (struct wjob *j = w->jobs; j; j = j->next)
        if (wjob_open(j))
            send_progress(w, j, now);
}

static void on_drain(struct dcv_worker *w, const struct dcv_proto_msg *m)
{
    struct dcv_proto_drain d;
    char err[512];

    if (dcv_proto_drain_from_json(m->body, m->body_len, &d, err, sizeof err) < 0) {
        dcv_log(DCV_LOG_WARN, COMP, "invalid DRAIN ignored: %s", err);
        return;
    }
    if (!!d.draining != w->draining)
        dcv_log(DCV_LOG_INFO, COMP, "%s", d.draining ? "draining: no new jobs"
                                                     : "undrained: taking jobs again");
    w->draining = !!d.draining;
    send_heartbeat(w); /* the coordinator sees the new state without waiting */
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
        on_job(w, m);
        break;
    case DCV_CMD_CANCEL:
        on_cancel(w, m);
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
    gc_jobs(w);
}

/* ---- runner plumbing ------------------------------------------------------------------ */

static void on_child_fd(struct dcv_loop *loop, int fd, short revents, void *arg)
{
    struct dcv_worker *w = arg;
    struct pollfd p = {.fd = fd, .events = POLLIN, .revents = revents};

    (void)loop;
    dcv_runner_dispatch(w->runner, &p, 1);
    sync_fds(w);
    gc_jobs(w);
}

/* Keep the loop's fd watchers equal to the runner's fd set. Called after
 * every runner call that can open or close fds, before anything else can
 * reuse a closed fd's number. */
static void sync_fds(struct dcv_worker *w)
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
        sync_fds(w);
}

static void on_sigchld(struct dcv_loop *loop, const struct signalfd_siginfo *si, void *arg)
{
    struct dcv_worker *w = arg;
    (void)loop;
    (void)si;
    reap(w);
    sync_fds(w);
    gc_jobs(w);
}

/* ---- the tick --------------------------------------------------------------------------- */

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
            send_heartbeat(w);
            w->next_hb_ms = now + (uint64_t)w->hb_ivl_ms;
        }
        for (struct wjob *j = w->jobs; j; j = j->next) {
            if (!wjob_open(j))
                continue;
            /* New progress at most once a second; the latest again at
             * least once per heartbeat interval, to renew the lease. */
            if ((j->progress_new && now - j->progress_sent_ms >= PROGRESS_MIN_MS) ||
                now - j->progress_sent_ms >= (uint64_t)w->hb_ivl_ms)
                send_progress(w, j, now);
        }
        flush(w);
        break;
    }
    /* Its slot was freed at the final line; a process that does not go
     * away after it (hung in cleanup) must not hold the runner's room. */
    for (struct wjob *j = w->jobs; j; j = j->next)
        if (wjob_lingers(j, now)) {
            dcv_log(DCV_LOG_WARN, COMP, "job %s: process %ld still running %d s after its "
                                        "result; stopping it", j->tag, (long)j->pid,
                    LINGER_MS / 1000);
            wjob_step(j, WJ_EV_LINGER);
            dcv_runner_cancel(w->runner, j->proc, CANCEL_GRACE_MS);
        }
    gc_jobs(w);
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

/* ---- lifetime ------------------------------------------------------------------------------ */

int dcv_worker_new(struct dcv_loop *loop, struct dcv_net *net, struct dcv_conf *conf,
                   const struct dcv_worker_opts *opts, struct dcv_worker **out, char *err,
                   size_t errlen)
{
    struct dcv_worker *w;
    struct dcv_proto_hello *h;
    char hn[256];
    int r;

    *out = NULL;
    if (!loop || !net || !conf || !opts || !opts->coordinator || !opts->coordinator[0] ||
        !opts->self_exe || !opts->probe_json)
        return dcv_err(err, errlen, -EINVAL,
                       "worker: coordinator endpoint, self_exe and probe report are required");
    w = calloc(1, sizeof *w);
    if (!w || !(w->hello = calloc(1, sizeof *w->hello))) {
        free(w);
        return dcv_err(err, errlen, -ENOMEM, "out of memory");
    }
    w->loop = loop;
    w->net = net;
    w->conf = conf;
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

    /* Identity. */
    tokenize(h->worker_id, sizeof h->worker_id, w->s->name);
    if (!h->worker_id[0] || strcmp(h->worker_id, w->s->name) != 0) {
        r = dcv_err(err, errlen, -EINVAL,
                    "worker name '%s' is not a token (1..63 of A-Z a-z 0-9 . _ : -); set name "
                    "or DISTCONV_NAME",
                    w->s->name);
        goto fail;
    }
    if ((r = new_session(h->session, sizeof h->session)) < 0) {
        dcv_errf(err, errlen, "random session id: %s", strerror(-r));
        goto fail;
    }
    h->proto_min = 1;
    h->proto_max = 1;
    host_identity(h->host, sizeof h->host);
    if (gethostname(hn, sizeof hn) == 0) {
        hn[sizeof hn - 1] = '\0';
        dcv_text_sanitize(h->hostname, sizeof h->hostname, hn);
    }
    snprintf(h->version, sizeof h->version, "%s", PACKAGE_VERSION);
    h->slots = w->s->max_jobs;
    h->max_cpu_jobs = w->s->max_cpu_jobs;
    h->max_gpu_jobs = w->s->max_gpu_jobs;
    if ((r = hello_from_probe(h, opts->probe_json, err, errlen)) < 0)
        goto fail;
    if (opts->bench_json)
        hello_bench(h, opts->bench_json);
    if (h->n_devices == 0)
        dcv_log(DCV_LOG_WARN, COMP, "no encoder device found: this worker can take no job "
                                    "(see distconvd --probe)");

    /* Paths it reads directly. */
    for (unsigned i = 0; i < w->s->path_map.n; i++) {
        const char *e = strchr(w->s->path_map.v[i], '=');
        if (e)
            add_path(h, w->s->path_map.v[i], (size_t)(e - w->s->path_map.v[i]));
    }
    for (size_t i = 0; opts->local_prefixes && opts->local_prefixes[i]; i++)
        w->n_local++;
    if (w->n_local) {
        w->local = calloc(w->n_local, sizeof *w->local);
        if (!w->local) {
            r = dcv_err(err, errlen, -ENOMEM, "out of memory");
            goto fail;
        }
        for (size_t i = 0; i < w->n_local; i++) {
            snprintf(w->local[i], sizeof w->local[i], "%s", opts->local_prefixes[i]);
            add_path(h, w->local[i], strlen(w->local[i]));
        }
    }

    r = dcv_telem_new(&w->telem, NULL, w->s->work_dir, err, errlen);
    if (r < 0)
        goto fail;
    w->limits = admit_limits_of(w->s);
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
    if (w->sock && w->state == CONN_READY) {
        char err[128];
        dcv_sock_send_json(w->sock, NULL, DCV_CMD_DISCONNECT,
                           "{\"reason\":\"worker shutting down\"}", err, sizeof err);
    }
    if (w->runner) {
        /* TERM every job, give them the grace to clean up, then KILL. */
        uint64_t deadline = dcv_loop_now_ms() + SHUTDOWN_GRACE_MS + 1000;
        for (struct wjob *j = w->jobs; j; j = j->next)
            if (wjob_alive(j))
                dcv_runner_cancel(w->runner, j->proc, SHUTDOWN_GRACE_MS);
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
        dcv_runner_destroy(w->runner);
        w->runner = NULL;
        for (struct wjob *j = w->jobs; j; j = j->next)
            if (wjob_alive(j))
                job_gone(j);
    }
    for (size_t i = 0; i < w->n_watched; i++)
        dcv_loop_remove_fd(w->loop, w->watched[i]);
    if (w->sigchld)
        dcv_loop_remove_signal(w->loop, SIGCHLD);
    if (w->tick_id)
        dcv_loop_cancel_timer(w->loop, w->tick_id);
    close_sock(w);
    dcv_telem_free(w->telem);
    while (w->jobs) {
        struct wjob *j = w->jobs;
        w->jobs = j->next;
        free_job(j);
    }
    while (w->out_head) {
        struct outmsg *m = w->out_head;
        w->out_head = m->next;
        free(m->json);
        free(m);
    }
    free(w->watched);
    free(w->pfds);
    free(w->local);
    free(w->hello);
    free(w);
    *wp = NULL;
}

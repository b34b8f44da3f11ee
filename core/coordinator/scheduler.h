/*
 * The job scheduler: a pure function from (workers, cluster-wide session
 * counts, one job) to a placement, or to a per-worker explanation of why
 * the job has to wait. No I/O, no globals, no allocation: the coordinator
 * builds these views from its registry and the job store, and tests build
 * them by hand.
 *
 * Ownership: every pointer in the inputs is borrowed for the duration of
 * the call only. Threading: the functions touch nothing but their
 * arguments, so concurrent calls on distinct outputs are safe.
 */
#ifndef DCV_COORDINATOR_SCHEDULER_H
#define DCV_COORDINATOR_SCHEDULER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "distconv/plugin.h"

#define DCV_SCHED_ID_MAX 64   /* worker ids are shorter than this */
#define DCV_SCHED_KEY_MAX 256 /* session keys, see dcv_sched_session_key() */

enum dcv_sched_strategy {
    DCV_SCHED_LEAST_LOADED = 0, /* lowest slots_used/slots_total, then load */
    DCV_SCHED_ROUND_ROBIN = 1,  /* next eligible worker id after the cursor */
    DCV_SCHED_CAPABILITY = 2,   /* fastest / most free best-matching device */
};

/* One encoder device of a worker, as its probe reported it. */
struct dcv_sched_device {
    const char *plugin;                  /* family: "nvenc", "x265", "vaapi" */
    const struct dcv_device_caps *caps;  /* DCV_CAP_AVAILABLE, _HARDWARE, codecs, limits */
    double bench_fps; /* startup benchmark of this device, 0 = use the worker's */
};

struct dcv_sched_worker {
    const char *id; /* unique, < DCV_SCHED_ID_MAX bytes; ties are broken by it */
    /* Physical machine identity (the kernel boot_id is shared by containers
     * on one box): device ids such as "/dev/dri/renderD128" are only unique
     * within a host, and per-host session limits count across every worker
     * of that host. NULL or "" = device ids are taken as globally unique. */
    const char *host;
    bool healthy;  /* heartbeats arriving */
    bool draining; /* finishing its jobs, taking none */
    bool busy;     /* the worker's own admission control said no */
    uint32_t slots_total, slots_used;
    double load;      /* normalised: 1.0 = every core busy (PSI or loadavg/ncpu) */
    double mem_used;  /* fraction of memory in use, 0..1 */
    double bench_fps; /* startup benchmark, 0 = unknown */
    const struct dcv_sched_device *devices;
    size_t n_devices;
};

/* Sessions in use on one physical limit, across ALL workers sharing it.
 * The table must be sorted by key (strcmp), see dcv_sched_sessions_sort(). */
struct dcv_sched_session {
    const char *key; /* from dcv_sched_session_key() */
    uint32_t used;   /* ours plus, where NVML tells, other processes' */
    uint32_t limit;  /* 0 = the device's max_sessions; else an override that
                        wins when lower (e.g. lowered after an -EBUSY open) */
};

struct dcv_sched_job {
    const char *codec;    /* "h264", "hevc", ... */
    uint32_t bit_depth;   /* 0 = any, 8, 10 */
    /* "auto" (or NULL/"": hardware first, then software), "hw", "sw",
     * a plugin family ("nvenc", "x265") or an exact encoder ("hevc_nvenc"). */
    const char *encoder;
    double size_hint;     /* source duration (s) * width * height; 0 = unknown */
};

struct dcv_sched_input {
    const struct dcv_sched_worker *workers;
    size_t n_workers;
    const struct dcv_sched_session *sessions; /* sorted by key */
    size_t n_sessions;
    enum dcv_sched_strategy strategy;
    /* Jobs at least this big (size_hint) go to the fastest eligible worker
     * before the least loaded one. 0 = DCV_SCHED_BIG_JOB_DEFAULT. */
    double big_job_size;
    double max_load; /* refuse workers above this load, 0 = not checked */
    double max_mem;  /* refuse workers above this memory fraction, 0 = not checked */
};

/* One minute of 1080p. */
#define DCV_SCHED_BIG_JOB_DEFAULT (60.0 * 1920.0 * 1080.0)

/* Round-robin position, kept by the caller between decisions. Zero it to
 * start; it holds the id of the last worker chosen, so workers joining,
 * leaving or being reordered in the array do not break the cycle. */
struct dcv_sched_cursor {
    char last[DCV_SCHED_ID_MAX];
};

struct dcv_sched_result {
    int worker; /* index into workers, -1 when none */
    int device; /* index into that worker's devices */
    int codec;  /* index into that device's caps->codecs */
    /* Why nothing fitted, for GPU-exhausted policies: workers that have a
     * matching device at all, and how many of them were refused only on
     * session limits. */
    uint32_t n_capable;
    uint32_t n_session_blocked;
};

/*
 * Place one job. 0 with *out filled; -EAGAIN when no worker can take it
 * now, with `why` listing every worker and its reason, e.g.
 * "w2: draining; w3: no hevc encoder; w4: GPU-1234 sessions 3/3";
 * -EINVAL on malformed input, with the reason in `why`. cursor is read and
 * advanced for DCV_SCHED_ROUND_ROBIN (may be NULL: start from the first id).
 * Deterministic; O(workers * devices * log sessions).
 */
int dcv_sched_pick_worker(const struct dcv_sched_input *in, const struct dcv_sched_job *job,
                          struct dcv_sched_cursor *cursor, struct dcv_sched_result *out,
                          char *why, size_t whylen);

/*
 * A slot freed on worker `wi`: return the index (>= 0) of the first job of
 * jobs[0..n_jobs) (in the caller's priority order) that it can run now,
 * with *out filled; -EAGAIN when none fits (why says whether the worker
 * itself takes nothing or lists each job's reason); -EINVAL on bad input.
 */
int dcv_sched_pick_job(const struct dcv_sched_input *in, size_t wi,
                       const struct dcv_sched_job *jobs, size_t n_jobs,
                       struct dcv_sched_result *out, char *why, size_t whylen);

/*
 * The session-table key a device of worker w counts against: "host/device_id"
 * (or "device_id" without a host) for per-device limits, "host/plugin:NAME"
 * for per-host limits. Returns 0 with the key, 1 when the device has no
 * limit to count (scope unlimited; buf is set to ""), -ENAMETOOLONG or
 * -EINVAL otherwise. The coordinator increments the key's count on assign
 * and decrements it when the job ends.
 */
int dcv_sched_session_key(const struct dcv_sched_worker *w, const struct dcv_sched_device *d,
                          char *buf, size_t len);

/* Sort a session table in place by key, as dcv_sched_pick_*() require. */
void dcv_sched_sessions_sort(struct dcv_sched_session *s, size_t n);

#endif

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
    /* Hardware first where the job allows, then the device with the most
     * free encoder sessions (free/limit), big jobs to the fastest device
     * for the job's codec, then the earliest estimated finish, then least
     * loaded. */
    DCV_SCHED_GPU_AWARE = 3,
};

/* One startup-benchmark figure of a device: frames/s of a 1080p encode. */
struct dcv_sched_bench {
    const char *codec;
    double fps;
};

/* One encoder device of a worker, as its probe reported it. */
struct dcv_sched_device {
    const char *plugin;                  /* family: "nvenc", "x265", "vaapi" */
    const struct dcv_device_caps *caps;  /* DCV_CAP_AVAILABLE, _HARDWARE, codecs, limits */
    double bench_fps; /* startup benchmark of this device, 0 = use the worker's */
    /* Per-codec benchmark figures (preferred over bench_fps for that codec). */
    const struct dcv_sched_bench *bench;
    size_t n_bench;
    /* dcv_sched_session_key() of this device computed once by the caller
     * ("" = no limit to count); NULL = computed per decision. */
    const char *key;
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
    /* Job classes: a job placed on a DCV_CAP_HARDWARE device is a GPU job,
     * any other a CPU job; it needs a free total slot AND one of its class.
     * Limits 0 = slots_total. */
    uint32_t cpu_slots, gpu_slots;
    uint32_t cpu_used, gpu_used;
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
    uint32_t external; /* the part of `used` other software holds (for `why`) */
    /* limit is a hold after a refused session (-EBUSY): it wins even at 0. */
    bool hold;
};

/* One GPU's encoder-session count from a worker's telemetry (NVML). */
struct dcv_sched_gpu_obs {
    const char *key;      /* session key of that worker's device with this id */
    const char *phys;     /* physical identity, "host/device_id" */
    int64_t enc_sessions; /* sessions every process of the machine has open on it */
    uint32_t ours;        /* our jobs running on that physical device */
    int64_t at;           /* when reported: the newest report of a device wins */
};

struct dcv_sched_job {
    const char *codec;    /* "h264", "hevc", ... */
    uint32_t bit_depth;   /* 0 = any, 8, 10 */
    /* "auto" (or NULL/"": hardware first, then software), "hw", "sw",
     * a plugin family ("nvenc", "x265") or an exact encoder ("hevc_nvenc"). */
    const char *encoder;
    double size_hint;     /* source duration (s) * width * height; 0 = unknown */
};

/* At most this much of a GPU-exhausted summary ends up in the result. */
#define DCV_SCHED_DETAIL_MAX 256

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
    /* GPU-exhausted policy inputs, over the workers that take work at all:
     * those with an available hardware device the job may use for its
     * codec and depth; of them, those where such a device is free now, and
     * those where every such device is out of sessions or GPU slots. */
    uint32_t n_hw_capable, n_hw_free, n_hw_blocked;
    /* n_hw_blocked > 0 && n_hw_free == 0: the job's GPU choices are all
     * full. A job allowed software (auto) may still be placed there: the
     * caller decides by its policy whether that placement stands. */
    bool gpu_exhausted;
    bool hw; /* the placed device is a hardware one (a GPU job) */
    /* The blocked GPUs, each once: "GPU-ab12 3/3 (1 used by other
     * software), nvenc on host-a 8/8 per host". */
    char gpu_detail[DCV_SCHED_DETAIL_MAX];
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

/*
 * Sessions held by other software: for each physical device (phys) the
 * newest observation's max(0, enc_sessions - ours) is added to its key's
 * used and external counts (several workers of one host report the same
 * GPU: never summed; a per-host key sums over the host's GPUs). A key not
 * in s[0..*ns) is appended while *ns < cap, so s may need sorting after.
 * Sorts obs in place. Observations with enc_sessions < 0 or no key are
 * skipped. 0, or -ENOSPC when a key did not fit (the others are added).
 */
int dcv_sched_add_external(struct dcv_sched_session *s, size_t *ns, size_t cap,
                           struct dcv_sched_gpu_obs *obs, size_t nobs);

/* "least-loaded", "round-robin", "capability", "gpu-aware". */
const char *dcv_sched_strategy_name(enum dcv_sched_strategy s);

#endif

/*
 * Worker telemetry (DESIGN §9): Linux host figures sampled cheaply enough to
 * run at every heartbeat (2 s), with no threads. Rates (CPU %, network) are
 * deltas against the previous sample kept in the sampler, so the first sample
 * reports them unknown.
 *
 * Every field is "unknown" (DCV_TELEM_UNKNOWN, i.e. -1) when its source is
 * missing or malformed: PSI and temperature are routinely absent in VMs and
 * containers, and a bad /proc file must never stop the worker.
 *
 * All /proc and /sys reads go through a root prefix ("/" normally) so tests
 * can point the sampler at a fake tree. The work directory is a real path
 * (statvfs), not under the prefix. GPUs come from NVML (worker/nvml.h) once
 * dcv_telem_use_nvml() has opened it.
 */
#ifndef DCV_TELEMETRY_H
#define DCV_TELEMETRY_H

#include <stddef.h>
#include <stdint.h>

#include "worker/nvml.h"

#define DCV_TELEM_UNKNOWN (-1)

struct dcv_telem;
struct dcv_proto_telemetry;

/* Pressure stall information, % of wall time over the last 10 s. */
struct dcv_telem_psi {
    double some_avg10; /* 0..100, or -1 */
    double full_avg10; /* 0..100, or -1 (cpu has none on older kernels) */
};

struct dcv_telem_sample {
    double cpu_pct;           /* whole machine, 0..100 */
    size_t n_cores;           /* entries in core_pct (cpuN lines seen) */
    const double *core_pct;   /* owned by the sampler, valid until the next
                                 sample or free; entry -1 = unknown */
    int64_t ncpu;             /* cpuN lines in /proc/stat */
    double load1, load5, load15;
    int64_t mem_total, mem_avail;   /* bytes */
    int64_t swap_total, swap_free;  /* bytes */
    int64_t disk_total, disk_free;  /* bytes of the work dir's file system;
                                       free = available to unprivileged users */
    int psi_present;                /* /proc/pressure readable at all */
    struct dcv_telem_psi psi_cpu, psi_mem, psi_io;
    double temp_c;                  /* hottest CPU sensor, degrees C; an ACPI
                                       board zone only when no CPU sensor */
    double net_rx_bps, net_tx_bps;  /* bytes/s over all interfaces but lo */
    size_t n_gpus;                  /* NVML GPUs (0 without NVML) */
    const struct dcv_nvml_gpu *gpus; /* owned by the sampler, like core_pct */
};

/* root: prefix for /proc and /sys (NULL = "/"); it must be a directory.
 * workdir: file system to report (NULL = disk figures unknown). */
int dcv_telem_new(struct dcv_telem **out, const char *root, const char *workdir, char *err,
                  size_t errlen);
/* Sets *t to NULL; NULL and *t NULL are fine. */
void dcv_telem_free(struct dcv_telem **t);

/* Add GPU figures from NVML `library` (telemetry.nvml_library) to every
 * later sample. Opened once: on failure the sampler goes on without GPUs and
 * why says why (the caller logs it once; nothing is retried, so a machine
 * without NVIDIA's driver costs nothing per heartbeat). 0, or
 * dcv_nvml_open()'s error. */
int dcv_telem_use_nvml(struct dcv_telem *t, const char *library, char *why, size_t whylen);

/* Take a sample now (CLOCK_MONOTONIC). Fills *out; missing data is
 * unknown, not an error. Returns 0, or -ENOMEM. */
int dcv_telem_sample(struct dcv_telem *t, struct dcv_telem_sample *out);
/* The same with the caller's monotonic time in ms, for exact network rates in
 * tests. */
int dcv_telem_sample_at(struct dcv_telem *t, int64_t now_ms, struct dcv_telem_sample *out);

/* Admission thresholds; a value <= 0 disables that check, and a check whose
 * figure is unknown passes (absent PSI or sensors must not make a worker
 * permanently BUSY). */
struct dcv_telem_limits {
    double max_mem_pressure;   /* PSI memory some avg10, % */
    int64_t min_mem_avail;     /* bytes */
    double max_temp_c;         /* hottest CPU sensor */
    double max_load_per_core;  /* load1 / ncpu; checked when cpu pressure is
                                  off or PSI cpu is unknown (its fallback) */
    int64_t min_disk_free;     /* bytes of the work dir */
    double max_cpu_pressure;   /* PSI cpu some avg10, % */
    double max_io_pressure;    /* PSI io some avg10, % */
    double max_gpu_temp_c;     /* hottest NVML GPU */
};

enum { DCV_TELEM_OK = 0, DCV_TELEM_BUSY = 1 };

/* DCV_TELEM_BUSY with the first reason in reason[len] (e.g. "CPU temperature
 * 95.0 C above 90.0 C"), or DCV_TELEM_OK with reason set to "". */
int dcv_telem_admit(const struct dcv_telem_limits *lim, const struct dcv_telem_sample *s,
                    char *reason, size_t len);

/* Fill the machine fields of a HEARTBEAT telemetry (core/proto.h). The
 * required ones (cpu_pct, load1, ncpu, mem_*, disk_*) have no "unknown", so
 * unknowns become 0 (ncpu: 1); the optional ones (load5/15, swap_*, cores[]
 * at most DCV_PROTO_MAX_CORES, net_*, psi, temp_c, gpus[]) stay -1, which
 * the encoder leaves out; psi is sent only with all five figures known.
 * Values are clamped to the protocol's ranges. slots_used, busy,
 * busy_reason, draining and jobs are the caller's and are left untouched. */
void dcv_telem_to_proto(const struct dcv_telem_sample *s, struct dcv_proto_telemetry *out);

/* worker.disk_quota: the quota is what this worker may use, `used` bytes of
 * it taken (its work_dir). Reported as the disk (total = quota, free = what
 * is left, or the disk's own free space when that is less), so the
 * coordinator's copy-or-stream choice respects it. */
void dcv_telem_apply_quota(struct dcv_proto_telemetry *t, int64_t quota, int64_t used);

#endif

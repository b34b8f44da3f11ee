/*
 * promtext.c: pieces of the Prometheus text exposition format 0.0.4 that
 * the coordinator's /metrics (coordinator/http_metrics.c) and a worker's
 * own (worker/http_metrics.c) both write: escaping, family headers, the
 * process_* families, a machine's telemetry as its heartbeat carries it
 * (CPU, load, memory, temperature, NVML GPUs) and GPU encoder sessions.
 * Both daemons write the same family names with the same labels, so one
 * dashboard query reads either.
 *
 * A family's samples must follow its header without another family in
 * between: every writer here takes all the rows of its families at once.
 */
#ifndef DCV_PROMTEXT_H
#define DCV_PROMTEXT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct dcv_proto_telemetry;

/* A label value with backslash, double quote and newline escaped. */
void dcv_prom_label(FILE *f, const char *v);
/* # HELP and # TYPE lines. */
void dcv_prom_family(FILE *f, const char *name, const char *type, const char *help);
/* name{worker="W"} v */
void dcv_prom_worker_sample(FILE *f, const char *name, const char *worker, double v);

/* process_cpu_seconds_total, process_resident_memory_bytes,
 * process_open_fds and process_start_time_seconds (wall ms since the
 * epoch) of the calling process, as Prometheus client libraries name them. */
void dcv_prom_process(FILE *f, int64_t start_wall_ms);

/* One machine's telemetry, labelled worker="worker". */
struct dcv_prom_host {
    const char *worker;
    const struct dcv_proto_telemetry *tel;
};
/* distconv_worker_{cpu_percent,load1,memory_bytes,temperature_celsius} and
 * per NVML GPU distconv_gpu_{info,utilization_percent,memory_bytes,
 * temperature_celsius,power_watts}; a figure the telemetry leaves unknown
 * is left out. */
void dcv_prom_hosts(FILE *f, const struct dcv_prom_host *v, size_t n);

/* Encoder sessions of one physical GPU as one daemon counts them; -1 =
 * unknown (left out). */
struct dcv_prom_sessions {
    const char *worker, *gpu;
    int64_t used;  /* in use: our jobs plus other software's where NVML tells */
    int64_t other; /* the part of used other software holds */
    int64_t limit; /* what the scheduler lets open at most */
};
/* distconv_gpu_encoder_sessions{worker,gpu,kind="used"|"other"|"limit"}. */
void dcv_prom_gpu_sessions(FILE *f, const struct dcv_prom_sessions *v, size_t n);

struct dcv_http_reply;
/* A /metrics reply: write(ud, f) renders the text and returns 0, or
 * -ENOMEM for a 500 with a JSON error (so does a stream that failed). */
void dcv_prom_reply(struct dcv_http_reply *out, int (*write)(void *ud, FILE *f), void *ud);

#endif

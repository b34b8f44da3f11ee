/*
 * The startup benchmark in the background (issue 11): a worker registers
 * first and measures afterwards, so a fresh worker shows up in
 * `distconvctl workers` at once ("benchmarking") instead of after ~20 s of
 * silence. The figures follow in its heartbeats (docs/protocol.md,
 * HEARTBEAT.bench); until then the scheduler treats it as unknown speed.
 *
 * The measuring runs in a child process forked before the daemon starts
 * threads (the benchmark itself forks the probe's children, which is only
 * safe without threads), niced so jobs the worker takes meanwhile keep the
 * CPU, in its own process group and killed with its parent. It writes its
 * report to a pipe the worker's loop watches.
 */
#ifndef DCV_BGBENCH_H
#define DCV_BGBENCH_H

#include <stddef.h>

struct dcv_conf;
struct dcv_bgbench;

/* Forks the measuring child (dcv_bench_measure, saving STATE_DIR/
 * benchmark.json as the foreground step does). Call before any thread
 * exists. 0 with the handle in *out, or negative errno with the reason. */
int dcv_bgbench_start(struct dcv_conf *conf, unsigned probe_timeout_ms, struct dcv_bgbench **out,
                      char *err, size_t errlen);
/* The pipe to watch for input (non-blocking), -1 once finished. */
int dcv_bgbench_fd(const struct dcv_bgbench *b);
/* Reads what the pipe holds. 0: more to come. 1: finished (child reaped):
 * the report in *json_out (caller frees), or *json_out NULL and the reason
 * in err when the benchmark failed. */
int dcv_bgbench_read(struct dcv_bgbench *b, char **json_out, char *err, size_t errlen);
/* Kills a child still measuring, reaps it, frees. NULL and *b NULL ok. */
void dcv_bgbench_destroy(struct dcv_bgbench **b);

#endif

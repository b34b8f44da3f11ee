/*
 * The worker service (DESIGN §2, docs/protocol.md §3, §5): registers with
 * the coordinator (HELLO with the probe result), heartbeats with telemetry,
 * takes JOBs within its slots and runs each as a child process
 * (`distconvd --job`, see jobproc.h) through the runner: niced, its own
 * process group, TERM then KILL on cancel, PR_SET_PDEATHSIG, reaped. It
 * reconnects with back-off and jitter when the coordinator goes silent,
 * keeping its jobs running and listing them in the next HELLO.
 *
 * The capability probe (dcv_probe_all) forks without exec, so it cannot run
 * once the transport plugin has started its threads (dcv_net_open): the
 * caller probes first and hands the report over in opts->probe_json.
 *
 * Threading: the loop's thread only. SIGCHLD must reach the worker:
 * dcv_worker_new registers it on the loop (one owner of signals per loop).
 * Block SIGCHLD in the process before dcv_net_open() starts the transport's
 * threads (they inherit the mask), or a SIGCHLD taken by one of them is lost
 * to the signalfd; the worker also polls its children on every tick, so such
 * a loss would only delay a reap.
 *
 * Job processes are re-executed as `SELF_EXE [-c CONFIG] [-v|-q] --job SPEC`
 * (CONFIG: the absolute path of the loaded configuration file, so a job sees
 * the same plugin directory and plugin settings; the environment is
 * inherited).
 */
#ifndef DCV_WORKER_H
#define DCV_WORKER_H

#include <stddef.h>

struct dcv_conf;
struct dcv_loop;
struct dcv_net;
struct dcv_worker;
struct dcv_bgbench;

struct dcv_worker_opts {
    /* The coordinator's control endpoint (settings `coordinator`, or the
     * standalone coordinator's bound endpoint). */
    const char *coordinator;
    /* The distconvd binary job processes run (/proc/self/exe normally). */
    const char *self_exe;
    /* Extra coordinator-side path prefixes this worker reads directly, on
     * top of worker.path_map (standalone: the coordinator's state_dir,
     * mapped to itself). NULL-terminated, may be NULL. */
    const char *const *local_prefixes;
    /* The JSON report of dcv_probe_all() for this configuration: the
     * plugins and devices HELLO announces (encoder plugins only). Read
     * during dcv_worker_new() only. Required. */
    const char *probe_json;
    /* The startup benchmark's report (core/worker/encbench.h) whose
     * figures HELLO announces per device; NULL: none. Read during
     * dcv_worker_new() only. */
    const char *bench_json;
    /* The startup benchmark measuring in the background (bgbench.h):
     * HELLO says "benchmarking" and the figures follow in heartbeats.
     * dcv_worker_new() takes it over, also when it fails. NULL: none. */
    struct dcv_bgbench *bgbench;
};

int dcv_worker_new(struct dcv_loop *loop, struct dcv_net *net, struct dcv_conf *conf,
                   const struct dcv_worker_opts *opts, struct dcv_worker **out, char *err,
                   size_t errlen);
/* Sends DISCONNECT (best effort), cancels running job processes (TERM,
 * then KILL after a grace) and reaps them, closes sockets. NULL ok. */
void dcv_worker_free(struct dcv_worker **w);

#endif

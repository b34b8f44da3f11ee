/*
 * The job process: `distconvd --job SPEC` (internal; the worker runs it
 * through the runner, one process per attempt, see worker.h). SPEC and the
 * stdout lines it prints are described in jobspec.h.
 *
 * Steps: get the input (a local path; or a coordinator-held file fetched
 * whole into the work dir, or read on demand over the data plane), probe it,
 * pick the encoder exactly as the pipeline will and print `accept`, run the
 * pipeline (progress lines), verify the output (a video stream, duration
 * within max(1 s, 2%) of the expected one), upload it on the data plane with
 * the attempt's fence, print `done`. Any failure prints one `fail` line with
 * a protocol code (§3.5). SIGTERM/SIGINT cancel (fail `cancelled`), an
 * expired deadline fails `timeout`; the work dir is removed in every case.
 *
 * Uses fork-free code only; opens its own transport (dcv_net) for the data
 * plane.
 */
#ifndef DCV_WORKER_JOBPROC_H
#define DCV_WORKER_JOBPROC_H

struct dcv_conf;

/* Runs the whole job; returns the process exit status: 0 done, 1 failed
 * (a fail line was printed), 2 the SPEC is unusable (message on stderr, no
 * job line: there is no valid fence to print one with). */
int dcv_jobproc_main(struct dcv_conf *conf, const char *spec);

#endif

/*
 * The startup benchmark (DESIGN §6, issue 5): how many 1080p frames per
 * second each available device of each encoder plugin encodes, per codec,
 * so the scheduler can send large jobs to faster workers.
 *
 * Each measurement generates frames in process (a moving textured
 * gradient in the first pixel format the codec's caps list), sends them
 * through the same host session API the pipeline uses (dcv_enc_session_*)
 * for at most budget_ms, then drains the encoder: fps = packets out /
 * seconds from the first frame to the last packet (open time excluded).
 * Defaults everywhere else (preset, rate control, threads), like a job
 * that sets nothing.
 *
 * It runs in the capability probe's child processes (dcv_probe_run with an
 * extension), one plugin at a time so measurements do not compete for the
 * CPU: a driver that crashes or hangs costs that plugin's figures, never
 * the caller. Like the probe, it forks without exec: call it before the
 * process starts threads.
 *
 * Report (`distconvd --benchmark --json`, and STATE_DIR/benchmark.json):
 *   {"benchmark_ms":2000,"fingerprint":"<16 hex>","created":<unix s>,
 *    "results":[{"plugin":"x264","version":"..","device":0,"device_id":"cpu",
 *                "hardware":false,"codec":"h264","encoder":"libx264",
 *                "pix_fmt":"yuv420p","width":1920,"height":1080,
 *                "frames":40,"seconds":2.1,"fps":19.0},
 *               {..., "fps":-1, "error":"why it could not be measured"}],
 *    "plugins":[{"file":..,"name":..,"version":..,"status":..,"reason":..}]}
 */
#ifndef DCV_ENCBENCH_H
#define DCV_ENCBENCH_H

#include <stddef.h>

struct dcv_conf;
struct dcv_proto_bench;

/* Width and height of the generated clip (capped by a codec's maximum). */
#define DCV_BENCH_WIDTH 1920
#define DCV_BENCH_HEIGHT 1080

/* Measure every available device+codec of every encoder plugin in the
 * configured plugin_dir, budget_ms each. A plugin's child is killed when
 * it stays silent for probe_timeout_ms plus four budgets. 0 with the
 * report in *json_out (caller frees), or negative errno with the reason
 * in err (plugin_dir unreadable, out of memory). */
int dcv_bench_run(struct dcv_conf *conf, unsigned budget_ms, unsigned probe_timeout_ms,
                  char **json_out, char *err, size_t errlen);

/* The report as a table: plugin, device, codec, encoder, fps. */
int dcv_bench_format_text(const char *json, char **text_out);

/* What a cached report is valid for: the encoder plugins (names and
 * versions) whose probe succeeded, their available devices' ids, codecs
 * and encoders, the libavcodec version and the budget, from a probe report
 * (dcv_probe_all's JSON). 16 hex digits into out (>= 17 bytes). 0, or
 * -EINVAL when probe_json is not a probe report. */
int dcv_bench_fingerprint(const char *probe_json, unsigned budget_ms, char *out, size_t outlen);

/* STATE_DIR/benchmark.json: load returns 1 with the report in *json_out
 * when the file exists, parses and carries fingerprint fp; 0 when it is
 * absent or stale (why in err); negative errno on a read error. save
 * writes atomically (temporary file, rename). */
int dcv_bench_cache_load(const char *path, const char *fp, char **json_out, char *err,
                         size_t errlen);
int dcv_bench_cache_save(const char *path, const char *json, char *err, size_t errlen);

/* The worker's start-up step (role worker with worker.benchmark on), in two
 * halves so the measuring can run in the background (worker/bgbench.h).
 * cached: 1 with STATE_DIR/benchmark.json's report in *json_out (caller
 * frees) when its fingerprint matches probe_json, logging one info line per
 * figure; 0 when there is none to reuse (why logged); negative errno with
 * the reason in err when probe_json is not a probe report. measure:
 * measures (worker.benchmark_ms per device+codec), logs the figures and
 * saves them; 0 with the report in *json_out, or negative errno. */
int dcv_bench_cached(struct dcv_conf *conf, const char *probe_json, char **json_out, char *err,
                     size_t errlen);
int dcv_bench_measure(struct dcv_conf *conf, unsigned probe_timeout_ms, char **json_out,
                      char *err, size_t errlen);
/* The figures of one device in a report: up to cap {codec, fps} entries
 * with fps > 0 into out, their count in *n, and the best fps in *best (-1
 * when none). 0, or -EINVAL when json is not a report. */
int dcv_bench_figures(const char *json, const char *plugin, const char *device_id,
                      struct dcv_proto_bench *out, size_t cap, size_t *n, double *best);

#endif

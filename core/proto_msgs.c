/*
 * The wire codec's messages: the name tables, one field table and
 * descriptor per JSON body with its cross-field check, the command ->
 * descriptor table behind dcv_proto_encode/decode, and the typed
 * dcv_proto_X_to_json/from_json. The engine is proto_fields.c.
 */
#include "proto_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- names --------------------------------------------------------------- */

static const char *const code_names[] = {
    "busy", "nodev", "unsupported", "input", "encode", "io", "nospace",
    "transfer", "verify", "timeout", "cancelled", "stale", "protocol", "internal",
};
_Static_assert(sizeof(code_names) / sizeof(code_names[0]) == DCV_CODE_COUNT, "code names");

const char *dcv_proto_code_name(int code)
{
    return code >= 0 && code < DCV_CODE_COUNT ? code_names[code] : NULL;
}

static const char *const verb_names[] = {"submit", "status", "jobs", "cancel", "retry",
                                         "get", "workers", "worker", "drain", "undrain",
                                         "info", "rm", "purge", "token_create",
                                         "token_list", "token_revoke"};
_Static_assert(sizeof(verb_names) / sizeof(verb_names[0]) == DCV_VERB_COUNT, "verb names");

const char *dcv_proto_verb_name(int verb)
{
    return verb >= 0 && verb < DCV_VERB_COUNT ? verb_names[verb] : NULL;
}

static const char *const role_names[] = {"viewer", "submitter", "operator"};
_Static_assert(sizeof(role_names) / sizeof(role_names[0]) == DCV_ROLE_COUNT, "role names");

const char *dcv_proto_role_name(int role)
{
    return role >= 0 && role < DCV_ROLE_COUNT ? role_names[role] : NULL;
}

static const char *const state_names[] = {"queued", "assigned", "running", "verifying",
                                          "done", "failed", "cancelled"};
_Static_assert(sizeof(state_names) / sizeof(state_names[0]) == DCV_PROTO_STATE_COUNT,
               "job state names: DCV_PROTO_STATE_COUNT");

static const char *const kind_names[] = {"xfer", "path", "url"};
static const char *const mode_names[] = {"copy", "stream"};
static const char *const phase_names[] = {"fetch", "encode", "upload", "verify"};
static const char *const purpose_names[] = {"upload", "input", "output", "download"};
static const char *const submit_kind_names[] = {"upload", "path", "url"};
static const char *const prio_names[] = {"low", "normal", "high"};
static const char *const get_what_names[] = {"output", "input"};
static const char *const outcome_names[] = {"encoded", "skipped", "kept-original"};
static const char *const busy_names[] = {"none", "slot", "device"};
_Static_assert(sizeof(outcome_names) / sizeof(outcome_names[0]) == DCV_OUTCOME_COUNT,
               "outcome names follow enum dcv_proto_outcome");

const char *dcv_proto_outcome_name(int outcome)
{
    return outcome >= 0 && outcome < DCV_OUTCOME_COUNT ? outcome_names[outcome] : NULL;
}

/* ---- message tables ------------------------------------------------------ */

static int check_path(const char *p, const char *where, const char *key, char *err, size_t errlen)
{
    if (p[0] != '/')
        return fields_bad(err, errlen, where, key, "must be an absolute path");
    for (const char *s = p; (s = strstr(s, "/..")) != NULL; s += 3)
        if (s[3] == '/' || s[3] == '\0')
            return fields_bad(err, errlen, where, key, "must not contain '..'");
    return 0;
}

static int check_name(const char *n, const char *where, char *err, size_t errlen)
{
    if (strchr(n, '/') || strcmp(n, ".") == 0 || strcmp(n, "..") == 0)
        return fields_bad(err, errlen, where, "name", "must be a file name without '/'");
    return 0;
}

static int check_fence_all_or_none(const struct dcv_proto_fence *fc, const char *where, int need,
                                   char *err, size_t errlen)
{
    int have = (fc->job_id[0] != 0) + (fc->attempt != 0) + (fc->session[0] != 0);
    if (have != 0 && have != 3)
        return fields_bad(err, errlen, where, "job_id", "job_id, attempt and session go together");
    if (need > 0 && have == 0)
        return fields_bad(err, errlen, where, "job_id", "required for this purpose");
    if (need < 0 && have != 0)
        return fields_bad(err, errlen, where, "job_id", "not allowed for this purpose");
    return 0;
}

/* blob */
#define T struct dcv_proto_blob
static const struct field blob_f[] = {
    FINT(T, "xfer_id", xfer_id, 1, 1, DCV_PROTO_MAX_SIZE, 0),
    FINT(T, "size", size, 1, 0, DCV_PROTO_MAX_SIZE, -1),
    FSHA(T, "sha256", sha256, 1),
};
#undef T
static const struct desc blob_d = {"blob", blob_f, ARRAY_N(blob_f), sizeof(struct dcv_proto_blob), NULL, 0};

#define T struct dcv_proto_jobref
static const struct field jobref_f[] = {
    FJOBID(T, "job_id", job_id, 1),
    FINT(T, "attempt", attempt, 1, 1, DCV_PROTO_MAX_ATTEMPT, 0),
    FDBL(T, "progress", progress, 1, 0, 100, 0),
    FTOK(T, "plugin", plugin, 0),
    FSTR(T, "device_id", device_id, 0, 0),
};
#undef T
static const struct desc jobref_d = {"job", jobref_f, ARRAY_N(jobref_f), sizeof(struct dcv_proto_jobref), NULL, 0};

#define T struct dcv_proto_plugin
static const struct field plugin_f[] = {
    FTOK(T, "name", name, 1),
    FSTR(T, "version", version, 1, 0),
    FINT(T, "abi_minor", abi_minor, 1, 0, 65535, 0),
};
#undef T
static const struct desc plugin_d = {"plugin", plugin_f, ARRAY_N(plugin_f), sizeof(struct dcv_proto_plugin), NULL, 0};

#define T struct dcv_proto_bench
static const struct field bench_f[] = {
    FTOK(T, "codec", codec, 1),
    FDBL(T, "fps", fps, 1, 0, 1e6, 0),
};
#undef T
static const struct desc bench_d = {"bench", bench_f, ARRAY_N(bench_f), sizeof(struct dcv_proto_bench), NULL, 0};

#define T struct dcv_proto_device
static const struct field device_f[] = {
    FTOK(T, "plugin", plugin, 1),
    FDBL(T, "bench_fps", bench_fps, 0, 0, 1e6, -1),
    FARR(T, "bench", bench, n_bench, 0, &bench_d),
    {.name = "caps", .type = F_CAPS, .off = offsetof(T, caps)},
};
#undef T
static const struct desc device_d = {"device", device_f, ARRAY_N(device_f), sizeof(struct dcv_proto_device), NULL, 0};

#define T struct dcv_proto_devbench
static const struct field devbench_f[] = {
    FTOK(T, "plugin", plugin, 1),
    FSTR(T, "device_id", device_id, 1, 1),
    FDBL(T, "bench_fps", bench_fps, 1, -1, 1e6, -1),
    FARR(T, "bench", bench, n_bench, 0, &bench_d),
};
#undef T
static const struct desc devbench_d = {"bench", devbench_f, ARRAY_N(devbench_f), sizeof(struct dcv_proto_devbench), NULL, 0};

static int hello_check(const void *m, const char *where, char *err, size_t errlen)
{
    const struct dcv_proto_hello *h = m;
    char key[32];
    if (h->proto_min > h->proto_max)
        return fields_bad(err, errlen, where, "proto_max", "must be >= proto_min");
    for (size_t i = 0; i < h->n_paths; i++) {
        snprintf(key, sizeof(key), "paths[%zu]", i);
        if (check_path(h->paths[i], where, key, err, errlen) < 0)
            return -EINVAL;
    }
    return 0;
}
#define T struct dcv_proto_hello
static const struct field hello_f[] = {
    FTOK(T, "worker_id", worker_id, 1),
    FTOK(T, "session", session, 1),
    FINT(T, "proto_min", proto_min, 1, 1, 255, 0),
    FINT(T, "proto_max", proto_max, 1, 1, 255, 0),
    FTOK(T, "host", host, 1),
    FSTR(T, "hostname", hostname, 0, 0),
    FSTR(T, "version", version, 0, 0),
    FINT(T, "slots", slots, 1, 1, 1024, 0),
    FINT(T, "max_cpu_jobs", max_cpu_jobs, 0, 0, 1024, 0),
    FINT(T, "max_gpu_jobs", max_gpu_jobs, 0, 0, 1024, 0),
    FARR(T, "plugins", plugins, n_plugins, 1, &plugin_d),
    FARR(T, "devices", devices, n_devices, 1, &device_d),
    FARR(T, "running", running, n_running, 1, &jobref_d),
    FSARR(T, "paths", paths, n_paths, 0),
    FBOOL(T, "benchmarking", benchmarking, 0, 0),
};
#undef T
static const struct desc hello_d = {"HELLO", hello_f, ARRAY_N(hello_f), sizeof(struct dcv_proto_hello), hello_check, 0};

static int welcome_check(const void *m, const char *where, char *err, size_t errlen)
{
    const struct dcv_proto_welcome *w = m;
    if (w->chunk_max % 4096)
        return fields_bad(err, errlen, where, "chunk_max", "must be a multiple of 4096");
    if (!strstr(w->data_endpoint, "://"))
        return fields_bad(err, errlen, where, "data_endpoint", "expected an endpoint such as tcp://host:7401");
    return 0;
}
#define T struct dcv_proto_welcome
static const struct field welcome_f[] = {
    FTOK(T, "session", session, 1),
    FTOK(T, "coordinator_epoch", coordinator_epoch, 1),
    FINT(T, "proto", proto, 1, 1, 255, 0),
    FINT(T, "hb_ivl_ms", hb_ivl_ms, 1, 100, 60000, 0),
    FINT(T, "liveness", liveness, 1, 1, 100, 0),
    FINT(T, "chunk_max", chunk_max, 1, 4096, DCV_XFER_CHUNK_MAX_LIMIT, 0),
    FINT(T, "credit_chunks", credit_chunks, 1, 1, 4096, 0),
    FSTR(T, "data_endpoint", data_endpoint, 1, 1),
};
#undef T
static const struct desc welcome_d = {"WELCOME", welcome_f, ARRAY_N(welcome_f), sizeof(struct dcv_proto_welcome), welcome_check, 0};

static int telemetry_check(const void *m, const char *where, char *err, size_t errlen)
{
    const struct dcv_proto_telemetry *t = m;
    if (t->mem_avail > t->mem_total)
        return fields_bad(err, errlen, where, "mem_avail", "exceeds mem_total");
    if (t->disk_free > t->disk_total)
        return fields_bad(err, errlen, where, "disk_free", "exceeds disk_total");
    return 0;
}
#define T struct dcv_proto_psi
static const struct field psi_f[] = {
    FDBL(T, "cpu_some", cpu_some, 1, 0, 100, 0),
    FDBL(T, "mem_some", mem_some, 1, 0, 100, 0),
    FDBL(T, "mem_full", mem_full, 1, 0, 100, 0),
    FDBL(T, "io_some", io_some, 1, 0, 100, 0),
    FDBL(T, "io_full", io_full, 1, 0, 100, 0),
};
#undef T
static const struct desc psi_d = {"psi", psi_f, ARRAY_N(psi_f), sizeof(struct dcv_proto_psi), NULL, 0};

#define T struct dcv_proto_gpu
static const struct field gpu_f[] = {
    FSTR(T, "id", id, 1, 1),
    FSTR(T, "name", name, 0, 0),
    FSTR(T, "pci", pci, 0, 0),
    FDBL(T, "util_pct", util_pct, 0, -1, 100, -1),
    FDBL(T, "enc_pct", enc_pct, 0, -1, 100, -1),
    FDBL(T, "dec_pct", dec_pct, 0, -1, 100, -1),
    FINT(T, "mem_total", mem_total, 0, -1, DCV_PROTO_MAX_SIZE, -1),
    FINT(T, "mem_used", mem_used, 0, -1, DCV_PROTO_MAX_SIZE, -1),
    FDBL(T, "temp_c", temp_c, 0, -1, 200, -1),
    FDBL(T, "power_w", power_w, 0, -1, 10000, -1),
    FINT(T, "enc_sessions", enc_sessions, 0, -1, 65535, -1),
};
#undef T
static const struct desc gpu_d = {"gpu", gpu_f, ARRAY_N(gpu_f), sizeof(struct dcv_proto_gpu), NULL, 0};

#define T struct dcv_proto_telemetry
static const struct field telemetry_f[] = {
    FDBL(T, "cpu_pct", cpu_pct, 1, 0, 100, 0),
    FDBL(T, "load1", load1, 1, 0, 1e6, 0),
    FINT(T, "ncpu", ncpu, 1, 1, 65536, 0),
    FINT(T, "mem_total", mem_total, 1, 0, DCV_PROTO_MAX_SIZE, 0),
    FINT(T, "mem_avail", mem_avail, 1, 0, DCV_PROTO_MAX_SIZE, 0),
    FINT(T, "disk_total", disk_total, 1, 0, DCV_PROTO_MAX_SIZE, 0),
    FINT(T, "disk_free", disk_free, 1, 0, DCV_PROTO_MAX_SIZE, 0),
    FINT(T, "slots_used", slots_used, 1, 0, 1024, 0),
    FBOOL(T, "busy", busy, 1, 0),
    FBOOL(T, "draining", draining, 1, 0),
    FARR(T, "jobs", jobs, n_jobs, 1, &jobref_d),
    FSTR(T, "busy_reason", busy_reason, 0, 0),
    FDBL(T, "load5", load5, 0, -1, 1e6, -1),
    FDBL(T, "load15", load15, 0, -1, 1e6, -1),
    FINT(T, "swap_total", swap_total, 0, -1, DCV_PROTO_MAX_SIZE, -1),
    FINT(T, "swap_free", swap_free, 0, -1, DCV_PROTO_MAX_SIZE, -1),
    FDARR(T, "cores", cores, n_cores, 0, -1, 100),
    FDBL(T, "net_rx_bps", net_rx_bps, 0, -1, 1e15, -1),
    FDBL(T, "net_tx_bps", net_tx_bps, 0, -1, 1e15, -1),
    FSUB(T, "psi", psi, 0, &psi_d, offsetof(T, has_psi)),
    FDBL(T, "temp_c", temp_c, 0, -1, 200, -1),
    FARR(T, "gpus", gpus, n_gpus, 0, &gpu_d),
};
#undef T
static const struct desc telemetry_d = {"telemetry", telemetry_f, ARRAY_N(telemetry_f), sizeof(struct dcv_proto_telemetry), telemetry_check, 0};

#define T struct dcv_proto_heartbeat
static const struct field heartbeat_f[] = {
    FSUB(T, "telemetry", telemetry, 0, &telemetry_d, offsetof(T, has_telemetry)),
    FBOOL(T, "benchmarking", benchmarking, 0, 0),
    FARR(T, "bench", bench, n_bench, 0, &devbench_d),
};
#undef T
static const struct desc heartbeat_d = {"HEARTBEAT", heartbeat_f, ARRAY_N(heartbeat_f), sizeof(struct dcv_proto_heartbeat), NULL, 0};

static int input_check(const void *m, const char *where, char *err, size_t errlen)
{
    const struct dcv_proto_input *in = m;
    int rc;
    if (in->name[0] && (rc = check_name(in->name, where, err, errlen)) < 0)
        return rc;
    if (in->kind != DCV_INPUT_URL && (in->url[0] || in->protocols[0]))
        return fields_bad(err, errlen, where, "url", "only for kind url");
    if (in->kind != DCV_INPUT_PATH && in->mtime)
        return fields_bad(err, errlen, where, "mtime", "only for kind path");
    if (in->kind == DCV_INPUT_XFER) {
        if (in->blob.xfer_id == 0)
            return fields_bad(err, errlen, where, "xfer_id", "required for kind xfer");
        if (in->blob.size < 0)
            return fields_bad(err, errlen, where, "size", "required for kind xfer");
        if (!in->blob.sha256[0])
            return fields_bad(err, errlen, where, "sha256", "required for kind xfer");
        if (in->path[0])
            return fields_bad(err, errlen, where, "path", "not allowed for kind xfer");
        return 0;
    }
    if (in->kind == DCV_INPUT_URL) {
        if (!strstr(in->url, "://"))
            return fields_bad(err, errlen, where, "url", "required for kind url (scheme://...)");
        if (!in->protocols[0] || strspn(in->protocols, "abcdefghijklmnopqrstuvwxyz0123456789+-.,") !=
                                     strlen(in->protocols))
            return fields_bad(err, errlen, where, "protocols",
                       "required for kind url: comma-separated protocol names");
        if (in->blob.xfer_id || in->path[0])
            return fields_bad(err, errlen, where, "url", "kind url carries neither xfer_id nor path");
        return 0;
    }
    if (!in->path[0])
        return fields_bad(err, errlen, where, "path", "required for kind path");
    if (in->blob.xfer_id)
        return fields_bad(err, errlen, where, "xfer_id", "not allowed for kind path");
    return check_path(in->path, where, "path", err, errlen);
}
#define T struct dcv_proto_input
static const struct field input_f[] = {
    FENUM(T, "kind", kind, 1, kind_names, 0),
    FINT(T, "xfer_id", blob.xfer_id, 0, 1, DCV_PROTO_MAX_SIZE, 0),
    FINT(T, "size", blob.size, 0, 0, DCV_PROTO_MAX_SIZE, -1),
    FSHA(T, "sha256", blob.sha256, 0),
    FENUM(T, "mode", mode, 0, mode_names, DCV_FETCH_COPY),
    FSTR(T, "path", path, 0, 0),
    FSTR(T, "url", url, 0, 0),
    FSTR(T, "protocols", protocols, 0, 0),
    FSTR(T, "name", name, 0, 0),
    FINT(T, "mtime", mtime, 0, 1, DCV_PROTO_MAX_SIZE, 0),
};
#undef T
static const struct desc input_d = {"input", input_f, ARRAY_N(input_f), sizeof(struct dcv_proto_input), input_check, 0};

#define T struct dcv_proto_placement
static const struct field placement_f[] = {
    FTOK(T, "plugin", plugin, 1),
    FSTR(T, "device_id", device_id, 1, 1),
    FTOK(T, "codec", codec, 1),
    FTOK(T, "encoder", encoder, 1),
    FBOOL(T, "hw", hw, 0, 0),
    FBOOL(T, "fallback", fallback, 0, 0),
};
#undef T
static const struct desc placement_d = {"placement", placement_f, ARRAY_N(placement_f), sizeof(struct dcv_proto_placement), NULL, 0};

#define T struct dcv_proto_job
static const struct field job_f[] = {
    FENCE(T, 1),
    FSUB(T, "input", input, 1, &input_d, NOAUX),
    FFLAT(T, "profile", profile, 1),
    FINT(T, "deadline_ms", deadline_ms, 0, 1, INT64_MAX / 2, 0),
    FSUB(T, "placement", placement, 0, &placement_d, offsetof(T, has_placement)),
};
#undef T
static const struct desc job_d = {"JOB", job_f, ARRAY_N(job_f), sizeof(struct dcv_proto_job), NULL, 0};

#define T struct dcv_proto_accept
static const struct field accept_f[] = {
    FENCE(T, 1),
    FTOK(T, "plugin", plugin, 1),
    FTOK(T, "encoder", encoder, 1),
    FSTR(T, "device_id", device_id, 1, 1),
};
#undef T
static const struct desc accept_d = {"ACCEPT", accept_f, ARRAY_N(accept_f), sizeof(struct dcv_proto_accept), NULL, 0};

#define T struct dcv_proto_failure
#define FAILURE_FIELDS                                           \
    FENCE(T, 1),                                                 \
    FENUM(T, "code", code, 1, code_names, 0),                    \
    FSTR(T, "message", message, 1, 1),                           \
    FBOOL(T, "retryable", retryable, 1, 0),                      \
    FENUM(T, "busy", busy, 0, busy_names, 0),                    \
    FSARR(T, "log_tail", log_tail, n_log_tail, 0)
static const struct field reject_f[] = {FAILURE_FIELDS};
static const struct field fail_f[] = {FAILURE_FIELDS};
#undef T

/* Each line is bounded by the field; all of them together too, so a tail
 * stays a few KiB in the store and on a terminal. */
static int failure_check(const void *m, const char *where, char *err, size_t errlen)
{
    const struct dcv_proto_failure *f = m;
    size_t total = 0;
    for (size_t i = 0; i < f->n_log_tail; i++)
        total += strlen(f->log_tail[i]);
    if (total > DCV_PROTO_LOG_BYTES)
        return fields_bad(err, errlen, where, "log_tail", "holds %zu bytes, more than %u", total,
                          (unsigned)DCV_PROTO_LOG_BYTES);
    return 0;
}
static const struct desc reject_d = {"REJECT", reject_f, ARRAY_N(reject_f), sizeof(struct dcv_proto_failure), failure_check, 0};
static const struct desc fail_d = {"FAIL", fail_f, ARRAY_N(fail_f), sizeof(struct dcv_proto_failure), failure_check, 0};

#define T struct dcv_proto_progress
static const struct field progress_f[] = {
    FENCE(T, 1),
    FENUM(T, "phase", phase, 1, phase_names, 0),
    FDBL(T, "pct", pct, 1, 0, 100, 0),
    FINT(T, "frames", frames, 0, 0, DCV_PROTO_MAX_SIZE, -1),
    FDBL(T, "fps", fps, 0, 0, 1e6, -1),
    FINT(T, "frames_total", frames_total, 0, 0, DCV_PROTO_MAX_SIZE, -1),
    FDBL(T, "speed", speed, 0, 0, 1e6, -1),
};
#undef T
static const struct desc progress_d = {"PROGRESS", progress_f, ARRAY_N(progress_f), sizeof(struct dcv_proto_progress), NULL, 0};

/* Only an encoded outcome has an output; a skipped or kept-original job
 * leaves the source as the result, so an output there is a contradiction. */
static int done_check(const void *m, const char *where, char *err, size_t errlen)
{
    const struct dcv_proto_done *d = m;
    if (d->outcome == DCV_OUTCOME_ENCODED && !d->has_output)
        return fields_bad(err, errlen, where, "output", "required for outcome encoded");
    if (d->outcome != DCV_OUTCOME_ENCODED && d->has_output)
        return fields_bad(err, errlen, where, "output", "not allowed for outcome %s",
                   outcome_names[d->outcome]);
    return 0;
}
#define T struct dcv_proto_done
static const struct field done_f[] = {
    FENCE(T, 1),
    FSUB(T, "output", output, 0, &blob_d, offsetof(T, has_output)),
    FINT(T, "frames", frames, 0, 0, DCV_PROTO_MAX_SIZE, -1),
    FINT(T, "elapsed_ms", elapsed_ms, 0, 0, DCV_PROTO_MAX_SIZE, -1),
    FENUM(T, "outcome", outcome, 0, outcome_names, DCV_OUTCOME_ENCODED),
    FSTR(T, "note", note, 0, 0),
};
#undef T
static const struct desc done_d = {"DONE", done_f, ARRAY_N(done_f), sizeof(struct dcv_proto_done), done_check, 0};

#define T struct dcv_proto_cancel
static const struct field cancel_f[] = {
    FENCE(T, 1),
    FSTR(T, "reason", reason, 0, 0),
};
#undef T
static const struct desc cancel_d = {"CANCEL", cancel_f, ARRAY_N(cancel_f), sizeof(struct dcv_proto_cancel), NULL, 0};

#define T struct dcv_proto_drain
static const struct field drain_f[] = {FBOOL(T, "draining", draining, 1, 0)};
#undef T
static const struct desc drain_d = {"DRAIN", drain_f, ARRAY_N(drain_f), sizeof(struct dcv_proto_drain), NULL, 0};

#define T struct dcv_proto_disconnect
static const struct field disconnect_f[] = {FSTR(T, "reason", reason, 1, 1)};
#undef T
static const struct desc disconnect_d = {"DISCONNECT", disconnect_f, ARRAY_N(disconnect_f), sizeof(struct dcv_proto_disconnect), NULL, 0};

/* data plane */
static int xfer_open_check(const void *m, const char *where, char *err, size_t errlen)
{
    const struct dcv_proto_xfer_open *x = m;
    int worker = x->purpose == DCV_PURPOSE_INPUT || x->purpose == DCV_PURPOSE_OUTPUT;
    if (x->chunk_max % 4096)
        return fields_bad(err, errlen, where, "chunk_max", "must be a multiple of 4096");
    return check_fence_all_or_none(&x->fence, where, worker ? 1 : -1, err, errlen);
}
#define T struct dcv_proto_xfer_open
static const struct field offer_f[] = {
    FENUM(T, "purpose", purpose, 1, purpose_names, 0),
    FINT(T, "xfer_id", blob.xfer_id, 1, 1, DCV_PROTO_MAX_SIZE, 0),
    FINT(T, "size", blob.size, 1, 0, DCV_PROTO_MAX_SIZE, -1),
    FSHA(T, "sha256", blob.sha256, 1),
    FINT(T, "chunk_max", chunk_max, 1, 4096, DCV_XFER_CHUNK_MAX_LIMIT, 0),
    FENCE(T, 0),
};
/* The documented defaults (size -1 = unknown, chunk_max 0 = the sender's)
 * may also be sent as values: a client written from protocol.md does. */
static const struct field fetch_f[] = {
    FENUM(T, "purpose", purpose, 1, purpose_names, 0),
    FINT(T, "xfer_id", blob.xfer_id, 1, 1, DCV_PROTO_MAX_SIZE, 0),
    FINT(T, "size", blob.size, 0, -1, DCV_PROTO_MAX_SIZE, -1),
    FSHA(T, "sha256", blob.sha256, 0),
    FINT(T, "chunk_max", chunk_max, 0, 0, DCV_XFER_CHUNK_MAX_LIMIT, 0),
    FENCE(T, 0),
    /* FETCH only: an OFFER neither reads nor writes it */
    FBOOL(T, "range", range, 0, 0),
};
#undef T
static const struct desc offer_d = {"OFFER", offer_f, ARRAY_N(offer_f), sizeof(struct dcv_proto_xfer_open), xfer_open_check, 0};
static const struct desc fetch_d = {"FETCH", fetch_f, ARRAY_N(fetch_f), sizeof(struct dcv_proto_xfer_open), xfer_open_check, 0};

#define T struct dcv_proto_commit
static const struct field commit_f[] = {
    FINT(T, "xfer_id", xfer_id, 1, 1, DCV_PROTO_MAX_SIZE, 0),
    FBOOL(T, "ok", ok, 1, 0),
    FINT(T, "size", size, 1, 0, DCV_PROTO_MAX_SIZE, -1),
    FSHA(T, "sha256", sha256, 1),
};
#undef T
static const struct desc commit_d = {"COMMIT", commit_f, ARRAY_N(commit_f), sizeof(struct dcv_proto_commit), NULL, 0};

#define T struct dcv_proto_abort
static const struct field abort_f[] = {
    FINT(T, "xfer_id", xfer_id, 1, 1, DCV_PROTO_MAX_SIZE, 0),
    FENUM(T, "code", code, 1, code_names, 0),
    FSTR(T, "message", message, 1, 1),
};
#undef T
static const struct desc abort_d = {"ABORT", abort_f, ARRAY_N(abort_f), sizeof(struct dcv_proto_abort), NULL, 0};

/* admin plane */
#define T struct dcv_proto_args
static const struct field submit_input_f[] = {
    FENUM(T, "kind", input_kind, 1, submit_kind_names, 0),
    FINT(T, "xfer_id", blob.xfer_id, 0, 1, DCV_PROTO_MAX_SIZE, 0),
    FINT(T, "size", blob.size, 0, 0, DCV_PROTO_MAX_SIZE, -1),
    FSHA(T, "sha256", blob.sha256, 0),
    FSTR(T, "source", path, 0, 0),
    FSTR(T, "name", name, 0, 0),
};
static const struct desc submit_input_d = {"input", submit_input_f, ARRAY_N(submit_input_f), sizeof(struct dcv_proto_args), NULL, 0};
static const struct field args_f[] = {
    FJOBID(T, "job_id", job_id, 0),
    FTOK(T, "worker_id", worker_id, 0),
    FENUM(T, "state", state, 0, state_names, -1),
    FINT(T, "limit", limit, 0, 1, 10000, 0),
    FINT(T, "offset", offset, 0, 0, INT32_MAX, 0),
    FFLAT(T, "profile", profile, 0),
    /* off 0: the input object's fields live in the args struct itself */
    {.name = "input", .type = F_SUB, .req = 0, .off = 0, .sub = &submit_input_d, .aux = offsetof(T, has_input)},
    FENUM(T, "prio_class", prio_class, 0, prio_names, 1),
    FINT(T, "priority", priority, 0, -1000, 1000, 0),
    FINT(T, "max_attempts", max_attempts, 0, 1, 100, 0),
    FENUM(T, "what", what, 0, get_what_names, 0),
    FINT(T, "before_ms", before_ms, 0, 1, DCV_PROTO_MAX_SIZE, 0),
    FBOOL(T, "dry_run", dry_run, 0, 0),
    FSTR(T, "name", token_name, 0, 0),
    FENUM(T, "role", role, 0, role_names, -1),
};
#undef T
static const struct desc args_d = {"args", args_f, ARRAY_N(args_f), sizeof(struct dcv_proto_args), NULL, 0};

/* An API token's name: the rule of an allow-list NAME (auth.h), which the
 * codec cannot link: 1..63 of [A-Za-z0-9._-], not starting with '.' or '-'. */
static int token_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63 || s[0] == '.' || s[0] == '-')
        return 0;
    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

static int request_check(const void *m, const char *where0, char *err, size_t errlen)
{
    const struct dcv_proto_request *r = m;
    const struct dcv_proto_args *a = &r->args;
    char where[96];

    snprintf(where, sizeof(where), "%s.args", where0);
    if (a->token_name[0] && r->verb != DCV_VERB_TOKEN_CREATE && r->verb != DCV_VERB_TOKEN_REVOKE)
        return fields_bad(err, errlen, where, "name",
                          "only token_create and token_revoke take a name (a submit's file "
                          "name goes in input.name)");
    switch (r->verb) {
    case DCV_VERB_SUBMIT:
        if (!a->profile[0])
            return fields_bad(err, errlen, where, "profile", "required by submit");
        if (!a->has_input)
            return fields_bad(err, errlen, where, "input", "required by submit");
        snprintf(where, sizeof(where), "%s.args.input", where0);
        if (a->name[0] && check_name(a->name, where, err, errlen) < 0)
            return -EINVAL;
        switch (a->input_kind) {
        case DCV_SUBMIT_UPLOAD:
            if (!a->blob.xfer_id || a->blob.size < 0 || !a->blob.sha256[0])
                return fields_bad(err, errlen, where, "xfer_id", "kind upload needs xfer_id, size and sha256");
            if (a->path[0])
                return fields_bad(err, errlen, where, "source", "not allowed for kind upload");
            return 0;
        case DCV_SUBMIT_PATH:
            if (!a->path[0])
                return fields_bad(err, errlen, where, "source", "required for kind path");
            return check_path(a->path, where, "source", err, errlen);
        default:
            if (!strstr(a->path, "://"))
                return fields_bad(err, errlen, where, "source", "expected a URL (scheme://...)");
            return 0;
        }
    case DCV_VERB_PURGE:
        if (a->before_ms <= 0)
            return fields_bad(err, errlen, where, "before_ms", "required by purge");
        return 0;
    case DCV_VERB_TOKEN_CREATE:
        if (a->role < 0)
            return fields_bad(err, errlen, where, "role", "required by token_create");
        /* fall through */
    case DCV_VERB_TOKEN_REVOKE:
        if (!token_name_ok(a->token_name))
            return fields_bad(err, errlen, where, "name",
                              "required by %s: 1..63 of letters, digits, '.', '_', '-', "
                              "not starting with '.' or '-'", verb_names[r->verb]);
        return 0;
    case DCV_VERB_STATUS: case DCV_VERB_CANCEL: case DCV_VERB_RETRY: case DCV_VERB_GET:
    case DCV_VERB_RM:
        if (!a->job_id[0])
            return fields_bad(err, errlen, where, "job_id", "required by %s", verb_names[r->verb]);
        return 0;
    case DCV_VERB_WORKER: case DCV_VERB_DRAIN: case DCV_VERB_UNDRAIN:
        if (!a->worker_id[0])
            return fields_bad(err, errlen, where, "worker_id", "required by %s", verb_names[r->verb]);
        return 0;
    default:
        return 0;
    }
}

#define T struct dcv_proto_request
static const struct field request_f[] = {
    FTOK(T, "req_id", req_id, 1),
    FENUM(T, "verb", verb, 1, verb_names, 0),
    FKEY(T, "idempotency_key", idempotency_key, 0),
    FSUB(T, "args", args, 1, &args_d, NOAUX),
};
#undef T
static const struct desc request_d = {"REQUEST", request_f, ARRAY_N(request_f), sizeof(struct dcv_proto_request), request_check, 0};

static int reply_check(const void *m, const char *where, char *err, size_t errlen)
{
    const struct dcv_proto_reply *r = m;
    if (r->status != 200 && r->status != 202 && r->status != 400 && r->status != 403 &&
        r->status != 404 && r->status != 500)
        return fields_bad(err, errlen, where, "status", "expected one of 200|202|400|403|404|500");
    if (r->status >= 400 && !r->error[0])
        return fields_bad(err, errlen, where, "error", "required when status >= 400");
    return 0;
}
/* status is an int in the struct but int64 in the engine: a shadow field
 * would complicate the table, so REQUEST/FINAL go through small wrappers. */
struct reply_wire {
    char req_id[DCV_PROTO_ID];
    int64_t status;
    char error[DCV_PROTO_TEXT];
    char *body;
};
static int reply_wire_check(const void *m, const char *where, char *err, size_t errlen)
{
    const struct reply_wire *w = m;
    struct dcv_proto_reply r = {.status = (int)w->status};
    memcpy(r.error, w->error, sizeof(r.error));
    return reply_check(&r, where, err, errlen);
}
#define T struct reply_wire
static const struct field reply_f[] = {
    FTOK(T, "req_id", req_id, 1),
    FINT(T, "status", status, 1, 100, 599, 0),
    FSTR(T, "error", error, 0, 0),
    {.name = "body", .type = F_TEXT, .req = 0, .off = offsetof(T, body), .cap = DCV_PROTO_MAX_REPLY_BODY - 8192},
};
#undef T
static const struct desc partial_d = {"PARTIAL", reply_f, ARRAY_N(reply_f), sizeof(struct reply_wire), reply_wire_check, DCV_PROTO_MAX_REPLY_BODY};
static const struct desc final_d = {"FINAL", reply_f, ARRAY_N(reply_f), sizeof(struct reply_wire), reply_wire_check, DCV_PROTO_MAX_REPLY_BODY};

void dcv_proto_reply_clear(struct dcv_proto_reply *r)
{
    if (r) {
        free(r->body);
        r->body = NULL;
    }
}

static int reply_to(const struct desc *d, const struct dcv_proto_reply *m, char **out,
                    size_t *len, char *err, size_t errlen)
{
    struct reply_wire w;
    memset(&w, 0, sizeof(w));
    memcpy(w.req_id, m->req_id, sizeof(w.req_id));
    memcpy(w.error, m->error, sizeof(w.error));
    w.status = m->status;
    w.body = m->body;
    return fields_encode(d, &w, out, len, err, errlen);
}

static int reply_from(const struct desc *d, const void *body, size_t len,
                      struct dcv_proto_reply *out, char *err, size_t errlen)
{
    struct reply_wire w;
    int rc = fields_decode(d, body, len, &w, err, errlen);
    memset(out, 0, sizeof(*out));
    if (rc < 0)
        return rc;
    memcpy(out->req_id, w.req_id, sizeof(out->req_id));
    memcpy(out->error, w.error, sizeof(out->error));
    out->status = (int)w.status;
    out->body = w.body;
    return 0;
}

/* ---- public wrappers ----------------------------------------------------- */

#define DCV_PROTO_DEF(x, type, d)                                                        \
    int dcv_proto_##x##_to_json(const struct type *m, char **out, size_t *len, char *err, \
                                size_t errlen)                                           \
    {                                                                                    \
        return fields_encode(&d, m, out, len, err, errlen);                                     \
    }                                                                                    \
    int dcv_proto_##x##_from_json(const void *body, size_t len, struct type *out,        \
                                  char *err, size_t errlen)                              \
    {                                                                                    \
        return fields_decode(&d, body, len, out, err, errlen);                                  \
    }

/* ---- one entry by command ------------------------------------------------ */

/* The JSON body of each command; CREDIT and CHUNK carry binary records. */
static const struct {
    enum dcv_proto_plane plane;
    int cmd;
    const struct desc *d;
} codecs[] = {
    {DCV_PLANE_CONTROL, DCV_CMD_HELLO, &hello_d},
    {DCV_PLANE_CONTROL, DCV_CMD_WELCOME, &welcome_d},
    {DCV_PLANE_CONTROL, DCV_CMD_HEARTBEAT, &heartbeat_d},
    {DCV_PLANE_CONTROL, DCV_CMD_JOB, &job_d},
    {DCV_PLANE_CONTROL, DCV_CMD_ACCEPT, &accept_d},
    {DCV_PLANE_CONTROL, DCV_CMD_REJECT, &reject_d},
    {DCV_PLANE_CONTROL, DCV_CMD_PROGRESS, &progress_d},
    {DCV_PLANE_CONTROL, DCV_CMD_DONE, &done_d},
    {DCV_PLANE_CONTROL, DCV_CMD_FAIL, &fail_d},
    {DCV_PLANE_CONTROL, DCV_CMD_CANCEL, &cancel_d},
    {DCV_PLANE_CONTROL, DCV_CMD_DRAIN, &drain_d},
    {DCV_PLANE_CONTROL, DCV_CMD_DISCONNECT, &disconnect_d},
    {DCV_PLANE_DATA, DCV_CMD_OFFER, &offer_d},
    {DCV_PLANE_DATA, DCV_CMD_FETCH, &fetch_d},
    {DCV_PLANE_DATA, DCV_CMD_COMMIT, &commit_d},
    {DCV_PLANE_DATA, DCV_CMD_ABORT, &abort_d},
    {DCV_PLANE_ADMIN, DCV_CMD_REQUEST, &request_d},
    {DCV_PLANE_ADMIN, DCV_CMD_PARTIAL, &partial_d},
    {DCV_PLANE_ADMIN, DCV_CMD_FINAL, &final_d},
};

static const struct desc *codec_of(enum dcv_proto_plane plane, int cmd, char *err, size_t errlen)
{
    for (size_t i = 0; i < ARRAY_N(codecs); i++)
        if (codecs[i].plane == plane && codecs[i].cmd == cmd)
            return codecs[i].d;
    if (err && errlen)
        snprintf(err, errlen, "command 0x%02x has no JSON body on this plane", (unsigned)cmd & 0xffu);
    return NULL;
}

int dcv_proto_encode(enum dcv_proto_plane plane, int cmd, const void *msg, char **out, size_t *len,
                     char *err, size_t errlen)
{
    const struct desc *d = codec_of(plane, cmd, err, errlen);
    if (!d)
        return -EINVAL;
    if (d == &partial_d || d == &final_d)
        return reply_to(d, msg, out, len, err, errlen);
    return fields_encode(d, msg, out, len, err, errlen);
}

int dcv_proto_decode(enum dcv_proto_plane plane, int cmd, const void *body, size_t len, void *out,
                     char *err, size_t errlen)
{
    const struct desc *d = codec_of(plane, cmd, err, errlen);
    if (!d)
        return -EINVAL;
    if (d == &partial_d || d == &final_d)
        return reply_from(d, body, len, out, err, errlen);
    return fields_decode(d, body, len, out, err, errlen);
}

DCV_PROTO_DEF(hello, dcv_proto_hello, hello_d)
DCV_PROTO_DEF(welcome, dcv_proto_welcome, welcome_d)
DCV_PROTO_DEF(heartbeat, dcv_proto_heartbeat, heartbeat_d)
DCV_PROTO_DEF(job, dcv_proto_job, job_d)
DCV_PROTO_DEF(accept, dcv_proto_accept, accept_d)
DCV_PROTO_DEF(reject, dcv_proto_failure, reject_d)
DCV_PROTO_DEF(progress, dcv_proto_progress, progress_d)
DCV_PROTO_DEF(done, dcv_proto_done, done_d)
DCV_PROTO_DEF(fail, dcv_proto_failure, fail_d)
DCV_PROTO_DEF(cancel, dcv_proto_cancel, cancel_d)
DCV_PROTO_DEF(drain, dcv_proto_drain, drain_d)
DCV_PROTO_DEF(disconnect, dcv_proto_disconnect, disconnect_d)
DCV_PROTO_DEF(offer, dcv_proto_xfer_open, offer_d)
DCV_PROTO_DEF(fetch, dcv_proto_xfer_open, fetch_d)
DCV_PROTO_DEF(commit, dcv_proto_commit, commit_d)
DCV_PROTO_DEF(abort, dcv_proto_abort, abort_d)
DCV_PROTO_DEF(request, dcv_proto_request, request_d)

int dcv_proto_partial_to_json(const struct dcv_proto_reply *m, char **out, size_t *len,
                              char *err, size_t errlen)
{
    return reply_to(&partial_d, m, out, len, err, errlen);
}
int dcv_proto_partial_from_json(const void *body, size_t len, struct dcv_proto_reply *out,
                                char *err, size_t errlen)
{
    return reply_from(&partial_d, body, len, out, err, errlen);
}
int dcv_proto_final_to_json(const struct dcv_proto_reply *m, char **out, size_t *len, char *err,
                            size_t errlen)
{
    return reply_to(&final_d, m, out, len, err, errlen);
}
int dcv_proto_final_from_json(const void *body, size_t len, struct dcv_proto_reply *out,
                              char *err, size_t errlen)
{
    return reply_from(&final_d, body, len, out, err, errlen);
}

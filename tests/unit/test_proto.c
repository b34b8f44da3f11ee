/*
 * Wire protocol codec: round trips of every message, and refusal (with the
 * message and field named) of everything docs/protocol.md forbids.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "proto.h"
#include "tap.h"

static char err[512];

#define JOBID "0123456789abcdef0123456789abcdef"
#define SHA "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* One generic view of the per-message functions, for the table tests. */
typedef int (*from_fn)(const void *, size_t, void *, char *, size_t);
#define WRAP(x, type)                                                                 \
    static int from_##x(const void *b, size_t l, void *o, char *e, size_t el)         \
    {                                                                                 \
        return dcv_proto_##x##_from_json(b, l, (struct type *)o, e, el);              \
    }
WRAP(hello, dcv_proto_hello)
WRAP(welcome, dcv_proto_welcome)
WRAP(heartbeat, dcv_proto_heartbeat)
WRAP(job, dcv_proto_job)
WRAP(accept, dcv_proto_accept)
WRAP(reject, dcv_proto_failure)
WRAP(progress, dcv_proto_progress)
WRAP(done, dcv_proto_done)
WRAP(fail, dcv_proto_failure)
WRAP(cancel, dcv_proto_cancel)
WRAP(drain, dcv_proto_drain)
WRAP(disconnect, dcv_proto_disconnect)
WRAP(offer, dcv_proto_xfer_open)
WRAP(fetch, dcv_proto_xfer_open)
WRAP(commit, dcv_proto_commit)
WRAP(abort, dcv_proto_abort)
WRAP(request, dcv_proto_request)

static int from_final(const void *b, size_t l, void *o, char *e, size_t el)
{
    struct dcv_proto_reply *r = o;
    int rc = dcv_proto_final_from_json(b, l, r, e, el);
    dcv_proto_reply_clear(r);
    return rc;
}

static void *scratch; /* big enough for any message struct */

static int try(from_fn fn, const char *json)
{
    err[0] = '\0';
    return fn(json, strlen(json), scratch, err, sizeof(err));
}

#define DEVICE                                                                             \
    "{\"plugin\":\"x264\",\"bench_fps\":120.5,\"available\":true,\"hardware\":false,"      \
    "\"hw_type\":\"none\",\"device_id\":\"cpu\",\"device_name\":\"x264 (CPU)\","           \
    "\"max_sessions\":0,\"sessions_scope\":\"unlimited\",\"sessions_source\":\"none\","    \
    "\"flags\":[\"ten-bit\"],\"unavailable_reason\":\"\",\"codecs\":[{\"codec\":\"h264\"," \
    "\"encoder\":\"libx264\",\"profiles\":\"high\",\"max_width\":16384,"                   \
    "\"max_height\":16384,\"bit_depths\":[8,10],\"pix_fmts\":[\"yuv420p\"]}]}"

#define TELEMETRY                                                                          \
    "{\"cpu_pct\":12.5,\"load1\":0.7,\"ncpu\":8,\"mem_total\":1000,\"mem_avail\":500,"     \
    "\"disk_total\":2000,\"disk_free\":100,\"slots_used\":1,\"busy\":false,"              \
    "\"draining\":false,\"jobs\":[{\"job_id\":\"" JOBID "\",\"attempt\":1,\"progress\":5}]}"

#define FENCE_JSON "\"job_id\":\"" JOBID "\",\"attempt\":2,\"session\":\"s-1\""

struct sample {
    const char *name;
    from_fn fn;
    const char *json;       /* valid, with every field */
    const char *required;   /* space-separated required top-level keys */
};

static const struct sample samples[] = {
    {"HELLO", from_hello,
     "{\"worker_id\":\"w1\",\"session\":\"ab12\",\"proto_min\":1,\"proto_max\":1,"
     "\"host\":\"boot-1\",\"hostname\":\"box\",\"version\":\"0.1.0\",\"slots\":2,"
     "\"plugins\":[{\"name\":\"enc-x264\",\"version\":\"1.0\",\"abi_minor\":0}],"
     "\"devices\":[" DEVICE "],"
     "\"running\":[{\"job_id\":\"" JOBID "\",\"attempt\":1,\"progress\":50}],"
     "\"paths\":[\"/srv/media\",\"/var/lib/distconv\"]}",
     "worker_id session proto_min proto_max host slots plugins devices running"},
    {"WELCOME", from_welcome,
     "{\"session\":\"ab12\",\"coordinator_epoch\":\"e1\",\"proto\":1,\"hb_ivl_ms\":2000,"
     "\"liveness\":3,\"chunk_max\":1048576,\"credit_chunks\":8,"
     "\"data_endpoint\":\"tcp://127.0.0.1:7401\"}",
     "session coordinator_epoch proto hb_ivl_ms liveness chunk_max credit_chunks data_endpoint"},
    {"HEARTBEAT", from_heartbeat, "{\"telemetry\":" TELEMETRY "}", ""},
    {"JOB", from_job,
     "{" FENCE_JSON ",\"input\":{\"kind\":\"xfer\",\"xfer_id\":42,\"size\":1000,"
     "\"sha256\":\"" SHA "\",\"mode\":\"stream\",\"name\":\"in.mp4\"},"
     "\"profile\":{\"codec\":\"hevc\",\"crf\":24,\"preset\":\"fast\",\"x\":true,\"q\":1.5},"
     "\"deadline_ms\":1700000000000}",
     "job_id attempt session input profile"},
    {"ACCEPT", from_accept,
     "{" FENCE_JSON ",\"plugin\":\"x265\",\"encoder\":\"libx265\",\"device_id\":\"cpu\"}",
     "job_id attempt session plugin encoder device_id"},
    {"REJECT", from_reject,
     "{" FENCE_JSON ",\"code\":\"busy\",\"message\":\"no session\",\"retryable\":true}",
     "job_id attempt session code message retryable"},
    {"PROGRESS", from_progress,
     "{" FENCE_JSON ",\"phase\":\"encode\",\"pct\":33.5,\"frames\":100,\"fps\":60,"
     "\"frames_total\":300,\"speed\":2.4}",
     "job_id attempt session phase pct"},
    {"DONE", from_done,
     "{" FENCE_JSON ",\"output\":{\"xfer_id\":7,\"size\":10,\"sha256\":\"" SHA "\"},"
     "\"frames\":300,\"elapsed_ms\":1234}",
     "job_id attempt session output"},
    {"FAIL", from_fail,
     "{" FENCE_JSON ",\"code\":\"encode\",\"message\":\"boom\",\"retryable\":false}",
     "job_id attempt session code message retryable"},
    {"CANCEL", from_cancel, "{" FENCE_JSON ",\"reason\":\"operator\"}",
     "job_id attempt session"},
    {"DRAIN", from_drain, "{\"draining\":true}", "draining"},
    {"DISCONNECT", from_disconnect, "{\"reason\":\"bye\"}", "reason"},
    {"OFFER", from_offer,
     "{\"purpose\":\"output\",\"xfer_id\":9,\"size\":100,\"sha256\":\"" SHA "\","
     "\"chunk_max\":1048576," FENCE_JSON "}",
     "purpose xfer_id size sha256 chunk_max"},
    {"FETCH", from_fetch,
     "{\"purpose\":\"input\",\"xfer_id\":9,\"size\":100,\"sha256\":\"" SHA "\","
     "\"chunk_max\":65536," FENCE_JSON ",\"range\":true}",
     "purpose xfer_id"},
    {"COMMIT", from_commit,
     "{\"xfer_id\":9,\"ok\":true,\"size\":100,\"sha256\":\"" SHA "\"}",
     "xfer_id ok size sha256"},
    {"ABORT", from_abort, "{\"xfer_id\":9,\"code\":\"transfer\",\"message\":\"stall\"}",
     "xfer_id code message"},
    {"REQUEST", from_request,
     "{\"req_id\":\"r1\",\"verb\":\"submit\",\"idempotency_key\":\"k-1/x\",\"args\":{"
     "\"profile\":{\"codec\":\"h264\"},\"input\":{\"kind\":\"upload\",\"xfer_id\":5,"
     "\"size\":10,\"sha256\":\"" SHA "\",\"name\":\"a.mkv\"},\"prio_class\":\"high\","
     "\"priority\":5,\"max_attempts\":3}}",
     "req_id verb args"},
    {"FINAL", from_final,
     "{\"req_id\":\"r1\",\"status\":404,\"error\":\"no such job\",\"body\":{\"a\":[1,2]}}",
     "req_id status"},
};

/* ---- round trips ----------------------------------------------------------- */

/* parse the sample, emit it, parse that, emit again: the two texts agree and
 * every key of the sample survives. */
#define ROUND(x, type, idx)                                                               \
    do {                                                                                  \
        struct type *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));               \
        char *j1 = NULL, *j2 = NULL;                                                      \
        size_t l1 = 0, l2 = 0;                                                            \
        const char *src = samples[idx].json;                                              \
        int rc = dcv_proto_##x##_from_json(src, strlen(src), a, err, sizeof(err));        \
        if (!tap_ok(rc == 0, "%s: sample parses", samples[idx].name))                     \
            tap_diag("  %s", err);                                                        \
        rc = dcv_proto_##x##_to_json(a, &j1, &l1, err, sizeof(err));                      \
        if (!tap_ok(rc == 0 && j1 && strlen(j1) == l1, "%s: emits", samples[idx].name))   \
            tap_diag("  %s", err);                                                        \
        rc = j1 ? dcv_proto_##x##_from_json(j1, l1, b, err, sizeof(err)) : -1;            \
        if (rc == 0)                                                                      \
            rc = dcv_proto_##x##_to_json(b, &j2, &l2, err, sizeof(err));                  \
        TAP_OK(rc == 0 && j2 && strcmp(j1, j2) == 0, "%s: round trip is stable",          \
               samples[idx].name);                                                        \
        TAP_OK(j1 && same_keys(src, j1), "%s: every field survives", samples[idx].name);  \
        free(j1);                                                                         \
        free(j2);                                                                         \
        free(a);                                                                          \
        free(b);                                                                          \
    } while (0)

/* Every key (recursively) of want is in got with an equal value (numbers
 * compared as doubles: 50 and 50.0 are the same on the wire). */
static int same_value(struct json_object *w, struct json_object *g)
{
    enum json_type tw = json_object_get_type(w), tg = json_object_get_type(g);
    if ((tw == json_type_int || tw == json_type_double) &&
        (tg == json_type_int || tg == json_type_double))
        return json_object_get_double(w) == json_object_get_double(g);
    if (tw != tg)
        return 0;
    if (tw == json_type_object) {
        json_object_object_foreach(w, k, v)
        {
            struct json_object *gv;
            if (!json_object_object_get_ex(g, k, &gv) || !same_value(v, gv)) {
                tap_diag("  key %s differs", k);
                return 0;
            }
        }
        return 1;
    }
    if (tw == json_type_array) {
        size_t n = json_object_array_length(w);
        if (n != json_object_array_length(g))
            return 0;
        for (size_t i = 0; i < n; i++)
            if (!same_value(json_object_array_get_idx(w, i), json_object_array_get_idx(g, i)))
                return 0;
        return 1;
    }
    return json_object_equal(w, g);
}

static int same_keys(const char *want, const char *got)
{
    struct json_object *w = json_tokener_parse(want), *g = json_tokener_parse(got);
    int ok = w && g && same_value(w, g);
    json_object_put(w);
    json_object_put(g);
    return ok;
}

static void test_round_trips(void)
{
    ROUND(hello, dcv_proto_hello, 0);
    ROUND(welcome, dcv_proto_welcome, 1);
    ROUND(heartbeat, dcv_proto_heartbeat, 2);
    ROUND(job, dcv_proto_job, 3);
    ROUND(accept, dcv_proto_accept, 4);
    ROUND(reject, dcv_proto_failure, 5);
    ROUND(progress, dcv_proto_progress, 6);
    ROUND(done, dcv_proto_done, 7);
    ROUND(fail, dcv_proto_failure, 8);
    ROUND(cancel, dcv_proto_cancel, 9);
    ROUND(drain, dcv_proto_drain, 10);
    ROUND(disconnect, dcv_proto_disconnect, 11);
    ROUND(offer, dcv_proto_xfer_open, 12);
    ROUND(fetch, dcv_proto_xfer_open, 13);
    ROUND(commit, dcv_proto_commit, 14);
    ROUND(abort, dcv_proto_abort, 15);
    ROUND(request, dcv_proto_request, 16);

    /* replies own their body */
    struct dcv_proto_reply r, r2;
    char *j = NULL;
    size_t l = 0;
    const char *src = samples[17].json;
    int rc = dcv_proto_final_from_json(src, strlen(src), &r, err, sizeof(err));
    TAP_OK(rc == 0 && r.status == 404 && r.body && strstr(r.body, "[1,2]"), "FINAL parses");
    rc = dcv_proto_final_to_json(&r, &j, &l, err, sizeof(err));
    TAP_OK(rc == 0 && same_keys(src, j), "FINAL round trip");
    free(j);
    j = NULL;
    rc = dcv_proto_partial_to_json(&r, &j, &l, err, sizeof(err));
    TAP_OK(rc == 0, "PARTIAL emits");
    rc = j ? dcv_proto_partial_from_json(j, l, &r2, err, sizeof(err)) : -1;
    TAP_OK(rc == 0 && r2.status == 404 && strcmp(r2.error, "no such job") == 0,
           "PARTIAL round trip");
    dcv_proto_reply_clear(&r2);
    free(j);
    dcv_proto_reply_clear(&r);
    TAP_OK(r.body == NULL, "reply_clear resets the body");

    /* spot checks of parsed values */
    struct dcv_proto_hello *h = calloc(1, sizeof(*h));
    rc = dcv_proto_hello_from_json(samples[0].json, strlen(samples[0].json), h, err, sizeof(err));
    TAP_OK(rc == 0 && h->n_devices == 1 && strcmp(h->devices[0].plugin, "x264") == 0 &&
               strcmp(h->devices[0].caps.device_id, "cpu") == 0 &&
               h->devices[0].caps.n_codecs == 1 && h->devices[0].bench_fps == 120.5 &&
               h->n_running == 1 && h->running[0].progress == 50 && h->slots == 2,
           "HELLO values (devices through caps_json)");
    free(h);

    struct dcv_proto_job job;
    rc = dcv_proto_job_from_json(samples[3].json, strlen(samples[3].json), &job, err,
                                 sizeof(err));
    TAP_OK(rc == 0 && job.fence.attempt == 2 && job.input.kind == DCV_INPUT_XFER &&
               job.input.mode == DCV_FETCH_STREAM && job.input.blob.xfer_id == 42 &&
               strcmp(job.input.blob.sha256, SHA) == 0 && strstr(job.profile, "\"crf\":24"),
           "JOB values");

    /* optional fields read as their absent values and are omitted again */
    struct dcv_proto_progress p;
    const char *minimal = "{" FENCE_JSON ",\"phase\":\"fetch\",\"pct\":0}";
    rc = dcv_proto_progress_from_json(minimal, strlen(minimal), &p, err, sizeof(err));
    TAP_OK(rc == 0 && p.frames == -1 && p.fps == -1 && p.frames_total == -1 && p.speed == -1,
           "PROGRESS optional fields absent");
    j = NULL;
    rc = dcv_proto_progress_to_json(&p, &j, &l, err, sizeof(err));
    TAP_OK(rc == 0 && !strstr(j, "frames") && !strstr(j, "fps") && !strstr(j, "speed"),
           "absent fields are omitted");
    free(j);
    rc = dcv_proto_progress_from_json(samples[6].json, strlen(samples[6].json), &p, err,
                                      sizeof(err));
    TAP_OK(rc == 0 && p.frames == 100 && p.frames_total == 300 && p.speed == 2.4,
           "PROGRESS frames_total and speed");

    struct dcv_proto_heartbeat hb;
    rc = dcv_proto_heartbeat_from_json("{}", 2, &hb, err, sizeof(err));
    TAP_OK(rc == 0 && !hb.has_telemetry, "HEARTBEAT {} (coordinator side)");

    /* The background benchmark's figures (HEARTBEAT.benchmarking, .bench). */
    {
        static const char bj[] =
            "{\"benchmarking\":false,\"bench\":[{\"plugin\":\"x264\",\"device_id\":\"cpu\","
            "\"bench_fps\":21.5,\"bench\":[{\"codec\":\"h264\",\"fps\":21.5}]},"
            "{\"plugin\":\"nvenc\",\"device_id\":\"GPU-1\",\"bench_fps\":-1}]}";
        rc = dcv_proto_heartbeat_from_json(bj, strlen(bj), &hb, err, sizeof(err));
        TAP_OK(rc == 0 && hb.n_bench == 2 && hb.bench[0].bench_fps == 21.5 &&
                   hb.bench[0].n_bench == 1 && strcmp(hb.bench[0].bench[0].codec, "h264") == 0 &&
                   hb.bench[1].bench_fps == -1 && hb.bench[1].n_bench == 0 && !hb.benchmarking,
               "HEARTBEAT bench figures parse");
        j = NULL;
        rc = dcv_proto_heartbeat_to_json(&hb, &j, &l, err, sizeof(err));
        TAP_OK(rc == 0 && strstr(j, "\"device_id\":\"GPU-1\"") && !strstr(j, "benchmarking"),
               "HEARTBEAT bench round trip (benchmarking false omitted)");
        free(j);
        rc = dcv_proto_heartbeat_from_json("{\"benchmarking\":true}", 21, &hb, err, sizeof(err));
        TAP_OK(rc == 0 && hb.benchmarking && hb.n_bench == 0, "HEARTBEAT benchmarking alone");
        TAP_OK(try(from_heartbeat, "{\"bench\":[{\"plugin\":\"x264\",\"bench_fps\":1}]}") < 0 &&
                   strstr(err, "device_id"),
               "HEARTBEAT bench without device_id refused (%s)", err);
        TAP_OK(try(from_heartbeat, "{\"bench\":[{\"plugin\":\"x264\",\"device_id\":\"cpu\","
                                   "\"bench_fps\":2e6}]}") < 0,
               "HEARTBEAT bench_fps above 1e6 refused");
        TAP_OK(try(from_heartbeat, "{\"benchmarking\":1}") < 0, "HEARTBEAT benchmarking not a boolean refused");
    }

    /* a newer peer's extra keys are ignored */
    TAP_OK(try(from_cancel, "{" FENCE_JSON ",\"future\":{\"x\":[1,{\"y\":2}]},\"z\":null}") == 0,
           "unknown keys ignored");

    /* path input */
    TAP_OK(try(from_job, "{" FENCE_JSON ",\"input\":{\"kind\":\"path\",\"path\":\"/srv/a b.mkv\"},"
                         "\"profile\":{}}") == 0,
           "JOB with a shared-storage path");
}

/* ---- missing fields, wrong types ---------------------------------------------- */

static void test_required_and_types(void)
{
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        const struct sample *s = &samples[i];
        char keys[256], want[128];
        snprintf(keys, sizeof(keys), "%s", s->required);
        for (char *save = NULL, *k = strtok_r(keys, " ", &save); k; k = strtok_r(NULL, " ", &save)) {
            struct json_object *o = json_tokener_parse(s->json);
            json_object_object_del(o, k);
            int rc = try(s->fn, json_object_to_json_string(o));
            snprintf(want, sizeof(want), "%s.%s: required", s->name, k);
            if (!tap_ok(rc == -EINVAL && strstr(err, want), "%s without %s refused", s->name, k))
                tap_diag("  rc %d, err '%s'", rc, err);
            json_object_put(o);
        }
        /* every top-level key with a value of the wrong type */
        struct json_object *o = json_tokener_parse(s->json);
        json_object_object_foreach(o, k, v)
        {
            struct json_object *copy = json_tokener_parse(s->json), *bad;
            switch (json_object_get_type(v)) {
            case json_type_string: bad = json_object_new_int(7); break;
            case json_type_boolean: bad = json_object_new_int(1); break;
            default: bad = json_object_new_string("x"); break;
            }
            json_object_object_add(copy, k, bad);
            int rc = try(s->fn, json_object_to_json_string(copy));
            snprintf(want, sizeof(want), "%s.%s:", s->name, k);
            if (!tap_ok(rc == -EINVAL && strstr(err, want), "%s.%s of the wrong type refused",
                        s->name, k))
                tap_diag("  rc %d, err '%s'", rc, err);
            json_object_put(copy);
        }
        json_object_put(o);
    }
}

/* ---- ranges, lengths, characters, cross-field rules ---------------------------- */

struct bad_case {
    from_fn fn;
    const char *json;
    const char *want; /* substring of the error */
};

#define FJ FENCE_JSON
static const struct bad_case bad_cases[] = {
    {from_job, "{\"job_id\":\"" JOBID "\",\"attempt\":0,\"session\":\"s\",\"input\":{\"kind\":\"path\",\"path\":\"/a\"},\"profile\":{}}",
     "JOB.attempt: expected an integer 1..1000"},
    {from_job, "{\"job_id\":\"" JOBID "\",\"attempt\":1001,\"session\":\"s\",\"input\":{\"kind\":\"path\",\"path\":\"/a\"},\"profile\":{}}",
     "JOB.attempt: expected an integer 1..1000"},
    {from_job, "{\"job_id\":\"" JOBID "\",\"attempt\":1.5,\"session\":\"s\",\"input\":{\"kind\":\"path\",\"path\":\"/a\"},\"profile\":{}}",
     "JOB.attempt: expected an integer"},
    {from_job, "{\"job_id\":\"0123456789ABCDEF0123456789abcdef\",\"attempt\":1,\"session\":\"s\",\"input\":{\"kind\":\"path\",\"path\":\"/a\"},\"profile\":{}}",
     "JOB.job_id: expected 32 lower-case hex"},
    {from_job, "{" FJ ",\"input\":{\"kind\":\"path\",\"path\":\"rel/a\"},\"profile\":{}}",
     "JOB.input.path: must be an absolute path"},
    {from_job, "{" FJ ",\"input\":{\"kind\":\"path\",\"path\":\"/a/../etc\"},\"profile\":{}}",
     "JOB.input.path: must not contain '..'"},
    {from_job, "{" FJ ",\"input\":{\"kind\":\"xfer\",\"size\":1,\"sha256\":\"" SHA "\"},\"profile\":{}}",
     "JOB.input.xfer_id: required for kind xfer"},
    {from_job, "{" FJ ",\"input\":{\"kind\":\"tape\"},\"profile\":{}}",
     "JOB.input.kind: expected one of xfer|path"},
    {from_job, "{" FJ ",\"input\":{\"kind\":\"path\",\"path\":\"/a\",\"name\":\"../x\"},\"profile\":{}}",
     "JOB.input.name: must be a file name"},
    {from_job, "{" FJ ",\"input\":{\"kind\":\"path\",\"path\":\"/a\"},\"profile\":{\"crf\":{\"a\":1}}}",
     "JOB.profile: value of 'crf' must be a string, number or boolean"},
    {from_job, "{" FJ ",\"input\":{\"kind\":\"path\",\"path\":\"/a\"},\"profile\":{\"bad key\":1}}",
     "JOB.profile: option name"},
    {from_welcome, "{\"session\":\"a\",\"coordinator_epoch\":\"e\",\"proto\":1,\"hb_ivl_ms\":2000,\"liveness\":3,\"chunk_max\":5000,\"credit_chunks\":8,\"data_endpoint\":\"tcp://h:1\"}",
     "WELCOME.chunk_max: must be a multiple of 4096"},
    {from_welcome, "{\"session\":\"a\",\"coordinator_epoch\":\"e\",\"proto\":1,\"hb_ivl_ms\":99,\"liveness\":3,\"chunk_max\":4096,\"credit_chunks\":8,\"data_endpoint\":\"tcp://h:1\"}",
     "WELCOME.hb_ivl_ms: expected an integer 100..60000"},
    {from_welcome, "{\"session\":\"a\",\"coordinator_epoch\":\"e\",\"proto\":1,\"hb_ivl_ms\":100,\"liveness\":3,\"chunk_max\":134217728,\"credit_chunks\":8,\"data_endpoint\":\"tcp://h:1\"}",
     "WELCOME.chunk_max: expected an integer 4096..67108864"},
    {from_welcome, "{\"session\":\"a\",\"coordinator_epoch\":\"e\",\"proto\":1,\"hb_ivl_ms\":100,\"liveness\":3,\"chunk_max\":4096,\"credit_chunks\":4097,\"data_endpoint\":\"tcp://h:1\"}",
     "WELCOME.credit_chunks: expected an integer 1..4096"},
    {from_progress, "{" FJ ",\"phase\":\"encode\",\"pct\":100.5}", "PROGRESS.pct: expected a number 0..100"},
    {from_progress, "{" FJ ",\"phase\":\"encode\",\"pct\":-0.1}", "PROGRESS.pct"},
    {from_progress, "{" FJ ",\"phase\":\"encode\",\"pct\":1e999}", "PROGRESS"},
    {from_progress, "{" FJ ",\"phase\":\"encode\",\"pct\":NaN}", "PROGRESS"},
    {from_progress, "{" FJ ",\"phase\":\"encode\",\"pct\":1,\"frames\":-2}", "PROGRESS.frames"},
    {from_progress, "{" FJ ",\"phase\":\"encode\",\"pct\":1,\"frames_total\":-2}", "PROGRESS.frames_total"},
    {from_progress, "{" FJ ",\"phase\":\"encode\",\"pct\":1,\"speed\":-1}", "PROGRESS.speed"},
    {from_heartbeat, "{\"telemetry\":{\"cpu_pct\":1,\"load1\":0,\"ncpu\":1,\"mem_total\":10,\"mem_avail\":11,\"disk_total\":1,\"disk_free\":1,\"slots_used\":0,\"busy\":false,\"draining\":false,\"jobs\":[]}}",
     "HEARTBEAT.telemetry.mem_avail: exceeds mem_total"},
    {from_heartbeat, "{\"telemetry\":{\"cpu_pct\":1}}", "HEARTBEAT.telemetry.load1: required"},
    {from_heartbeat, "{\"telemetry\":{\"cpu_pct\":1,\"load1\":0,\"ncpu\":1,\"mem_total\":10,\"mem_avail\":1,\"disk_total\":1,\"disk_free\":1,\"slots_used\":0,\"busy\":false,\"draining\":false,\"jobs\":[{\"job_id\":\"" JOBID "\",\"attempt\":1}]}}",
     "HEARTBEAT.telemetry.jobs[0].progress: required"},
    {from_hello, "{\"worker_id\":\"w 1\",\"session\":\"s\",\"proto_min\":1,\"proto_max\":1,\"host\":\"h\",\"slots\":1,\"plugins\":[],\"devices\":[],\"running\":[]}",
     "HELLO.worker_id: may only contain"},
    {from_hello, "{\"worker_id\":\"0123456789012345678901234567890123456789012345678901234567890123\",\"session\":\"s\",\"proto_min\":1,\"proto_max\":1,\"host\":\"h\",\"slots\":1,\"plugins\":[],\"devices\":[],\"running\":[]}",
     "HELLO.worker_id: expected a string of 1..63 bytes"},
    {from_hello, "{\"worker_id\":\"\",\"session\":\"s\",\"proto_min\":1,\"proto_max\":1,\"host\":\"h\",\"slots\":1,\"plugins\":[],\"devices\":[],\"running\":[]}",
     "HELLO.worker_id: expected a string of 1..63 bytes"},
    {from_hello, "{\"worker_id\":\"w\",\"session\":\"s\",\"proto_min\":2,\"proto_max\":1,\"host\":\"h\",\"slots\":1,\"plugins\":[],\"devices\":[],\"running\":[]}",
     "HELLO.proto_max: must be >= proto_min"},
    {from_hello, "{\"worker_id\":\"w\",\"session\":\"s\",\"proto_min\":1,\"proto_max\":1,\"host\":\"h\",\"slots\":0,\"plugins\":[],\"devices\":[],\"running\":[]}",
     "HELLO.slots: expected an integer 1..1024"},
    {from_hello, "{\"worker_id\":\"w\",\"session\":\"s\",\"proto_min\":1,\"proto_max\":1,\"host\":\"h\",\"slots\":1,\"plugins\":[],\"devices\":[{\"plugin\":\"x\"}],\"running\":[]}",
     "HELLO.devices[0].available"},
    {from_hello, "{\"worker_id\":\"w\",\"session\":\"s\",\"proto_min\":1,\"proto_max\":1,\"host\":\"h\",\"slots\":1,\"plugins\":[7],\"devices\":[],\"running\":[]}",
     "HELLO.plugins[0]: expected an object"},
    {from_hello, "{\"worker_id\":\"w\",\"session\":\"s\",\"proto_min\":1,\"proto_max\":1,\"host\":\"h\",\"hostname\":\"a\\u0001b\",\"slots\":1,\"plugins\":[],\"devices\":[],\"running\":[]}",
     "HELLO.hostname: contains a control character"},
    {from_disconnect, "{\"reason\":\"a\\u0000b\"}", "DISCONNECT.reason: contains a NUL byte"},
    {from_disconnect, "{\"reason\":\"\"}", "DISCONNECT.reason: expected a string of 1..1023 bytes"},
    {from_disconnect, "{\"reason\":\"line\\nbreak\"}", "DISCONNECT.reason: contains a control character"},
    {from_commit, "{\"xfer_id\":9,\"ok\":true,\"size\":-1,\"sha256\":\"" SHA "\"}", "COMMIT.size: expected an integer 0..9007199254740992"},
    {from_commit, "{\"xfer_id\":9007199254740993,\"ok\":true,\"size\":1,\"sha256\":\"" SHA "\"}", "COMMIT.xfer_id"},
    {from_commit, "{\"xfer_id\":99999999999999999999999,\"ok\":true,\"size\":1,\"sha256\":\"" SHA "\"}", "COMMIT.xfer_id"},
    {from_commit, "{\"xfer_id\":9,\"ok\":1,\"size\":1,\"sha256\":\"" SHA "\"}", "COMMIT.ok: expected true or false"},
    {from_commit, "{\"xfer_id\":9,\"ok\":true,\"size\":1,\"sha256\":\"abc\"}", "COMMIT.sha256: expected 64 lower-case hex"},
    {from_abort, "{\"xfer_id\":9,\"code\":\"oops\",\"message\":\"m\"}", "ABORT.code: expected one of busy|"},
    {from_offer, "{\"purpose\":\"output\",\"xfer_id\":9,\"size\":1,\"sha256\":\"" SHA "\",\"chunk_max\":4096}",
     "OFFER.job_id: required for this purpose"},
    {from_offer, "{\"purpose\":\"upload\",\"xfer_id\":9,\"size\":1,\"sha256\":\"" SHA "\",\"chunk_max\":4096," FJ "}",
     "OFFER.job_id: not allowed for this purpose"},
    {from_offer, "{\"purpose\":\"output\",\"xfer_id\":9,\"size\":1,\"sha256\":\"" SHA "\",\"chunk_max\":4096,\"job_id\":\"" JOBID "\"}",
     "OFFER.job_id: job_id, attempt and session go together"},
    {from_offer, "{\"purpose\":\"upload\",\"xfer_id\":9,\"size\":1,\"sha256\":\"" SHA "\",\"chunk_max\":4097}",
     "OFFER.chunk_max: must be a multiple of 4096"},
    {from_fail, "{" FJ ",\"code\":\"encode\",\"message\":\"m\",\"retryable\":\"yes\"}", "FAIL.retryable"},
    {from_request, "{\"req_id\":\"r\",\"verb\":\"status\",\"args\":{}}", "REQUEST.args.job_id: required by status"},
    {from_request, "{\"req_id\":\"r\",\"verb\":\"drain\",\"args\":{}}", "REQUEST.args.worker_id: required by drain"},
    {from_request, "{\"req_id\":\"r\",\"verb\":\"explode\",\"args\":{}}", "REQUEST.verb: expected one of submit|"},
    {from_request, "{\"req_id\":\"r\",\"verb\":\"submit\",\"args\":{\"profile\":{}}}", "REQUEST.args.input: required by submit"},
    {from_request, "{\"req_id\":\"r\",\"verb\":\"submit\",\"args\":{\"input\":{\"kind\":\"path\",\"source\":\"/a\"}}}", "REQUEST.args.profile: required by submit"},
    {from_request, "{\"req_id\":\"r\",\"verb\":\"submit\",\"args\":{\"profile\":{},\"input\":{\"kind\":\"upload\",\"xfer_id\":1}}}", "REQUEST.args.input.xfer_id: kind upload needs"},
    {from_request, "{\"req_id\":\"r\",\"verb\":\"submit\",\"args\":{\"profile\":{},\"input\":{\"kind\":\"path\",\"source\":\"x\"}}}", "REQUEST.args.input.source: must be an absolute path"},
    {from_request, "{\"req_id\":\"r\",\"verb\":\"submit\",\"args\":{\"profile\":{},\"input\":{\"kind\":\"url\",\"source\":\"nope\"}}}", "REQUEST.args.input.source: expected a URL"},
    {from_request, "{\"req_id\":\"r\",\"verb\":\"jobs\",\"args\":{\"state\":\"sleeping\"}}", "REQUEST.args.state: expected one of queued|"},
    {from_request, "{\"req_id\":\"r\",\"verb\":\"jobs\",\"args\":{\"limit\":0}}", "REQUEST.args.limit: expected an integer 1..10000"},
    {from_request, "{\"req_id\":\"r\",\"verb\":\"jobs\",\"idempotency_key\":\"a b\",\"args\":{}}", "REQUEST.idempotency_key: may only contain printable ASCII"},
    {from_request, "{\"req_id\":\"r\",\"verb\":\"jobs\",\"idempotency_key\":\"" "0123456789012345678901234567890123456789012345678901234567890123" "0123456789012345678901234567890123456789012345678901234567890123" "x\",\"args\":{}}", "REQUEST.idempotency_key: expected a string of 1..128 bytes"},
    {from_request, "{\"req_id\":\"r\",\"verb\":\"jobs\",\"args\":{\"priority\":1001}}", "REQUEST.args.priority: expected an integer -1000..1000"},
    {from_final, "{\"req_id\":\"r\",\"status\":201}", "FINAL.status: expected one of 200|202|400|403|404|500"},
    {from_final, "{\"req_id\":\"r\",\"status\":500}", "FINAL.error: required when status >= 400"},
    {from_final, "{\"req_id\":\"r\",\"status\":200,\"body\":[1]}", "FINAL.body: expected an object"},
};

static void test_bad_values(void)
{
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        int rc = try(bad_cases[i].fn, bad_cases[i].json);
        if (!tap_ok(rc == -EINVAL && strstr(err, bad_cases[i].want), "refused: %s",
                    bad_cases[i].want))
            tap_diag("  rc %d, err '%s'", rc, err);
    }

    /* lengths at the limit pass, one byte more fails */
    char json[2048], msg[1100];
    memset(msg, 'm', sizeof(msg));
    msg[1023] = '\0';
    snprintf(json, sizeof(json), "{\"reason\":\"%s\"}", msg);
    TAP_OK(try(from_disconnect, json) == 0, "1023-byte reason accepted");
    msg[1023] = 'm';
    msg[1024] = '\0';
    snprintf(json, sizeof(json), "{\"reason\":\"%s\"}", msg);
    TAP_HAS_STR(try(from_disconnect, json) == -EINVAL ? err : "", "1..1023 bytes",
                "1024-byte reason refused");
    /* multi-byte UTF-8 counts bytes and is otherwise fine */
    TAP_OK(try(from_disconnect, "{\"reason\":\"d\xc3\xa9j\xc3\xa0 vu \xe2\x9c\x93\"}") == 0,
           "UTF-8 text accepted");
    /* a lone surrogate escape is refused (section 2.1: no surrogates; it
     * used to arrive as U+FFFD, issue 11 A11) */
    struct dcv_proto_disconnect dc;
    TAP_OK(dcv_proto_disconnect_from_json("{\"reason\":\"x\\ud800y\"}", 21, &dc, err,
                                          sizeof(err)) == -EINVAL &&
               strstr(err, "lone high surrogate"),
           "lone surrogate escape refused");
}

/* ---- hostile bodies -------------------------------------------------------- */

static void test_hostile(void)
{
    size_t big = 300 * 1024;
    char *s = malloc(big + 64);
    int rc;

    if (!s)
        tap_bail("out of memory");
    /* deep nesting inside an ignored key */
    strcpy(s, "{\"x\":");
    size_t n = strlen(s);
    for (int i = 0; i < 100000 && n < 200000; i++)
        s[n++] = '[';
    s[n] = '\0';
    rc = try(from_drain, s);
    TAP_OK(rc == -EINVAL && strstr(err, "DRAIN: invalid JSON"), "deep nesting refused (%s)", err);

    /* depth just inside the limit parses */
    TAP_OK(try(from_drain, "{\"draining\":true,\"x\":[[[[[[[[[[1]]]]]]]]]]}") == 0,
           "moderate nesting in an unknown key accepted");

    /* huge array where a bounded one is expected */
    strcpy(s, "{\"worker_id\":\"w\",\"session\":\"s\",\"proto_min\":1,\"proto_max\":1,"
              "\"host\":\"h\",\"slots\":1,\"plugins\":[],\"devices\":[],\"running\":[");
    n = strlen(s);
    for (int i = 0; i < 20000; i++) {
        memcpy(s + n, "{},", 3);
        n += 3;
    }
    strcpy(s + n - 1, "]}");
    rc = try(from_hello, s);
    TAP_OK(rc == -EINVAL && strstr(err, "HELLO.running: more than 64 elements"),
           "huge array refused (%s)", err);

    /* oversized body */
    memset(s, ' ', big);
    s[0] = '{';
    s[big - 1] = '}';
    s[big] = '\0';
    rc = try(from_drain, s);
    TAP_OK(rc == -EINVAL && strstr(err, "exceeds"), "body over 256 KiB refused");

    static const struct {
        const char *body;
        size_t len;
        const char *want;
    } cases[] = {
        {"[]", 2, "DRAIN: body is not a JSON object"},
        {"\"draining\"", 10, "DRAIN: body is not a JSON object"},
        {"42", 2, "DRAIN: body is not a JSON object"},
        {"null", 4, "DRAIN: body is not a JSON object"},
        {"{\"draining\":true", 16, "DRAIN: invalid JSON: truncated"},
        {"{\"draining\":true}}", 18, "DRAIN: invalid JSON"},
        {"{\"draining\":true} x", 19, "DRAIN: invalid JSON"},
        {"  ", 2, "DRAIN: body is not a JSON object"},
        {"{\"draining\":true}\0", 18, "DRAIN: body contains a NUL byte"},
        {"{\"draining\":tr\0ue}", 18, "DRAIN: body contains a NUL byte"},
        {"{\"draining\":true,\"x\":\"\xff\xfe\"}", 26, "DRAIN: invalid JSON"},
        {"{\"draining\":true,\"x\":\"\xc0\xaf\"}", 26, "DRAIN: invalid JSON"},
        {"{\"draining\":true,\"x\":\"\xed\xa0\x80\"}", 27, "DRAIN: invalid JSON"},
        {"{\"draining\":true,}", 18, "DRAIN: invalid JSON"},
        {"", 0, "DRAIN: empty body"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        err[0] = '\0';
        rc = dcv_proto_drain_from_json(cases[i].body, cases[i].len, scratch, err, sizeof(err));
        if (!tap_ok(rc == -EINVAL && strstr(err, cases[i].want), "hostile body %zu refused: %s",
                    i, cases[i].want))
            tap_diag("  rc %d err '%s'", rc, err);
    }
    rc = dcv_proto_drain_from_json(NULL, 5, scratch, err, sizeof(err));
    TAP_OK(rc == -EINVAL, "NULL body refused");
    TAP_OK(dcv_proto_drain_from_json("{\"draining\":false}\n", 19, scratch, err, sizeof(err)) == 0,
           "trailing whitespace accepted");
    free(s);
}

/* ---- emitting refuses what parsing would refuse ----------------------------- */

static void test_emit_refusals(void)
{
    struct dcv_proto_failure f;
    char *j = (char *)"sentinel";
    size_t l;
    int rc;

    memset(&f, 0, sizeof(f));
    strcpy(f.fence.job_id, JOBID);
    strcpy(f.fence.session, "s");
    f.fence.attempt = 0;
    f.code = DCV_CODE_IO;
    strcpy(f.message, "m");
    rc = dcv_proto_fail_to_json(&f, &j, &l, err, sizeof(err));
    TAP_OK(rc == -EINVAL && j == NULL && strstr(err, "FAIL.attempt: expected an integer 1..1000"),
           "to_json refuses attempt 0 (%s)", err);
    f.fence.attempt = 1;
    f.code = DCV_CODE_COUNT;
    rc = dcv_proto_fail_to_json(&f, &j, &l, err, sizeof(err));
    TAP_OK(rc == -EINVAL && strstr(err, "FAIL.code"), "to_json refuses an unknown code");
    f.code = DCV_CODE_INTERNAL;
    memset(f.message, 'x', sizeof(f.message));
    rc = dcv_proto_fail_to_json(&f, &j, &l, err, sizeof(err));
    TAP_OK(rc == -EINVAL && strstr(err, "FAIL.message"), "to_json refuses an unterminated string");
    strcpy(f.message, "tab\there");
    rc = dcv_proto_fail_to_json(&f, &j, &l, err, sizeof(err));
    TAP_OK(rc == -EINVAL && strstr(err, "control character"), "to_json refuses control characters");
    strcpy(f.message, "quote \" and backslash \\ and /slash");
    j = NULL;
    rc = dcv_proto_fail_to_json(&f, &j, &l, err, sizeof(err));
    struct dcv_proto_failure g;
    TAP_OK(rc == 0 && dcv_proto_fail_from_json(j, l, &g, err, sizeof(err)) == 0 &&
               strcmp(g.message, f.message) == 0,
           "escaping round trips");
    free(j);

    struct dcv_proto_job job;
    memset(&job, 0, sizeof(job));
    strcpy(job.fence.job_id, JOBID);
    strcpy(job.fence.session, "s");
    job.fence.attempt = 1;
    job.input.kind = DCV_INPUT_PATH;
    strcpy(job.input.path, "/x");
    job.input.blob.size = -1;
    strcpy(job.profile, "{\"codec\":");
    rc = dcv_proto_job_to_json(&job, &j, &l, err, sizeof(err));
    TAP_OK(rc == -EINVAL && strstr(err, "JOB.profile"), "to_json refuses a broken profile text");
    strcpy(job.profile, "{\"codec\":\"h264\"}");
    j = NULL;
    rc = dcv_proto_job_to_json(&job, &j, &l, err, sizeof(err));
    TAP_OK(rc == 0 && strstr(j, "\"profile\":{\"codec\":\"h264\"}"), "JOB built from a struct");
    free(j);
}


/* ---- fields added for distributed jobs (HELLO.paths, FETCH.range, info, get what) ---- */

#define HELLO_HEAD                                                                       \
    "{\"worker_id\":\"w\",\"session\":\"s\",\"proto_min\":1,\"proto_max\":1,\"host\":\"h\"," \
    "\"slots\":1,\"plugins\":[],\"devices\":[],\"running\":[]"

static void test_new_fields(void)
{
    struct dcv_proto_hello *h = calloc(1, sizeof(*h));
    struct dcv_proto_xfer_open x;
    struct dcv_proto_request rq;
    char *j = NULL, *big = NULL;
    size_t l = 0;
    int rc;

    if (!h)
        tap_bail("out of memory");
    /* HELLO.paths: optional, parsed in order, omitted when empty */
    rc = dcv_proto_hello_from_json(samples[0].json, strlen(samples[0].json), h, err, sizeof(err));
    TAP_OK(rc == 0 && h->n_paths == 2 && strcmp(h->paths[0], "/srv/media") == 0 &&
               strcmp(h->paths[1], "/var/lib/distconv") == 0,
           "HELLO.paths parsed (%s)", err);
    rc = dcv_proto_hello_from_json(HELLO_HEAD "}", strlen(HELLO_HEAD "}"), h, err, sizeof(err));
    TAP_OK(rc == 0 && h->n_paths == 0, "HELLO.paths optional");
    rc = dcv_proto_hello_to_json(h, &j, &l, err, sizeof(err));
    TAP_OK(rc == 0 && !strstr(j, "paths"), "empty paths omitted");
    free(j);
    j = NULL;
    h->n_paths = 1;
    strcpy(h->paths[0], "/a/b");
    rc = dcv_proto_hello_to_json(h, &j, &l, err, sizeof(err));
    TAP_OK(rc == 0 && strstr(j, "\"paths\":[\"/a/b\"]"), "paths emitted");
    free(j);
    j = NULL;
    strcpy(h->paths[0], "/a/../b");
    rc = dcv_proto_hello_to_json(h, &j, &l, err, sizeof(err));
    TAP_OK(rc == -EINVAL && j == NULL && strstr(err, "HELLO.paths[0]: must not contain '..'"),
           "to_json refuses a '..' path (%s)", err);
    memset(h->paths[0], 'p', sizeof(h->paths[0]));
    rc = dcv_proto_hello_to_json(h, &j, &l, err, sizeof(err));
    TAP_OK(rc == -EINVAL && strstr(err, "HELLO.paths[0]"), "to_json refuses an unterminated path");
    h->n_paths = DCV_PROTO_MAX_PATHS + 1;
    rc = dcv_proto_hello_to_json(h, &j, &l, err, sizeof(err));
    TAP_OK(rc == -EINVAL && strstr(err, "HELLO.paths: more than 16"), "to_json refuses 17 paths");

    static const struct bad_case bad_paths[] = {
        {from_hello, HELLO_HEAD ",\"paths\":\"/a\"}", "HELLO.paths: expected an array"},
        {from_hello, HELLO_HEAD ",\"paths\":[1]}", "HELLO.paths[0]: expected a string"},
        {from_hello, HELLO_HEAD ",\"paths\":[\"/ok\",\"rel\"]}", "HELLO.paths[1]: must be an absolute path"},
        {from_hello, HELLO_HEAD ",\"paths\":[\"/a/..\"]}", "HELLO.paths[0]: must not contain '..'"},
        {from_hello, HELLO_HEAD ",\"paths\":[\"\"]}", "HELLO.paths[0]: expected a string of 1..4095 bytes"},
        {from_hello, HELLO_HEAD ",\"paths\":[\"/a\\u0001\"]}", "HELLO.paths[0]: contains a control character"},
        {from_hello, HELLO_HEAD ",\"paths\":[\"/a\\u0000\"]}", "HELLO.paths[0]: contains a NUL byte"},
        {from_hello, HELLO_HEAD ",\"paths\":[\"/1\",\"/2\",\"/3\",\"/4\",\"/5\",\"/6\",\"/7\",\"/8\",\"/9\","
                     "\"/10\",\"/11\",\"/12\",\"/13\",\"/14\",\"/15\",\"/16\",\"/17\"]}",
         "HELLO.paths: more than 16 elements"},
    };
    for (size_t i = 0; i < sizeof(bad_paths) / sizeof(bad_paths[0]); i++) {
        rc = try(bad_paths[i].fn, bad_paths[i].json);
        if (!tap_ok(rc == -EINVAL && strstr(err, bad_paths[i].want), "refused: %s",
                    bad_paths[i].want))
            tap_diag("  rc %d, err '%s'", rc, err);
    }
    /* "/a..b" and "/..." are names, not parent references */
    rc = try(from_hello, HELLO_HEAD ",\"paths\":[\"/a..b\",\"/...\"]}");
    TAP_OK(rc == 0, "dots inside names are fine (%s)", err);
    /* 4095 bytes pass, 4096 fail */
    big = malloc(DCV_PROTO_PATH + 256);
    if (!big)
        tap_bail("out of memory");
    char *p = malloc(DCV_PROTO_PATH + 1);
    if (!p)
        tap_bail("out of memory");
    memset(p, 'a', DCV_PROTO_PATH);
    p[0] = '/';
    p[DCV_PROTO_PATH - 1] = '\0';
    snprintf(big, DCV_PROTO_PATH + 256, HELLO_HEAD ",\"paths\":[\"%s\"]}", p);
    rc = dcv_proto_hello_from_json(big, strlen(big), h, err, sizeof(err));
    TAP_OK(rc == 0 && strlen(h->paths[0]) == DCV_PROTO_PATH - 1, "4095-byte path accepted");
    p[DCV_PROTO_PATH - 1] = 'a';
    p[DCV_PROTO_PATH] = '\0';
    snprintf(big, DCV_PROTO_PATH + 256, HELLO_HEAD ",\"paths\":[\"%s\"]}", p);
    rc = dcv_proto_hello_from_json(big, strlen(big), h, err, sizeof(err));
    TAP_OK(rc == -EINVAL && strstr(err, "1..4095 bytes"), "4096-byte path refused");
    free(p);
    free(big);
    free(h);

    /* FETCH.range: optional boolean, default false, FETCH only */
    rc = dcv_proto_fetch_from_json(samples[13].json, strlen(samples[13].json), &x, err, sizeof(err));
    TAP_OK(rc == 0 && x.range == 1, "FETCH.range true parsed");
    static const char fetch_plain[] = "{\"purpose\":\"download\",\"xfer_id\":3}";
    rc = dcv_proto_fetch_from_json(fetch_plain, strlen(fetch_plain), &x, err, sizeof(err));
    TAP_OK(rc == 0 && x.range == 0 && x.blob.size == -1 && x.chunk_max == 0,
           "FETCH.range defaults to false");
    /* its documented defaults sent as values (issue 11 A11: refused) */
    static const char fetch_defaults[] =
        "{\"purpose\":\"download\",\"xfer_id\":3,\"size\":-1,\"chunk_max\":0}";
    rc = dcv_proto_fetch_from_json(fetch_defaults, strlen(fetch_defaults), &x, err, sizeof(err));
    TAP_OK(rc == 0 && x.blob.size == -1 && x.chunk_max == 0,
           "FETCH with size -1 and chunk_max 0 written out is accepted (%s)", rc ? err : "ok");
    rc = try(from_fetch, "{\"purpose\":\"download\",\"xfer_id\":3,\"size\":-2}");
    TAP_OK(rc == -EINVAL, "FETCH size below -1 is refused");
    rc = try(from_fetch, "{\"purpose\":\"download\",\"xfer_id\":3,\"chunk_max\":100}");
    TAP_OK(rc == -EINVAL, "FETCH chunk_max not a multiple of 4096 is refused");
    rc = dcv_proto_fetch_to_json(&x, &j, &l, err, sizeof(err));
    TAP_OK(rc == 0 && !strstr(j, "range"), "range false omitted");
    free(j);
    j = NULL;
    x.range = 1;
    rc = dcv_proto_fetch_to_json(&x, &j, &l, err, sizeof(err));
    TAP_OK(rc == 0 && strstr(j, "\"range\":true"), "range true emitted");
    free(j);
    j = NULL;
    rc = try(from_fetch, "{\"purpose\":\"download\",\"xfer_id\":3,\"range\":1}");
    TAP_OK(rc == -EINVAL && strstr(err, "FETCH.range: expected true or false"),
           "FETCH.range must be a boolean (%s)", err);
    rc = dcv_proto_offer_from_json(samples[12].json, strlen(samples[12].json), &x, err, sizeof(err));
    TAP_OK(rc == 0 && x.range == 0, "OFFER parses with range 0");
    x.range = 1;
    rc = dcv_proto_offer_to_json(&x, &j, &l, err, sizeof(err));
    TAP_OK(rc == 0 && !strstr(j, "range"), "OFFER never carries range");
    free(j);
    j = NULL;
    static const char offer_range[] =
        "{\"purpose\":\"upload\",\"xfer_id\":9,\"size\":1,\"sha256\":\"" SHA "\","
        "\"chunk_max\":4096,\"range\":true}";
    rc = dcv_proto_offer_from_json(offer_range, strlen(offer_range), &x, err, sizeof(err));
    TAP_OK(rc == 0 && x.range == 0, "a range key on OFFER is ignored like any unknown key");

    /* admin verb info (no args) and get what */
    TAP_IS_STR(dcv_proto_verb_name(DCV_VERB_INFO), "info", "verb name info");
    TAP_OK(dcv_proto_verb_name(DCV_VERB_COUNT) == NULL, "verb name out of range");
    static const char info[] = "{\"req_id\":\"r\",\"verb\":\"info\",\"args\":{}}";
    rc = dcv_proto_request_from_json(info, strlen(info), &rq, err, sizeof(err));
    TAP_OK(rc == 0 && rq.verb == DCV_VERB_INFO, "info request parses (%s)", err);
    rc = dcv_proto_request_to_json(&rq, &j, &l, err, sizeof(err));
    TAP_OK(rc == 0 && strstr(j, "\"verb\":\"info\"") && strstr(j, "\"args\":{}"),
           "info request emits: %s", j ? j : err);
    free(j);
    j = NULL;
    static const char get_in[] =
        "{\"req_id\":\"r\",\"verb\":\"get\",\"args\":{\"job_id\":\"" JOBID "\",\"what\":\"input\"}}";
    rc = dcv_proto_request_from_json(get_in, strlen(get_in), &rq, err, sizeof(err));
    TAP_OK(rc == 0 && rq.verb == DCV_VERB_GET && rq.args.what == 1, "get what=input parses");
    rc = dcv_proto_request_to_json(&rq, &j, &l, err, sizeof(err));
    TAP_OK(rc == 0 && strstr(j, "\"what\":\"input\""), "what=input emitted");
    free(j);
    j = NULL;
    static const char get_out[] =
        "{\"req_id\":\"r\",\"verb\":\"get\",\"args\":{\"job_id\":\"" JOBID "\"}}";
    rc = dcv_proto_request_from_json(get_out, strlen(get_out), &rq, err, sizeof(err));
    TAP_OK(rc == 0 && rq.args.what == 0, "get what defaults to output");
    rc = dcv_proto_request_to_json(&rq, &j, &l, err, sizeof(err));
    TAP_OK(rc == 0 && !strstr(j, "what"), "what=output (default) omitted");
    free(j);
    j = NULL;
    rc = try(from_request, "{\"req_id\":\"r\",\"verb\":\"get\",\"args\":{\"job_id\":\"" JOBID
                           "\",\"what\":\"log\"}}");
    TAP_OK(rc == -EINVAL && strstr(err, "REQUEST.args.what: expected one of output|input"),
           "unknown what refused (%s)", err);
    rq.args.what = 2;
    rc = dcv_proto_request_to_json(&rq, &j, &l, err, sizeof(err));
    TAP_OK(rc == -EINVAL && strstr(err, "what"), "to_json refuses an unknown what");
}

/* ---- frames ------------------------------------------------------------------ */

static void test_frames(void)
{
    struct dcv_tx_frame fr[5];
    struct dcv_proto_msg m;
    unsigned n = 0;
    uint8_t hdr[32] = {0}, payload[10] = {1, 2, 3};
    const char *body = "{\"draining\":true}";
    int rc;

    rc = dcv_proto_frames(DCV_PLANE_CONTROL, DCV_CMD_DRAIN, body, strlen(body), NULL, 0, fr, &n,
                          err, sizeof(err));
    TAP_OK(rc == 0 && n == 3 && fr[0].len == 5 && memcmp(fr[0].data, "DCVW1", 5) == 0 &&
               fr[1].len == 1 && *(const uint8_t *)fr[1].data == 0x0B,
           "control frames built");
    rc = dcv_proto_parse(DCV_PLANE_CONTROL, fr, n, &m, err, sizeof(err));
    TAP_OK(rc == 0 && m.cmd == DCV_CMD_DRAIN && m.body_len == strlen(body) && m.payload == NULL,
           "control frames parsed");
    TAP_IS_STR(dcv_proto_cmd_name(DCV_PLANE_CONTROL, m.cmd), "DRAIN", "command name");

    rc = dcv_proto_parse(DCV_PLANE_DATA, fr, n, &m, err, sizeof(err));
    TAP_OK(rc == -EPROTO && strstr(err, "bad signature (expected DCVD1)"),
           "control message on the data plane refused");

    rc = dcv_proto_frames(DCV_PLANE_DATA, DCV_CMD_CHUNK, hdr, sizeof(hdr), payload,
                          sizeof(payload), fr, &n, err, sizeof(err));
    TAP_OK(rc == 0 && n == 4 && memcmp(fr[0].data, "DCVD1", 5) == 0, "CHUNK frames built");
    rc = dcv_proto_parse(DCV_PLANE_DATA, fr, n, &m, err, sizeof(err));
    TAP_OK(rc == 0 && m.cmd == DCV_CMD_CHUNK && m.payload_len == 10 && m.body_len == 32,
           "CHUNK frames parsed");
    rc = dcv_proto_parse(DCV_PLANE_DATA, fr, 3, &m, err, sizeof(err));
    TAP_OK(rc == -EPROTO && strstr(err, "CHUNK: 3 frames, expected 4"), "CHUNK without payload");
    fr[2].len = 31;
    rc = dcv_proto_parse(DCV_PLANE_DATA, fr, 4, &m, err, sizeof(err));
    TAP_OK(rc == -EPROTO && strstr(err, "CHUNK: header is 31 bytes"), "short CHUNK header");

    rc = dcv_proto_frames(DCV_PLANE_DATA, DCV_CMD_CREDIT, hdr, 23, NULL, 0, fr, &n, err,
                          sizeof(err));
    rc = rc ? rc : dcv_proto_parse(DCV_PLANE_DATA, fr, n, &m, err, sizeof(err));
    TAP_OK(rc == -EPROTO && strstr(err, "CREDIT: body is 23 bytes"), "short CREDIT");

    rc = dcv_proto_frames(DCV_PLANE_ADMIN, DCV_CMD_FINAL, body, strlen(body), NULL, 0, fr, &n,
                          err, sizeof(err));
    TAP_OK(rc == 0 && memcmp(fr[0].data, "DCVA1", 5) == 0, "admin frames built");
    rc = dcv_proto_frames(DCV_PLANE_ADMIN, DCV_CMD_HELLO, body, strlen(body), NULL, 0, fr, &n,
                          err, sizeof(err));
    TAP_OK(rc == -EINVAL, "HELLO is not an admin command");
    rc = dcv_proto_frames(DCV_PLANE_CONTROL, DCV_CMD_HELLO, NULL, 0, NULL, 0, fr, &n, err,
                          sizeof(err));
    TAP_OK(rc == -EINVAL && strstr(err, "HELLO: body missing"), "building without a body");
    rc = dcv_proto_frames((enum dcv_proto_plane)7, DCV_CMD_HELLO, body, 1, NULL, 0, fr, &n, err,
                          sizeof(err));
    TAP_OK(rc == -EINVAL, "unknown plane refused");

    /* hand-made hostile frame sets */
    static const uint8_t c_unknown = 0x0C, c_high = 0x99, c_hello = 0x01;
    struct {
        struct dcv_tx_frame f[5];
        unsigned n;
        const char *want;
    } cases[] = {
        {{{"DCVW2", 5}, {&c_hello, 1}, {"{}", 2}}, 3, "bad signature"},
        {{{"DCVW", 4}, {&c_hello, 1}, {"{}", 2}}, 3, "bad signature"},
        {{{"DCVW1x", 6}, {&c_hello, 1}, {"{}", 2}}, 3, "bad signature"},
        {{{"DCVW1", 5}, {&c_unknown, 1}, {"{}", 2}}, 3, "unknown command 0x0c"},
        {{{"DCVW1", 5}, {&c_high, 1}, {"{}", 2}}, 3, "unknown command 0x99"},
        {{{"DCVW1", 5}, {"\x01\x01", 2}, {"{}", 2}}, 3, "command frame missing or not 1 byte"},
        {{{"DCVW1", 5}, {&c_hello, 1}}, 2, "HELLO: 2 frames, expected 3"},
        {{{"DCVW1", 5}}, 1, "command frame missing"},
        {{{"DCVW1", 5}, {&c_hello, 1}, {"{}", 2}, {"x", 1}}, 4, "HELLO: 4 frames, expected 3"},
        {{{"DCVW1", 5}, {&c_hello, 1}, {"", 0}}, 3, "HELLO: body missing"},
        {{{"", 0}}, 0, "bad signature"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        err[0] = '\0';
        rc = dcv_proto_parse(DCV_PLANE_CONTROL, cases[i].f, cases[i].n, &m, err, sizeof(err));
        if (!tap_ok(rc == -EPROTO && strstr(err, cases[i].want), "frame set %zu refused: %s", i,
                    cases[i].want))
            tap_diag("  rc %d err '%s'", rc, err);
    }
    static char huge[DCV_PROTO_MAX_BODY + 1];
    memset(huge, ' ', sizeof(huge));
    struct dcv_tx_frame hf[3] = {{"DCVW1", 5}, {&c_hello, 1}, {huge, sizeof(huge)}};
    rc = dcv_proto_parse(DCV_PLANE_CONTROL, hf, 3, &m, err, sizeof(err));
    TAP_OK(rc == -EPROTO && strstr(err, "exceeds"), "oversized control body refused");

    TAP_IS_STR(dcv_proto_cmd_name(DCV_PLANE_DATA, DCV_CMD_ABORT), "ABORT", "ABORT name");
    TAP_OK(dcv_proto_cmd_name(DCV_PLANE_DATA, DCV_CMD_HELLO) == NULL, "HELLO not on data plane");
    TAP_IS_STR(dcv_proto_code_name(DCV_CODE_BUSY), "busy", "code name");
    TAP_OK(dcv_proto_code_name(-1) == NULL && dcv_proto_code_name(DCV_CODE_COUNT) == NULL,
           "code name out of range");
    TAP_IS_STR(dcv_proto_verb_name(DCV_VERB_UNDRAIN), "undrain", "verb name");
}

/* The generic entry by command is the typed functions' codec: the same text
 * out, the same struct back; commands without a JSON body are refused. */
static void test_by_command(void)
{
    struct dcv_proto_cancel m, back;
    struct dcv_proto_reply r, rb;
    char *a = NULL, *b = NULL;
    size_t la = 0, lb = 0;
    int rc;

    memset(&m, 0, sizeof(m));
    snprintf(m.fence.job_id, sizeof(m.fence.job_id), "%s", JOBID);
    m.fence.attempt = 3;
    snprintf(m.fence.session, sizeof(m.fence.session), "s1");
    snprintf(m.reason, sizeof(m.reason), "stop");
    rc = dcv_proto_encode(DCV_PLANE_CONTROL, DCV_CMD_CANCEL, &m, &a, &la, err, sizeof(err));
    TAP_OK(rc == 0 && dcv_proto_cancel_to_json(&m, &b, &lb, err, sizeof(err)) == 0 && la == lb &&
               memcmp(a, b, la) == 0,
           "encode by command = the typed encoder");
    memset(&back, 0, sizeof(back));
    rc = dcv_proto_decode(DCV_PLANE_CONTROL, DCV_CMD_CANCEL, a, la, &back, err, sizeof(err));
    TAP_OK(rc == 0 && back.fence.attempt == 3 && strcmp(back.reason, "stop") == 0,
           "decode by command round-trips");
    free(a);
    free(b);
    a = NULL;
    TAP_OK(dcv_proto_encode(DCV_PLANE_DATA, DCV_CMD_CANCEL, &m, &a, &la, err, sizeof(err)) ==
               -EINVAL && a == NULL,
           "a command foreign to the plane is refused");
    TAP_OK(dcv_proto_decode(DCV_PLANE_DATA, DCV_CMD_CREDIT, "{}", 2, &back, err, sizeof(err)) ==
               -EINVAL,
           "CREDIT has no JSON body");
    memset(&r, 0, sizeof(r));
    snprintf(r.req_id, sizeof(r.req_id), "q1");
    r.status = 404;
    snprintf(r.error, sizeof(r.error), "no job");
    rc = dcv_proto_encode(DCV_PLANE_ADMIN, DCV_CMD_FINAL, &r, &a, &la, err, sizeof(err));
    TAP_OK(rc == 0, "FINAL encodes by command");
    rc = rc == 0 ? dcv_proto_decode(DCV_PLANE_ADMIN, DCV_CMD_FINAL, a, la, &rb, err, sizeof(err)) : -1;
    TAP_OK(rc == 0 && rb.status == 404 && strcmp(rb.req_id, "q1") == 0 &&
               strcmp(rb.error, "no job") == 0,
           "FINAL decodes by command");
    if (rc == 0)
        dcv_proto_reply_clear(&rb);
    free(a);
}

/* What json-c lets through and the spec (section 2.1) does not, in keys
 * the reader does not even know (issue 11 A11: accepted). */
static void test_strict_json(void)
{
    static const struct {
        const char *body, *want;
    } bad[] = {
        {"{\"xfer_id\":1,\"code\":\"busy\",\"message\":\"m\",\"zz\":NaN}", "not finite"},
        {"{\"xfer_id\":1,\"code\":\"busy\",\"message\":\"m\",\"zz\":-Infinity}", "not finite"},
        {"{\"xfer_id\":1,\"code\":\"busy\",\"message\":\"m\",\"zz\":\"a\tb\"}", "control"},
        {"{\"xfer_id\":1,\"code\":\"busy\",\"message\":\"m\",\"zz\":\"a\\u0007b\"}", "control character"},
        {"{\"xfer_id\":1,\"code\":\"busy\",\"message\":\"m\",\"zz\":\"\\ud800\"}", "lone high surrogate"},
        {"{\"xfer_id\":1,\"code\":\"busy\",\"message\":\"m\",\"zz\":\"\\udc00x\"}", "lone low surrogate"},
        {"{\"xfer_id\":1,\"code\":\"busy\",\"message\":\"m\",\"z\\u0001\":1}", "key holds a control"},
    };
    static const char good[] =
        "{\"xfer_id\":1,\"code\":\"busy\",\"message\":\"m\",\"zz\":\"\\ud83d\\ude00 ok\",\"n\":1.5e3}";
    struct dcv_proto_abort a;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        int rc = dcv_proto_decode(DCV_PLANE_DATA, DCV_CMD_ABORT, bad[i].body, strlen(bad[i].body),
                                  &a, err, sizeof err);
        TAP_OK(rc == -EINVAL && strstr(err, bad[i].want), "strict JSON: %s refused (%s)",
               bad[i].want, err);
    }
    TAP_IS_INT(dcv_proto_decode(DCV_PLANE_DATA, DCV_CMD_ABORT, good, strlen(good), &a, err,
                                sizeof err),
               0, "a surrogate pair and a finite number in an unknown key are fine");
}

/* FAIL/REJECT busy: typed (issue 11 B3), the coordinator no longer reads
 * the worker's "no free " text to tell a full worker from a full device. */
static void test_busy_field(void)
{
    struct dcv_proto_failure f, g;
    char *j = NULL;
    size_t l;

    memset(&f, 0, sizeof f);
    snprintf(f.fence.job_id, sizeof f.fence.job_id, "%032x", 7);
    f.fence.attempt = 1;
    snprintf(f.fence.session, sizeof f.fence.session, "s1");
    f.code = DCV_CODE_BUSY;
    f.retryable = 1;
    f.busy = DCV_BUSY_DEVICE;
    snprintf(f.message, sizeof f.message, "NVENC: out of sessions");
    TAP_OK(dcv_proto_fail_to_json(&f, &j, &l, err, sizeof err) == 0 && strstr(j, "\"busy\":\"device\""),
           "FAIL busy device emitted");
    TAP_OK(j && dcv_proto_fail_from_json(j, l, &g, err, sizeof err) == 0 && g.busy == DCV_BUSY_DEVICE,
           "... and read back");
    free(j);
    j = NULL;
    f.busy = DCV_BUSY_NONE;
    TAP_OK(dcv_proto_reject_to_json(&f, &j, &l, err, sizeof err) == 0 && !strstr(j, "busy\":"),
           "busy none is omitted");
    TAP_OK(j && dcv_proto_reject_from_json(j, l, &g, err, sizeof err) == 0 && g.busy == DCV_BUSY_NONE,
           "an absent busy reads none");
    free(j);
    static const char bad[] = "{\"job_id\":\"00000000000000000000000000000007\",\"attempt\":1,"
                              "\"session\":\"s1\",\"code\":\"busy\",\"message\":\"m\","
                              "\"retryable\":true,\"busy\":\"gpu\"}";
    TAP_OK(dcv_proto_fail_from_json(bad, strlen(bad), &g, err, sizeof err) == -EINVAL &&
               strstr(err, "busy"),
           "an unknown busy value is refused (%s)", err);
}

void test_attempt_fields(void); /* test_proto_attempt.c */

int main(void)
{
    scratch = calloc(1, sizeof(struct dcv_proto_hello) + sizeof(struct dcv_proto_request));
    if (!scratch)
        tap_bail("out of memory");
    test_round_trips();
    test_required_and_types();
    test_bad_values();
    test_hostile();
    test_emit_refusals();
    test_frames();
    test_new_fields();
    test_by_command();
    test_strict_json();
    test_busy_field();
    test_attempt_fields();
    free(scratch);
    return tap_done();
}

/*
 * The scheduler is a pure function, so these tests build cluster views by
 * hand: workers with x264/x265 (software) and nvenc-like (hardware)
 * devices, session tables, and jobs, and check each placement rule.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "coordinator/scheduler.h"
#include "tap.h"

#define D8 (1u << 8)
#define D10 (1u << 10)

/* Device capability records live here so views can point into them. */
static struct dcv_device_caps caps_x264, caps_x265, caps_gpu1, caps_gpu1_uuid, caps_gpu_b,
    caps_gpu_off, caps_render;

static void add_codec(struct dcv_device_caps *c, const char *codec, const char *enc, uint32_t depths)
{
    struct dcv_codec_caps *cc = &c->codecs[c->n_codecs++];
    snprintf(cc->codec, sizeof(cc->codec), "%s", codec);
    snprintf(cc->encoder, sizeof(cc->encoder), "%s", enc);
    cc->bit_depths = depths;
}

static void mk_caps(struct dcv_device_caps *c, const char *id, int hw, uint32_t max,
                    uint32_t scope)
{
    memset(c, 0, sizeof(*c));
    c->struct_size = sizeof(*c);
    c->flags = DCV_CAP_AVAILABLE | (hw ? DCV_CAP_HARDWARE : 0);
    snprintf(c->device_id, sizeof(c->device_id), "%s", id);
    c->max_sessions = max;
    c->max_sessions_scope = scope;
}

static void setup_caps(void)
{
    mk_caps(&caps_x264, "cpu", 0, 0, DCV_SCOPE_UNLIMITED);
    add_codec(&caps_x264, "h264", "libx264", D8 | D10);
    mk_caps(&caps_x265, "cpu", 0, 0, DCV_SCOPE_UNLIMITED);
    add_codec(&caps_x265, "hevc", "libx265", D8 | D10);
    mk_caps(&caps_gpu1, "GPU-1234", 1, 3, DCV_SCOPE_PER_DEVICE);
    add_codec(&caps_gpu1, "h264", "h264_nvenc", D8);
    add_codec(&caps_gpu1, "hevc", "hevc_nvenc", D8 | D10);
    caps_gpu1_uuid = caps_gpu1;
    mk_caps(&caps_gpu_b, "GPU-b", 1, 3, DCV_SCOPE_PER_HOST);
    add_codec(&caps_gpu_b, "hevc", "hevc_nvenc", D8);
    mk_caps(&caps_gpu_off, "GPU-off", 1, 3, DCV_SCOPE_PER_DEVICE);
    add_codec(&caps_gpu_off, "hevc", "hevc_nvenc", D8);
    caps_gpu_off.flags &= ~DCV_CAP_AVAILABLE;
    snprintf(caps_gpu_off.unavailable_reason, sizeof(caps_gpu_off.unavailable_reason),
             "GPU without an encoder block");
    mk_caps(&caps_render, "/dev/dri/renderD128", 1, 1, DCV_SCOPE_PER_DEVICE);
    add_codec(&caps_render, "hevc", "hevc_vaapi", D8);
}

static const struct dcv_sched_device dev_x264 = {"x264", &caps_x264, 0, NULL, 0, NULL};
static const struct dcv_sched_device dev_x265 = {"x265", &caps_x265, 0, NULL, 0, NULL};
static const struct dcv_sched_device dev_gpu1 = {"nvenc", &caps_gpu1, 0, NULL, 0, NULL};
static const struct dcv_sched_device dev_off = {"nvenc", &caps_gpu_off, 0, NULL, 0, NULL};
static const struct dcv_sched_device dev_render = {"vaapi", &caps_render, 0, NULL, 0, NULL};

static struct dcv_sched_worker wk(const char *id, const struct dcv_sched_device *devs, size_t n)
{
    struct dcv_sched_worker w = {0};
    w.id = id;
    w.healthy = true;
    w.slots_total = 4;
    w.devices = devs;
    w.n_devices = n;
    return w;
}

static struct dcv_sched_input input(const struct dcv_sched_worker *w, size_t n)
{
    struct dcv_sched_input in = {0};
    in.workers = w;
    in.n_workers = n;
    return in;
}

static struct dcv_sched_job job(const char *codec, uint32_t depth, const char *enc)
{
    struct dcv_sched_job j = {codec, depth, enc, 0};
    return j;
}

/* Name of the chosen worker, or "none" with the rc. */
static const char *pick(const struct dcv_sched_input *in, struct dcv_sched_job j,
                        struct dcv_sched_cursor *cur, struct dcv_sched_result *res, char *why,
                        size_t whylen)
{
    int r = dcv_sched_pick_worker(in, &j, cur, res, why, whylen);
    if (r < 0)
        return r == -EAGAIN ? "none" : "error";
    return in->workers[res->worker].id;
}

static const char *enc_of(const struct dcv_sched_input *in, const struct dcv_sched_result *r)
{
    if (r->worker < 0)
        return "(none)";
    return in->workers[r->worker].devices[r->device].caps->codecs[r->codec].encoder;
}

static void test_empty_and_bad_input(void)
{
    struct dcv_sched_result res;
    struct dcv_sched_input in = input(NULL, 0);
    struct dcv_sched_job j = job("hevc", 0, NULL);
    char why[256];
    int r;

    r = dcv_sched_pick_worker(&in, &j, NULL, &res, why, sizeof(why));
    TAP_IS_INT(r, -EAGAIN, "no workers: -EAGAIN");
    TAP_IS_STR(why, "no workers registered", "no workers: reason");
    TAP_IS_INT(res.worker, -1, "no workers: worker -1");

    r = dcv_sched_pick_worker(NULL, &j, NULL, &res, why, sizeof(why));
    TAP_IS_INT(r, -EINVAL, "NULL input: -EINVAL");
    r = dcv_sched_pick_worker(&in, NULL, NULL, &res, why, sizeof(why));
    TAP_IS_INT(r, -EINVAL, "NULL job: -EINVAL");
    TAP_HAS_STR(why, "no codec", "NULL job: message");
    j.codec = "";
    r = dcv_sched_pick_worker(&in, &j, NULL, &res, why, sizeof(why));
    TAP_IS_INT(r, -EINVAL, "empty codec: -EINVAL");
    j = job("hevc", 9, NULL);
    r = dcv_sched_pick_worker(&in, &j, NULL, &res, why, sizeof(why));
    TAP_IS_INT(r, -EINVAL, "bit depth 9: -EINVAL");
    j = job("hevc", 0, NULL);
    r = dcv_sched_pick_worker(&in, &j, NULL, NULL, why, sizeof(why));
    TAP_IS_INT(r, -EINVAL, "NULL result: -EINVAL");

    in.n_workers = 2; /* but no array */
    r = dcv_sched_pick_worker(&in, &j, NULL, &res, why, sizeof(why));
    TAP_IS_INT(r, -EINVAL, "count without array: -EINVAL");

    struct dcv_sched_worker w[1] = {wk(NULL, &dev_x265, 1)};
    in = input(w, 1);
    r = dcv_sched_pick_worker(&in, &j, NULL, &res, why, sizeof(why));
    TAP_IS_INT(r, -EINVAL, "worker without id: -EINVAL");
    TAP_HAS_STR(why, "no id", "worker without id: message");

    struct dcv_sched_device nodev = {NULL, &caps_x265, 0, NULL, 0, NULL};
    w[0] = wk("w1", &nodev, 1);
    r = dcv_sched_pick_worker(&in, &j, NULL, &res, why, sizeof(why));
    TAP_IS_INT(r, -EINVAL, "device without plugin name: -EINVAL");

    w[0] = wk("w1", NULL, 0);
    r = dcv_sched_pick_worker(&in, &j, NULL, &res, why, sizeof(why));
    TAP_IS_INT(r, -EAGAIN, "worker without devices: -EAGAIN");
    TAP_IS_STR(why, "w1: no encoder devices", "worker without devices: reason");

    struct dcv_sched_session s[2] = {{"b", 1, 0, 0, false}, {"a", 1, 0, 0, false}};
    w[0] = wk("w1", &dev_x265, 1);
    in.sessions = s;
    in.n_sessions = 2;
    r = dcv_sched_pick_worker(&in, &j, NULL, &res, why, sizeof(why));
    TAP_IS_INT(r, -EINVAL, "unsorted session table: -EINVAL");
    TAP_HAS_STR(why, "not sorted", "unsorted session table: message");
    dcv_sched_sessions_sort(s, 2);
    TAP_IS_STR(s[0].key, "a", "dcv_sched_sessions_sort sorts by key");
    r = dcv_sched_pick_worker(&in, &j, NULL, &res, why, sizeof(why));
    TAP_IS_INT(r, 0, "sorted session table accepted");

    in.strategy = (enum dcv_sched_strategy)7;
    r = dcv_sched_pick_worker(&in, &j, NULL, &res, why, sizeof(why));
    TAP_IS_INT(r, -EINVAL, "unknown strategy: -EINVAL");

    /* NULL/zero-length why buffers are allowed. */
    in.strategy = DCV_SCHED_LEAST_LOADED;
    r = dcv_sched_pick_worker(&in, &j, NULL, &res, NULL, 0);
    TAP_IS_INT(r, 0, "NULL why buffer accepted");
}

static void test_capabilities(void)
{
    const struct dcv_sched_device gpu_box[] = {dev_gpu1, dev_x264};
    struct dcv_sched_worker w[3] = {wk("w1", &dev_x264, 1), wk("w2", &dev_x265, 1),
                                    wk("w3", gpu_box, 2)};
    struct dcv_sched_input in = input(w, 3);
    struct dcv_sched_result res;
    char why[512];

    TAP_IS_STR(pick(&in, job("hevc", 0, "auto"), NULL, &res, why, sizeof(why)), "w3",
               "hevc auto: the hardware worker");
    TAP_IS_STR(enc_of(&in, &res), "hevc_nvenc", "hevc auto: hevc_nvenc");
    TAP_IS_INT(res.codec, 1, "hevc auto: codec index 1 of the device");
    TAP_IS_STR(why, "w3: hevc_nvenc on GPU-1234", "success describes the choice");
    TAP_IS_STR(pick(&in, job("hevc", 0, NULL), NULL, &res, why, sizeof(why)), "w3",
               "NULL preference means auto");
    TAP_IS_STR(pick(&in, job("hevc", 0, "sw"), NULL, &res, why, sizeof(why)), "w2",
               "hevc sw: x265 worker");
    TAP_IS_STR(pick(&in, job("hevc", 10, "x265"), NULL, &res, why, sizeof(why)), "w2",
               "family x265, 10-bit");
    TAP_IS_STR(pick(&in, job("hevc", 10, "hevc_nvenc"), NULL, &res, why, sizeof(why)), "w3",
               "exact encoder hevc_nvenc, 10-bit");
    TAP_IS_STR(pick(&in, job("h264", 0, "nvenc"), NULL, &res, why, sizeof(why)), "w3",
               "family nvenc for h264");
    TAP_IS_STR(enc_of(&in, &res), "h264_nvenc", "family nvenc: h264_nvenc codec entry");

    /* w3 also has libx264: the exact encoder picks that device, not the GPU. */
    w[0].slots_used = 3;
    TAP_IS_STR(pick(&in, job("h264", 0, "libx264"), NULL, &res, why, sizeof(why)), "w3",
               "exact libx264: least loaded of the two x264 workers");
    TAP_IS_INT(res.device, 1, "exact libx264 on w3: its x264 device");
    w[0].slots_used = 0;

    TAP_IS_STR(pick(&in, job("av1", 0, "auto"), NULL, &res, why, sizeof(why)), "none",
               "av1: nobody");
    TAP_IS_STR(why, "w1: no av1 encoder; w2: no av1 encoder; w3: no av1 encoder",
               "av1: one reason per worker");
    TAP_IS_INT(res.n_capable, 0, "av1: no capable worker");

    TAP_IS_STR(pick(&in, job("h264", 10, "hw"), NULL, &res, why, sizeof(why)), "none",
               "10-bit h264 on hardware: nobody");
    /* w3's x264 does 10-bit, so "hardware" is what it lacks, not the depth. */
    TAP_HAS_STR(why, "w3: no hardware 10-bit h264 encoder", "hw reason on the GPU+x264 worker");
    TAP_HAS_STR(why, "w1: no hardware 10-bit h264 encoder", "hw reason on the x264 worker");
    TAP_HAS_STR(why, "w2: no h264 encoder", "codec reason on the x265 worker");
    struct dcv_sched_worker gpu_only[1] = {wk("g", &dev_gpu1, 1)};
    struct dcv_sched_input gin = input(gpu_only, 1);
    TAP_IS_STR(pick(&gin, job("h264", 10, "auto"), NULL, &res, why, sizeof(why)), "none",
               "10-bit h264 on a GPU with 8-bit h264 only: refused");
    TAP_IS_STR(why, "g: no 10-bit h264 encoder", "depth reason");

    TAP_IS_STR(pick(&in, job("hevc", 0, "qsv"), NULL, &res, why, sizeof(why)), "none",
               "family qsv: nobody");
    TAP_HAS_STR(why, "w2: no hevc encoder matching 'qsv'", "preference reason");

    TAP_IS_STR(pick(&in, job("h264", 0, "sw"), NULL, &res, why, sizeof(why)), "w1",
               "h264 sw: w1 (ties by id with w3's x264)");

    /* Unavailable devices are never chosen and explain themselves. */
    struct dcv_sched_worker off[1] = {wk("g1", &dev_off, 1)};
    in = input(off, 1);
    TAP_IS_STR(pick(&in, job("hevc", 0, "auto"), NULL, &res, why, sizeof(why)), "none",
               "unavailable device: not chosen");
    TAP_IS_STR(why, "g1: hevc on GPU-off unavailable (GPU without an encoder block)",
               "unavailable device: reason names it");
}

static void test_worker_filters(void)
{
    struct dcv_sched_worker w[6];
    struct dcv_sched_input in;
    struct dcv_sched_result res;
    char why[512];

    for (int i = 0; i < 6; i++)
        w[i] = wk((const char *[]){"a", "b", "c", "d", "e", "f"}[i], &dev_x265, 1);
    w[0].healthy = false;
    w[1].draining = true;
    w[2].busy = true;
    w[3].slots_used = 4;
    w[4].slots_total = 0;
    in = input(w, 6);
    TAP_IS_STR(pick(&in, job("hevc", 0, NULL), NULL, &res, why, sizeof(why)), "f",
               "only the healthy, undrained, idle worker with a slot");
    w[5].load = 3.0;
    w[5].mem_used = 0.5;
    in.max_load = 2.0;
    TAP_IS_STR(pick(&in, job("hevc", 0, NULL), NULL, &res, why, sizeof(why)), "none",
               "load over max_load: refused");
    TAP_IS_STR(why,
               "a: unhealthy; b: draining; c: busy; d: slots 4/4; e: slots 0/0; "
               "f: load 3.00 over 2.00",
               "every filter explained");
    TAP_IS_INT(res.n_capable, 6, "all six are capable, none eligible");
    in.max_load = 0;
    in.max_mem = 0.4;
    TAP_IS_STR(pick(&in, job("hevc", 0, NULL), NULL, &res, why, sizeof(why)), "none",
               "memory over max_mem: refused");
    TAP_HAS_STR(why, "f: memory 50% over 40%", "memory reason");
    in.max_mem = 0.6;
    TAP_IS_STR(pick(&in, job("hevc", 0, NULL), NULL, &res, why, sizeof(why)), "f",
               "memory under max_mem: accepted");

    /* A truncated explanation says so. */
    in.max_mem = 0.4;
    char small[24];
    TAP_IS_INT(dcv_sched_pick_worker(&in, &(struct dcv_sched_job){"hevc", 0, NULL, 0}, NULL,
                                     &res, small, sizeof(small)),
               -EAGAIN, "small buffer: -EAGAIN");
    TAP_OK(strlen(small) == sizeof(small) - 1 && strcmp(small + sizeof(small) - 4, "...") == 0,
           "small buffer: cut with '...' (%s)", small);
}

static void test_least_loaded(void)
{
    struct dcv_sched_worker w[3] = {wk("w1", &dev_x265, 1), wk("w2", &dev_x265, 1),
                                    wk("w3", &dev_x265, 1)};
    struct dcv_sched_input in = input(w, 3);
    struct dcv_sched_result res;
    char why[256];

    w[0].slots_used = 2; /* 2/4 */
    w[1].slots_used = 1; /* 1/4 */
    w[2].slots_used = 1;
    w[2].slots_total = 8; /* 1/8 */
    TAP_IS_STR(pick(&in, job("hevc", 0, NULL), NULL, &res, why, sizeof(why)), "w3",
               "least loaded: lowest used/total ratio (1/8)");
    w[2].slots_used = 2; /* 2/8 == 1/4 */
    w[1].load = 0.9;
    w[2].load = 0.3;
    TAP_IS_STR(pick(&in, job("hevc", 0, NULL), NULL, &res, why, sizeof(why)), "w3",
               "equal ratio: lower load wins");
    w[1].load = w[2].load = 0.3;
    TAP_IS_STR(pick(&in, job("hevc", 0, NULL), NULL, &res, why, sizeof(why)), "w2",
               "all equal: lowest id wins");

    /* Ties by id, not by array position. */
    struct dcv_sched_worker rev[2] = {wk("zeta", &dev_x265, 1), wk("alpha", &dev_x265, 1)};
    in = input(rev, 2);
    TAP_IS_STR(pick(&in, job("hevc", 0, NULL), NULL, &res, why, sizeof(why)), "alpha",
               "tie broken by id whatever the array order");
    TAP_IS_INT(res.worker, 1, "tie: index of alpha");
}

static void test_round_robin(void)
{
    struct dcv_sched_worker w[3] = {wk("w3", &dev_x265, 1), wk("w1", &dev_x265, 1),
                                    wk("w2", &dev_x265, 1)};
    struct dcv_sched_input in = input(w, 3);
    struct dcv_sched_cursor cur = {{0}};
    struct dcv_sched_result res;
    char why[256], seq[64] = "";
    int count[3] = {0, 0, 0};

    in.strategy = DCV_SCHED_ROUND_ROBIN;
    w[1].slots_used = 3; /* would lose under least-loaded */
    for (int i = 0; i < 4; i++) {
        strcat(seq, pick(&in, job("hevc", 0, NULL), &cur, &res, why, sizeof(why)));
        strcat(seq, " ");
    }
    TAP_IS_STR(seq, "w1 w2 w3 w1 ", "round robin cycles by id");
    TAP_IS_STR(cur.last, "w1", "cursor holds the last id");

    w[2].draining = true; /* w2 */
    seq[0] = '\0';
    for (int i = 0; i < 4; i++) {
        strcat(seq, pick(&in, job("hevc", 0, NULL), &cur, &res, why, sizeof(why)));
        strcat(seq, " ");
    }
    TAP_IS_STR(seq, "w3 w1 w3 w1 ", "round robin skips an ineligible worker");
    w[2].draining = false;

    memset(&cur, 0, sizeof(cur));
    for (int i = 0; i < 30; i++) {
        pick(&in, job("hevc", 0, NULL), &cur, &res, why, sizeof(why));
        count[res.worker]++;
    }
    TAP_OK(count[0] == 10 && count[1] == 10 && count[2] == 10,
           "round robin is fair over 30 picks (%d/%d/%d)", count[0], count[1], count[2]);

    /* A cursor naming a departed worker continues after it. */
    snprintf(cur.last, sizeof(cur.last), "w15");
    TAP_IS_STR(pick(&in, job("hevc", 0, NULL), &cur, &res, why, sizeof(why)), "w2",
               "cursor of a departed worker: next id after it");
    TAP_IS_STR(pick(&in, job("hevc", 0, NULL), NULL, &res, why, sizeof(why)), "w1",
               "no cursor: first id");
}

static void test_hw_preference(void)
{
    const struct dcv_sched_device mixed[] = {dev_x265, dev_gpu1};
    struct dcv_sched_worker w[2] = {wk("a-cpu", &dev_x265, 1), wk("b-gpu", mixed, 2)};
    struct dcv_sched_input in = input(w, 2);
    struct dcv_sched_result res;
    char why[256];

    w[1].slots_used = 3; /* busier than the idle CPU box */
    w[1].load = 0.9;
    for (int s = 0; s < 3; s++) {
        in.strategy = (enum dcv_sched_strategy)s;
        TAP_IS_STR(pick(&in, job("hevc", 0, "auto"), NULL, &res, why, sizeof(why)), "b-gpu",
                   "auto prefers the hardware worker");
        TAP_IS_STR(enc_of(&in, &res), "hevc_nvenc", "auto: the GPU device, not its x265");
    }
    in.strategy = DCV_SCHED_LEAST_LOADED;
    TAP_IS_STR(pick(&in, job("hevc", 0, "sw"), NULL, &res, why, sizeof(why)), "a-cpu",
               "sw forces software: the idle CPU worker");
    w[0].draining = true;
    TAP_IS_STR(pick(&in, job("hevc", 0, "sw"), NULL, &res, why, sizeof(why)), "b-gpu",
               "sw on the mixed worker...");
    TAP_IS_STR(enc_of(&in, &res), "libx265", "...uses its software device");
    TAP_IS_STR(pick(&in, job("hevc", 0, "hw"), NULL, &res, why, sizeof(why)), "b-gpu",
               "hw: the GPU");
    TAP_IS_STR(enc_of(&in, &res), "hevc_nvenc", "hw: hevc_nvenc");
}

static void test_gpu_sessions(void)
{
    /* Two workers (e.g. two containers) on one box share GPU-1234. */
    const struct dcv_sched_device d1[] = {{"nvenc", &caps_gpu1, 0, NULL, 0, NULL}};
    const struct dcv_sched_device d2[] = {{"nvenc", &caps_gpu1_uuid, 0, NULL, 0, NULL}};
    struct dcv_sched_worker w[3] = {wk("w1", d1, 1), wk("w2", d2, 1), wk("w3", &dev_x265, 1)};
    struct dcv_sched_input in = input(w, 2);
    struct dcv_sched_result res;
    struct dcv_sched_session s[1];
    char why[256], k1[DCV_SCHED_KEY_MAX], k2[DCV_SCHED_KEY_MAX];

    w[0].host = w[1].host = "boot-1";
    TAP_IS_INT(dcv_sched_session_key(&w[0], &d1[0], k1, sizeof(k1)), 0, "per-device key");
    TAP_IS_INT(dcv_sched_session_key(&w[1], &d2[0], k2, sizeof(k2)), 0, "per-device key 2");
    TAP_IS_STR(k1, "boot-1/GPU-1234", "key is host/device_id");
    TAP_IS_STR(k2, k1, "two workers on one GPU share a key");

    s[0] = (struct dcv_sched_session){k1, 2, 0, 0, false};
    in.sessions = s;
    in.n_sessions = 1;
    w[0].slots_used = 1;
    TAP_IS_STR(pick(&in, job("hevc", 0, NULL), NULL, &res, why, sizeof(why)), "w2",
               "2/3 sessions: the last one is free");
    /* The coordinator counts the assignment; the GPU is now full for both. */
    s[0].used = 3;
    TAP_IS_STR(pick(&in, job("hevc", 0, NULL), NULL, &res, why, sizeof(why)), "none",
               "3/3 sessions: the other worker is refused too");
    TAP_IS_STR(why, "w1: GPU-1234 sessions 3/3; w2: GPU-1234 sessions 3/3",
               "sessions reason per worker");
    TAP_IS_INT(res.n_session_blocked, 2, "both blocked on sessions only");
    TAP_IS_INT(res.n_capable, 2, "both capable");
    TAP_IS_STR(pick(&in, job("hevc", 0, "hw"), NULL, &res, why, sizeof(why)), "none",
               "hw job waits for the GPU");

    in.n_workers = 3;
    TAP_IS_STR(pick(&in, job("hevc", 0, "auto"), NULL, &res, why, sizeof(why)), "w3",
               "auto falls back to software when the GPU is full");

    /* A limit lowered after -EBUSY wins over the reported one. */
    in.n_workers = 2;
    s[0].used = 2;
    s[0].limit = 2;
    TAP_IS_STR(pick(&in, job("hevc", 0, NULL), NULL, &res, why, sizeof(why)), "none",
               "override limit 2: full at 2");
    TAP_HAS_STR(why, "GPU-1234 sessions 2/2", "override limit in the reason");
    s[0].limit = 5; /* a higher override cannot raise the device's own limit */
    TAP_IS_STR(pick(&in, job("hevc", 0, NULL), NULL, &res, why, sizeof(why)), "w2",
               "override above the device's max: device max 3 applies (2/3 free)");
    s[0].used = 3;
    TAP_IS_STR(pick(&in, job("hevc", 0, NULL), NULL, &res, why, sizeof(why)), "none",
               "override above the device's max: full at 3");

    /* No host identity: the device id itself is the key, still shared. */
    w[0].host = w[1].host = NULL;
    dcv_sched_session_key(&w[0], &d1[0], k1, sizeof(k1));
    dcv_sched_session_key(&w[1], &d2[0], k2, sizeof(k2));
    TAP_IS_STR(k1, "GPU-1234", "no host: key is the device id");
    s[0] = (struct dcv_sched_session){k1, 3, 0, 0, false};
    TAP_IS_STR(pick(&in, job("hevc", 0, NULL), NULL, &res, why, sizeof(why)), "none",
               "no host: shared by device id");

    /* Render node paths repeat on every machine: different hosts do not share. */
    const struct dcv_sched_device r1[] = {dev_render};
    struct dcv_sched_worker rw[2] = {wk("ra", r1, 1), wk("rb", r1, 1)};
    rw[0].host = "hostA";
    rw[1].host = "hostB";
    struct dcv_sched_session rs[1] = {{"hostA//dev/dri/renderD128", 1, 0, 0, false}};
    in = input(rw, 2);
    in.sessions = rs;
    in.n_sessions = 1;
    TAP_IS_STR(pick(&in, job("hevc", 0, NULL), NULL, &res, why, sizeof(why)), "rb",
               "same render node path on another host is another device");
    TAP_IS_STR(why, "rb: hevc_vaapi on /dev/dri/renderD128", "render node choice described");
}

static void test_per_host_and_unlimited(void)
{
    struct dcv_device_caps gpu_c = caps_gpu_b;
    snprintf(gpu_c.device_id, sizeof(gpu_c.device_id), "GPU-c");
    const struct dcv_sched_device two[] = {{"nvenc", &caps_gpu_b, 0, NULL, 0, NULL}, {"nvenc", &gpu_c, 0, NULL, 0, NULL}};
    struct dcv_sched_worker w[2] = {wk("w1", two, 2), wk("w2", two, 2)};
    struct dcv_sched_input in = input(w, 2);
    struct dcv_sched_result res;
    char why[256], k1[DCV_SCHED_KEY_MAX], k2[DCV_SCHED_KEY_MAX];

    w[0].host = "h1";
    w[1].host = "h2";
    dcv_sched_session_key(&w[0], &two[0], k1, sizeof(k1));
    dcv_sched_session_key(&w[0], &two[1], k2, sizeof(k2));
    TAP_IS_STR(k1, "h1/plugin:nvenc", "per-host key names host and plugin");
    TAP_IS_STR(k2, k1, "both GPUs of a host count against one per-host key");
    struct dcv_sched_session s[1] = {{k1, 3, 0, 0, false}};
    in.sessions = s;
    in.n_sessions = 1;
    w[1].slots_used = 3;
    TAP_IS_STR(pick(&in, job("hevc", 0, NULL), NULL, &res, why, sizeof(why)), "w2",
               "per-host limit reached on h1 (both GPUs): h2 chosen");
    in.n_workers = 1;
    TAP_IS_STR(pick(&in, job("hevc", 0, NULL), NULL, &res, why, sizeof(why)), "none",
               "per-host limit: h1 alone refused");
    TAP_IS_STR(why, "w1: nvenc sessions 3/3 per host", "per-host reason");

    /* Unlimited: software scope, and per-device with an unknown (0) max. */
    TAP_IS_INT(dcv_sched_session_key(&w[0], &dev_x265, k1, sizeof(k1)), 1,
               "unlimited scope: no key to count");
    TAP_IS_STR(k1, "", "unlimited scope: empty key");
    struct dcv_device_caps nolimit = caps_gpu1;
    nolimit.max_sessions = 0;
    const struct dcv_sched_device nl[] = {{"nvenc", &nolimit, 0, NULL, 0, NULL}};
    struct dcv_sched_worker u[1] = {wk("u1", nl, 1)};
    struct dcv_sched_session big[1] = {{"GPU-1234", 1000, 0, 0, false}};
    in = input(u, 1);
    in.sessions = big;
    in.n_sessions = 1;
    TAP_IS_STR(pick(&in, job("hevc", 0, NULL), NULL, &res, why, sizeof(why)), "u1",
               "max_sessions 0: unlimited whatever the count");
    char tiny[4];
    TAP_IS_INT(dcv_sched_session_key(&w[0], &two[0], tiny, sizeof(tiny)), -ENAMETOOLONG,
               "key buffer too small: -ENAMETOOLONG");
}

static void test_big_jobs_and_capability(void)
{
    struct dcv_sched_worker w[2] = {wk("slow", &dev_x265, 1), wk("fast", &dev_x265, 1)};
    struct dcv_sched_input in = input(w, 2);
    struct dcv_sched_result res;
    struct dcv_sched_job small = job("hevc", 0, NULL), bigj = job("hevc", 0, NULL);
    char why[256];

    w[0].bench_fps = 100;
    w[1].bench_fps = 300;
    small.size_hint = 10.0 * 640 * 360;
    bigj.size_hint = 600.0 * 1920 * 1080;
    TAP_IS_STR(pick(&in, bigj, NULL, &res, why, sizeof(why)), "fast",
               "big job among equals: the faster worker");
    TAP_IS_STR(pick(&in, small, NULL, &res, why, sizeof(why)), "fast",
               "small job among equals: speed still breaks the tie");
    w[1].slots_used = 1;
    TAP_IS_STR(pick(&in, small, NULL, &res, why, sizeof(why)), "slow",
               "small job: load before speed");
    TAP_IS_STR(pick(&in, bigj, NULL, &res, why, sizeof(why)), "fast",
               "big job: speed before load");
    in.big_job_size = 1e15;
    TAP_IS_STR(pick(&in, bigj, NULL, &res, why, sizeof(why)), "slow",
               "raised big_job_size: not big any more");
    in.big_job_size = 0;
    w[1].bench_fps = 0;
    TAP_IS_STR(pick(&in, bigj, NULL, &res, why, sizeof(why)), "slow",
               "unknown fps ranks below a known one");

    /* Capability match: the fastest best-matching device, despite load. */
    const struct dcv_sched_device g_slow[] = {{"nvenc", &caps_gpu1, 200, NULL, 0, NULL}};
    struct dcv_device_caps fast_caps = caps_gpu_off;
    fast_caps.flags |= DCV_CAP_AVAILABLE;
    const struct dcv_sched_device g_fast_on[] = {{"nvenc", &fast_caps, 500, NULL, 0, NULL}};
    struct dcv_sched_worker g[2] = {wk("g1", g_slow, 1), wk("g2", g_fast_on, 1)};
    g[1].slots_used = 2;
    in = input(g, 2);
    TAP_IS_STR(pick(&in, small, NULL, &res, why, sizeof(why)), "g1",
               "least-loaded: the idle GPU worker");
    in.strategy = DCV_SCHED_CAPABILITY;
    TAP_IS_STR(pick(&in, small, NULL, &res, why, sizeof(why)), "g2",
               "capability match: the faster device");
    /* Equal speed: the GPU with more free sessions wins, despite load. */
    struct dcv_device_caps other = caps_gpu1;
    snprintf(other.device_id, sizeof(other.device_id), "GPU-5678");
    const struct dcv_sched_device g_other[] = {{"nvenc", &other, 200, NULL, 0, NULL}};
    g[1].devices = g_other;
    struct dcv_sched_session s[1] = {{"GPU-1234", 2, 0, 0, false}};
    in.sessions = s;
    in.n_sessions = 1;
    TAP_IS_STR(pick(&in, small, NULL, &res, why, sizeof(why)), "g2",
               "capability match, equal speed: more free sessions");
}

static void test_pick_job(void)
{
    struct dcv_sched_worker w[1] = {wk("w1", &dev_x265, 1)};
    struct dcv_sched_input in = input(w, 1);
    struct dcv_sched_result res;
    struct dcv_sched_job q[3] = {job("h264", 0, NULL), job("hevc", 10, NULL),
                                 job("hevc", 8, NULL)};
    char why[256];
    int r;

    r = dcv_sched_pick_job(&in, 0, q, 3, &res, why, sizeof(why));
    TAP_IS_INT(r, 1, "pick_job: first job in priority order the worker can run");
    TAP_IS_INT(res.worker, 0, "pick_job: worker index");
    TAP_IS_STR(enc_of(&in, &res), "libx265", "pick_job: encoder");
    r = dcv_sched_pick_job(&in, 0, q, 1, &res, why, sizeof(why));
    TAP_IS_INT(r, -EAGAIN, "pick_job: nothing fits");
    TAP_IS_STR(why, "w1: job 0: no h264 encoder", "pick_job: reason per job");
    r = dcv_sched_pick_job(&in, 0, q, 0, &res, why, sizeof(why));
    TAP_IS_INT(r, -EAGAIN, "pick_job: empty queue");
    TAP_IS_STR(why, "w1: no queued jobs", "pick_job: empty queue reason");
    w[0].draining = true;
    r = dcv_sched_pick_job(&in, 0, q, 3, &res, why, sizeof(why));
    TAP_IS_INT(r, -EAGAIN, "pick_job: draining worker takes nothing");
    TAP_IS_STR(why, "w1: draining", "pick_job: draining reason");
    w[0].draining = false;
    r = dcv_sched_pick_job(&in, 1, q, 3, &res, why, sizeof(why));
    TAP_IS_INT(r, -EINVAL, "pick_job: worker index out of range");
    q[0].codec = NULL;
    r = dcv_sched_pick_job(&in, 0, q, 3, &res, why, sizeof(why));
    TAP_IS_INT(r, -EINVAL, "pick_job: malformed job");
    TAP_IS_STR(why, "job 0: job has no codec", "pick_job: malformed job named");

    /* GPU full: the hevc job waits, the software job behind it runs. */
    const struct dcv_sched_device mixed[] = {dev_gpu1, dev_x264};
    struct dcv_sched_worker g[1] = {wk("g", mixed, 2)};
    struct dcv_sched_session s[1] = {{"GPU-1234", 3, 0, 0, false}};
    struct dcv_sched_job q2[2] = {job("hevc", 0, "hw"), job("h264", 0, NULL)};
    in = input(g, 1);
    in.sessions = s;
    in.n_sessions = 1;
    r = dcv_sched_pick_job(&in, 0, q2, 2, &res, why, sizeof(why));
    TAP_IS_INT(r, 1, "pick_job: skips a job blocked on GPU sessions");
    TAP_IS_STR(enc_of(&in, &res), "libx264", "pick_job: h264 on the CPU while the GPU is full");
}

/* ---- issue 5: cluster-wide GPU accounting, classes, policies, gpu-aware ---- */

static struct dcv_sched_session sess(const char *key, uint32_t used, uint32_t limit)
{
    struct dcv_sched_session x = {key, used, limit, 0, false};
    return x;
}

static void test_shared_gpu_policy_inputs(void)
{
    /* Two workers on one host share GPU-1234 (3 sessions); a third is CPU only. */
    const struct dcv_sched_device d1[] = {{"nvenc", &caps_gpu1, 0, NULL, 0, NULL}, dev_x265};
    const struct dcv_sched_device d2[] = {{"nvenc", &caps_gpu1, 0, NULL, 0, NULL}};
    struct dcv_sched_worker w[3] = {wk("w1", d1, 2), wk("w2", d2, 1), wk("w3", &dev_x265, 1)};
    struct dcv_sched_input in = input(w, 3);
    struct dcv_sched_result res;
    struct dcv_sched_session s[1];
    char why[512];

    w[0].host = w[1].host = "box";
    s[0] = sess("box/GPU-1234", 2, 0);
    in.sessions = s;
    in.n_sessions = 1;
    TAP_IS_STR(pick(&in, job("hevc", 0, NULL), NULL, &res, why, sizeof(why)), "w1",
               "a free session: hardware first");
    TAP_OK(res.hw && !res.gpu_exhausted, "placed on the GPU, not exhausted");
    TAP_IS_INT(res.n_hw_capable, 2, "two workers can reach the GPU");
    TAP_IS_INT(res.n_hw_free, 2, "both see a free session");

    s[0].used = 3;
    TAP_IS_STR(pick(&in, job("hevc", 0, NULL), NULL, &res, why, sizeof(why)), "w1",
               "GPU full: auto may still be placed in software (w1's x265 ranks by load)");
    TAP_OK(!res.hw, "the placement is a software one");
    TAP_OK(res.gpu_exhausted, "and the result says every GPU was full");
    TAP_IS_INT(res.n_hw_blocked, 2, "both GPU workers blocked");
    TAP_IS_STR(res.gpu_detail, "GPU-1234 sessions 3/3", "the shared GPU is named once");

    TAP_IS_STR(pick(&in, job("hevc", 0, "hw"), NULL, &res, why, sizeof(why)), "none",
               "hw job: nothing to place");
    TAP_OK(res.gpu_exhausted, "hw job: exhausted (the policy decides)");
    TAP_IS_STR(why, "w1: GPU-1234 sessions 3/3; w2: GPU-1234 sessions 3/3; w3: no hardware hevc "
                    "encoder",
               "hw job: every worker explained");

    TAP_IS_STR(pick(&in, job("hevc", 0, "sw"), NULL, &res, why, sizeof(why)), "w1",
               "sw job: not a GPU matter");
    TAP_OK(!res.gpu_exhausted && res.n_hw_capable == 0, "sw job: no GPU inputs at all");

    TAP_IS_STR(pick(&in, job("hevc", 0, "nvenc"), NULL, &res, why, sizeof(why)), "none",
               "named hardware plugin waits");
    TAP_OK(res.gpu_exhausted, "named hardware plugin: exhausted");

    /* A GPU without a hevc encoder does not count: no hardware for the codec. */
    TAP_IS_STR(pick(&in, job("h264", 0, NULL), NULL, &res, why, sizeof(why)), "none",
               "h264 on a full GPU, no x264 anywhere");
    TAP_OK(res.gpu_exhausted, "h264: the GPU can do it, so it is exhausted");
    TAP_IS_STR(pick(&in, job("av1", 0, NULL), NULL, &res, why, sizeof(why)), "none",
               "av1: nobody");
    TAP_OK(!res.gpu_exhausted && res.n_hw_capable == 0, "no hardware for the codec: no policy");

    /* A worker that takes no work at all does not make the GPU "free". */
    s[0].used = 2;
    w[0].draining = true;
    w[1].busy = true;
    TAP_IS_STR(pick(&in, job("hevc", 0, NULL), NULL, &res, why, sizeof(why)), "w3",
               "GPU workers unavailable: software");
    TAP_OK(!res.gpu_exhausted, "not exhausted: nobody was refused on sessions");
    w[0].draining = false;
    w[1].busy = false;
}

static void test_per_host_two_gpus(void)
{
    /* A consumer card's cap is per machine: two GPUs on one host, 3 per host. */
    static struct dcv_device_caps ga, gb;
    mk_caps(&ga, "GPU-a", 1, 3, DCV_SCOPE_PER_HOST);
    add_codec(&ga, "hevc", "hevc_nvenc", D8);
    mk_caps(&gb, "GPU-b", 1, 3, DCV_SCOPE_PER_HOST);
    add_codec(&gb, "hevc", "hevc_nvenc", D8);
    const struct dcv_sched_device d[] = {{"nvenc", &ga, 0, NULL, 0, NULL},
                                         {"nvenc", &gb, 0, NULL, 0, NULL}};
    struct dcv_sched_worker w[2] = {wk("w1", d, 2), wk("w2", d, 2)};
    struct dcv_sched_input in = input(w, 2);
    struct dcv_sched_result res;
    struct dcv_sched_session s[2];
    char why[512], ka[DCV_SCHED_KEY_MAX], kb[DCV_SCHED_KEY_MAX];

    w[0].host = "h1";
    w[1].host = "h2";
    dcv_sched_session_key(&w[0], &d[0], ka, sizeof(ka));
    dcv_sched_session_key(&w[0], &d[1], kb, sizeof(kb));
    TAP_IS_STR(ka, "h1/plugin:nvenc", "per-host key");
    TAP_IS_STR(kb, ka, "both GPUs of a host count against one key");
    s[0] = sess("h1/plugin:nvenc", 3, 0);
    s[1] = sess("h2/plugin:nvenc", 1, 0);
    in.sessions = s;
    in.n_sessions = 2;
    TAP_IS_STR(pick(&in, job("hevc", 0, "hw"), NULL, &res, why, sizeof(why)), "w2",
               "host 1 full across both GPUs: host 2");
    s[1].used = 3;
    TAP_IS_STR(pick(&in, job("hevc", 0, "hw"), NULL, &res, why, sizeof(why)), "none",
               "both hosts full");
    TAP_IS_STR(why, "w1: nvenc sessions 3/3 per host; w2: nvenc sessions 3/3 per host",
               "per-host reason");
    TAP_IS_STR(res.gpu_detail, "nvenc on h1 sessions 3/3 per host, nvenc on h2 sessions 3/3 per host",
               "summary names each host");
}

static void test_classes(void)
{
    const struct dcv_sched_device d[] = {{"nvenc", &caps_gpu1, 0, NULL, 0, NULL}, dev_x265};
    struct dcv_sched_worker w[1] = {wk("w1", d, 2)};
    struct dcv_sched_input in = input(w, 1);
    struct dcv_sched_result res;
    char why[512];
    int r;

    /* One GPU, eight cores: one GPU job at a time, several CPU jobs. */
    w[0].slots_total = 8;
    w[0].gpu_slots = 1;
    w[0].cpu_slots = 6;
    TAP_IS_STR(pick(&in, job("hevc", 0, NULL), NULL, &res, why, sizeof(why)), "w1",
               "classes: free GPU slot");
    TAP_OK(res.hw, "classes: a GPU job");
    w[0].slots_used = w[0].gpu_used = 1;
    TAP_IS_STR(pick(&in, job("hevc", 0, NULL), NULL, &res, why, sizeof(why)), "w1",
               "GPU slot taken: auto runs as a CPU job on the same box");
    TAP_OK(!res.hw, "... in software");
    TAP_OK(res.gpu_exhausted, "... the GPU counted as full (max_gpu_jobs)");
    TAP_HAS_STR(res.gpu_detail, "w1: no free GPU slot (1 of 1 in use)", "summary names the slot");
    TAP_IS_STR(pick(&in, job("hevc", 0, "hw"), NULL, &res, why, sizeof(why)), "none",
               "hw job: no GPU slot");
    TAP_IS_STR(why, "w1: no free GPU slot (1 of 1 in use)", "GPU slot reason");
    w[0].slots_used = 7;
    w[0].cpu_used = 6;
    TAP_IS_STR(pick(&in, job("hevc", 0, "sw"), NULL, &res, why, sizeof(why)), "none",
               "CPU slots full though total slots are free");
    TAP_IS_STR(why, "w1: no free CPU slot (6 of 6 in use)", "CPU slot reason");
    w[0].gpu_used = 0;
    w[0].slots_used = 6;
    TAP_IS_STR(pick(&in, job("hevc", 0, "sw"), NULL, &res, why, sizeof(why)), "none",
               "sw job still waits for a CPU slot");
    TAP_IS_STR(pick(&in, job("hevc", 0, NULL), NULL, &res, why, sizeof(why)), "w1",
               "auto takes the free GPU slot");
    TAP_OK(res.hw, "... on the GPU");
    /* Classes never lift the total. */
    w[0].slots_used = 8;
    TAP_IS_STR(pick(&in, job("hevc", 0, NULL), NULL, &res, why, sizeof(why)), "none",
               "total slots still bound both classes");
    TAP_IS_STR(why, "w1: slots 8/8", "total slots reason");
    /* 0 = the total. */
    w[0].cpu_slots = w[0].gpu_slots = 0;
    w[0].slots_used = 3;
    w[0].cpu_used = 3;
    TAP_IS_STR(pick(&in, job("hevc", 0, "sw"), NULL, &res, why, sizeof(why)), "w1",
               "class limit 0 means the total");
    /* pick_job sees the classes too. */
    struct dcv_sched_job jobs[2] = {job("hevc", 0, "hw"), job("hevc", 0, "sw")};
    w[0].gpu_slots = 1;
    w[0].gpu_used = 1;
    r = dcv_sched_pick_job(&in, 0, jobs, 2, &res, why, sizeof(why));
    TAP_IS_INT(r, 1, "pick_job: the hw job waits for the GPU slot, the sw job goes");
}

static void test_external_sessions(void)
{
    struct dcv_sched_session s[4];
    size_t ns = 0;
    /* NVML on two workers of host "box" reports the same GPU: newest wins. */
    struct dcv_sched_gpu_obs o[5] = {
        {"box/GPU-1234", "box/GPU-1234", 3, 1, 100}, /* old report: 2 external */
        {"box/GPU-1234", "box/GPU-1234", 2, 1, 200}, /* newest: 1 external */
        {"h2/plugin:nvenc", "h2/GPU-x", 2, 0, 50},    /* per-host: two GPUs summed */
        {"h2/plugin:nvenc", "h2/GPU-y", 3, 2, 50},
        {"h3/GPU-z", "h3/GPU-z", -1, 0, 50},         /* unknown: nothing */
    };
    s[ns++] = sess("box/GPU-1234", 1, 0);
    TAP_IS_INT(dcv_sched_add_external(s, &ns, 4, o, 5), 0, "external sessions added");
    dcv_sched_sessions_sort(s, ns);
    TAP_IS_INT((int)ns, 2, "a key appended for the per-host GPUs only");
    TAP_IS_STR(s[0].key, "box/GPU-1234", "sorted: box first");
    TAP_IS_INT((int)s[0].used, 2, "ours 1 + 1 other (newest report, never the sum)");
    TAP_IS_INT((int)s[0].external, 1, "one held by other software");
    TAP_IS_INT((int)s[1].used, 3, "per host: 2 on GPU-x + 1 on GPU-y");
    TAP_IS_INT((int)s[1].external, 3, "all of them other software's");

    /* ours above NVML's count (a report older than our assignment): no negative. */
    struct dcv_sched_gpu_obs o2[1] = {{"k", "box/GPU-1", 1, 3, 1}};
    struct dcv_sched_session s2[1];
    size_t n2 = 0;
    TAP_IS_INT(dcv_sched_add_external(s2, &n2, 1, o2, 1), 0, "stale report");
    TAP_IS_INT((int)n2, 0, "nothing external when ours exceed the report");
    struct dcv_sched_gpu_obs o3[1] = {{"k", "box/GPU-1", 4, 0, 1}};
    TAP_IS_INT(dcv_sched_add_external(s2, &n2, 0, o3, 1), -ENOSPC, "no room for the key");

    /* The scheduler then explains what it saw. */
    const struct dcv_sched_device d[] = {{"nvenc", &caps_gpu1, 0, NULL, 0, NULL}};
    struct dcv_sched_worker w[1] = {wk("w1", d, 1)};
    struct dcv_sched_input in = input(w, 1);
    struct dcv_sched_result res;
    char why[512];
    struct dcv_sched_session s3[1] = {{"box/GPU-1234", 3, 0, 1, false}};
    w[0].host = "box";
    in.sessions = s3;
    in.n_sessions = 1;
    TAP_IS_STR(pick(&in, job("hevc", 0, NULL), NULL, &res, why, sizeof(why)), "none",
               "external sessions fill the GPU");
    TAP_IS_STR(why, "w1: GPU-1234 sessions 3/3 (1 used by other software)",
               "reason says other software holds one");
    TAP_IS_STR(res.gpu_detail, "GPU-1234 sessions 3/3 (1 used by other software)",
               "summary too");
}

static void test_held_limits(void)
{
    const struct dcv_sched_device d[] = {{"nvenc", &caps_gpu1, 0, NULL, 0, NULL}};
    static struct dcv_device_caps unl;
    struct dcv_sched_worker w[1] = {wk("w1", d, 1)};
    struct dcv_sched_input in = input(w, 1);
    struct dcv_sched_result res;
    struct dcv_sched_session s[1] = {{"GPU-1234", 0, 0, 0, true}};
    char why[512];

    in.sessions = s;
    in.n_sessions = 1;
    TAP_IS_STR(pick(&in, job("hevc", 0, "hw"), NULL, &res, why, sizeof(why)), "none",
               "a hold at 0 blocks (an -EBUSY with nothing of ours running)");
    TAP_IS_STR(why, "w1: GPU-1234 sessions 0/0 (held after a refused session)", "hold reason");
    s[0].used = 1;
    s[0].limit = 2;
    TAP_IS_STR(pick(&in, job("hevc", 0, "hw"), NULL, &res, why, sizeof(why)), "w1",
               "hold at 2 with 1 in use: free");
    s[0].used = 2;
    TAP_IS_STR(pick(&in, job("hevc", 0, "hw"), NULL, &res, why, sizeof(why)), "none",
               "hold at 2 with 2 in use: full below the device's 3");
    s[0].limit = 9;
    TAP_IS_STR(pick(&in, job("hevc", 0, "hw"), NULL, &res, why, sizeof(why)), "w1",
               "a hold never raises the device's limit");
    /* A device that reports no limit (0) still obeys a hold. */
    mk_caps(&unl, "GPU-u", 1, 0, DCV_SCOPE_PER_DEVICE);
    add_codec(&unl, "hevc", "hevc_nvenc", D8);
    const struct dcv_sched_device du[] = {{"nvenc", &unl, 0, NULL, 0, NULL}};
    struct dcv_sched_worker wu[1] = {wk("wu", du, 1)};
    struct dcv_sched_session su[1] = {{"GPU-u", 4, 4, 0, true}};
    in = input(wu, 1);
    in.sessions = su;
    in.n_sessions = 1;
    TAP_IS_STR(pick(&in, job("hevc", 0, "hw"), NULL, &res, why, sizeof(why)), "none",
               "hold on a device without a reported limit");
    su[0].hold = false;
    TAP_IS_STR(pick(&in, job("hevc", 0, "hw"), NULL, &res, why, sizeof(why)), "none",
               "a plain override also counts when the device has no limit");
    su[0].limit = 0;
    TAP_IS_STR(pick(&in, job("hevc", 0, "hw"), NULL, &res, why, sizeof(why)), "wu",
               "no limit, no override: free");
}

static void test_gpu_aware(void)
{
    static struct dcv_device_caps g4a, g4b, dc, gq;
    struct dcv_sched_bench ba[2] = {{"hevc", 300}, {"h264", 900}};
    struct dcv_sched_bench bb[1] = {{"hevc", 600}};
    mk_caps(&g4a, "GPU-a", 1, 4, DCV_SCOPE_PER_DEVICE);
    add_codec(&g4a, "h264", "h264_nvenc", D8);
    add_codec(&g4a, "hevc", "hevc_nvenc", D8);
    mk_caps(&g4b, "GPU-b", 1, 4, DCV_SCOPE_PER_DEVICE);
    add_codec(&g4b, "hevc", "hevc_nvenc", D8);
    mk_caps(&dc, "GPU-dc", 1, 0, DCV_SCOPE_UNLIMITED);
    add_codec(&dc, "hevc", "hevc_nvenc", D8);
    mk_caps(&gq, "/dev/dri/renderD128", 1, 2, DCV_SCOPE_PER_DEVICE);
    add_codec(&gq, "hevc", "hevc_vaapi", D8);
    const struct dcv_sched_device da[] = {{"nvenc", &g4a, 0, ba, 2, NULL}, dev_x265};
    const struct dcv_sched_device db[] = {{"nvenc", &g4b, 0, bb, 1, NULL}};
    struct dcv_sched_worker w[3] = {wk("wa", da, 2), wk("wb", db, 1), wk("wc", &dev_x265, 1)};
    struct dcv_sched_input in = input(w, 3);
    struct dcv_sched_result res;
    struct dcv_sched_session s[2] = {sess("GPU-a", 1, 0), sess("GPU-b", 3, 0)};
    struct dcv_sched_job j;
    char why[512];

    in.strategy = DCV_SCHED_GPU_AWARE;
    in.sessions = s;
    in.n_sessions = 2;
    TAP_IS_STR(pick(&in, job("hevc", 0, NULL), NULL, &res, why, sizeof(why)), "wa",
               "gpu-aware: most free sessions (3/4 free beats 1/4)");
    TAP_OK(res.hw, "gpu-aware: hardware");
    /* Big job: the fastest device for the job's codec, free sessions aside. */
    j = job("hevc", 0, NULL);
    j.size_hint = 2 * DCV_SCHED_BIG_JOB_DEFAULT;
    TAP_IS_STR(pick(&in, j, NULL, &res, why, sizeof(why)), "wb",
               "big hevc job: GPU-b's 600 fps (hevc figure) beats GPU-a's 300");
    j.codec = "h264";
    TAP_IS_STR(pick(&in, j, NULL, &res, why, sizeof(why)), "wa",
               "h264: only GPU-a has it (900 fps per-codec figure)");
    /* Equal ratios: the earliest estimated finish (speed shared with what runs there). */
    s[0].used = 2;
    s[1].used = 2;
    j = job("hevc", 0, NULL);
    j.size_hint = 1000;
    TAP_IS_STR(pick(&in, j, NULL, &res, why, sizeof(why)), "wb",
               "same free ratio, known size: the faster device finishes first");
    /* Unknown size and speed: ties broken by load, then id. */
    j.size_hint = 0;
    w[1].slots_used = 1;
    TAP_IS_STR(pick(&in, j, NULL, &res, why, sizeof(why)), "wa",
               "unknown size: least loaded");
    w[1].slots_used = 0;
    w[0].load = 0.5;
    TAP_IS_STR(pick(&in, j, NULL, &res, why, sizeof(why)), "wb", "then the load figure");
    w[0].load = 0;
    TAP_IS_STR(pick(&in, j, NULL, &res, why, sizeof(why)), "wb",
               "equal load: the faster device (600 fps)");
    bb[0].fps = 300;
    TAP_IS_STR(pick(&in, j, NULL, &res, why, sizeof(why)), "wa", "then the id");
    bb[0].fps = 600;
    /* Unlimited (datacenter) counts as entirely free. */
    const struct dcv_sched_device dd[] = {{"nvenc", &dc, 0, NULL, 0, NULL}};
    w[2] = wk("wd", dd, 1);
    TAP_IS_STR(pick(&in, job("hevc", 0, NULL), NULL, &res, why, sizeof(why)), "wd",
               "an unlimited GPU is the freest");
    /* Software only when no hardware is free (auto). */
    s[0].used = 4;
    s[1].used = 4;
    w[2] = wk("wc", &dev_x265, 1);
    TAP_IS_STR(pick(&in, job("hevc", 0, NULL), NULL, &res, why, sizeof(why)), "wa",
               "GPUs full: software, least loaded first (wa's x265)");
    TAP_OK(!res.hw && res.gpu_exhausted, "software placement flagged as exhausted");
    /* Within one worker, the device choice follows the same order. */
    const struct dcv_sched_device two[] = {{"vaapi", &gq, 0, NULL, 0, NULL},
                                           {"nvenc", &g4b, 0, bb, 1, NULL}};
    struct dcv_sched_worker w2[1] = {wk("w2", two, 2)};
    struct dcv_sched_session s2[2] = {sess("/dev/dri/renderD128", 0, 0), sess("GPU-b", 3, 0)};
    in = input(w2, 1);
    in.strategy = DCV_SCHED_GPU_AWARE;
    in.sessions = s2;
    in.n_sessions = 2;
    TAP_IS_STR(pick(&in, job("hevc", 0, NULL), NULL, &res, why, sizeof(why)), "w2",
               "one worker, two GPUs");
    TAP_IS_STR(enc_of(&in, &res), "hevc_vaapi", "the freer device (2/2 free beats 1/4)");
    j = job("hevc", 0, NULL);
    j.size_hint = 2 * DCV_SCHED_BIG_JOB_DEFAULT;
    pick(&in, j, NULL, &res, why, sizeof(why));
    TAP_IS_STR(enc_of(&in, &res), "hevc_nvenc", "a big job takes the benchmarked faster one");
    TAP_IS_STR(dcv_sched_strategy_name(DCV_SCHED_GPU_AWARE), "gpu-aware", "strategy name");
    in.strategy = (enum dcv_sched_strategy)4;
    TAP_IS_INT(dcv_sched_pick_worker(&in, &j, NULL, &res, why, sizeof(why)), -EINVAL,
               "unknown strategy refused");
}

static void test_precomputed_keys(void)
{
    /* The coordinator computes keys once per pass; the result must not change. */
    const struct dcv_sched_device d[] = {{"nvenc", &caps_gpu1, 0, NULL, 0, "box/GPU-1234"}};
    const struct dcv_sched_device dn[] = {{"nvenc", &caps_gpu1, 0, NULL, 0, ""}};
    struct dcv_sched_worker w[1] = {wk("w1", d, 1)};
    struct dcv_sched_input in = input(w, 1);
    struct dcv_sched_result res;
    struct dcv_sched_session s[1] = {sess("box/GPU-1234", 3, 0)};
    char why[256];
    in.sessions = s;
    in.n_sessions = 1;
    TAP_IS_STR(pick(&in, job("hevc", 0, NULL), NULL, &res, why, sizeof(why)), "none",
               "precomputed key counts");
    w[0].devices = dn;
    TAP_IS_STR(pick(&in, job("hevc", 0, NULL), NULL, &res, why, sizeof(why)), "w1",
               "an empty key means nothing to count");
}

int main(void)
{
    setup_caps();
    test_empty_and_bad_input();
    test_capabilities();
    test_worker_filters();
    test_least_loaded();
    test_round_robin();
    test_hw_preference();
    test_gpu_sessions();
    test_per_host_and_unlimited();
    test_big_jobs_and_capability();
    test_pick_job();
    test_shared_gpu_policy_inputs();
    test_per_host_two_gpus();
    test_classes();
    test_external_sessions();
    test_held_limits();
    test_gpu_aware();
    test_precomputed_keys();
    return tap_done();
}

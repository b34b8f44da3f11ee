/*
 * bench/sched driver: decisions per second and decision time percentiles of
 * the pure scheduler (core/coordinator/scheduler.c) over a simulated cluster,
 * per strategy, with least-loaded as the baseline measured in the same run.
 *
 * The cluster: WORKERS workers (default 1000) on hosts of four kinds, drawn
 * with a fixed seed so every run sees the same cluster:
 *   35 % consumer NVENC boxes  (nvenc per host, 8 sessions; x264 + x265;
 *        one in five hosts runs two workers sharing the GPU, as containers do)
 *   10 % datacenter GPU boxes  (nvenc, no session limit; x264 + x265)
 *   20 % iGPU boxes            (vaapi per render node, 4 sessions; x264)
 *   35 % CPU-only boxes        (x264 + x265)
 * Each device has startup-benchmark figures per codec; GPU boxes have
 * max_gpu_jobs, the session table holds every limited key with a realistic
 * fill, some sessions held by other software, a few limits held after an
 * -EBUSY. Jobs: h264 / hevc / av1, encoder auto 60 %, hw 15 %, sw 15 %,
 * a named plugin 10 %, a size hint with one job in five "big".
 *
 * Every placement is applied to the view (slots, classes, sessions) and a
 * running job ends at random, so the cluster stays in a busy steady state
 * where some decisions place and some explain why nothing fits; the timed
 * part is exactly one dcv_sched_pick_worker() call with a 1 KiB `why`, as
 * the coordinator makes it.
 *
 *   sched-driver [DECISIONS] [WORKERS]
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "coordinator/scheduler.h"

#define ROUNDS 3

static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}
static uint32_t below(uint32_t n) { return n ? rnd() % n : 0; }

enum kind { K_CONSUMER, K_DATACENTER, K_IGPU, K_CPU };

struct wstate {
    char id[32], host[32];
    enum kind kind;
    struct dcv_sched_device dev[3];
    struct dcv_device_caps caps[3];
    struct dcv_sched_bench bench[3][3];
    char key[3][DCV_SCHED_KEY_MAX];
};

struct running {
    int worker;
    bool hw;
    int sess; /* index into the session table, -1 none */
};

static struct wstate *ws;
static struct dcv_sched_worker *W, *W0;
static struct dcv_sched_session *S, *S0;
static char (*skeys)[DCV_SCHED_KEY_MAX];
static size_t nw, ns;

static void add_codec(struct dcv_device_caps *c, const char *codec, const char *enc)
{
    struct dcv_codec_caps *cc = &c->codecs[c->n_codecs++];
    snprintf(cc->codec, sizeof cc->codec, "%s", codec);
    snprintf(cc->encoder, sizeof cc->encoder, "%s", enc);
    cc->bit_depths = (1u << 8) | (1u << 10);
}

static void mk_dev(struct wstate *w, int i, const char *plugin, const char *id, bool hw,
                   uint32_t max, uint32_t scope, double base_fps)
{
    struct dcv_device_caps *c = &w->caps[i];
    memset(c, 0, sizeof *c);
    c->struct_size = sizeof *c;
    c->flags = DCV_CAP_AVAILABLE | (hw ? DCV_CAP_HARDWARE : 0);
    snprintf(c->device_id, sizeof c->device_id, "%s", id);
    c->max_sessions = max;
    c->max_sessions_scope = scope;
    if (strcmp(plugin, "x264") == 0) {
        add_codec(c, "h264", "libx264");
    } else if (strcmp(plugin, "x265") == 0) {
        add_codec(c, "hevc", "libx265");
    } else if (strcmp(plugin, "nvenc") == 0) {
        add_codec(c, "h264", "h264_nvenc");
        add_codec(c, "hevc", "hevc_nvenc");
        add_codec(c, "av1", "av1_nvenc");
    } else {
        add_codec(c, "h264", "h264_vaapi");
        add_codec(c, "hevc", "hevc_vaapi");
    }
    for (uint32_t k = 0; k < c->n_codecs; k++) {
        w->bench[i][k].codec = c->codecs[k].codec;
        w->bench[i][k].fps = base_fps * (0.6 + below(80) / 100.0) / (k + 1);
    }
    w->dev[i].plugin = plugin;
    w->dev[i].caps = c;
    w->dev[i].bench_fps = w->bench[i][0].fps;
    w->dev[i].bench = w->bench[i];
    w->dev[i].n_bench = c->n_codecs;
}

static int key_index(const char *key)
{
    size_t lo = 0, hi = ns;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(S[mid].key, key);
        if (!c)
            return (int)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static void build(size_t n)
{
    size_t host = 0;
    nw = n;
    ws = calloc(nw, sizeof *ws);
    W = calloc(nw, sizeof *W);
    W0 = calloc(nw, sizeof *W0);
    skeys = calloc(nw * 3, sizeof *skeys);
    S = calloc(nw * 3, sizeof *S);
    S0 = calloc(nw * 3, sizeof *S0);
    if (!ws || !W || !W0 || !skeys || !S || !S0) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < nw; i++) {
        struct wstate *w = &ws[i];
        struct dcv_sched_worker *v = &W[i];
        uint32_t r = below(100);
        char gpu[sizeof ws[0].caps[0].device_id];
        int nd = 0;
        /* The second container of a shared consumer box reuses the previous host. */
        bool shared = i > 0 && ws[i - 1].kind == K_CONSUMER && below(5) == 0 &&
                      strcmp(ws[i - 1].host, i > 1 ? ws[i - 2].host : "") != 0;
        w->kind = shared ? K_CONSUMER
                  : r < 35 ? K_CONSUMER
                  : r < 45 ? K_DATACENTER
                  : r < 65 ? K_IGPU
                           : K_CPU;
        snprintf(w->id, sizeof w->id, "w%04zu", i);
        if (shared)
            snprintf(w->host, sizeof w->host, "%s", ws[i - 1].host);
        else
            snprintf(w->host, sizeof w->host, "host-%05zu", host++);
        snprintf(gpu, sizeof gpu, "GPU-%08x-%s", rnd(), w->host);
        switch (w->kind) {
        case K_CONSUMER:
            if (shared)
                snprintf(gpu, sizeof gpu, "%s", ws[i - 1].caps[0].device_id);
            mk_dev(w, nd++, "nvenc", gpu, true, 8, DCV_SCOPE_PER_HOST, 400);
            mk_dev(w, nd++, "x264", "cpu", false, 0, DCV_SCOPE_UNLIMITED, 90);
            mk_dev(w, nd++, "x265", "cpu", false, 0, DCV_SCOPE_UNLIMITED, 40);
            break;
        case K_DATACENTER:
            mk_dev(w, nd++, "nvenc", gpu, true, 0, DCV_SCOPE_UNLIMITED, 700);
            mk_dev(w, nd++, "x264", "cpu", false, 0, DCV_SCOPE_UNLIMITED, 200);
            mk_dev(w, nd++, "x265", "cpu", false, 0, DCV_SCOPE_UNLIMITED, 80);
            break;
        case K_IGPU:
            mk_dev(w, nd++, "vaapi", "/dev/dri/renderD128", true, 4, DCV_SCOPE_PER_DEVICE, 250);
            mk_dev(w, nd++, "x264", "cpu", false, 0, DCV_SCOPE_UNLIMITED, 60);
            break;
        case K_CPU:
            mk_dev(w, nd++, "x264", "cpu", false, 0, DCV_SCOPE_UNLIMITED, 120);
            mk_dev(w, nd++, "x265", "cpu", false, 0, DCV_SCOPE_UNLIMITED, 50);
            break;
        }
        v->id = w->id;
        v->host = w->host;
        v->healthy = true;
        v->draining = below(100) < 2;
        v->busy = below(100) < 3;
        v->slots_total = 4 + below(13);
        if (w->kind != K_CPU) {
            v->gpu_slots = w->kind == K_DATACENTER ? 8 : 2;
            v->cpu_slots = v->slots_total > 2 ? v->slots_total - 2 : 1;
        }
        /* A busy farm: background jobs fill most slots (they never end). */
        v->gpu_used = w->kind == K_CPU ? 0 : below(v->gpu_slots + 1);
        v->cpu_used = below((v->cpu_slots ? v->cpu_slots : v->slots_total) - v->gpu_used + 1);
        v->slots_used = v->gpu_used + v->cpu_used;
        if (v->slots_used > v->slots_total - 1)
            v->cpu_used = v->slots_total - 1 - v->gpu_used, v->slots_used = v->slots_total - 1;
        v->load = below(120) / 100.0;
        v->mem_used = below(90) / 100.0;
        v->devices = w->dev;
        v->n_devices = (size_t)nd;
        for (int d = 0; d < nd; d++) {
            int rr = dcv_sched_session_key(v, &w->dev[d], w->key[d], sizeof w->key[d]);
            if (rr < 0) {
                fprintf(stderr, "session key: %d\n", rr);
                exit(1);
            }
            w->dev[d].key = w->key[d];
            if (rr == 0) {
                size_t k;
                for (k = 0; k < ns && strcmp(skeys[k], w->key[d]) != 0; k++)
                    ;
                if (k == ns) {
                    snprintf(skeys[ns], sizeof skeys[ns], "%s", w->key[d]);
                    memset(&S[ns], 0, sizeof S[ns]);
                    S[ns].key = skeys[ns];
                    ns++;
                }
            }
        }
    }
    /* Sessions in use (most GPUs busy), other software's, a few held limits. */
    for (size_t k = 0; k < ns; k++) {
        S[k].used = strstr(S[k].key, "plugin:nvenc") ? 4 + below(5) : below(5);
        if (below(10) == 0) {
            S[k].external = 1 + below(2);
            S[k].used += S[k].external;
        }
        if (below(50) == 0) {
            S[k].hold = true;
            S[k].limit = 2 + below(3);
        }
    }
    dcv_sched_sessions_sort(S, ns);
    memcpy(W0, W, nw * sizeof *W);
    memcpy(S0, S, ns * sizeof *S);
}

static const char *const codecs[] = {"h264", "hevc", "av1"};
static const char *const named[] = {"x265", "nvenc", "x264", "vaapi"};

static struct dcv_sched_job make_job(void)
{
    struct dcv_sched_job j = {0};
    uint32_t r = below(100);
    j.codec = codecs[below(10) < 5 ? 0 : below(10) < 8 ? 1 : 2];
    j.encoder = r < 60 ? "auto" : r < 75 ? "hw" : r < 90 ? "sw" : named[below(4)];
    j.bit_depth = below(10) == 0 ? 10 : 0;
    j.size_hint = below(5) == 0 ? (60.0 + below(3600)) * 1920 * 1080 : below(60) * 1280.0 * 720;
    return j;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

struct result {
    uint64_t *ns_each;
    size_t n;
    uint64_t total_ns;
    size_t placed, exhausted;
};

/* One run of `n` decisions from the initial state with a fixed job stream. */
static void run(enum dcv_sched_strategy st, size_t n, uint64_t seed, struct result *res)
{
    struct dcv_sched_cursor cur = {{0}};
    struct running *rq = calloc(n + 1, sizeof *rq);
    size_t nrun = 0;
    char why[1024];
    memcpy(W, W0, nw * sizeof *W);
    memcpy(S, S0, ns * sizeof *S);
    rng = seed;
    if (!rq) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++) {
        struct dcv_sched_job j = make_job();
        struct dcv_sched_input in = {0};
        struct dcv_sched_result r;
        uint64_t t0, t1;
        int rc;
        in.workers = W;
        in.n_workers = nw;
        in.sessions = S;
        in.n_sessions = ns;
        in.strategy = st;
        t0 = now_ns();
        rc = dcv_sched_pick_worker(&in, &j, &cur, &r, why, sizeof why);
        t1 = now_ns();
        res->ns_each[res->n++] = t1 - t0;
        res->total_ns += t1 - t0;
        if (r.gpu_exhausted)
            res->exhausted++;
        if (rc == 0) {
            struct dcv_sched_worker *v = &W[r.worker];
            struct running *x = &rq[nrun++];
            const char *key = v->devices[r.device].key;
            res->placed++;
            x->worker = r.worker;
            x->hw = r.hw;
            x->sess = key && key[0] ? key_index(key) : -1;
            v->slots_used++;
            if (r.hw)
                v->gpu_used++;
            else
                v->cpu_used++;
            if (x->sess >= 0)
                S[x->sess].used++;
        } else if (rc != -EAGAIN) {
            fprintf(stderr, "scheduler: %s\n", why);
            exit(1);
        }
        /* Jobs end at random: about as many end as start once busy. */
        while (nrun && below(100) < (nrun > nw ? 100 : 50)) {
            size_t k = below((uint32_t)nrun);
            struct running x = rq[k];
            struct dcv_sched_worker *v = &W[x.worker];
            rq[k] = rq[--nrun];
            v->slots_used--;
            if (x.hw)
                v->gpu_used--;
            else
                v->cpu_used--;
            if (x.sess >= 0)
                S[x.sess].used--;
        }
    }
    free(rq);
}

int main(int argc, char **argv)
{
    static const enum dcv_sched_strategy order[] = {
        DCV_SCHED_LEAST_LOADED, DCV_SCHED_ROUND_ROBIN, DCV_SCHED_CAPABILITY, DCV_SCHED_GPU_AWARE,
    };
    enum { NS = sizeof order / sizeof order[0] };
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 20000;
    size_t workers = argc > 2 ? strtoul(argv[2], NULL, 10) : 1000;
    struct result res[NS];
    double base_dps = 0, base_p99 = 0;
    size_t per = n / ROUNDS ? n / ROUNDS : 1, nkeys_limited = 0;

    if (workers < 1 || workers > 100000) {
        fprintf(stderr, "workers: 1..100000\n");
        return 2;
    }
    build(workers);
    for (size_t k = 0; k < ns; k++)
        nkeys_limited++;
    {
        size_t kinds[4] = {0};
        for (size_t i = 0; i < nw; i++)
            kinds[ws[i].kind]++;
        printf("cluster: %zu workers (%zu consumer NVENC, %zu datacenter GPU, %zu iGPU VAAPI, "
               "%zu CPU-only), %zu session keys\n",
               nw, kinds[0], kinds[1], kinds[2], kinds[3], nkeys_limited);
    }
    printf("decisions: %zu per strategy in %d rounds, strategies interleaved per round\n",
           per * ROUNDS, ROUNDS);
    for (int s = 0; s < NS; s++) {
        memset(&res[s], 0, sizeof res[s]);
        res[s].ns_each = calloc(per * ROUNDS, sizeof *res[s].ns_each);
        if (!res[s].ns_each)
            return 1;
    }
    for (int round = 0; round < ROUNDS; round++)
        for (int k = 0; k < NS; k++) {
            /* Rotate the order each round so drift hits every strategy alike. */
            int s = (k + round) % NS;
            run(order[s], per, 0x9e3779b97f4a7c15ull + (uint64_t)round, &res[s]);
        }
    printf("%-13s %12s %10s %10s %8s %10s %12s %10s\n", "strategy", "decisions/s", "p50 us",
           "p99 us", "placed", "gpu-full", "dps ratio", "p99 ratio");
    for (int s = 0; s < NS; s++) {
        struct result *r = &res[s];
        double dps, p50, p99;
        qsort(r->ns_each, r->n, sizeof *r->ns_each, cmp_u64);
        dps = r->total_ns ? (double)r->n * 1e9 / (double)r->total_ns : 0;
        p50 = r->ns_each[r->n / 2] / 1000.0;
        p99 = r->ns_each[(r->n * 99) / 100] / 1000.0;
        if (s == 0) {
            base_dps = dps;
            base_p99 = p99;
        }
        printf("%-13s %12.0f %10.1f %10.1f %7.1f%% %9.1f%% %12.3f %10.3f\n",
               dcv_sched_strategy_name(order[s]), dps, p50, p99, 100.0 * r->placed / r->n,
               100.0 * r->exhausted / r->n, base_dps ? dps / base_dps : 0,
               base_p99 ? p99 / base_p99 : 0);
        free(r->ns_each);
    }
    printf("(ratios against least-loaded in this run: decisions/s higher is better, p99 lower)\n");
    free(ws);
    free(W);
    free(W0);
    free(S);
    free(S0);
    free(skeys);
    return 0;
}

/*
 * What HELLO says about this worker (worker_int.h), built once by
 * dcv_worker_new: its identity (name, session, host), the encoder plugins
 * and devices of the capability probe with the startup benchmark's
 * figures, and the coordinator-side path prefixes it reads directly.
 * HELLO.running is filled per send, by the connection (worker.c).
 */
#include "worker/worker_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "build-config.h"
#include "caps_json.h"
#include "jsonutil.h"
#include "config.h"
#include "errbuf.h"
#include "log.h"
#include "rand.h"
#include "worker/encbench.h"
#include "worker/jobspec.h"

static int is_token_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == ':' || c == '-';
}

/* Keep the token characters of src (at most cap-1 and 63). */
static void tokenize(char *dst, size_t cap, const char *src)
{
    size_t o = 0;
    for (; *src && o + 1 < cap && o < 63; src++)
        if (is_token_char(*src))
            dst[o++] = *src;
    dst[o] = '\0';
}

static int read_line(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "re");
    int ok;
    if (!f)
        return -errno;
    ok = fgets(buf, (int)len, f) != NULL;
    fclose(f);
    return ok ? 0 : -EIO;
}

/* The machine's identity for per-host GPU session limits: the kernel boot id
 * (machine-id when /proc lacks it), as a token. */
static void host_identity(char *out, size_t len)
{
    char buf[128];
    out[0] = '\0';
    if (read_line("/proc/sys/kernel/random/boot_id", buf, sizeof buf) == 0)
        tokenize(out, len, buf);
    if (!out[0] && read_line("/etc/machine-id", buf, sizeof buf) == 0)
        tokenize(out, len, buf);
    if (!out[0] && gethostname(buf, sizeof buf) == 0) {
        buf[sizeof buf - 1] = '\0';
        tokenize(out, len, buf);
    }
    if (!out[0])
        snprintf(out, len, "unknown-host");
}

static int add_devices(struct dcv_proto_hello *h, struct json_object *plugins, int available)
{
    size_t np = json_object_array_length(plugins);
    for (size_t i = 0; i < np; i++) {
        struct json_object *p = json_object_array_get_idx(plugins, i), *devs;
        const char *name = dcv_json_str(p, "name", "");
        if (strcmp(dcv_json_str(p, "kind", ""), "encoder") != 0 || strcmp(dcv_json_str(p, "status", ""), "ok") != 0 ||
            !json_object_object_get_ex(p, "devices", &devs) ||
            !json_object_is_type(devs, json_type_array))
            continue;
        for (size_t k = 0; k < json_object_array_length(devs); k++) {
            struct dcv_proto_device d;
            char err[256];
            memset(&d, 0, sizeof d);
            if (dcv_caps_from_json(json_object_array_get_idx(devs, k), &d.caps, err,
                                   sizeof err) < 0) {
                dcv_log(DCV_LOG_WARN, COMP, "plugin %s device %zu: %s (not announced)", name, k,
                        err);
                continue;
            }
            if (!!(d.caps.flags & DCV_CAP_AVAILABLE) != available)
                continue;
            if (h->n_devices >= DCV_PROTO_MAX_DEVICES) {
                dcv_log(DCV_LOG_WARN, COMP,
                        "more than %d encoder devices: plugin %s device %s not announced",
                        DCV_PROTO_MAX_DEVICES, name, d.caps.device_id);
                continue;
            }
            tokenize(d.plugin, sizeof d.plugin, name);
            d.bench_fps = -1;
            h->devices[h->n_devices++] = d;
        }
    }
    return 0;
}

static int hello_from_probe(struct dcv_proto_hello *h, const char *probe_json, char *err,
                            size_t errlen)
{
    struct json_object *root = json_tokener_parse(probe_json ? probe_json : ""), *plugins;
    size_t np;

    if (!root || !json_object_object_get_ex(root, "plugins", &plugins) ||
        !json_object_is_type(plugins, json_type_array)) {
        json_object_put(root);
        return dcv_err(err, errlen, -EINVAL, "capability probe: not a probe report");
    }
    np = json_object_array_length(plugins);
    for (size_t i = 0; i < np; i++) {
        struct json_object *p = json_object_array_get_idx(plugins, i), *v;
        struct dcv_proto_plugin *pl;
        if (strcmp(dcv_json_str(p, "kind", ""), "encoder") != 0 || strcmp(dcv_json_str(p, "status", ""), "ok") != 0)
            continue;
        if (h->n_plugins >= DCV_PROTO_MAX_PLUGINS)
            break;
        pl = &h->plugins[h->n_plugins];
        tokenize(pl->name, sizeof pl->name, dcv_json_str(p, "name", ""));
        if (!pl->name[0])
            continue;
        dcv_text_sanitize(pl->version, sizeof pl->version, dcv_json_str(p, "version", ""));
        /* The report carries the plugin's ABI minor when probe.c provides
         * it; 0 (the v1.0 baseline every accepted plugin meets) otherwise. */
        pl->abi_minor = 0;
        if (json_object_object_get_ex(p, "abi_minor", &v) && json_object_is_type(v, json_type_int))
            pl->abi_minor = json_object_get_int64(v) & 0xffff;
        h->n_plugins++;
    }
    /* Usable devices first, so a host with many absent GPUs still announces
     * everything it can actually use within the 16-device limit. */
    add_devices(h, plugins, 1);
    add_devices(h, plugins, 0);
    json_object_put(root);
    return 0;
}

/* The startup benchmark's figures for each announced device (HELLO
 * devices[].bench[] and bench_fps, the best of them). */
void wk_hello_bench(struct dcv_worker *w, const char *bench_json)
{
    struct dcv_proto_hello *h = w->hello;
    for (size_t i = 0; i < h->n_devices; i++) {
        struct dcv_proto_device *d = &h->devices[i];
        if (dcv_bench_figures(bench_json, d->plugin, d->caps.device_id, d->bench, DCV_MAX_CODECS,
                              &d->n_bench, &d->bench_fps) < 0) {
            dcv_log(DCV_LOG_WARN, COMP, "startup benchmark: not a report, no figures announced");
            return;
        }
    }
}

size_t wk_hello_figures(const struct dcv_worker *w, struct dcv_proto_devbench *out, size_t cap)
{
    const struct dcv_proto_hello *h = w->hello;
    size_t n = 0;
    for (size_t i = 0; i < h->n_devices && n < cap; i++) {
        const struct dcv_proto_device *d = &h->devices[i];
        struct dcv_proto_devbench *o = &out[n++];
        snprintf(o->plugin, sizeof o->plugin, "%s", d->plugin);
        snprintf(o->device_id, sizeof o->device_id, "%s", d->caps.device_id);
        o->bench_fps = d->bench_fps;
        o->n_bench = d->n_bench;
        memcpy(o->bench, d->bench, sizeof o->bench);
    }
    return n;
}

/* A prefix the protocol accepts in HELLO.paths: absolute, no ".." component. */
static int path_ok(const char *p)
{
    size_t n = strlen(p);
    if (p[0] != '/' || n >= DCV_PROTO_PATH)
        return 0;
    for (const char *q = p; (q = strstr(q, "..")) != NULL; q += 2)
        if ((q == p || q[-1] == '/') && (q[2] == '\0' || q[2] == '/'))
            return 0;
    return 1;
}

static void add_path(struct dcv_proto_hello *h, const char *p, size_t n)
{
    char buf[DCV_PROTO_PATH];
    if (n >= sizeof buf)
        return;
    memcpy(buf, p, n);
    buf[n] = '\0';
    while (n > 1 && buf[n - 1] == '/')
        buf[--n] = '\0';
    if (!path_ok(buf)) {
        dcv_log(DCV_LOG_WARN, COMP, "path prefix '%s' not announced (must be absolute, no ..)",
                buf);
        return;
    }
    for (size_t i = 0; i < h->n_paths; i++)
        if (strcmp(h->paths[i], buf) == 0)
            return;
    if (h->n_paths >= DCV_PROTO_MAX_PATHS) {
        dcv_log(DCV_LOG_WARN, COMP, "more than %d path prefixes: '%s' not announced",
                DCV_PROTO_MAX_PATHS, buf);
        return;
    }
    memcpy(h->paths[h->n_paths++], buf, n + 1);
}

/* HELLO's fixed part: identity, capabilities, benchmark figures, paths. */
int wk_hello_init(struct dcv_worker *w, const struct dcv_worker_opts *opts, char *err,
                  size_t errlen)
{
    struct dcv_proto_hello *h = w->hello;
    char hn[256], rerr[128];
    int r;

    /* Identity. */
    tokenize(h->worker_id, sizeof h->worker_id, w->s->name);
    if (!h->worker_id[0] || strcmp(h->worker_id, w->s->name) != 0) {
        return dcv_err(err, errlen, -EINVAL,
                       "worker name '%s' is not a token (1..63 of A-Z a-z 0-9 . _ : -); set "
                       "name or DISTCONV_NAME",
                       w->s->name);
    }
    if ((r = dcv_random_hex(h->session, 16, rerr, sizeof rerr)) < 0) {
        dcv_errf(err, errlen, "random session id: %s", rerr);
        return r;
    }
    h->proto_min = 1;
    h->proto_max = 1;
    host_identity(h->host, sizeof h->host);
    if (gethostname(hn, sizeof hn) == 0) {
        hn[sizeof hn - 1] = '\0';
        dcv_text_sanitize(h->hostname, sizeof h->hostname, hn);
    }
    snprintf(h->version, sizeof h->version, "%s", PACKAGE_VERSION);
    h->slots = w->s->max_jobs;
    h->max_cpu_jobs = w->s->max_cpu_jobs;
    h->max_gpu_jobs = w->s->max_gpu_jobs;
    if ((r = hello_from_probe(h, opts->probe_json, err, errlen)) < 0)
        return r;
    if (opts->bench_json)
        wk_hello_bench(w, opts->bench_json);
    /* Measuring in the background: the figures follow in heartbeats. */
    h->benchmarking = opts->bgbench != NULL;
    if (h->n_devices == 0)
        dcv_log(DCV_LOG_WARN, COMP, "no encoder device found: this worker can take no job "
                                    "(see distconvd --probe)");

    /* Paths it reads directly. */
    for (unsigned i = 0; i < w->s->path_map.n; i++) {
        const char *e = strchr(w->s->path_map.v[i], '=');
        if (e)
            add_path(h, w->s->path_map.v[i], (size_t)(e - w->s->path_map.v[i]));
    }
    for (size_t i = 0; opts->local_prefixes && opts->local_prefixes[i]; i++)
        w->n_local++;
    if (w->n_local) {
        w->local = calloc(w->n_local, sizeof *w->local);
        if (!w->local)
            return dcv_err(err, errlen, -ENOMEM, "out of memory");
        for (size_t i = 0; i < w->n_local; i++) {
            snprintf(w->local[i], sizeof w->local[i], "%s", opts->local_prefixes[i]);
            add_path(h, w->local[i], strlen(w->local[i]));
        }
    }
    return 0;
}

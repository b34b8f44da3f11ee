/*
 * distconvctl's human output of jobs and workers: `status` and `worker` as
 * "key value" lines, `jobs` and `workers` as tables (cli/ui.c draws them).
 * --json bypasses all of this: the reply body is printed as it came.
 */
#include "ctl.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ui.h"

/* ---- job display ----------------------------------------------------------------------- */

static void short_id(const char *id, char out[13])
{
    snprintf(out, 13, "%s", id);
}

/* Append to buf (holding n bytes) what fmt makes, as far as it fits. */
static size_t add(char *buf, size_t len, size_t n, const char *fmt, ...) DCV_PRINTF(4, 5);
static size_t add(char *buf, size_t len, size_t n, const char *fmt, ...)
{
    va_list ap;
    int w;

    if (n >= len)
        return n;
    va_start(ap, fmt);
    w = vsnprintf(buf + n, len - n, fmt, ap);
    va_end(ap);
    return w < 0 ? n : n + (size_t)w < len ? n + (size_t)w : len - 1;
}

/* "encode 42% 1234/2900 fr 57 fps 1.9x ETA 0:29" (each figure only when
 * known; " stalled" when the coordinator flagged it) from a job's
 * progress; "100%", the queue's reason or "-" without one. */
void show_progress_text(json_object *job, char *buf, size_t len)
{
    json_object *p = dcv_json_get(job, "progress", json_type_object);
    const char *state = dcv_json_str(job, "state", "");
    if (p) {
        double fps = dcv_json_dbl(p, "fps", -1), speed = dcv_json_dbl(p, "speed", -1);
        int64_t fr = dcv_json_int(p, "frames", -1), total = dcv_json_int(p, "frames_total", -1);
        int64_t eta = dcv_json_int(p, "eta_s", -1);
        size_t n = add(buf, len, 0, "%s %.0f%%", dcv_json_str(p, "phase", "?"),
                       dcv_json_dbl(p, "pct", 0));
        if (fr >= 0 && total >= 0)
            n = add(buf, len, n, " %lld/%lld fr", (long long)fr, (long long)total);
        else if (fr >= 0)
            n = add(buf, len, n, " %lld fr", (long long)fr);
        if (fps > 0)
            n = add(buf, len, n, " %.0f fps", fps);
        if (speed > 0)
            n = add(buf, len, n, " %.1fx", speed);
        if (eta >= 3600)
            n = add(buf, len, n, " ETA %lld:%02lld:%02lld", (long long)(eta / 3600),
                    (long long)(eta / 60 % 60), (long long)(eta % 60));
        else if (eta >= 0)
            n = add(buf, len, n, " ETA %lld:%02lld", (long long)(eta / 60), (long long)(eta % 60));
        if (dcv_json_bool(p, "stalled"))
            add(buf, len, n, " stalled");
    } else if (!strcmp(state, "done")) {
        snprintf(buf, len, "100%%");
    } else if (!strcmp(state, "queued") && (p = dcv_json_get(job, "waiting", json_type_object))) {
        /* Why it waits (the scheduler's words), cut to fit with "...". */
        int n = snprintf(buf, len, "waiting: %s", dcv_json_str(p, "reason", "?"));
        if (n > 0 && (size_t)n >= len && len > 4)
            memcpy(buf + len - 4, "...", 4);
    } else {
        snprintf(buf, len, "-");
    }
}

void show_kv(const char *k, const char *v)
{
    printf("%-10s %s\n", k, v);
}

/* One line of text a worker sent, on a terminal: control characters
 * (C0, DEL, and C1 as UTF-8) as '?', so no escape sequence gets through. */
static void put_safe_line(const char *indent, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    fputs(indent, stdout);
    for (; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            putchar('?');
        else if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
            putchar('?'), p++;
        else
            putchar(*p);
    }
    putchar('\n');
}

/* The last log lines of each attempt that kept them (failed ones). */
static void show_log_tails(json_object *attempts)
{
    for (size_t i = 0; i < json_object_array_length(attempts); i++) {
        json_object *a = json_object_array_get_idx(attempts, i);
        json_object *lines = dcv_json_get(a, "log_tail", json_type_array);
        if (!lines || !json_object_array_length(lines))
            continue;
        printf("\nlog of attempt %lld (%s, %s), last %zu lines:\n", (long long)dcv_json_int(a, "attempt", 0),
               dcv_json_str(a, "worker", "-"), dcv_json_str(a, "outcome", "-"), json_object_array_length(lines));
        for (size_t k = 0; k < json_object_array_length(lines); k++) {
            json_object *l = json_object_array_get_idx(lines, k);
            put_safe_line("  ", json_object_is_type(l, json_type_string) ? json_object_get_string(l)
                                                                         : "?");
        }
    }
}

void show_job(json_object *job)
{
    char buf[1024], t1[32], t2[32];
    json_object *o, *arr;
    int64_t now = dcv_now_unix_ms();

    show_kv("job", dcv_json_str(job, "job_id", "?"));
    snprintf(buf, sizeof buf, "%s (attempt %lld of %lld)", dcv_json_str(job, "state", "?"),
             (long long)dcv_json_int(job, "attempt", 0), (long long)dcv_json_int(job, "max_attempts", 0));
    show_kv("state", buf);
    if (dcv_json_str(job, "name", NULL))
        show_kv("name", dcv_json_str(job, "name", ""));
    if (dcv_json_int(job, "input_size", -1) >= 0) {
        dcv_fmt_bytes(buf, sizeof buf, dcv_json_int(job, "input_size", -1));
        show_kv("input", buf);
    }
    snprintf(buf, sizeof buf, "%s %lld", dcv_json_str(job, "prio_class", "normal"),
             (long long)dcv_json_int(job, "priority", 0));
    show_kv("priority", buf);
    if ((o = dcv_json_get(job, "profile", json_type_object))) {
        size_t n = 0;
        buf[0] = '\0';
        json_object_object_foreach(o, k, v) {
            int w = snprintf(buf + n, sizeof buf - n, "%s%s=%s", n ? " " : "", k,
                             json_object_get_string(v));
            if (w < 0 || (size_t)w >= sizeof buf - n)
                break;
            n += (size_t)w;
        }
        show_kv("profile", n ? buf : "(defaults)");
    }
    if ((o = dcv_json_get(job, "progress", json_type_object))) {
        show_progress_text(job, buf, sizeof buf);
        show_kv("progress", buf);
        if (dcv_json_bool(o, "stalled")) {
            dcv_fmt_time(t1, sizeof t1, dcv_json_int(o, "last_progress_ms", 0));
            snprintf(buf, sizeof buf, "no progress for %lld s (last at %s)",
                     (long long)dcv_json_int(o, "idle_s", 0), t1);
            show_kv("stalled", buf);
        }
    }
    if ((o = dcv_json_get(job, "waiting", json_type_object))) {
        if (dcv_json_bool(o, "unschedulable")) {
            dcv_fmt_time(t1, sizeof t1, dcv_json_int(o, "since_ms", 0));
            snprintf(buf, sizeof buf, "%s (since %s)", dcv_json_str(o, "reason", "?"), t1);
        } else {
            snprintf(buf, sizeof buf, "%s", dcv_json_str(o, "reason", "?"));
        }
        show_kv("waiting", buf);
    }
    if (dcv_json_str(job, "worker", NULL))
        show_kv("worker", dcv_json_str(job, "worker", ""));
    if ((o = dcv_json_get(job, "encoder", json_type_object))) {
        snprintf(buf, sizeof buf, "%s %s on %s", dcv_json_str(o, "plugin", "?"), dcv_json_str(o, "encoder", "?"),
                 dcv_json_str(o, "device_id", "?"));
        show_kv("encoder", buf);
    }
    dcv_fmt_time(t1, sizeof t1, dcv_json_int(job, "created_ms", 0));
    dcv_fmt_age(t2, sizeof t2, now - dcv_json_int(job, "created_ms", now));
    snprintf(buf, sizeof buf, "%s (%s ago)", t1, t2);
    show_kv("created", buf);
    dcv_fmt_time(t1, sizeof t1, dcv_json_int(job, "updated_ms", 0));
    show_kv("updated", t1);
    if (dcv_json_str(job, "error", NULL))
        show_kv("error", dcv_json_str(job, "error", ""));
    if (dcv_json_str(job, "outcome", NULL)) {
        int none = strcmp(dcv_json_str(job, "outcome", ""), "encoded") != 0;
        snprintf(buf, sizeof buf, "%s%s%s%s", dcv_json_str(job, "outcome", ""),
                 dcv_json_str(job, "note", NULL) ? ": " : "", dcv_json_str(job, "note", ""),
                 none ? " (no output: keep the original)" : "");
        show_kv("outcome", buf);
    }
    if ((o = dcv_json_get(job, "output", json_type_object))) {
        char sz[32];
        dcv_fmt_bytes(sz, sizeof sz, dcv_json_int(o, "size", -1));
        snprintf(buf, sizeof buf, "%s%s%s sha256 %s", dcv_json_str(o, "name", ""),
                 dcv_json_str(o, "name", "")[0] ? ", " : "", sz, dcv_json_str(o, "sha256", "?"));
        show_kv("output", buf);
    }
    show_blob_facts(job);
    if ((arr = dcv_json_get(job, "attempts", json_type_array)) && json_object_array_length(arr)) {
        struct dcv_table t;
        static const char *const h[] = {"ATTEMPT", "WORKER", "STARTED", "ENDED", "OUTCOME",
                                        "ERROR"};
        printf("\nattempts:\n");
        if (dcv_table_init(&t, 6, h, 1) == 0) {
            for (size_t i = 0; i < json_object_array_length(arr); i++) {
                json_object *a = json_object_array_get_idx(arr, i);
                char n[24];
                const char *row[6];
                snprintf(n, sizeof n, "%lld", (long long)dcv_json_int(a, "attempt", 0));
                dcv_fmt_time(t1, sizeof t1, dcv_json_int(a, "started_ms", 0));
                dcv_fmt_time(t2, sizeof t2, dcv_json_int(a, "ended_ms", 0));
                row[0] = n; row[1] = dcv_json_str(a, "worker", "-"); row[2] = t1; row[3] = t2;
                row[4] = dcv_json_str(a, "outcome", "-"); row[5] = dcv_json_str(a, "error", "");
                if (dcv_table_add(&t, row) < 0)
                    break;
            }
            dcv_table_print(&t, stdout);
            dcv_table_free(&t);
        }
        show_log_tails(arr);
    }
    if ((arr = dcv_json_get(job, "history", json_type_array)) && json_object_array_length(arr)) {
        struct dcv_table t;
        static const char *const h[] = {"TIME", "FROM", "TO", "EVENT", "ATTEMPT", "NOTE"};
        printf("\nhistory:\n");
        if (dcv_table_init(&t, 6, h, 1u << 4) == 0) {
            for (size_t i = 0; i < json_object_array_length(arr); i++) {
                json_object *e = json_object_array_get_idx(arr, i);
                char n[24];
                const char *row[6];
                snprintf(n, sizeof n, "%lld", (long long)dcv_json_int(e, "attempt", 0));
                dcv_fmt_time(t1, sizeof t1, dcv_json_int(e, "time_ms", 0));
                row[0] = t1; row[1] = dcv_json_str(e, "from", "-"); row[2] = dcv_json_str(e, "to", "-");
                row[3] = dcv_json_str(e, "event", "-"); row[4] = n; row[5] = dcv_json_str(e, "note", "");
                if (dcv_table_add(&t, row) < 0)
                    break;
            }
            dcv_table_print(&t, stdout);
            dcv_table_free(&t);
        }
    }
}

/* A done job whose attempt produced no output (library rules): its
 * outcome ("skipped", "kept-original"), else NULL. */
const char *show_no_output(json_object *job)
{
    const char *oc = dcv_json_str(job, "outcome", NULL);
    return oc && strcmp(oc, "encoded") != 0 ? oc : NULL;
}

int show_jobs(json_object *body, int64_t offset, int quiet)
{
    json_object *jobs;
    int rc = EXIT_OK;
    size_t n;

    jobs = dcv_json_get(body, "jobs", json_type_array);
    n = jobs ? json_object_array_length(jobs) : 0;
    if (n == 0) {
        if (!quiet && offset > 0 && dcv_json_int(body, "total", 0) > 0)
            printf("no jobs past the %lld newest (%lld in all)\n", (long long)offset,
                   (long long)dcv_json_int(body, "total", 0));
        else if (!quiet)
            printf("no jobs\n");
        return EXIT_OK;
    }
    {
        static const char *const h[] = {"ID", "STATE", "PROGRESS", "WORKER", "NAME", "AGE"};
        struct dcv_table t;
        int64_t now = dcv_now_unix_ms();
        if (dcv_table_init(&t, 6, h, 0) < 0)
            return EXIT_FAILED;
        for (size_t i = 0; i < n; i++) {
            json_object *j = json_object_array_get_idx(jobs, i);
            char id[13], prog[96], age[32];
            const char *row[6];
            short_id(dcv_json_str(j, "job_id", "?"), id);
            show_progress_text(j, prog, sizeof prog);
            dcv_fmt_age(age, sizeof age, now - dcv_json_int(j, "created_ms", now));
            char state[64];
            snprintf(state, sizeof state, "%s%s%s%s", dcv_json_str(j, "state", "?"),
                     show_no_output(j) ? " (" : "", show_no_output(j) ? show_no_output(j) : "",
                     show_no_output(j) ? ")" : "");
            row[0] = id; row[1] = state; row[2] = prog;
            row[3] = dcv_json_str(j, "worker", "-"); row[4] = dcv_json_str(j, "name", "-"); row[5] = age;
            if (dcv_table_add(&t, row) < 0) {
                rc = EXIT_FAILED;
                break;
            }
        }
        dcv_table_print(&t, stdout);
        dcv_table_free(&t);
        if (dcv_json_int(body, "total", (int64_t)n) > offset + (int64_t)n && !quiet)
            printf("(jobs %lld-%lld of %lld, newest first; --offset %lld shows the next %zu)\n",
                   (long long)offset + 1, (long long)offset + (long long)n,
                   (long long)dcv_json_int(body, "total", 0), (long long)offset + (long long)n, n);
    }
    return rc;
}

/* "x264, nvenc x2" from a worker's devices. */
static void fmt_devices(json_object *w, char *buf, size_t len)
{
    json_object *devs = dcv_json_get(w, "devices", json_type_array);
    size_t n = devs ? json_object_array_length(devs) : 0, o = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        const char *p = dcv_json_str(json_object_array_get_idx(devs, i), "plugin", "?");
        size_t count = 0, seen = 0;
        for (size_t j = 0; j < n; j++) {
            const char *q = dcv_json_str(json_object_array_get_idx(devs, j), "plugin", "?");
            if (!strcmp(p, q)) {
                count++;
                if (j < i)
                    seen = 1;
            }
        }
        if (seen)
            continue;
        {
            int w2 = count > 1 ? snprintf(buf + o, len - o, "%s%s x%zu", o ? ", " : "", p, count)
                               : snprintf(buf + o, len - o, "%s%s", o ? ", " : "", p);
            if (w2 < 0 || (size_t)w2 >= len - o)
                break;
            o += (size_t)w2;
        }
    }
    if (!buf[0])
        snprintf(buf, len, "-");
}

static void fmt_worker_state(json_object *w, char *buf, size_t len)
{
    snprintf(buf, len, "%s%s%s%s", dcv_json_str(w, "state", "?"), dcv_json_bool(w, "draining") ? ",draining" : "",
             dcv_json_bool(w, "busy") ? ",busy" : "", dcv_json_bool(w, "benchmarking") ? ",benchmarking" : "");
}

/* A figure or "-" when the worker did not report it (left out = unknown). */
static void fmt_opt(char *buf, size_t len, json_object *o, const char *key, int decimals,
                    const char *unit)
{
    if (dcv_json_get(o, key, json_type_double) || dcv_json_get(o, key, json_type_int))
        snprintf(buf, len, "%.*f%s", decimals, dcv_json_dbl(o, key, 0), unit);
    else
        snprintf(buf, len, "-");
}

/* "GPU-8f.. (NVIDIA GeForce RTX 4070, 0000:01:00.0): util 12%, enc 30%,
 * dec 0%, mem 1.0 GiB of 8.0 GiB, 61 C, 75 W, 2 encoder sessions" */
static void fmt_gpu(json_object *g, char *buf, size_t len)
{
    char u[16], e[16], d[16], t[16], p[16], n[16], mu[32], mt[32];
    fmt_opt(u, sizeof u, g, "util_pct", 0, "%");
    fmt_opt(e, sizeof e, g, "enc_pct", 0, "%");
    fmt_opt(d, sizeof d, g, "dec_pct", 0, "%");
    fmt_opt(t, sizeof t, g, "temp_c", 0, " C");
    fmt_opt(p, sizeof p, g, "power_w", 0, " W");
    fmt_opt(n, sizeof n, g, "enc_sessions", 0, "");
    dcv_fmt_bytes(mu, sizeof mu, dcv_json_int(g, "mem_used", -1));
    dcv_fmt_bytes(mt, sizeof mt, dcv_json_int(g, "mem_total", -1));
    snprintf(buf, len,
             "%s (%s%s%s): util %s, enc %s, dec %s, mem %s of %s, %s, %s, %s encoder sessions",
             dcv_json_str(g, "id", "?"), dcv_json_str(g, "name", "?"), dcv_json_get(g, "pci", json_type_string) ? ", " : "",
             dcv_json_str(g, "pci", ""), u, e, d, mu, mt, t, p, n);
}

void show_worker(json_object *w)
{
    json_object *tel = dcv_json_get(w, "telemetry", json_type_object), *arr;
    char buf[512], a[32], b[32];
    int64_t now = dcv_now_unix_ms();

    show_kv("worker", dcv_json_str(w, "worker_id", "?"));
    fmt_worker_state(w, buf, sizeof buf);
    show_kv("state", buf);
    snprintf(buf, sizeof buf, "%s%s%s%s", dcv_json_str(w, "hostname", ""),
             dcv_json_str(w, "hostname", "")[0] ? " " : "", dcv_json_str(w, "host", "")[0] ? "host " : "",
             dcv_json_str(w, "host", ""));
    show_kv("host", buf);
    show_kv("version", dcv_json_str(w, "version", "-"));
    show_kv("session", dcv_json_str(w, "session", "-"));
    snprintf(buf, sizeof buf, "%lld used of %lld", (long long)dcv_json_int(w, "slots_used", 0),
             (long long)dcv_json_int(w, "slots", 0));
    show_kv("slots", buf);
    dcv_fmt_time(a, sizeof a, dcv_json_int(w, "last_seen_ms", 0));
    dcv_fmt_age(b, sizeof b, now - dcv_json_int(w, "last_seen_ms", now));
    snprintf(buf, sizeof buf, "%s (%s ago)", a, b);
    show_kv("last seen", buf);
    if (dcv_json_bool(w, "busy"))
        show_kv("busy", dcv_json_str(w, "busy_reason", "-"));
    if (tel) {
        json_object *o;
        char c5[16], c15[16], tc[16];
        fmt_opt(c5, sizeof c5, tel, "load5", 2, "");
        fmt_opt(c15, sizeof c15, tel, "load15", 2, "");
        fmt_opt(tc, sizeof tc, tel, "temp_c", 0, " C");
        snprintf(buf, sizeof buf, "%.0f%% of %lld CPUs, load %.2f %s %s, %s",
                 dcv_json_dbl(tel, "cpu_pct", 0), (long long)dcv_json_int(tel, "ncpu", 0), dcv_json_dbl(tel, "load1", 0),
                 c5, c15, tc);
        show_kv("cpu", buf);
        if ((o = dcv_json_get(tel, "cores", json_type_array))) {
            size_t k, off = 0;
            buf[0] = '\0';
            for (k = 0; k < json_object_array_length(o) && off + 8 < sizeof buf; k++) {
                double v = json_object_get_double(json_object_array_get_idx(o, k));
                int w2 = v < 0 ? snprintf(buf + off, sizeof buf - off, "%s-", k ? " " : "")
                               : snprintf(buf + off, sizeof buf - off, "%s%.0f", k ? " " : "", v);
                if (w2 < 0)
                    break;
                off += (size_t)w2;
            }
            show_kv("cores %", buf);
        }
        dcv_fmt_bytes(a, sizeof a, dcv_json_int(tel, "mem_avail", -1));
        dcv_fmt_bytes(b, sizeof b, dcv_json_int(tel, "mem_total", -1));
        snprintf(buf, sizeof buf, "%s available of %s", a, b);
        show_kv("memory", buf);
        if (dcv_json_get(tel, "swap_total", json_type_int)) {
            dcv_fmt_bytes(a, sizeof a, dcv_json_int(tel, "swap_free", -1));
            dcv_fmt_bytes(b, sizeof b, dcv_json_int(tel, "swap_total", -1));
            snprintf(buf, sizeof buf, "%s free of %s", a, b);
            show_kv("swap", buf);
        }
        if ((o = dcv_json_get(tel, "psi", json_type_object))) {
            snprintf(buf, sizeof buf, "cpu %.1f%%, memory %.1f%% (full %.1f%%), io %.1f%% "
                     "(full %.1f%%), avg10", dcv_json_dbl(o, "cpu_some", 0), dcv_json_dbl(o, "mem_some", 0),
                     dcv_json_dbl(o, "mem_full", 0), dcv_json_dbl(o, "io_some", 0), dcv_json_dbl(o, "io_full", 0));
            show_kv("pressure", buf);
        }
        dcv_fmt_bytes(a, sizeof a, dcv_json_int(tel, "disk_free", -1));
        dcv_fmt_bytes(b, sizeof b, dcv_json_int(tel, "disk_total", -1));
        snprintf(buf, sizeof buf, "%s free of %s", a, b);
        show_kv("disk", buf);
        if (dcv_json_get(tel, "net_rx_bps", json_type_double) || dcv_json_get(tel, "net_rx_bps", json_type_int)) {
            dcv_fmt_bytes(a, sizeof a, (int64_t)dcv_json_dbl(tel, "net_rx_bps", 0));
            dcv_fmt_bytes(b, sizeof b, (int64_t)dcv_json_dbl(tel, "net_tx_bps", 0));
            snprintf(buf, sizeof buf, "in %s/s, out %s/s", a, b);
            show_kv("network", buf);
        }
        if ((o = dcv_json_get(tel, "gpus", json_type_array)))
            for (size_t k = 0; k < json_object_array_length(o); k++) {
                fmt_gpu(json_object_array_get_idx(o, k), buf, sizeof buf);
                show_kv(k ? "" : "gpus", buf);
            }
    }
    if ((arr = dcv_json_get(w, "jobs", json_type_array))) {
        for (size_t i = 0; i < json_object_array_length(arr); i++) {
            json_object *j = json_object_array_get_idx(arr, i);
            snprintf(buf, sizeof buf, "%s attempt %lld, %.0f%%", dcv_json_str(j, "job_id", "?"),
                     (long long)dcv_json_int(j, "attempt", 0), dcv_json_dbl(j, "progress", 0));
            show_kv(i ? "" : "jobs", buf);
        }
    }
    if ((arr = dcv_json_get(w, "devices", json_type_array))) {
        for (size_t i = 0; i < json_object_array_length(arr); i++) {
            json_object *d = json_object_array_get_idx(arr, i), *codecs;
            size_t o;
            o = (size_t)snprintf(buf, sizeof buf, "%s: %s (%s%s)", dcv_json_str(d, "plugin", "?"),
                                 dcv_json_str(d, "name", dcv_json_str(d, "device_id", "?")),
                                 dcv_json_bool(d, "hardware") ? "hardware" : "software",
                                 dcv_json_get(d, "available", json_type_boolean) && !dcv_json_bool(d, "available")
                                     ? ", unavailable" : "");
            if (o >= sizeof buf)
                o = sizeof buf - 1;
            if ((codecs = dcv_json_get(d, "codecs", json_type_array))) {
                for (size_t k = 0; k < json_object_array_length(codecs) && o < sizeof buf; k++) {
                    json_object *cd = json_object_array_get_idx(codecs, k);
                    /* worker: whole capability objects; workers: names */
                    const char *name = json_object_is_type(cd, json_type_string)
                                           ? json_object_get_string(cd)
                                           : dcv_json_str(cd, "codec", dcv_json_str(cd, "name", "?"));
                    int w2 = snprintf(buf + o, sizeof buf - o, "%s%s", k ? ", " : " ", name);
                    if (w2 < 0)
                        break;
                    o += (size_t)w2;
                }
            }
            show_kv(i ? "" : "devices", buf);
        }
    }
    if ((arr = dcv_json_get(w, "plugins", json_type_array))) {
        for (size_t i = 0; i < json_object_array_length(arr); i++) {
            json_object *p = json_object_array_get_idx(arr, i);
            snprintf(buf, sizeof buf, "%s %s (ABI minor %lld)", dcv_json_str(p, "name", "?"),
                     dcv_json_str(p, "version", "?"), (long long)dcv_json_int(p, "abi_minor", 0));
            show_kv(i ? "" : "plugins", buf);
        }
    }
}

int show_workers(json_object *body, int quiet)
{
    json_object *ws;
    int rc = EXIT_OK;
    size_t n;

    ws = dcv_json_get(body, "workers", json_type_array);
    n = ws ? json_object_array_length(ws) : 0;
    if (n == 0) {
        if (!quiet)
            printf("no workers\n");
        return EXIT_OK;
    }
    {
        static const char *const h[] = {"ID", "STATE", "SLOTS", "CPU", "DISK FREE", "JOBS",
                                        "DEVICES"};
        struct dcv_table t;
        if (dcv_table_init(&t, 7, h, (1u << 2) | (1u << 3) | (1u << 4) | (1u << 5)) < 0)
            return EXIT_FAILED;
        for (size_t i = 0; i < n; i++) {
            json_object *w = json_object_array_get_idx(ws, i);
            json_object *tel = dcv_json_get(w, "telemetry", json_type_object);
            json_object *jobs = dcv_json_get(w, "jobs", json_type_array);
            char st[64], slots[32], cpu[16], disk[32], nj[16], devs[256];
            const char *row[7];
            fmt_worker_state(w, st, sizeof st);
            snprintf(slots, sizeof slots, "%lld/%lld", (long long)dcv_json_int(w, "slots_used", 0),
                     (long long)dcv_json_int(w, "slots", 0));
            if (tel)
                snprintf(cpu, sizeof cpu, "%.0f%%", dcv_json_dbl(tel, "cpu_pct", 0));
            else
                snprintf(cpu, sizeof cpu, "-");
            dcv_fmt_bytes(disk, sizeof disk, tel ? dcv_json_int(tel, "disk_free", -1) : -1);
            snprintf(nj, sizeof nj, "%zu", jobs ? json_object_array_length(jobs) : 0);
            fmt_devices(w, devs, sizeof devs);
            row[0] = dcv_json_str(w, "worker_id", "?"); row[1] = st; row[2] = slots; row[3] = cpu;
            row[4] = disk; row[5] = nj; row[6] = devs;
            if (dcv_table_add(&t, row) < 0) {
                rc = EXIT_FAILED;
                break;
            }
        }
        dcv_table_print(&t, stdout);
        dcv_table_free(&t);
        /* Below the table: why a worker is busy, and its GPUs (NVML). */
        for (size_t i = 0; i < n; i++) {
            json_object *w = json_object_array_get_idx(ws, i);
            json_object *tel = dcv_json_get(w, "telemetry", json_type_object);
            json_object *gpus = tel ? dcv_json_get(tel, "gpus", json_type_array) : NULL;
            char line[1024];
            if (dcv_json_bool(w, "busy"))
                printf("%s busy: %s\n", dcv_json_str(w, "worker_id", "?"), dcv_json_str(w, "busy_reason", "-"));
            for (size_t k = 0; gpus && k < json_object_array_length(gpus); k++) {
                fmt_gpu(json_object_array_get_idx(gpus, k), line, sizeof line);
                printf("%s %s\n", dcv_json_str(w, "worker_id", "?"), line);
            }
        }
    }
    return rc;
}

#include "worker/telemetry.h"
#include "clock.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "errbuf.h"
#include "proto.h"

/* /proc/stat carries a long "intr" line on big machines; cap what we read so
 * a hostile or broken file cannot make us allocate without bound. */
#define READ_CAP (4u << 20)
#define IFNAME_MAX 32
/* Sensors outside this range are broken or unconnected (e.g. -273 or 255). */
#define TEMP_MIN_C 0.0
#define TEMP_MAX_C 200.0

struct cpu_times {
    long id; /* -1 = the aggregate "cpu" line */
    unsigned long long busy, total;
};

struct net_ctr {
    char name[IFNAME_MAX];
    unsigned long long rx, tx;
};

struct dcv_telem {
    char *root;
    char *workdir;
    char *buf; /* reused read buffer */
    size_t cap;

    int have_prev;
    struct cpu_times prev_all;
    struct cpu_times *prev_core;
    size_t n_prev_core;
    struct cpu_times *cur_core; /* scratch, swapped with prev_core */
    size_t cap_core;
    double *core_pct;

    int have_net;
    int64_t net_ms;
    struct net_ctr *net_prev, *net_cur;
    size_t n_net_prev, n_net_cur, cap_net;

    struct dcv_nvml *nvml; /* NULL: no GPU figures */
    struct dcv_nvml_gpu gpus[DCV_NVML_MAX_GPUS];
};

/* ---- reading ------------------------------------------------------------ */

/* Read root/rel into t->buf, NUL-terminated. -errno when unreadable (PSI
 * disabled at boot fails the read itself with EOPNOTSUPP). */
static int read_rel(struct dcv_telem *t, const char *rel, size_t *len)
{
    char path[PATH_MAX];
    int n = snprintf(path, sizeof path, "%s%s", t->root, rel);
    if (n < 0 || (size_t)n >= sizeof path)
        return -ENAMETOOLONG;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t used = 0;
    for (;;) {
        if (t->cap - used < 2) {
            if (t->cap >= READ_CAP)
                break; /* truncated: the parsers only trust whole lines */
            size_t ncap = t->cap * 2;
            char *nb = realloc(t->buf, ncap);
            if (!nb) {
                close(fd);
                return -ENOMEM;
            }
            t->buf = nb;
            t->cap = ncap;
        }
        ssize_t r = read(fd, t->buf + used, t->cap - used - 1);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            int e = -errno;
            close(fd);
            return e;
        }
        if (r == 0)
            break;
        used += (size_t)r;
    }
    close(fd);
    t->buf[used] = '\0';
    /* An embedded NUL would silently cut the text short; refuse it. */
    if (strlen(t->buf) != used)
        return -EINVAL;
    if (len)
        *len = used;
    return 0;
}

static const char *next_line(const char *p)
{
    const char *nl = strchr(p, '\n');
    return nl ? nl + 1 : NULL;
}

/* Unsigned decimal at *p (leading blanks skipped); advances *p. */
static int parse_u64(const char **p, unsigned long long *out)
{
    const char *s = *p;
    while (*s == ' ' || *s == '\t')
        s++;
    if (!isdigit((unsigned char)*s))
        return -EINVAL;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno == ERANGE)
        return -ERANGE;
    *p = end;
    *out = v;
    return 0;
}

static int parse_double(const char *s, const char **endp, double *out)
{
    while (*s == ' ' || *s == '\t')
        s++;
    if (!isdigit((unsigned char)*s))
        return -EINVAL; /* also refuses signs, "nan", "inf" */
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno == ERANGE || !isfinite(v))
        return -ERANGE;
    if (endp)
        *endp = end;
    *out = v;
    return 0;
}

static int at_field_end(const char *p)
{
    return *p == ' ' || *p == '\t' || *p == '\n' || *p == '\0';
}

/* ---- /proc/stat ---------------------------------------------------------- */

/* "cpu[N] user nice system idle [iowait irq softirq steal guest guest_nice]".
 * guest time is already counted in user/nice, so it is not added again;
 * iowait counts as idle (the CPU could run something else). */
static int parse_cpu_line(const char *line, struct cpu_times *ct)
{
    const char *p = line + 3;
    ct->id = -1;
    if (isdigit((unsigned char)*p)) {
        unsigned long long id;
        if (parse_u64(&p, &id) < 0 || id > 1u << 20)
            return -EINVAL;
        ct->id = (long)id;
    }
    if (*p != ' ')
        return -EINVAL;
    unsigned long long v[8] = {0};
    int n = 0;
    for (; n < 8; n++) {
        const char *q = p;
        while (*q == ' ')
            q++;
        if (*q == '\n' || *q == '\0')
            break;
        if (parse_u64(&p, &v[n]) < 0 || !at_field_end(p))
            return -EINVAL;
    }
    if (n < 4)
        return -EINVAL;
    unsigned long long total = 0;
    for (int i = 0; i < n; i++) {
        if (total > ULLONG_MAX - v[i])
            return -ERANGE;
        total += v[i];
    }
    unsigned long long idle = v[3] + v[4];
    ct->total = total;
    ct->busy = total - idle;
    return 0;
}

static double cpu_delta_pct(const struct cpu_times *prev, const struct cpu_times *cur)
{
    if (cur->total <= prev->total || cur->busy < prev->busy)
        return DCV_TELEM_UNKNOWN; /* no time passed, or counters reset */
    unsigned long long dt = cur->total - prev->total, db = cur->busy - prev->busy;
    if (db > dt)
        return DCV_TELEM_UNKNOWN;
    return 100.0 * (double)db / (double)dt;
}

static int grow_cores(struct dcv_telem *t, size_t need)
{
    if (need <= t->cap_core)
        return 0;
    size_t ncap = t->cap_core ? t->cap_core * 2 : 16;
    while (ncap < need)
        ncap *= 2;
    struct cpu_times *a = realloc(t->prev_core, ncap * sizeof *a);
    if (!a)
        return -ENOMEM;
    t->prev_core = a;
    struct cpu_times *b = realloc(t->cur_core, ncap * sizeof *b);
    if (!b)
        return -ENOMEM;
    t->cur_core = b;
    double *c = realloc(t->core_pct, ncap * sizeof *c);
    if (!c)
        return -ENOMEM;
    t->core_pct = c;
    t->cap_core = ncap;
    return 0;
}

static int sample_cpu(struct dcv_telem *t, struct dcv_telem_sample *s)
{
    if (read_rel(t, "/proc/stat", NULL) < 0) {
        t->have_prev = 0;
        t->n_prev_core = 0;
        return 0;
    }
    struct cpu_times all = {.id = -2};
    size_t n = 0;
    for (const char *p = t->buf; p; p = next_line(p)) {
        if (strncmp(p, "cpu", 3) != 0)
            continue;
        struct cpu_times ct;
        if (parse_cpu_line(p, &ct) < 0)
            continue;
        if (ct.id < 0) {
            all = ct;
            continue;
        }
        int rc = grow_cores(t, n + 1);
        if (rc < 0)
            return rc;
        t->cur_core[n++] = ct;
    }
    /* The core list can change between samples (hotplug): match by id. */
    for (size_t i = 0; i < n; i++) {
        t->core_pct[i] = DCV_TELEM_UNKNOWN;
        for (size_t j = 0; t->have_prev && j < t->n_prev_core; j++)
            if (t->prev_core[j].id == t->cur_core[i].id) {
                t->core_pct[i] = cpu_delta_pct(&t->prev_core[j], &t->cur_core[i]);
                break;
            }
    }
    if (all.id == -1 && t->have_prev && t->prev_all.id == -1)
        s->cpu_pct = cpu_delta_pct(&t->prev_all, &all);
    s->ncpu = n ? (int64_t)n : DCV_TELEM_UNKNOWN;
    s->n_cores = n;
    s->core_pct = n ? t->core_pct : NULL;

    struct cpu_times *tmp = t->prev_core;
    t->prev_core = t->cur_core;
    t->cur_core = tmp;
    t->n_prev_core = n;
    t->prev_all = all;
    t->have_prev = 1;
    return 0;
}

/* ---- /proc/loadavg, /proc/meminfo --------------------------------------- */

static void sample_load(struct dcv_telem *t, struct dcv_telem_sample *s)
{
    if (read_rel(t, "/proc/loadavg", NULL) < 0)
        return;
    double v[3];
    const char *p = t->buf;
    for (int i = 0; i < 3; i++) {
        if (parse_double(p, &p, &v[i]) < 0 || !at_field_end(p))
            return;
    }
    s->load1 = v[0];
    s->load5 = v[1];
    s->load15 = v[2];
}

/* "Key:   123 kB" -> bytes, or -1. */
static int64_t meminfo_value(const char *text, const char *key)
{
    size_t klen = strlen(key);
    for (const char *p = text; p; p = next_line(p)) {
        if (strncmp(p, key, klen) != 0 || p[klen] != ':')
            continue;
        const char *q = p + klen + 1;
        unsigned long long v;
        if (parse_u64(&q, &v) < 0)
            return DCV_TELEM_UNKNOWN;
        while (*q == ' ')
            q++;
        if (strncmp(q, "kB", 2) != 0 || !at_field_end(q + 2))
            return DCV_TELEM_UNKNOWN;
        if (v > (unsigned long long)INT64_MAX / 1024)
            return DCV_TELEM_UNKNOWN;
        return (int64_t)v * 1024;
    }
    return DCV_TELEM_UNKNOWN;
}

static void sample_mem(struct dcv_telem *t, struct dcv_telem_sample *s)
{
    if (read_rel(t, "/proc/meminfo", NULL) < 0)
        return;
    int64_t total = meminfo_value(t->buf, "MemTotal");
    int64_t avail = meminfo_value(t->buf, "MemAvailable");
    if (avail < 0) {
        /* Kernels before 3.14 have no MemAvailable: approximate it the way
         * procps did, free + page cache + buffers. */
        int64_t f = meminfo_value(t->buf, "MemFree");
        int64_t c = meminfo_value(t->buf, "Cached");
        int64_t b = meminfo_value(t->buf, "Buffers");
        if (f >= 0 && c >= 0 && b >= 0)
            avail = f + c + b;
    }
    if (total >= 0 && avail > total)
        avail = total;
    s->mem_total = total;
    s->mem_avail = avail;
    int64_t st = meminfo_value(t->buf, "SwapTotal");
    int64_t sf = meminfo_value(t->buf, "SwapFree");
    if (st >= 0 && sf > st)
        sf = DCV_TELEM_UNKNOWN;
    s->swap_total = st;
    s->swap_free = sf;
}

/* ---- PSI ----------------------------------------------------------------- */

/* The avg10 of the "some"/"full" line, or -1. */
static double psi_avg10(const char *text, const char *kind)
{
    size_t klen = strlen(kind);
    for (const char *p = text; p; p = next_line(p)) {
        if (strncmp(p, kind, klen) != 0 || p[klen] != ' ')
            continue;
        const char *q = p + klen;
        while (*q == ' ')
            q++;
        if (strncmp(q, "avg10=", 6) != 0)
            return DCV_TELEM_UNKNOWN;
        double v;
        if (parse_double(q + 6, &q, &v) < 0 || !at_field_end(q) || v > 100.0)
            return DCV_TELEM_UNKNOWN;
        return v;
    }
    return DCV_TELEM_UNKNOWN;
}

static void sample_psi_one(struct dcv_telem *t, const char *rel, struct dcv_telem_psi *out,
                           int *present)
{
    if (read_rel(t, rel, NULL) < 0)
        return;
    *present = 1;
    out->some_avg10 = psi_avg10(t->buf, "some");
    out->full_avg10 = psi_avg10(t->buf, "full");
}

static void sample_psi(struct dcv_telem *t, struct dcv_telem_sample *s)
{
    sample_psi_one(t, "/proc/pressure/cpu", &s->psi_cpu, &s->psi_present);
    sample_psi_one(t, "/proc/pressure/memory", &s->psi_mem, &s->psi_present);
    sample_psi_one(t, "/proc/pressure/io", &s->psi_io, &s->psi_present);
}

/* ---- temperature ---------------------------------------------------------- */

static void trim(char *s)
{
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
}

/* The first line of root/rel, trimmed, into out[len]. */
static int read_word(struct dcv_telem *t, const char *rel, char *out, size_t len)
{
    int rc = read_rel(t, rel, NULL);
    if (rc < 0)
        return rc;
    char *nl = strchr(t->buf, '\n');
    if (nl)
        *nl = '\0';
    trim(t->buf);
    snprintf(out, len, "%s", t->buf);
    return 0;
}

/* A millidegree file, in degrees C, or -1 when unreadable or implausible. */
static double read_millideg(struct dcv_telem *t, const char *rel)
{
    char w[64];
    if (read_word(t, rel, w, sizeof w) < 0)
        return DCV_TELEM_UNKNOWN;
    char *end;
    errno = 0;
    long long v = strtoll(w, &end, 10);
    if (end == w || *end || errno == ERANGE)
        return DCV_TELEM_UNKNOWN;
    double c = (double)v / 1000.0;
    if (c <= TEMP_MIN_C || c > TEMP_MAX_C)
        return DCV_TELEM_UNKNOWN;
    return c;
}

/* Sensor classes, best first: a CPU's own sensor; then a board sensor
 * (ACPI thermal zone "acpitz"), which is usually near the CPU on laptops and
 * the only one some VMs and older boards have, but often reads lower; the
 * hottest of the best class present is the figure. Other zones and chips
 * (iwlwifi, nvme, batteries, chipset, GPUs) are never used. */
enum { SENS_NONE = 0, SENS_BOARD = 1, SENS_CPU = 2 };

static int zone_class(const char *type)
{
    static const char *const exact[] = {"x86_pkg_temp", "cpu-thermal", "cpu_thermal",
                                        "soc_thermal", "soc-thermal"};
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
        if (strcmp(type, exact[i]) == 0)
            return SENS_CPU;
    /* ARM SoCs name zones "cpu0-thermal", "cpu-big0-thermal", "cpuss-0"... */
    if (strncmp(type, "cpu", 3) == 0)
        return SENS_CPU;
    return strcmp(type, "acpitz") == 0 ? SENS_BOARD : SENS_NONE;
}

static int hwmon_class(const char *name)
{
    static const char *const names[] = {"coretemp", "k10temp", "zenpower", "cpu_thermal",
                                        "cpu-thermal", "soc_thermal"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(name, names[i]) == 0)
            return SENS_CPU;
    return strcmp(name, "acpitz") == 0 ? SENS_BOARD : SENS_NONE;
}

static int dir_entries_prefixed(const char *name, const char *prefix)
{
    return strncmp(name, prefix, strlen(prefix)) == 0;
}

/* best[class] = max(best[class], c) */
static void note_temp(double best[3], int cls, double c)
{
    if (cls != SENS_NONE && c > best[cls])
        best[cls] = c;
}

static void thermal_zones(struct dcv_telem *t, double best[3])
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/sys/class/thermal", t->root);
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!dir_entries_prefixed(de->d_name, "thermal_zone") || strlen(de->d_name) > 64)
            continue;
        char rel[PATH_MAX], type[64];
        snprintf(rel, sizeof rel, "/sys/class/thermal/%s/type", de->d_name);
        int cls;
        if (read_word(t, rel, type, sizeof type) < 0 || (cls = zone_class(type)) == SENS_NONE)
            continue;
        /* A disabled zone fails the read (ENODATA/EAGAIN): unknown. */
        snprintf(rel, sizeof rel, "/sys/class/thermal/%s/temp", de->d_name);
        note_temp(best, cls, read_millideg(t, rel));
    }
    closedir(d);
}

/* One hwmon chip in rel_dir (e.g. "/sys/class/hwmon/hwmon2"): the hottest
 * of its sensors, with two exceptions:
 *  - coretemp: the package sensor ("Package id N", "Physical id N" before
 *    Linux 3.x) when there is one, rather than the per-core "Core N";
 *  - k10temp / zenpower: Tctl carries a fan-control offset on some CPUs
 *    (+20..27 C on first-generation Ryzen X and Threadripper), and the
 *    driver then adds a Tdie without it: with a Tdie, Tctl is ignored;
 *    without one, Tctl is the real control temperature and counts. */
static double hwmon_chip(struct dcv_telem *t, const char *rel_dir, const char *name)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s%.160s", t->root, rel_dir);
    DIR *d = opendir(path);
    if (!d)
        return DCV_TELEM_UNKNOWN;
    int amd = strcmp(name, "k10temp") == 0 || strcmp(name, "zenpower") == 0;
    int intel = strcmp(name, "coretemp") == 0;
    double best = DCV_TELEM_UNKNOWN, pkg = DCV_TELEM_UNKNOWN, tctl = DCV_TELEM_UNKNOWN;
    int tdie = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name);
        if (!dir_entries_prefixed(de->d_name, "temp") || n < 7 || n > 40 ||
            strcmp(de->d_name + n - 6, "_input") != 0)
            continue;
        char rel[PATH_MAX], label[64] = "";
        snprintf(rel, sizeof rel, "%.160s/%s", rel_dir, de->d_name);
        double c = read_millideg(t, rel);
        if (c < 0)
            continue;
        snprintf(rel, sizeof rel, "%.160s/%.*s_label", rel_dir, (int)(n - 6), de->d_name);
        if (read_word(t, rel, label, sizeof label) < 0)
            label[0] = '\0';
        if (amd && strcmp(label, "Tctl") == 0) {
            if (c > tctl)
                tctl = c;
            continue;
        }
        if (amd && strcmp(label, "Tdie") == 0)
            tdie = 1;
        if (intel && (strncmp(label, "Package id", 10) == 0 ||
                      strncmp(label, "Physical id", 11) == 0)) {
            if (c > pkg)
                pkg = c;
        } else if (c > best) {
            best = c;
        }
    }
    closedir(d);
    if (pkg >= 0)
        return pkg;
    if (!tdie && tctl > best)
        return tctl;
    return best >= 0 ? best : tctl;
}

static void hwmon_chips(struct dcv_telem *t, double best[3])
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/sys/class/hwmon", t->root);
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!dir_entries_prefixed(de->d_name, "hwmon") || strlen(de->d_name) > 64)
            continue;
        /* Kernels before 3.15 kept a driver's name and inputs in the
         * device directory (hwmonN/device/) rather than in hwmonN. */
        static const char *const sub[] = {"", "/device"};
        for (size_t i = 0; i < 2; i++) {
            char dir[160], rel[256], name[64];
            snprintf(dir, sizeof dir, "/sys/class/hwmon/%.64s%s", de->d_name, sub[i]);
            snprintf(rel, sizeof rel, "%s/name", dir);
            if (read_word(t, rel, name, sizeof name) < 0)
                continue;
            int cls = hwmon_class(name);
            if (cls != SENS_NONE)
                note_temp(best, cls, hwmon_chip(t, dir, name));
            break;
        }
    }
    closedir(d);
}

static void sample_temp(struct dcv_telem *t, struct dcv_telem_sample *s)
{
    double best[3] = {DCV_TELEM_UNKNOWN, DCV_TELEM_UNKNOWN, DCV_TELEM_UNKNOWN};
    thermal_zones(t, best);
    hwmon_chips(t, best);
    s->temp_c = best[SENS_CPU] >= 0 ? best[SENS_CPU] : best[SENS_BOARD];
}

/* ---- /proc/net/dev ------------------------------------------------------- */

/* "  eth0: rx_bytes packets errs drop fifo frame compressed multicast tx_bytes ..."
 * The name may be glued to the first number ("eth0:123"). */
static int parse_net_line(const char *line, struct net_ctr *c)
{
    const char *p = line;
    while (*p == ' ')
        p++;
    const char *colon = strchr(p, ':');
    const char *nl = strchr(p, '\n');
    if (!colon || (nl && colon > nl) || colon == p || (size_t)(colon - p) >= IFNAME_MAX)
        return -EINVAL;
    memcpy(c->name, p, (size_t)(colon - p));
    c->name[colon - p] = '\0';
    p = colon + 1;
    unsigned long long v[9];
    for (int i = 0; i < 9; i++)
        if (parse_u64(&p, &v[i]) < 0 || !at_field_end(p))
            return -EINVAL;
    c->rx = v[0];
    c->tx = v[8];
    return 0;
}

static void sample_net(struct dcv_telem *t, int64_t now_ms, struct dcv_telem_sample *s)
{
    t->n_net_cur = 0;
    int ok = read_rel(t, "/proc/net/dev", NULL) == 0;
    for (const char *p = ok ? t->buf : NULL; p; p = next_line(p)) {
        struct net_ctr c;
        if (parse_net_line(p, &c) < 0 || strcmp(c.name, "lo") == 0)
            continue;
        if (t->n_net_cur == t->cap_net) {
            size_t ncap = t->cap_net ? t->cap_net * 2 : 8;
            struct net_ctr *a = realloc(t->net_cur, ncap * sizeof *a);
            if (!a)
                return; /* rates stay unknown; nothing else depends on it */
            t->net_cur = a;
            struct net_ctr *b = realloc(t->net_prev, ncap * sizeof *b);
            if (!b)
                return;
            t->net_prev = b;
            t->cap_net = ncap;
        }
        t->net_cur[t->n_net_cur++] = c;
    }
    /* Interfaces come and go (containers' veths) and counters reset on
     * driver reload: sum only those seen twice whose counters grew. */
    if (ok && t->have_net && now_ms > t->net_ms) {
        unsigned long long drx = 0, dtx = 0;
        for (size_t i = 0; i < t->n_net_cur; i++)
            for (size_t j = 0; j < t->n_net_prev; j++) {
                const struct net_ctr *a = &t->net_prev[j], *b = &t->net_cur[i];
                if (strcmp(a->name, b->name) != 0)
                    continue;
                if (b->rx >= a->rx)
                    drx += b->rx - a->rx;
                if (b->tx >= a->tx)
                    dtx += b->tx - a->tx;
                break;
            }
        double secs = (double)(now_ms - t->net_ms) / 1000.0;
        s->net_rx_bps = (double)drx / secs;
        s->net_tx_bps = (double)dtx / secs;
    }
    struct net_ctr *tmp = t->net_prev;
    t->net_prev = t->net_cur;
    t->net_cur = tmp;
    t->n_net_prev = t->n_net_cur;
    t->have_net = ok;
    t->net_ms = now_ms;
}

/* ---- disk ----------------------------------------------------------------- */

static void sample_disk(const struct dcv_telem *t, struct dcv_telem_sample *s)
{
    struct statvfs v;
    if (!t->workdir || statvfs(t->workdir, &v) < 0)
        return;
    unsigned long long frs = v.f_frsize ? v.f_frsize : v.f_bsize;
    unsigned long long tot = (unsigned long long)v.f_blocks, fr = (unsigned long long)v.f_bavail;
    if (frs == 0 || tot > (unsigned long long)INT64_MAX / frs || fr > tot)
        return;
    s->disk_total = (int64_t)(tot * frs);
    s->disk_free = (int64_t)(fr * frs);
}

/* ---- public --------------------------------------------------------------- */

int dcv_telem_new(struct dcv_telem **out, const char *root, const char *workdir, char *err,
                  size_t errlen)
{
    *out = NULL;
    if (!root || !*root)
        root = "/";
    struct stat st;
    if (stat(root, &st) < 0)
        return dcv_err(err, errlen, -errno, "telemetry root %s: %s", root, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return dcv_err(err, errlen, -ENOTDIR, "telemetry root %s: not a directory", root);
    struct dcv_telem *t = calloc(1, sizeof *t);
    if (!t)
        return dcv_err(err, errlen, -ENOMEM, "telemetry: out of memory");
    /* Paths are built as root + "/proc/...": drop trailing slashes so "/"
     * becomes "" rather than giving "//proc". */
    size_t rl = strlen(root);
    while (rl > 0 && root[rl - 1] == '/')
        rl--;
    t->root = strndup(root, rl);
    t->workdir = workdir ? strdup(workdir) : NULL;
    t->cap = 4096;
    t->buf = malloc(t->cap);
    if (!t->root || (workdir && !t->workdir) || !t->buf) {
        dcv_telem_free(&t);
        return dcv_err(err, errlen, -ENOMEM, "telemetry: out of memory");
    }
    *out = t;
    return 0;
}

void dcv_telem_free(struct dcv_telem **tp)
{
    struct dcv_telem *t = tp ? *tp : NULL;

    if (!t)
        return;
    free(t->root);
    free(t->workdir);
    free(t->buf);
    free(t->prev_core);
    free(t->cur_core);
    free(t->core_pct);
    free(t->net_prev);
    free(t->net_cur);
    dcv_nvml_close(&t->nvml);
    free(t);
    *tp = NULL;
}

int dcv_telem_use_nvml(struct dcv_telem *t, const char *library, char *why, size_t whylen)
{
    if (t->nvml)
        return 0;
    return dcv_nvml_open(&t->nvml, library, why, whylen);
}

int dcv_telem_sample_at(struct dcv_telem *t, int64_t now_ms, struct dcv_telem_sample *s)
{
    const struct dcv_telem_psi none = {DCV_TELEM_UNKNOWN, DCV_TELEM_UNKNOWN};
    *s = (struct dcv_telem_sample){
        .cpu_pct = DCV_TELEM_UNKNOWN, .ncpu = DCV_TELEM_UNKNOWN,
        .load1 = DCV_TELEM_UNKNOWN, .load5 = DCV_TELEM_UNKNOWN, .load15 = DCV_TELEM_UNKNOWN,
        .mem_total = DCV_TELEM_UNKNOWN, .mem_avail = DCV_TELEM_UNKNOWN,
        .swap_total = DCV_TELEM_UNKNOWN, .swap_free = DCV_TELEM_UNKNOWN,
        .disk_total = DCV_TELEM_UNKNOWN, .disk_free = DCV_TELEM_UNKNOWN,
        .psi_cpu = none, .psi_mem = none, .psi_io = none,
        .temp_c = DCV_TELEM_UNKNOWN,
        .net_rx_bps = DCV_TELEM_UNKNOWN, .net_tx_bps = DCV_TELEM_UNKNOWN,
    };
    int rc = sample_cpu(t, s);
    if (rc < 0)
        return rc;
    sample_load(t, s);
    sample_mem(t, s);
    sample_psi(t, s);
    sample_temp(t, s);
    sample_net(t, now_ms, s);
    sample_disk(t, s);
    if (t->nvml) {
        s->n_gpus = dcv_nvml_sample(t->nvml, t->gpus, DCV_NVML_MAX_GPUS);
        s->gpus = s->n_gpus ? t->gpus : NULL;
    }
    return 0;
}

int dcv_telem_sample(struct dcv_telem *t, struct dcv_telem_sample *s)
{
    return dcv_telem_sample_at(t, dcv_mono_ms(), s);
}

#define MIB(x) ((double)(x) / (1024.0 * 1024.0))

int dcv_telem_admit(const struct dcv_telem_limits *lim, const struct dcv_telem_sample *s,
                    char *reason, size_t len)
{
    if (reason && len)
        reason[0] = '\0';
    if (lim->min_mem_avail > 0 && s->mem_avail >= 0 && s->mem_avail < lim->min_mem_avail) {
        dcv_errf(reason, len, "available memory %.0f MiB below %.0f MiB", MIB(s->mem_avail),
                 MIB(lim->min_mem_avail));
        return DCV_TELEM_BUSY;
    }
    if (lim->max_mem_pressure > 0 && s->psi_mem.some_avg10 >= 0 &&
        s->psi_mem.some_avg10 > lim->max_mem_pressure) {
        dcv_errf(reason, len, "memory pressure %.1f%% above %.1f%%", s->psi_mem.some_avg10,
                 lim->max_mem_pressure);
        return DCV_TELEM_BUSY;
    }
    /* CPU: pressure where the kernel measures it; load per core where it
     * does not (or when only that limit is set). */
    int cpu_psi = lim->max_cpu_pressure > 0 && s->psi_cpu.some_avg10 >= 0;
    if (cpu_psi && s->psi_cpu.some_avg10 > lim->max_cpu_pressure) {
        dcv_errf(reason, len, "CPU pressure %.1f%% above %.1f%%", s->psi_cpu.some_avg10,
                 lim->max_cpu_pressure);
        return DCV_TELEM_BUSY;
    }
    if (!cpu_psi && lim->max_load_per_core > 0 && s->load1 >= 0 && s->ncpu > 0) {
        double per = s->load1 / (double)s->ncpu;
        if (per > lim->max_load_per_core) {
            dcv_errf(reason, len, "load %.2f per core above %.2f", per, lim->max_load_per_core);
            return DCV_TELEM_BUSY;
        }
    }
    if (lim->max_io_pressure > 0 && s->psi_io.some_avg10 >= 0 &&
        s->psi_io.some_avg10 > lim->max_io_pressure) {
        dcv_errf(reason, len, "I/O pressure %.1f%% above %.1f%%", s->psi_io.some_avg10,
                 lim->max_io_pressure);
        return DCV_TELEM_BUSY;
    }
    if (lim->max_temp_c > 0 && s->temp_c >= 0 && s->temp_c > lim->max_temp_c) {
        dcv_errf(reason, len, "CPU temperature %.1f C above %.1f C", s->temp_c, lim->max_temp_c);
        return DCV_TELEM_BUSY;
    }
    if (lim->max_gpu_temp_c > 0) {
        const struct dcv_nvml_gpu *hot = NULL;
        for (size_t i = 0; i < s->n_gpus; i++)
            if (s->gpus[i].temp_c >= 0 && (!hot || s->gpus[i].temp_c > hot->temp_c))
                hot = &s->gpus[i];
        if (hot && hot->temp_c > lim->max_gpu_temp_c) {
            dcv_errf(reason, len, "GPU %s temperature %.1f C above %.1f C", hot->id,
                     hot->temp_c, lim->max_gpu_temp_c);
            return DCV_TELEM_BUSY;
        }
    }
    if (lim->min_disk_free > 0 && s->disk_free >= 0 && s->disk_free < lim->min_disk_free) {
        dcv_errf(reason, len, "work dir free space %.0f MiB below %.0f MiB", MIB(s->disk_free),
                 MIB(lim->min_disk_free));
        return DCV_TELEM_BUSY;
    }
    return DCV_TELEM_OK;
}

static double clampd(double v, double lo, double hi)
{
    if (!(v >= lo)) /* also catches NaN */
        return lo;
    return v > hi ? hi : v;
}

static int64_t clampi(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* JSON readers hold integers exactly only up to 2^53 (protocol §2.1). */
#define PROTO_INT_MAX ((int64_t)1 << 53)

/* An optional figure: -1 when unknown, else clamped into lo..hi. */
static double optd(double v, double lo, double hi)
{
    return v >= 0 ? clampd(v, lo, hi) : DCV_TELEM_UNKNOWN;
}

static int64_t opti(int64_t v, int64_t hi)
{
    return v >= 0 ? clampi(v, 0, hi) : DCV_TELEM_UNKNOWN;
}

void dcv_telem_to_proto(const struct dcv_telem_sample *s, struct dcv_proto_telemetry *out)
{
    out->cpu_pct = clampd(s->cpu_pct, 0.0, 100.0);
    out->load1 = clampd(s->load1, 0.0, 1e6);
    out->ncpu = clampi(s->ncpu, 1, 65536);
    out->mem_total = clampi(s->mem_total, 0, PROTO_INT_MAX);
    out->mem_avail = clampi(s->mem_avail, 0, out->mem_total);
    out->disk_total = clampi(s->disk_total, 0, PROTO_INT_MAX);
    out->disk_free = clampi(s->disk_free, 0, out->disk_total);

    out->load5 = optd(s->load5, 0.0, 1e6);
    out->load15 = optd(s->load15, 0.0, 1e6);
    out->swap_total = opti(s->swap_total, PROTO_INT_MAX);
    out->swap_free = out->swap_total >= 0 ? opti(s->swap_free, out->swap_total)
                                          : DCV_TELEM_UNKNOWN;
    out->n_cores = s->n_cores < DCV_PROTO_MAX_CORES ? s->n_cores : DCV_PROTO_MAX_CORES;
    for (size_t i = 0; i < out->n_cores; i++)
        out->cores[i] = optd(s->core_pct[i], 0.0, 100.0);
    out->net_rx_bps = optd(s->net_rx_bps, 0.0, 1e15);
    out->net_tx_bps = optd(s->net_tx_bps, 0.0, 1e15);
    /* The protocol's psi object has all five figures or is absent: a kernel
     * with PSI has all three files with both lines (cpu "full" is not sent),
     * so a partial set means a broken read, not a figure to guess. */
    out->has_psi = s->psi_present && s->psi_cpu.some_avg10 >= 0 && s->psi_mem.some_avg10 >= 0 &&
                   s->psi_mem.full_avg10 >= 0 && s->psi_io.some_avg10 >= 0 &&
                   s->psi_io.full_avg10 >= 0;
    if (out->has_psi) {
        out->psi.cpu_some = clampd(s->psi_cpu.some_avg10, 0, 100);
        out->psi.mem_some = clampd(s->psi_mem.some_avg10, 0, 100);
        out->psi.mem_full = clampd(s->psi_mem.full_avg10, 0, 100);
        out->psi.io_some = clampd(s->psi_io.some_avg10, 0, 100);
        out->psi.io_full = clampd(s->psi_io.full_avg10, 0, 100);
    } else {
        memset(&out->psi, 0, sizeof out->psi);
    }
    out->temp_c = optd(s->temp_c, 0.0, 200.0);
    out->n_gpus = 0;
    for (size_t i = 0; i < s->n_gpus && out->n_gpus < DCV_PROTO_MAX_GPUS; i++) {
        const struct dcv_nvml_gpu *g = &s->gpus[i];
        struct dcv_proto_gpu *p = &out->gpus[out->n_gpus];
        if (!g->id[0])
            continue; /* the id is required: it is how the GPU is matched */
        memset(p, 0, sizeof *p);
        snprintf(p->id, sizeof p->id, "%s", g->id);
        snprintf(p->name, sizeof p->name, "%s", g->name);
        snprintf(p->pci, sizeof p->pci, "%s", g->pci);
        p->util_pct = optd(g->util_pct, 0, 100);
        p->enc_pct = optd(g->enc_pct, 0, 100);
        p->dec_pct = optd(g->dec_pct, 0, 100);
        p->mem_total = opti(g->mem_total, PROTO_INT_MAX);
        p->mem_used = p->mem_total >= 0 ? opti(g->mem_used, p->mem_total) : DCV_TELEM_UNKNOWN;
        p->temp_c = optd(g->temp_c, 0, 200);
        p->power_w = optd(g->power_w, 0, 10000);
        p->enc_sessions = opti(g->enc_sessions, 65535);
        out->n_gpus++;
    }
}

void dcv_telem_apply_quota(struct dcv_proto_telemetry *t, int64_t quota, int64_t used)
{
    int64_t left = quota - used;
    if (left < 0)
        left = 0;
    if (t->disk_free > left || t->disk_total == 0)
        t->disk_free = left;
    t->disk_total = quota;
    if (t->disk_free > t->disk_total)
        t->disk_free = t->disk_total;
}

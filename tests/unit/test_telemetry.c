/*
 * Telemetry sampler against fake /proc + /sys trees built in a temp dir
 * (exact figures from known deltas), captured layouts from
 * tests/fixtures/telemetry (PSI present / absent / partial, thermal zones and
 * hwmon chips of several machines), malformed and missing files, statvfs on
 * the temp dir, admission limits, the HEARTBEAT mapping, NVML through the
 * test-only fake libnvidia-ml (tests/plugins/fakenvml.c, the real
 * dlopen/dlsym path), and one smoke test against the real machine.
 */
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"
#include "tap.h"
#include "worker/nvml.h"
#include "worker/telemetry.h"

static char tmp[] = "/tmp/dcv-telem-XXXXXX";

#define NEAR(a, b) (fabs((double)(a) - (double)(b)) < 1e-6)
#define TAP_NEAR(got, want, name)                                                     \
    do {                                                                              \
        double g_ = (got), w_ = (want);                                               \
        if (!tap_ok(NEAR(g_, w_), "%s", name))                                        \
            tap_diag("  got %.6f, expected %.6f (line %d)", g_, w_, __LINE__);        \
    } while (0)

static void mkdirs(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(buf, 0755);
            *p = '/';
        }
    mkdir(buf, 0755);
}

/* Write root/rel (creating parents) with len bytes of data (len < 0: strlen). */
static void put_n(const char *root, const char *rel, const char *data, long len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s%s", root, rel);
    char *slash = strrchr(path, '/');
    *slash = '\0';
    mkdirs(path);
    *slash = '/';
    FILE *f = fopen(path, "wb");
    if (!f)
        tap_bail("cannot write %s", path);
    size_t n = len < 0 ? strlen(data) : (size_t)len;
    if (fwrite(data, 1, n, f) != n)
        tap_bail("short write %s", path);
    fclose(f);
}

static void put(const char *root, const char *rel, const char *data)
{
    put_n(root, rel, data, -1);
}

static void rm(const char *root, const char *rel)
{
    char path[4096];
    snprintf(path, sizeof path, "%s%s", root, rel);
    unlink(path);
}

static int rm_cb(const char *p, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)type;
    (void)ftw;
    return remove(p);
}

static void rm_tree(const char *p)
{
    nftw(p, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static struct dcv_telem *open_root(const char *root, const char *workdir)
{
    struct dcv_telem *t;
    char err[256];
    if (dcv_telem_new(&t, root, workdir, err, sizeof err) < 0)
        tap_bail("dcv_telem_new(%s): %s", root, err);
    return t;
}

static void test_new_errors(void)
{
    struct dcv_telem *t = (struct dcv_telem *)1;
    char err[256] = "";
    char path[4096];
    snprintf(path, sizeof path, "%s/nope", tmp);
    TAP_IS_INT(dcv_telem_new(&t, path, NULL, err, sizeof err), -ENOENT, "missing root: -ENOENT");
    TAP_HAS_STR(err, "nope", "missing root: message names the path");
    TAP_OK(t == NULL, "missing root: no object");
    put(tmp, "/afile", "x");
    snprintf(path, sizeof path, "%s/afile", tmp);
    TAP_IS_INT(dcv_telem_new(&t, path, NULL, err, sizeof err), -ENOTDIR, "file root: -ENOTDIR");
    TAP_HAS_STR(err, "not a directory", "file root: message");
}

static void test_cpu(void)
{
    char root[4096];
    snprintf(root, sizeof root, "%s/cpu", tmp);
    put(root, "/proc/stat",
        "cpu  100 0 100 800 0 0 0 0 0 0\n"
        "cpu0 50 0 50 400 0 0 0 0 0 0\n"
        "cpu1 50 0 50 400 0 0 0 0 0 0\n"
        "intr 12345 1 2 3\nctxt 999\n");
    struct dcv_telem *t = open_root(root, NULL);
    struct dcv_telem_sample s;
    TAP_IS_INT(dcv_telem_sample_at(t, 1000, &s), 0, "cpu: first sample ok");
    TAP_NEAR(s.cpu_pct, -1, "cpu: first sample total unknown");
    TAP_IS_INT(s.ncpu, 2, "cpu: ncpu from cpuN lines");
    TAP_IS_INT(s.n_cores, 2, "cpu: two cores");
    TAP_OK(s.core_pct && s.core_pct[0] == -1 && s.core_pct[1] == -1,
           "cpu: first sample per-core unknown");

    /* total: busy 200->400 (guest 10 not double counted), total 1000->1500;
     * cpu0 busy +100 of +100; cpu1 busy +50 of +250 (iowait is idle). */
    put(root, "/proc/stat",
        "cpu  250 0 150 1000 100 0 0 0 10 0\n"
        "cpu0 150 0 50 400 0 0 0 0 0 0\n"
        "cpu1 100 0 50 500 100 0 0 0 10 0\n"
        "intr 12345 1 2 3\n");
    dcv_telem_sample_at(t, 3000, &s);
    TAP_NEAR(s.cpu_pct, 40.0, "cpu: total 40%");
    TAP_NEAR(s.core_pct[0], 100.0, "cpu: cpu0 100%");
    TAP_NEAR(s.core_pct[1], 20.0, "cpu: cpu1 20% (iowait counts idle)");

    /* cpu1 went offline, cpu2 appeared: matched by id, not position. */
    put(root, "/proc/stat",
        "cpu  250 0 150 1500 100 0 0 0 10 0\n"
        "cpu0 150 0 50 500 0 0 0 0 0 0\n"
        "cpu2 1 0 1 1 0\n");
    dcv_telem_sample_at(t, 5000, &s);
    TAP_NEAR(s.cpu_pct, 0.0, "cpu: idle interval 0%");
    TAP_IS_INT(s.n_cores, 2, "cpu: hotplug core count");
    TAP_NEAR(s.core_pct[0], 0.0, "cpu: cpu0 idle");
    TAP_NEAR(s.core_pct[1], -1, "cpu: new core unknown");

    /* Counters going backwards (reset) and no time passing give unknown. */
    put(root, "/proc/stat", "cpu  10 0 10 10 0\ncpu0 150 0 50 500 0\ncpu2 1 0 1 1 0\n");
    dcv_telem_sample_at(t, 7000, &s);
    TAP_NEAR(s.cpu_pct, -1, "cpu: reset counters unknown");
    TAP_NEAR(s.core_pct[0], -1, "cpu: no elapsed ticks unknown");

    /* Old kernels print only four fields. */
    put(root, "/proc/stat", "cpu 20 0 20 20\ncpu0 20 0 20 20\n");
    dcv_telem_sample_at(t, 9000, &s);
    TAP_NEAR(s.cpu_pct, 100.0 * 20 / 30, "cpu: four-field lines");

    /* Malformed lines are skipped, never trusted. */
    put(root, "/proc/stat",
        "cpu  x y z\ncpu0 1 2\ncpu1 -5 0 0 0\ncpu9999999999999999999999 1 1 1 1\n"
        "cpufoo 1 1 1 1\ncpu3 1 1 1 1junk\n");
    TAP_IS_INT(dcv_telem_sample_at(t, 11000, &s), 0, "cpu: malformed ok");
    TAP_NEAR(s.cpu_pct, -1, "cpu: malformed total unknown");
    TAP_IS_INT(s.ncpu, -1, "cpu: malformed ncpu unknown");
    TAP_IS_INT(s.n_cores, 0, "cpu: malformed no cores");

    /* Then a good file again: the previous sample was unusable, so unknown. */
    put(root, "/proc/stat", "cpu 20 0 20 20\ncpu0 20 0 20 20\n");
    dcv_telem_sample_at(t, 13000, &s);
    TAP_NEAR(s.cpu_pct, -1, "cpu: after malformed sample, unknown again");

    rm(root, "/proc/stat");
    TAP_IS_INT(dcv_telem_sample_at(t, 15000, &s), 0, "cpu: missing file ok");
    TAP_NEAR(s.cpu_pct, -1, "cpu: missing file unknown");
    dcv_telem_free(&t);
}

/* ---- captured layouts (tests/fixtures/telemetry, one .tree file each) ------ */

/* Build tests/fixtures/telemetry/NAME.tree under tmp/NAME; returns the root
 * (static), or NULL when the source tree is not known (skip). */
static const char *load_tree(const char *name)
{
    static char root[4096];
    const char *top = getenv("DCV_TOP_SRCDIR");
    char path[4096], line[4096], cur[4096] = "";
    if (!top)
        return NULL;
    snprintf(path, sizeof path, "%s/tests/fixtures/telemetry/%s.tree", top, name);
    FILE *f = fopen(path, "r");
    if (!f)
        tap_bail("cannot read fixture %s", path);
    snprintf(root, sizeof root, "%s/fx-%s", tmp, name);
    mkdirs(root);
    char *body = NULL;
    size_t blen = 0;
    /* Write the pending file (cur) with the text gathered for it. */
#define FLUSH()                                                   \
    do {                                                          \
        if (cur[0])                                               \
            put_n(root, cur, body ? body : "", (long)blen);       \
        cur[0] = '\0';                                            \
        blen = 0;                                                 \
    } while (0)
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "== ", 3) != 0) {
            if (!cur[0])
                continue; /* comments before the first file */
            size_t n = strlen(line);
            char *nb = realloc(body, blen + n + 1);
            if (!nb)
                tap_bail("out of memory");
            body = nb;
            memcpy(body + blen, line, n + 1);
            blen += n;
            continue;
        }
        FLUSH();
        line[strcspn(line, "\n")] = '\0';
        char *spec = line + 3, *arrow = strstr(spec, " -> ");
        char full[8192];
        if (arrow) {
            *arrow = '\0';
            snprintf(full, sizeof full, "%s%s", root, spec);
            char *slash = strrchr(full, '/');
            *slash = '\0';
            mkdirs(full);
            *slash = '/';
            if (symlink(arrow + 4, full) != 0)
                tap_bail("symlink %s", full);
        } else if (spec[strlen(spec) - 1] == '/') {
            snprintf(full, sizeof full, "%s%s", root, spec);
            mkdirs(full);
        } else {
            snprintf(cur, sizeof cur, "%s", spec);
        }
    }
    FLUSH();
#undef FLUSH
    free(body);
    fclose(f);
    return root;
}

static int sample_tree(const char *name, struct dcv_telem_sample *s)
{
    const char *root = load_tree(name);
    if (!root)
        return -1;
    struct dcv_telem *t = open_root(root, NULL);
    TAP_IS_INT(dcv_telem_sample_at(t, 0, s), 0, name);
    dcv_telem_free(&t); /* s keeps only numbers here (no cores, no GPUs) */
    return 0;
}

static void test_fixtures(void)
{
    struct dcv_telem_sample s;
    if (!getenv("DCV_TOP_SRCDIR")) {
        tap_skip("DCV_TOP_SRCDIR not set", "captured layouts");
        return;
    }
    sample_tree("psi-5.15", &s);
    TAP_OK(s.psi_present, "psi 5.15: present");
    TAP_OK(NEAR(s.psi_cpu.some_avg10, 2.04) && NEAR(s.psi_cpu.full_avg10, 0) &&
               NEAR(s.psi_mem.some_avg10, 0.31) && NEAR(s.psi_mem.full_avg10, 0.17) &&
               NEAR(s.psi_io.some_avg10, 7.85) && NEAR(s.psi_io.full_avg10, 5.92),
           "psi 5.15: every avg10");

    sample_tree("psi-4.20", &s);
    TAP_OK(s.psi_present && NEAR(s.psi_cpu.some_avg10, 12.5), "psi 4.20: cpu some");
    TAP_NEAR(s.psi_cpu.full_avg10, -1, "psi 4.20: no cpu full line, unknown");
    TAP_OK(NEAR(s.psi_mem.full_avg10, 0) && NEAR(s.psi_io.some_avg10, 0.55),
           "psi 4.20: memory and io");
    {
        struct dcv_proto_telemetry *pt = calloc(1, sizeof *pt);
        if (!pt)
            tap_bail("calloc");
        dcv_telem_to_proto(&s, pt);
        TAP_OK(pt->has_psi && NEAR(pt->psi.cpu_some, 12.5) && NEAR(pt->psi.io_full, 0.25),
               "psi 4.20: all five protocol figures known, sent");
        free(pt);
    }

    sample_tree("psi-disabled", &s);
    TAP_OK(!s.psi_present && s.psi_cpu.some_avg10 == -1 && s.psi_mem.some_avg10 == -1 &&
               s.psi_io.some_avg10 == -1,
           "psi disabled at boot (reads fail): absent");

    sample_tree("psi-partial", &s);
    TAP_OK(s.psi_present && NEAR(s.psi_cpu.some_avg10, 3.0) && s.psi_mem.some_avg10 == -1 &&
               s.psi_io.full_avg10 == -1,
           "psi partial: the readable file's figures, the rest unknown");
    {
        struct dcv_proto_telemetry *pt = calloc(1, sizeof *pt);
        if (!pt)
            tap_bail("calloc");
        dcv_telem_to_proto(&s, pt);
        TAP_OK(!pt->has_psi, "psi partial: not sent (the protocol object is all or nothing)");
        free(pt);
    }

    sample_tree("psi-disabled", &s); /* and no thermal files at all */
    TAP_NEAR(s.temp_c, -1, "thermal none: unknown");
    sample_tree("thermal-intel-laptop", &s);
    TAP_NEAR(s.temp_c, 71.0, "thermal intel laptop: package sensor; nvme, wifi, chipset, "
             "ACPI and battery ignored");
    sample_tree("thermal-amd-k10temp", &s);
    TAP_NEAR(s.temp_c, 63.5, "thermal k10temp (Zen 3): Tctl without offset, through sysfs links; "
             "amdgpu and nvme ignored");
    sample_tree("thermal-threadripper", &s);
    TAP_NEAR(s.temp_c, 48.0, "thermal k10temp with Tdie: the offset Tctl ignored");
    sample_tree("thermal-zenpower", &s);
    TAP_NEAR(s.temp_c, 66.125, "thermal zenpower: Tdie");
    sample_tree("thermal-arm", &s);
    TAP_NEAR(s.temp_c, 61.2, "thermal ARM: cpu-thermal / soc_thermal zones, gpu zone ignored");
    sample_tree("thermal-acpitz-only", &s);
    TAP_NEAR(s.temp_c, 27.8, "thermal ACPI zone only: the board figure; failing zone skipped");
    sample_tree("thermal-old-hwmon", &s);
    TAP_NEAR(s.temp_c, 55.0, "thermal old hwmon layout (device/, Physical id): package");
}

static void test_load_mem(void)
{
    char root[4096];
    snprintf(root, sizeof root, "%s/mem", tmp);
    put(root, "/proc/loadavg", "0.50 1.25 2.00 1/234 5678\n");
    put(root, "/proc/meminfo",
        "MemTotal:       16384000 kB\nMemFree:         1000000 kB\n"
        "MemAvailable:    8192000 kB\nBuffers:           1000 kB\n"
        "SwapTotal:       2048000 kB\nSwapFree:        1024000 kB\n"
        "HugePages_Total:       0\n");
    struct dcv_telem *t = open_root(root, NULL);
    struct dcv_telem_sample s;
    dcv_telem_sample_at(t, 0, &s);
    TAP_NEAR(s.load1, 0.5, "load: load1");
    TAP_NEAR(s.load5, 1.25, "load: load5");
    TAP_NEAR(s.load15, 2.0, "load: load15");
    TAP_IS_INT(s.mem_total, 16384000LL * 1024, "mem: total bytes");
    TAP_IS_INT(s.mem_avail, 8192000LL * 1024, "mem: available bytes");
    TAP_IS_INT(s.swap_total, 2048000LL * 1024, "mem: swap total");
    TAP_IS_INT(s.swap_free, 1024000LL * 1024, "mem: swap free");

    /* Kernels before 3.14: free + cached + buffers. */
    put(root, "/proc/meminfo",
        "MemTotal: 10000 kB\nMemFree: 1000 kB\nBuffers: 500 kB\nCached: 2000 kB\n"
        "SwapCached: 7 kB\n");
    dcv_telem_sample_at(t, 0, &s);
    TAP_IS_INT(s.mem_avail, 3500LL * 1024, "mem: MemAvailable fallback");
    TAP_IS_INT(s.swap_total, -1, "mem: no swap lines unknown");

    put(root, "/proc/loadavg", "abc def ghi\n");
    put(root, "/proc/meminfo",
        "MemTotal: lots kB\nMemAvailable: 5 MB\nSwapTotal: 99999999999999999999 kB\n"
        "SwapFree: -1 kB\n");
    dcv_telem_sample_at(t, 0, &s);
    TAP_NEAR(s.load1, -1, "load: garbage unknown");
    TAP_IS_INT(s.mem_total, -1, "mem: non-numeric unknown");
    TAP_IS_INT(s.mem_avail, -1, "mem: wrong unit unknown");
    TAP_IS_INT(s.swap_total, -1, "mem: overflow unknown");
    TAP_IS_INT(s.swap_free, -1, "mem: negative unknown");

    put(root, "/proc/loadavg", "1.0 nan 2.0 1/2 3\n");
    dcv_telem_sample_at(t, 0, &s);
    TAP_OK(s.load1 == -1 && s.load5 == -1 && s.load15 == -1, "load: nan refuses the line");
    put(root, "/proc/loadavg", "1.0 2.0");
    dcv_telem_sample_at(t, 0, &s);
    TAP_NEAR(s.load1, -1, "load: truncated unknown");
    put(root, "/proc/loadavg", "");
    put(root, "/proc/meminfo", "");
    dcv_telem_sample_at(t, 0, &s);
    TAP_OK(s.load1 == -1 && s.mem_total == -1, "load/mem: empty files unknown");
    dcv_telem_free(&t);
}

static void test_psi(void)
{
    char root[4096];
    snprintf(root, sizeof root, "%s/psi", tmp);
    mkdirs(root);
    struct dcv_telem *t = open_root(root, NULL);
    struct dcv_telem_sample s;
    dcv_telem_sample_at(t, 0, &s);
    TAP_IS_INT(s.psi_present, 0, "psi: absent");
    TAP_NEAR(s.psi_mem.some_avg10, -1, "psi: absent memory unknown");

    put(root, "/proc/pressure/cpu",
        "some avg10=1.50 avg60=0.80 avg300=0.20 total=123456\n"
        "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n");
    put(root, "/proc/pressure/memory",
        "some avg10=12.25 avg60=3.00 avg300=1.00 total=99\n"
        "full avg10=3.50 avg60=1.00 avg300=0.10 total=9\n");
    dcv_telem_sample_at(t, 0, &s);
    TAP_IS_INT(s.psi_present, 1, "psi: present");
    TAP_NEAR(s.psi_cpu.some_avg10, 1.5, "psi: cpu some");
    TAP_NEAR(s.psi_cpu.full_avg10, 0.0, "psi: cpu full");
    TAP_NEAR(s.psi_mem.some_avg10, 12.25, "psi: memory some");
    TAP_NEAR(s.psi_mem.full_avg10, 3.5, "psi: memory full");
    TAP_NEAR(s.psi_io.some_avg10, -1, "psi: missing io unknown");

    put(root, "/proc/pressure/cpu", "some avg10=1.50 avg60=0.80 avg300=0.20 total=1\n");
    put(root, "/proc/pressure/memory", "some avg10=abc avg60=1\nfull avg10=150.0 avg60=1\n");
    put(root, "/proc/pressure/io", "some avg60=1.0 avg10=2.0\nfull\n");
    dcv_telem_sample_at(t, 0, &s);
    TAP_NEAR(s.psi_cpu.full_avg10, -1, "psi: old kernel cpu has no full line");
    TAP_NEAR(s.psi_mem.some_avg10, -1, "psi: non-numeric unknown");
    TAP_NEAR(s.psi_mem.full_avg10, -1, "psi: over 100 unknown");
    TAP_NEAR(s.psi_io.some_avg10, -1, "psi: unexpected field order unknown");
    TAP_NEAR(s.psi_io.full_avg10, -1, "psi: bare full unknown");
    dcv_telem_free(&t);
}

static void test_temp(void)
{
    char root[4096];
    snprintf(root, sizeof root, "%s/temp", tmp);
    mkdirs(root);
    struct dcv_telem *t = open_root(root, NULL);
    struct dcv_telem_sample s;
    dcv_telem_sample_at(t, 0, &s);
    TAP_NEAR(s.temp_c, -1, "temp: no sensors unknown");

    put(root, "/sys/class/thermal/thermal_zone0/type", "acpitz\n");
    put(root, "/sys/class/thermal/thermal_zone0/temp", "99000\n");
    put(root, "/sys/class/thermal/thermal_zone3/type", "iwlwifi_1\n");
    put(root, "/sys/class/thermal/thermal_zone3/temp", "98000\n");
    dcv_telem_sample_at(t, 0, &s);
    TAP_NEAR(s.temp_c, 99.0, "temp: ACPI board zone when there is no CPU sensor, wifi ignored");

    put(root, "/sys/class/thermal/thermal_zone1/type", "x86_pkg_temp\n");
    put(root, "/sys/class/thermal/thermal_zone1/temp", "55000\n");
    put(root, "/sys/class/thermal/thermal_zone2/type", "cpu-thermal\n");
    put(root, "/sys/class/thermal/thermal_zone2/temp", "hot\n");
    put(root, "/sys/class/thermal/cooling_device0/type", "Processor\n");
    dcv_telem_sample_at(t, 0, &s);
    TAP_NEAR(s.temp_c, 55.0, "temp: x86_pkg_temp zone wins over a hotter board zone, "
             "malformed zone skipped");

    put(root, "/sys/class/thermal/thermal_zone2/temp", "57500\n");
    dcv_telem_sample_at(t, 0, &s);
    TAP_NEAR(s.temp_c, 57.5, "temp: max over CPU zones");

    put(root, "/sys/class/hwmon/hwmon0/name", "coretemp\n");
    put(root, "/sys/class/hwmon/hwmon0/temp1_input", "61500\n");
    put(root, "/sys/class/hwmon/hwmon0/temp1_label", "Package id 0\n");
    put(root, "/sys/class/hwmon/hwmon0/temp2_input", "-273000\n");
    put(root, "/sys/class/hwmon/hwmon1/name", "nvme\n");
    put(root, "/sys/class/hwmon/hwmon1/temp1_input", "90000\n");
    dcv_telem_sample_at(t, 0, &s);
    TAP_NEAR(s.temp_c, 61.5, "temp: hwmon coretemp, nvme and bogus values ignored");

    put(root, "/sys/class/hwmon/hwmon2/name", "k10temp\n");
    put(root, "/sys/class/hwmon/hwmon2/temp1_input", "95000\n");
    put(root, "/sys/class/hwmon/hwmon2/temp1_label", "Tctl\n");
    put(root, "/sys/class/hwmon/hwmon2/temp2_input", "70000\n");
    put(root, "/sys/class/hwmon/hwmon2/temp2_label", "Tdie\n");
    dcv_telem_sample_at(t, 0, &s);
    TAP_NEAR(s.temp_c, 70.0, "temp: k10temp prefers Tdie over offset Tctl");
    rm(root, "/sys/class/hwmon/hwmon2/temp2_input");
    rm(root, "/sys/class/hwmon/hwmon2/temp2_label");
    dcv_telem_sample_at(t, 0, &s);
    TAP_NEAR(s.temp_c, 95.0, "temp: k10temp Tctl when it is all there is");
    dcv_telem_free(&t);
}

static const char net_hdr[] =
    "Inter-|   Receive                                                |  Transmit\n"
    " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets "
    "errs drop fifo colls carrier compressed\n";

static void put_net(const char *root, unsigned long long lo, unsigned long long eth_rx,
                    unsigned long long eth_tx, unsigned long long wl_rx)
{
    char buf[2048];
    snprintf(buf, sizeof buf,
             "%s    lo: %llu 10 0 0 0 0 0 0 %llu 10 0 0 0 0 0 0\n"
             "  eth0: %llu 5 0 0 0 0 0 0 %llu 5 0 0 0 0 0 0\n"
             "wlan0:%llu 5 0 0 0 0 0 0 7 5 0 0 0 0 0 0\n",
             net_hdr, lo, lo, eth_rx, eth_tx, wl_rx);
    put(root, "/proc/net/dev", buf);
}

static void test_net(void)
{
    char root[4096];
    snprintf(root, sizeof root, "%s/net", tmp);
    put_net(root, 1000, 10000, 20000, 500);
    struct dcv_telem *t = open_root(root, NULL);
    struct dcv_telem_sample s;
    dcv_telem_sample_at(t, 1000, &s);
    TAP_OK(s.net_rx_bps == -1 && s.net_tx_bps == -1, "net: first sample unknown");
    put_net(root, 1000000000ULL, 14000, 22000, 1500);
    dcv_telem_sample_at(t, 3000, &s);
    TAP_NEAR(s.net_rx_bps, 2500.0, "net: rx B/s over eth0+wlan0, lo excluded");
    TAP_NEAR(s.net_tx_bps, 1000.0, "net: tx B/s");
    dcv_telem_sample_at(t, 3000, &s);
    TAP_NEAR(s.net_rx_bps, -1, "net: no elapsed time unknown");
    /* eth0 reset (driver reload): only wlan0's growth counts. */
    put_net(root, 0, 100, 100, 2500);
    dcv_telem_sample_at(t, 4000, &s);
    TAP_NEAR(s.net_rx_bps, 1000.0, "net: reset interface skipped");
    TAP_NEAR(s.net_tx_bps, 0.0, "net: reset tx skipped");

    char buf[2048];
    snprintf(buf, sizeof buf, "%s  eth0: 1 2 3\nwlan0 4 5 6\n:::\nthisnameistoolongforaninterface0: 1 1 1 1 1 1 1 1 1\n",
             net_hdr);
    put(root, "/proc/net/dev", buf);
    TAP_IS_INT(dcv_telem_sample_at(t, 5000, &s), 0, "net: malformed ok");
    TAP_NEAR(s.net_rx_bps, 0.0, "net: malformed lines contribute nothing");
    rm(root, "/proc/net/dev");
    dcv_telem_sample_at(t, 6000, &s);
    TAP_NEAR(s.net_rx_bps, -1, "net: missing file unknown");
    put_net(root, 0, 100, 100, 2500);
    dcv_telem_sample_at(t, 7000, &s);
    TAP_NEAR(s.net_rx_bps, -1, "net: after a missing file, unknown again");
    dcv_telem_free(&t);
}

static void test_disk(void)
{
    struct dcv_telem *t = open_root(tmp, tmp);
    struct dcv_telem_sample s;
    dcv_telem_sample_at(t, 0, &s);
    struct statvfs v;
    if (statvfs(tmp, &v) < 0)
        tap_bail("statvfs %s", tmp);
    TAP_IS_INT(s.disk_total, (long long)v.f_blocks * (long long)v.f_frsize,
               "disk: total = blocks * frsize");
    TAP_OK(s.disk_free >= 0 && s.disk_free <= s.disk_total, "disk: 0 <= free <= total");
    long long want = (long long)v.f_bavail * (long long)v.f_frsize;
    TAP_OK(llabs(s.disk_free - want) <= 64LL << 20, "disk: free matches f_bavail (+-64 MiB)");
    dcv_telem_free(&t);

    char path[4096];
    snprintf(path, sizeof path, "%s/no/such/dir", tmp);
    t = open_root(tmp, path);
    dcv_telem_sample_at(t, 0, &s);
    TAP_OK(s.disk_total == -1 && s.disk_free == -1, "disk: missing work dir unknown");
    dcv_telem_free(&t);
    t = open_root(tmp, NULL);
    dcv_telem_sample_at(t, 0, &s);
    TAP_OK(s.disk_total == -1, "disk: no work dir unknown");
    dcv_telem_free(&t);
}

/* Files full of binary junk, NULs, and a very long line: no crash, unknown. */
static void test_garbage(void)
{
    char root[4096];
    snprintf(root, sizeof root, "%s/junk", tmp);
    static const char bin[] = "cpu \0\xff\x01 12 3\ncpu0 1 1 1 1\n\0\0";
    const char *files[] = {"/proc/stat", "/proc/loadavg", "/proc/meminfo",
                           "/proc/pressure/cpu", "/proc/pressure/memory", "/proc/pressure/io",
                           "/proc/net/dev", "/sys/class/thermal/thermal_zone0/type",
                           "/sys/class/thermal/thermal_zone0/temp", "/sys/class/hwmon/hwmon0/name",
                           "/sys/class/hwmon/hwmon0/temp1_input"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        put_n(root, files[i], bin, (long)sizeof bin);
    struct dcv_telem *t = open_root(root, NULL);
    struct dcv_telem_sample s;
    TAP_IS_INT(dcv_telem_sample_at(t, 0, &s), 0, "garbage: sample ok");
    TAP_OK(s.ncpu == -1 && s.load1 == -1 && s.mem_total == -1 && s.temp_c == -1 &&
               s.psi_mem.some_avg10 == -1,
           "garbage: embedded NUL makes files unknown");

    /* 1 MiB of digits without a newline, then a valid cpu line. */
    size_t n = 1u << 20;
    char *big = malloc(n + 64);
    if (!big)
        tap_bail("malloc");
    memset(big, '7', n);
    strcpy(big + n, "\ncpu 1 2 3 4\ncpu0 1 2 3 4\n");
    put(root, "/proc/stat", big);
    put(root, "/proc/loadavg", big);
    put(root, "/proc/meminfo", big);
    free(big);
    TAP_IS_INT(dcv_telem_sample_at(t, 1, &s), 0, "garbage: huge files ok");
    TAP_IS_INT(s.ncpu, 1, "garbage: lines after a huge one still parsed");
    TAP_NEAR(s.load1, -1, "garbage: huge number is not a load");
    dcv_telem_free(&t);
}

static void test_empty_root(void)
{
    char root[4096];
    snprintf(root, sizeof root, "%s/empty", tmp);
    mkdirs(root);
    struct dcv_telem *t = open_root(root, NULL);
    struct dcv_telem_sample s;
    TAP_IS_INT(dcv_telem_sample_at(t, 0, &s), 0, "empty root: sample ok");
    TAP_IS_INT(dcv_telem_sample_at(t, 2000, &s), 0, "empty root: second sample ok");
    TAP_OK(s.cpu_pct == -1 && s.ncpu == -1 && s.n_cores == 0 && s.load1 == -1 &&
               s.mem_total == -1 && s.swap_total == -1 && !s.psi_present && s.temp_c == -1 &&
               s.net_rx_bps == -1 && s.disk_total == -1,
           "empty root: everything unknown");
    dcv_telem_free(&t);
}

static struct dcv_telem_sample base_sample(void)
{
    struct dcv_telem_sample s;
    memset(&s, 0, sizeof s);
    s.cpu_pct = 10;
    s.ncpu = 4;
    s.load1 = 2.0;
    s.mem_total = 8LL << 30;
    s.mem_avail = 4LL << 30;
    s.disk_total = 100LL << 30;
    s.disk_free = 50LL << 30;
    s.psi_present = 1;
    s.psi_mem.some_avg10 = 5.0;
    s.temp_c = 60;
    return s;
}

static void test_admit(void)
{
    struct dcv_telem_limits lim = {.max_mem_pressure = 20, .min_mem_avail = 1LL << 30,
                                   .max_temp_c = 90, .max_load_per_core = 1.5,
                                   .min_disk_free = 1LL << 30};
    char why[128];
    struct dcv_telem_sample s = base_sample();
    TAP_IS_INT(dcv_telem_admit(&lim, &s, why, sizeof why), DCV_TELEM_OK, "admit: healthy OK");
    TAP_IS_STR(why, "", "admit: OK has empty reason");

    s = base_sample();
    s.mem_avail = 512LL << 20;
    TAP_IS_INT(dcv_telem_admit(&lim, &s, why, sizeof why), DCV_TELEM_BUSY, "admit: low memory BUSY");
    TAP_IS_STR(why, "available memory 512 MiB below 1024 MiB", "admit: memory reason");

    s = base_sample();
    s.psi_mem.some_avg10 = 35.5;
    TAP_IS_INT(dcv_telem_admit(&lim, &s, why, sizeof why), DCV_TELEM_BUSY, "admit: pressure BUSY");
    TAP_IS_STR(why, "memory pressure 35.5% above 20.0%", "admit: pressure reason");

    s = base_sample();
    s.temp_c = 95;
    TAP_IS_INT(dcv_telem_admit(&lim, &s, why, sizeof why), DCV_TELEM_BUSY, "admit: heat BUSY");
    TAP_IS_STR(why, "CPU temperature 95.0 C above 90.0 C", "admit: heat reason");

    s = base_sample();
    s.load1 = 8.0;
    TAP_IS_INT(dcv_telem_admit(&lim, &s, why, sizeof why), DCV_TELEM_BUSY, "admit: load BUSY");
    TAP_IS_STR(why, "load 2.00 per core above 1.50", "admit: load reason");

    s = base_sample();
    s.disk_free = 100LL << 20;
    TAP_IS_INT(dcv_telem_admit(&lim, &s, why, sizeof why), DCV_TELEM_BUSY, "admit: disk BUSY");
    TAP_HAS_STR(why, "work dir free space 100 MiB", "admit: disk reason");

    /* Unknown figures never make a worker BUSY (PSI or sensors absent). */
    s = base_sample();
    s.mem_avail = s.psi_mem.some_avg10 = s.temp_c = s.load1 = -1;
    s.ncpu = s.disk_free = -1;
    s.psi_present = 0;
    TAP_IS_INT(dcv_telem_admit(&lim, &s, why, sizeof why), DCV_TELEM_OK, "admit: unknowns pass");

    /* CPU pressure where PSI measures it; load per core in its place where
     * PSI is absent (or cpu unknown); I/O pressure; the hottest GPU. */
    struct dcv_telem_limits cpu = {.max_cpu_pressure = 40, .max_load_per_core = 1.5,
                                   .max_io_pressure = 30, .max_gpu_temp_c = 85};
    s = base_sample();
    s.psi_cpu.some_avg10 = 55.25;
    TAP_IS_INT(dcv_telem_admit(&cpu, &s, why, sizeof why), DCV_TELEM_BUSY, "admit: cpu pressure BUSY");
    TAP_IS_STR(why, "CPU pressure 55.2% above 40.0%", "admit: cpu pressure reason");
    s.psi_cpu.some_avg10 = 10;
    s.load1 = 40; /* 10 per core: PSI says the CPU copes, and PSI wins */
    TAP_IS_INT(dcv_telem_admit(&cpu, &s, why, sizeof why), DCV_TELEM_OK,
               "admit: with PSI cpu known, load is not the CPU figure");
    s.psi_cpu.some_avg10 = -1;
    s.psi_present = 0;
    TAP_IS_INT(dcv_telem_admit(&cpu, &s, why, sizeof why), DCV_TELEM_BUSY,
               "admit: PSI absent, load per core falls back");
    TAP_IS_STR(why, "load 10.00 per core above 1.50", "admit: fallback reason");
    s.load1 = 4;
    TAP_IS_INT(dcv_telem_admit(&cpu, &s, why, sizeof why), DCV_TELEM_OK,
               "admit: PSI absent, load under the limit");
    s = base_sample();
    s.psi_io.some_avg10 = 30.5;
    TAP_IS_INT(dcv_telem_admit(&cpu, &s, why, sizeof why), DCV_TELEM_BUSY, "admit: io pressure BUSY");
    TAP_IS_STR(why, "I/O pressure 30.5% above 30.0%", "admit: io pressure reason");
    s.psi_io.some_avg10 = 30.0;
    TAP_IS_INT(dcv_telem_admit(&cpu, &s, why, sizeof why), DCV_TELEM_OK, "admit: at the limit is OK");

    struct dcv_nvml_gpu g[3];
    memset(g, 0, sizeof g);
    snprintf(g[0].id, sizeof g[0].id, "GPU-aaaa");
    snprintf(g[1].id, sizeof g[1].id, "GPU-bbbb");
    snprintf(g[2].id, sizeof g[2].id, "GPU-cccc");
    g[0].temp_c = 70;
    g[1].temp_c = 88;
    g[2].temp_c = -1;
    s = base_sample();
    s.gpus = g;
    s.n_gpus = 3;
    TAP_IS_INT(dcv_telem_admit(&cpu, &s, why, sizeof why), DCV_TELEM_BUSY, "admit: hot GPU BUSY");
    TAP_IS_STR(why, "GPU GPU-bbbb temperature 88.0 C above 85.0 C",
               "admit: names the hottest GPU");
    g[1].temp_c = -1;
    TAP_IS_INT(dcv_telem_admit(&cpu, &s, why, sizeof why), DCV_TELEM_OK,
               "admit: cool and unknown GPU temperatures pass");
    s.n_gpus = 0;
    s.gpus = NULL;
    TAP_IS_INT(dcv_telem_admit(&cpu, &s, why, sizeof why), DCV_TELEM_OK, "admit: no GPUs pass");

    /* Every limit on, every figure unknown: OK. */
    struct dcv_telem_limits all = {.max_mem_pressure = 1, .min_mem_avail = 1LL << 40,
                                   .max_temp_c = 1, .max_load_per_core = 0.01,
                                   .min_disk_free = 1LL << 50, .max_cpu_pressure = 1,
                                   .max_io_pressure = 1, .max_gpu_temp_c = 1};
    memset(&s, 0, sizeof s);
    s.mem_avail = s.disk_free = s.ncpu = s.mem_total = s.disk_total = -1;
    s.load1 = s.temp_c = -1;
    s.psi_cpu.some_avg10 = s.psi_mem.some_avg10 = s.psi_io.some_avg10 = -1;
    s.gpus = g;
    s.n_gpus = 3;
    g[0].temp_c = -1;
    TAP_IS_INT(dcv_telem_admit(&all, &s, why, sizeof why), DCV_TELEM_OK,
               "admit: every limit on, every figure unknown: OK");

    /* Disabled limits. */
    struct dcv_telem_limits off = {0};
    s = base_sample();
    s.temp_c = 150;
    s.mem_avail = 1;
    s.load1 = 1000;
    s.psi_cpu.some_avg10 = s.psi_io.some_avg10 = s.psi_mem.some_avg10 = 99;
    s.disk_free = 0;
    g[0].temp_c = 150;
    s.gpus = g;
    s.n_gpus = 1;
    TAP_IS_INT(dcv_telem_admit(&off, &s, NULL, 0), DCV_TELEM_OK, "admit: zero limits disabled");
}

static void test_proto(void)
{
    struct dcv_proto_heartbeat *hb = calloc(1, sizeof *hb);
    struct dcv_proto_heartbeat *back = calloc(1, sizeof *back);
    if (!hb || !back)
        tap_bail("calloc");
    struct dcv_telem_sample s = base_sample();
    hb->has_telemetry = 1;
    hb->telemetry.slots_used = 1;
    dcv_telem_to_proto(&s, &hb->telemetry);
    TAP_NEAR(hb->telemetry.cpu_pct, 10, "proto: cpu_pct");
    TAP_NEAR(hb->telemetry.load1, 2.0, "proto: load1");
    TAP_IS_INT(hb->telemetry.ncpu, 4, "proto: ncpu");
    TAP_IS_INT(hb->telemetry.mem_avail, 4LL << 30, "proto: mem_avail");
    TAP_IS_INT(hb->telemetry.disk_free, 50LL << 30, "proto: disk_free");
    TAP_IS_INT(hb->telemetry.slots_used, 1, "proto: caller fields untouched");

    /* A sample with nothing known must still give a valid HEARTBEAT. */
    memset(&s, 0, sizeof s);
    s.cpu_pct = s.load1 = -1;
    s.ncpu = s.mem_total = s.mem_avail = s.disk_total = s.disk_free = -1;
    dcv_telem_to_proto(&s, &hb->telemetry);
    char *json = NULL, err[256] = "";
    size_t len = 0;
    int rc = dcv_proto_heartbeat_to_json(hb, &json, &len, err, sizeof err);
    TAP_IS_INT(rc, 0, "proto: unknown sample encodes");
    if (rc < 0)
        tap_diag("%s", err);
    rc = json ? dcv_proto_heartbeat_from_json(json, len, back, err, sizeof err) : -1;
    TAP_IS_INT(rc, 0, "proto: and decodes as a valid HEARTBEAT");
    if (rc < 0)
        tap_diag("%s: %s", err, json ? json : "");
    TAP_IS_INT(back->telemetry.ncpu, 1, "proto: unknown ncpu becomes 1");
    free(json);

    /* Out-of-range values are clamped to the protocol's ranges. */
    s.cpu_pct = 250;
    s.mem_total = 100;
    s.mem_avail = 200;
    s.disk_total = 10;
    s.disk_free = 20;
    s.ncpu = 100000;
    dcv_telem_to_proto(&s, &hb->telemetry);
    TAP_OK(hb->telemetry.cpu_pct == 100 && hb->telemetry.mem_avail == 100 &&
               hb->telemetry.disk_free == 10 && hb->telemetry.ncpu == 65536,
           "proto: clamped to ranges");

    /* Optional figures: unknown ones (-1) are not emitted. */
    memset(hb, 0, sizeof *hb);
    hb->has_telemetry = 1;
    memset(&s, 0, sizeof s);
    s.cpu_pct = s.load1 = s.load5 = s.load15 = s.temp_c = s.net_rx_bps = s.net_tx_bps = -1;
    s.ncpu = s.mem_total = s.mem_avail = s.disk_total = s.disk_free = -1;
    s.swap_total = s.swap_free = -1;
    s.psi_cpu.some_avg10 = s.psi_mem.some_avg10 = s.psi_mem.full_avg10 = -1;
    s.psi_io.some_avg10 = s.psi_io.full_avg10 = -1;
    dcv_telem_to_proto(&s, &hb->telemetry);
    TAP_OK(hb->telemetry.load5 == -1 && hb->telemetry.swap_total == -1 &&
               hb->telemetry.net_rx_bps == -1 && hb->telemetry.temp_c == -1 &&
               !hb->telemetry.has_psi && hb->telemetry.n_cores == 0 && hb->telemetry.n_gpus == 0,
           "proto: unknown optional figures are -1 / absent");
    json = NULL;
    rc = dcv_proto_heartbeat_to_json(hb, &json, &len, err, sizeof err);
    TAP_IS_INT(rc, 0, "proto: encodes");
    TAP_OK(json && !strstr(json, "load5") && !strstr(json, "swap") && !strstr(json, "temp_c") &&
               !strstr(json, "psi") && !strstr(json, "cores") && !strstr(json, "gpus") &&
               !strstr(json, "net_"),
           "proto: unknown optional figures are not emitted");
    free(json);

    /* Everything known: every field, cores capped, round trip. */
    static double cores[DCV_PROTO_MAX_CORES + 88];
    for (size_t i = 0; i < sizeof cores / sizeof cores[0]; i++)
        cores[i] = i % 3 == 2 ? -1 : (double)(i % 101);
    struct dcv_nvml_gpu g[2];
    memset(g, 0, sizeof g);
    snprintf(g[0].id, sizeof g[0].id, "GPU-12345678-90ab-cdef-1234-567890abcdef");
    snprintf(g[0].name, sizeof g[0].name, "NVIDIA GeForce RTX 4070");
    snprintf(g[0].pci, sizeof g[0].pci, "0000:01:00.0");
    g[0].util_pct = 12;
    g[0].enc_pct = 30;
    g[0].dec_pct = 0;
    g[0].mem_total = 12LL << 30;
    g[0].mem_used = 1LL << 30;
    g[0].temp_c = 61;
    g[0].power_w = 75.5;
    g[0].enc_sessions = 2;
    snprintf(g[1].id, sizeof g[1].id, "GPU-h100");
    g[1].util_pct = g[1].enc_pct = g[1].dec_pct = g[1].temp_c = g[1].power_w = -1;
    g[1].mem_total = g[1].mem_used = g[1].enc_sessions = -1;
    s = base_sample();
    s.load5 = 1.5;
    s.load15 = 1.25;
    s.swap_total = 2LL << 30;
    s.swap_free = 1LL << 30;
    s.n_cores = sizeof cores / sizeof cores[0];
    s.core_pct = cores;
    s.net_rx_bps = 1000.5;
    s.net_tx_bps = 20;
    s.psi_cpu.some_avg10 = 1.5;
    s.psi_cpu.full_avg10 = -1; /* old kernel: not in the protocol anyway */
    s.psi_mem.some_avg10 = 5;
    s.psi_mem.full_avg10 = 2.5;
    s.psi_io.some_avg10 = 7;
    s.psi_io.full_avg10 = 3;
    s.temp_c = 66.5;
    s.gpus = g;
    s.n_gpus = 2;
    memset(hb, 0, sizeof *hb);
    hb->has_telemetry = 1;
    dcv_telem_to_proto(&s, &hb->telemetry);
    snprintf(hb->telemetry.busy_reason, sizeof hb->telemetry.busy_reason, "x");
    hb->telemetry.busy = 1;
    const struct dcv_proto_telemetry *pt = &hb->telemetry;
    TAP_IS_INT(pt->n_cores, DCV_PROTO_MAX_CORES, "proto: cores capped at DCV_PROTO_MAX_CORES");
    TAP_OK(pt->cores[0] == 0 && pt->cores[1] == 1 && pt->cores[2] == -1, "proto: core figures");
    TAP_OK(NEAR(pt->load5, 1.5) && NEAR(pt->load15, 1.25) && pt->swap_total == 2LL << 30 &&
               pt->swap_free == 1LL << 30 && NEAR(pt->net_rx_bps, 1000.5) &&
               NEAR(pt->net_tx_bps, 20) && NEAR(pt->temp_c, 66.5),
           "proto: load, swap, network, temperature");
    TAP_OK(pt->has_psi && NEAR(pt->psi.cpu_some, 1.5) && NEAR(pt->psi.mem_some, 5) &&
               NEAR(pt->psi.mem_full, 2.5) && NEAR(pt->psi.io_some, 7) && NEAR(pt->psi.io_full, 3),
           "proto: psi");
    TAP_IS_INT(pt->n_gpus, 2, "proto: two GPUs");
    TAP_OK(!strcmp(pt->gpus[0].id, g[0].id) && !strcmp(pt->gpus[0].name, g[0].name) &&
               !strcmp(pt->gpus[0].pci, "0000:01:00.0") && NEAR(pt->gpus[0].util_pct, 12) &&
               NEAR(pt->gpus[0].enc_pct, 30) && NEAR(pt->gpus[0].dec_pct, 0) &&
               pt->gpus[0].mem_total == 12LL << 30 && pt->gpus[0].mem_used == 1LL << 30 &&
               NEAR(pt->gpus[0].temp_c, 61) && NEAR(pt->gpus[0].power_w, 75.5) &&
               pt->gpus[0].enc_sessions == 2,
           "proto: GPU figures");
    json = NULL;
    rc = dcv_proto_heartbeat_to_json(hb, &json, &len, err, sizeof err);
    TAP_IS_INT(rc, 0, "proto: full telemetry encodes");
    if (rc < 0)
        tap_diag("%s", err);
    memset(back, 0, sizeof *back);
    rc = json ? dcv_proto_heartbeat_from_json(json, len, back, err, sizeof err) : -1;
    TAP_IS_INT(rc, 0, "proto: and decodes");
    if (rc < 0)
        tap_diag("%s", err);
    const struct dcv_proto_telemetry *bt = &back->telemetry;
    TAP_OK(bt->n_cores == DCV_PROTO_MAX_CORES && bt->cores[2] == -1 && bt->has_psi &&
               NEAR(bt->psi.io_full, 3) && NEAR(bt->temp_c, 66.5) && bt->n_gpus == 2 &&
               !strcmp(bt->gpus[0].id, g[0].id) && bt->gpus[0].enc_sessions == 2 &&
               NEAR(bt->gpus[0].power_w, 75.5) && !strcmp(bt->busy_reason, "x"),
           "proto: round trip keeps the figures");
    TAP_OK(bt->gpus[1].util_pct == -1 && bt->gpus[1].mem_total == -1 &&
               bt->gpus[1].enc_sessions == -1 && bt->gpus[1].name[0] == '\0',
           "proto: a GPU's unknown figures stay unknown");
    free(json);

    /* Out of range GPU figures are clamped; a GPU without id is dropped. */
    g[0].util_pct = 250;
    g[0].mem_used = 20LL << 30;
    g[0].power_w = 1e9;
    g[1].id[0] = '\0';
    dcv_telem_to_proto(&s, &hb->telemetry);
    TAP_OK(pt->n_gpus == 1 && pt->gpus[0].util_pct == 100 && pt->gpus[0].mem_used == 12LL << 30 &&
               pt->gpus[0].power_w == 10000,
           "proto: GPU figures clamped, id-less GPU dropped");
    free(hb);
    free(back);
}

/* ---- NVML through the fake libnvidia-ml ----------------------------------- */

static void put_gpus(const char *file, const char *text)
{
    FILE *f = fopen(file, "w");
    if (!f || fputs(text, f) == EOF || fclose(f) != 0)
        tap_bail("cannot write %s", file);
}

static void test_nvml(void)
{
    const char *bld = getenv("DCV_TOP_BUILDDIR");
    char lib[4096], file[4096], why[512] = "";
    struct dcv_nvml *n = (struct dcv_nvml *)1;
    struct dcv_nvml_gpu g[DCV_NVML_MAX_GPUS];

    TAP_IS_INT(dcv_nvml_open(&n, "", why, sizeof why), -ENOENT, "nvml: \"\" is off");
    TAP_OK(n == NULL && strstr(why, "disabled"), "nvml: off says so");
    TAP_IS_INT(dcv_nvml_open(&n, "libdcv-no-such-nvml.so.1", why, sizeof why), -ENOENT,
               "nvml: missing library -ENOENT");
    TAP_HAS_STR(why, "libdcv-no-such-nvml.so.1", "nvml: missing library named");
    TAP_IS_INT(dcv_nvml_open(&n, "libm.so.6", why, sizeof why), -ENOSYS,
               "nvml: a library without NVML's symbols -ENOSYS");
    TAP_HAS_STR(why, "nvmlInit_v2", "nvml: missing symbol named");

    if (!bld) {
        tap_skip("DCV_TOP_BUILDDIR not set", "nvml through the fake library");
        return;
    }
    snprintf(lib, sizeof lib, "%s/tests/plugins/.libs/libfakenvml.so", bld);
    snprintf(file, sizeof file, "%s/gpus.txt", tmp);
    if (access(lib, R_OK) != 0) {
        tap_skip("fake NVML not built", "nvml through the fake library");
        return;
    }
    unsetenv("DCV_FAKE_NVML_FILE");
    TAP_IS_INT(dcv_nvml_open(&n, lib, why, sizeof why), -EIO, "nvml: init failure -EIO");
    TAP_HAS_STR(why, "Driver Not Loaded", "nvml: NVML's own error text");

    put_gpus(file,
             "uuid=GPU-12345678-90ab-cdef-1234-567890abcdef name=NVIDIA_GeForce_RTX_4070 "
             "pci=00000000:0A:00.0 util=12 enc=30 dec=4 mem_total=12884901888 "
             "mem_used=1073741824 temp=61 power_mw=75250 sessions=2\n"
             "# a comment line\n"
             "uuid=GPU-nouuid nouuid util=1\n"
             "uuid=GPU-h100 name=NVIDIA_H100_80GB_HBM3 pci=00000000:C1:00.0 util=150 "
             "sessions_list=3\n"
             "uuid=GPU-bare\n");
    setenv("DCV_FAKE_NVML_FILE", file, 1);
    TAP_IS_INT(dcv_nvml_open(&n, lib, why, sizeof why), 0, "nvml: fake opens");
    if (!n) {
        tap_diag("%s", why);
        return;
    }
    size_t k = dcv_nvml_sample(n, g, DCV_NVML_MAX_GPUS);
    TAP_IS_INT(k, 3, "nvml: three GPUs (the one whose UUID fails is left out)");
    TAP_IS_STR(g[0].id, "GPU-12345678-90ab-cdef-1234-567890abcdef", "nvml: UUID as NVML spells it");
    TAP_IS_STR(g[0].name, "NVIDIA GeForce RTX 4070", "nvml: name");
    TAP_IS_STR(g[0].pci, "0000:0a:00.0", "nvml: PCI bus id in the sysfs spelling");
    TAP_OK(NEAR(g[0].util_pct, 12) && NEAR(g[0].enc_pct, 30) && NEAR(g[0].dec_pct, 4),
           "nvml: utilisation, encoder, decoder");
    TAP_OK(g[0].mem_total == 12884901888LL && g[0].mem_used == 1073741824LL, "nvml: memory");
    TAP_NEAR(g[0].temp_c, 61, "nvml: temperature");
    TAP_NEAR(g[0].power_w, 75.25, "nvml: power mW -> W");
    TAP_IS_INT(g[0].enc_sessions, 2, "nvml: sessions from nvmlDeviceGetEncoderStats");
    TAP_IS_STR(g[1].id, "GPU-h100", "nvml: second GPU");
    TAP_IS_INT(g[1].enc_sessions, 3, "nvml: sessions from nvmlDeviceGetEncoderSessions");
    TAP_NEAR(g[1].util_pct, -1, "nvml: implausible utilisation unknown");
    TAP_OK(g[1].enc_pct == -1 && g[1].dec_pct == -1 && g[1].mem_total == -1 && g[1].temp_c == -1 &&
               g[1].power_w == -1,
           "nvml: unsupported figures unknown (a GPU without NVENC)");
    TAP_OK(!strcmp(g[2].id, "GPU-bare") && g[2].name[0] == '\0' && g[2].pci[0] == '\0' &&
               g[2].enc_sessions == -1,
           "nvml: a GPU with nothing but its UUID");
    TAP_IS_INT(dcv_nvml_sample(n, g, 1), 1, "nvml: at most max GPUs");

    /* Figures are read at each sample: a test can change them live. */
    put_gpus(file, "uuid=GPU-12345678-90ab-cdef-1234-567890abcdef temp=93 sessions=5\n");
    k = dcv_nvml_sample(n, g, DCV_NVML_MAX_GPUS);
    TAP_OK(k == 1 && NEAR(g[0].temp_c, 93) && g[0].enc_sessions == 5, "nvml: live figures");
    dcv_nvml_close(&n);

    /* Through the sampler: GPUs in the sample, HEARTBEAT, admission. */
    char root[4096];
    snprintf(root, sizeof root, "%s/nvml-root", tmp);
    mkdirs(root);
    struct dcv_telem *t = open_root(root, NULL);
    struct dcv_telem_sample s;
    TAP_IS_INT(dcv_telem_use_nvml(t, lib, why, sizeof why), 0, "nvml: sampler uses the fake");
    TAP_IS_INT(dcv_telem_use_nvml(t, lib, why, sizeof why), 0, "nvml: a second call is a no-op");
    dcv_telem_sample_at(t, 0, &s);
    TAP_OK(s.n_gpus == 1 && s.gpus && !strcmp(s.gpus[0].id, "GPU-12345678-90ab-cdef-1234-567890abcdef"),
           "nvml: GPU in the sample");
    struct dcv_telem_limits lim = {.max_gpu_temp_c = 90};
    TAP_IS_INT(dcv_telem_admit(&lim, &s, why, sizeof why), DCV_TELEM_BUSY, "nvml: hot fake GPU BUSY");
    TAP_HAS_STR(why, "GPU GPU-12345678-90ab-cdef-1234-567890abcdef temperature 93.0 C",
                "nvml: reason");
    struct dcv_proto_heartbeat *hb = calloc(1, sizeof *hb);
    char *json = NULL;
    size_t len;
    if (!hb)
        tap_bail("calloc");
    hb->has_telemetry = 1;
    dcv_telem_to_proto(&s, &hb->telemetry);
    TAP_IS_INT(dcv_proto_heartbeat_to_json(hb, &json, &len, why, sizeof why), 0,
               "nvml: heartbeat encodes");
    TAP_OK(json && strstr(json, "\"enc_sessions\":5") && strstr(json, "\"temp_c\":93"),
           "nvml: heartbeat carries the GPU");
    free(json);
    free(hb);
    put_gpus(file, "");
    dcv_telem_sample_at(t, 0, &s);
    TAP_OK(s.n_gpus == 0 && s.gpus == NULL, "nvml: GPUs gone, none reported");
    dcv_telem_free(&t);

    /* A sampler whose NVML cannot open goes on without GPUs. */
    t = open_root(root, NULL);
    TAP_IS_INT(dcv_telem_use_nvml(t, "libdcv-no-such-nvml.so.1", why, sizeof why), -ENOENT,
               "nvml: sampler without NVML reports why");
    TAP_IS_INT(dcv_telem_sample_at(t, 0, &s), 0, "nvml: and still samples");
    TAP_IS_INT(s.n_gpus, 0, "nvml: no GPUs");
    dcv_telem_free(&t);
    unsetenv("DCV_FAKE_NVML_FILE");
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void test_real(void)
{
    struct dcv_telem *t = open_root("/", tmp);
    struct dcv_telem_sample s;
    TAP_IS_INT(dcv_telem_sample(t, &s), 0, "real: first sample");
    struct timespec d = {0, 150 * 1000000L};
    nanosleep(&d, NULL);
    int64_t t0 = now_ns();
    TAP_IS_INT(dcv_telem_sample(t, &s), 0, "real: second sample");
    int64_t us = (now_ns() - t0) / 1000;
    tap_diag("real: one sample took %lld us; cpu %.1f%% ncpu %lld load %.2f mem %lld/%lld "
             "psi %d temp %.1f net rx %.0f tx %.0f B/s",
             (long long)us, s.cpu_pct, (long long)s.ncpu, s.load1, (long long)s.mem_avail,
             (long long)s.mem_total, s.psi_present, s.temp_c, s.net_rx_bps, s.net_tx_bps);
    TAP_OK(us < 200000, "real: sampling is cheap (< 200 ms even under sanitizers)");
    long conf = sysconf(_SC_NPROCESSORS_CONF);
    TAP_OK(s.ncpu >= 1 && (conf < 1 || s.ncpu <= conf), "real: ncpu in 1..configured CPUs");
    TAP_OK(s.n_cores == (size_t)s.ncpu, "real: one per-core figure per CPU");
    int cores_ok = 1;
    for (size_t i = 0; i < s.n_cores; i++)
        if (!(s.core_pct[i] == -1 || (s.core_pct[i] >= 0 && s.core_pct[i] <= 100)))
            cores_ok = 0;
    TAP_OK(cores_ok, "real: per-core figures -1 or 0..100");
    TAP_OK(s.cpu_pct >= 0 && s.cpu_pct <= 100, "real: cpu_pct 0..100 after 150 ms");
    TAP_OK(s.load1 >= 0 && s.load5 >= 0 && s.load15 >= 0, "real: load averages known");
    TAP_OK(s.mem_total > (64LL << 20) && s.mem_avail > 0 && s.mem_avail <= s.mem_total,
           "real: memory sane");
    TAP_OK(s.swap_total >= 0 && s.swap_free >= 0 && s.swap_free <= s.swap_total,
           "real: swap sane");
    TAP_OK(s.disk_total > 0 && s.disk_free >= 0 && s.disk_free <= s.disk_total,
           "real: work dir disk sane");
    TAP_OK(!s.psi_present || s.psi_mem.some_avg10 == -1 ||
               (s.psi_mem.some_avg10 >= 0 && s.psi_mem.some_avg10 <= 100),
           "real: PSI absent or 0..100");
    TAP_OK(s.temp_c == -1 || (s.temp_c > 0 && s.temp_c <= 200), "real: temperature absent or sane");
    TAP_OK(s.net_rx_bps >= 0 && s.net_tx_bps >= 0, "real: network rates known on second sample");
    dcv_telem_free(&t);
}

int main(void)
{
    if (!mkdtemp(tmp))
        tap_bail("mkdtemp failed");
    test_new_errors();
    test_cpu();
    test_load_mem();
    test_psi();
    test_temp();
    test_net();
    test_disk();
    test_garbage();
    test_empty_root();
    test_admit();
    test_proto();
    test_fixtures();
    test_nvml();
    test_real();
    rm_tree(tmp);
    return tap_done();
}

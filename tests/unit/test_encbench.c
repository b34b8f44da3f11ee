/*
 * The startup benchmark's bookkeeping: what the fingerprint covers (and
 * what it ignores), the benchmark.json cache (absent, matching, stale,
 * garbage), the per-device figures HELLO carries, and the text table.
 * The measurement itself runs in tests/integration/gpu-bench.sh.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto.h"
#include "tap.h"
#include "worker/encbench.h"

static char tmpdir[PATH_MAX];

/* A probe report: two encoder plugins, one unavailable device, one plugin
 * that failed and a transport. %s slots: x264 version, x264 codec, fake
 * device id, unavailable device's id, avcodec version, refused plugin's
 * version. */
static const char probe_fmt[] =
    "{\"host_abi\":\"1.2\",\"ffmpeg\":{\"avcodec\":\"%s\"},\"plugin_dir\":\"/p\",\"plugins\":["
    "{\"file\":\"enc-x264.so\",\"name\":\"x264\",\"kind\":\"encoder\",\"version\":\"%s\","
    " \"status\":\"ok\",\"reason\":\"\",\"devices\":[{\"index\":0,\"available\":true,"
    "  \"device_id\":\"cpu\",\"codecs\":[{\"codec\":\"%s\",\"encoder\":\"libx264\"}]}]},"
    "{\"file\":\"fakegpu.so\",\"name\":\"fakegpu\",\"kind\":\"encoder\",\"version\":\"1\","
    " \"status\":\"ok\",\"reason\":\"\",\"devices\":["
    "  {\"index\":0,\"available\":true,\"device_id\":\"%s\",\"codecs\":[{\"codec\":\"h264\","
    "   \"encoder\":\"h264_fakegpu\"}]},"
    "  {\"index\":1,\"available\":false,\"device_id\":\"%s\",\"codecs\":[]}]},"
    "{\"file\":\"enc-nvenc.so\",\"name\":\"nvenc\",\"kind\":\"encoder\",\"version\":\"%s\","
    " \"status\":\"init-failed\",\"reason\":\"x\",\"devices\":[]},"
    "{\"file\":\"transport-zmq.so\",\"name\":\"zmq\",\"kind\":\"transport\",\"version\":\"1\","
    " \"status\":\"ok\",\"reason\":\"\",\"devices\":[]}]}";

static void fp_of(char *out, const char *x264v, const char *codec, const char *fake_id,
                  const char *absent_id, const char *avc, const char *nvencv, unsigned budget)
{
    char json[4096];
    snprintf(json, sizeof json, probe_fmt, avc, x264v, codec, fake_id, absent_id, nvencv);
    if (dcv_bench_fingerprint(json, budget, out, 32) != 0)
        tap_bail("fingerprint of a valid report failed");
}

static void test_fingerprint(void)
{
    char base[32], again[32], other[32];

    fp_of(base, "1.0", "h264", "GPU-a", "GPU-z", "59.37.100", "1.0", 2000);
    fp_of(again, "1.0", "h264", "GPU-a", "GPU-z", "59.37.100", "1.0", 2000);
    tap_ok(strlen(base) == 16 && strspn(base, "0123456789abcdef") == 16,
           "16 hex digits (%s)", base);
    tap_ok(strcmp(base, again) == 0, "same report, same fingerprint");
    fp_of(other, "1.1", "h264", "GPU-a", "GPU-z", "59.37.100", "1.0", 2000);
    tap_ok(strcmp(base, other) != 0, "a plugin's version changes it");
    fp_of(other, "1.0", "hevc", "GPU-a", "GPU-z", "59.37.100", "1.0", 2000);
    tap_ok(strcmp(base, other) != 0, "a codec changes it");
    fp_of(other, "1.0", "h264", "GPU-b", "GPU-z", "59.37.100", "1.0", 2000);
    tap_ok(strcmp(base, other) != 0, "a device id changes it");
    fp_of(other, "1.0", "h264", "GPU-a", "GPU-z", "59.38.100", "1.0", 2000);
    tap_ok(strcmp(base, other) != 0, "the libavcodec version changes it");
    fp_of(other, "1.0", "h264", "GPU-a", "GPU-z", "59.37.100", "1.0", 500);
    tap_ok(strcmp(base, other) != 0, "the budget changes it");
    fp_of(other, "1.0", "h264", "GPU-a", "GPU-y", "59.37.100", "1.0", 2000);
    tap_ok(strcmp(base, other) == 0, "an unavailable device does not (nothing is measured on it)");
    fp_of(other, "1.0", "h264", "GPU-a", "GPU-z", "59.37.100", "2.0", 2000);
    tap_ok(strcmp(base, other) == 0, "a plugin that failed to start does not");
    tap_ok(dcv_bench_fingerprint("{\"x\":1}", 2000, other, sizeof other) == -EINVAL &&
               dcv_bench_fingerprint("not json", 2000, other, sizeof other) == -EINVAL &&
               dcv_bench_fingerprint(NULL, 2000, other, sizeof other) == -EINVAL,
           "not a probe report: -EINVAL");
}

static const char report[] =
    "{\"benchmark_ms\":2000,\"fingerprint\":\"00112233445566aa\",\"created\":1,\"results\":["
    "{\"plugin\":\"x264\",\"device\":0,\"device_id\":\"cpu\",\"codec\":\"h264\","
    " \"encoder\":\"libx264\",\"fps\":21.5,\"width\":1920,\"height\":1080},"
    "{\"plugin\":\"x265\",\"device\":0,\"device_id\":\"cpu\",\"codec\":\"hevc\","
    " \"encoder\":\"libx265\",\"fps\":7.25,\"width\":1920,\"height\":1080},"
    "{\"plugin\":\"nvenc\",\"device\":0,\"device_id\":\"GPU-1\",\"codec\":\"h264\","
    " \"encoder\":\"h264_nvenc\",\"fps\":480},"
    "{\"plugin\":\"nvenc\",\"device\":0,\"device_id\":\"GPU-1\",\"codec\":\"hevc\","
    " \"encoder\":\"hevc_nvenc\",\"fps\":510.5},"
    "{\"plugin\":\"nvenc\",\"device\":0,\"device_id\":\"GPU-1\",\"codec\":\"av1\","
    " \"encoder\":\"av1_nvenc\",\"fps\":-1,\"error\":\"no AV1 on this GPU\"},"
    "{\"plugin\":\"nvenc\",\"device\":1,\"device_id\":\"GPU-2\",\"codec\":\"h264\","
    " \"encoder\":\"h264_nvenc\",\"fps\":300}],"
    "\"plugins\":[{\"file\":\"enc-qsv.so\",\"name\":\"qsv\",\"status\":\"init-failed\","
    " \"reason\":\"no render node\"}]}";

static void test_figures(void)
{
    struct dcv_proto_bench b[DCV_MAX_CODECS];
    size_t n = 99;
    double best = 0;

    tap_ok(dcv_bench_figures(report, "nvenc", "GPU-1", b, DCV_MAX_CODECS, &n, &best) == 0 &&
               n == 2 && strcmp(b[0].codec, "h264") == 0 && b[0].fps == 480 &&
               strcmp(b[1].codec, "hevc") == 0 && b[1].fps == 510.5 && best == 510.5,
           "one device's figures per codec, the failed one left out, the best");
    tap_ok(dcv_bench_figures(report, "nvenc", "GPU-2", b, DCV_MAX_CODECS, &n, &best) == 0 &&
               n == 1 && best == 300,
           "devices of one plugin are told apart by id");
    tap_ok(dcv_bench_figures(report, "x265", "cpu", b, DCV_MAX_CODECS, &n, &best) == 0 && n == 1 &&
               best == 7.25 && strcmp(b[0].codec, "hevc") == 0,
           "plugins sharing the device id \"cpu\" are told apart by plugin");
    tap_ok(dcv_bench_figures(report, "vaapi", "/dev/dri/renderD128", b, DCV_MAX_CODECS, &n,
                             &best) == 0 &&
               n == 0 && best == -1,
           "no figure: none, best -1 (unknown)");
    tap_ok(dcv_bench_figures(report, "nvenc", "GPU-1", b, 1, &n, &best) == 0 && n == 1 &&
               best == 510.5,
           "capped at the room given, the best still over all");
    tap_ok(dcv_bench_figures("[]", "x264", "cpu", b, DCV_MAX_CODECS, &n, &best) == -EINVAL,
           "not a report: -EINVAL");
}

static void test_cache(void)
{
    char path[PATH_MAX + 32], err[1024] = "", *json = NULL;
    FILE *f;
    int r;

    snprintf(path, sizeof path, "%s/benchmark.json", tmpdir);
    r = dcv_bench_cache_load(path, "00112233445566aa", &json, err, sizeof err);
    tap_ok(r == 0 && !json, "no file yet: 0 (%s)", err);
    err[0] = '\0';
    tap_ok(dcv_bench_cache_save(path, report, err, sizeof err) == 0, "saved%s%s", err[0] ? ": " : "",
           err);
    {
        char tmp[PATH_MAX + 48];
        snprintf(tmp, sizeof tmp, "%s.tmp", path);
        tap_ok(access(tmp, F_OK) != 0, "no temporary file left behind");
    }
    r = dcv_bench_cache_load(path, "00112233445566aa", &json, err, sizeof err);
    tap_ok(r == 1 && json && strcmp(json, report) == 0, "same fingerprint: the saved report");
    free(json);
    json = NULL;
    err[0] = '\0';
    r = dcv_bench_cache_load(path, "ffffffffffffffff", &json, err, sizeof err);
    tap_ok(r == 0 && !json && strstr(err, "fingerprint 00112233445566aa, now ffffffffffffffff"),
           "another fingerprint: stale, says why (%s)", err);
    f = fopen(path, "w");
    if (!f || fputs("{\"fingerprint\":\"00112233445566aa\"", f) == EOF || fclose(f) != 0)
        tap_bail("cannot write %s", path);
    err[0] = '\0';
    r = dcv_bench_cache_load(path, "00112233445566aa", &json, err, sizeof err);
    tap_ok(r == 0 && !json && strstr(err, "not a benchmark report"),
           "a truncated file: measured again (%s)", err);
    snprintf(path, sizeof path, "%s/no/such/dir/benchmark.json", tmpdir);
    tap_ok(dcv_bench_cache_save(path, report, err, sizeof err) == -ENOENT,
           "save into a missing directory: -ENOENT (%s)", err);
}

static void test_text(void)
{
    char *text = NULL;

    tap_ok(dcv_bench_format_text(report, &text) == 0 && text, "text rendering");
    tap_ok(text && strstr(text, "PLUGIN") && strstr(text, "libx264") && strstr(text, "21.5") &&
               strstr(text, "510.5"),
           "a row per figure with its fps");
    tap_ok(text && strstr(text, "(no AV1 on this GPU)"), "a failed measurement shows why");
    tap_ok(text && strstr(text, "qsv: init-failed: no render node"),
           "a plugin that did not start shows why");
    free(text);
    tap_ok(dcv_bench_format_text("{}", &text) == -EINVAL && !text, "not a report: -EINVAL");
}

int main(void)
{
    char cmd[PATH_MAX + 32];

    tap_mkdtemp(tmpdir, sizeof tmpdir, "encbench");
    test_fingerprint();
    test_figures();
    test_cache();
    test_text();
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        tap_diag("could not remove %s", tmpdir);
    return tap_done();
}

/*
 * Child-process probing against real plugins that work, crash, hang, fail
 * or are refused; the report's JSON and text forms; and the device caps
 * JSON codec, including input a hostile peer could send.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <libavutil/pixfmt.h>

#include "caps_json.h"
#include "distconv/plugin.h"
#include "config.h"
#include "log.h"
#include "probe.h"
#include "tap.h"

#define TIMEOUT_MS 1500

static char plugdir[PATH_MAX];
static char tmpdir[PATH_MAX];

static const char *tmp_path(const char *name)
{
    static char paths[4][PATH_MAX + 64];
    static int next;
    char *p = paths[next++ % 4];
    snprintf(p, sizeof(paths[0]), "%s/%s", tmpdir, name);
    return p;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) == EOF || fclose(f) != 0)
        tap_bail("cannot write %s", path);
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;
    if (!d)
        return -1;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* Killed means gone or a zombie: in a container nobody may reap it. */
static int process_gone(int pid)
{
    for (int i = 0; i < 200; i++) {
        char path[64], buf[256] = "";
        snprintf(path, sizeof(path), "/proc/%d/stat", pid);
        FILE *f = fopen(path, "r");
        if (!f)
            return 1;
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        const char *paren = strrchr(buf, ')');
        if (paren && (paren[2] == 'Z' || paren[2] == 'X'))
            return 1;
        usleep(10000);
    }
    kill(pid, SIGKILL);
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct json_object *get(struct json_object *o, const char *key)
{
    struct json_object *v = NULL;
    if (!o || !json_object_object_get_ex(o, key, &v))
        return NULL;
    return v;
}

static const char *str(struct json_object *o, const char *key)
{
    struct json_object *v = get(o, key);
    return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static struct json_object *idx(struct json_object *a, size_t i)
{
    if (!a || !json_object_is_type(a, json_type_array) || i >= json_object_array_length(a))
        return NULL;
    return json_object_array_get_idx(a, i);
}

static struct json_object *find_plugin(struct json_object *root, const char *file)
{
    struct json_object *a = get(root, "plugins");
    for (size_t i = 0; a && i < json_object_array_length(a); i++) {
        const char *f = str(idx(a, i), "file");
        if (f && strcmp(f, file) == 0)
            return idx(a, i);
    }
    return NULL;
}

static void make_plugin_dir(void)
{
    static const char *const variants[] = {"good",      "crash", "hang",      "abi2",
                                           "init-fail", "nohw",  "badcaps",   "twin",
                                           "transport", "spawn"};
    char dir[PATH_MAX];

    snprintf(dir, sizeof(dir), "%s", tmp_path("plugins"));
    if (mkdir(dir, 0755) != 0)
        tap_bail("mkdir %s", dir);
    for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
        char target[PATH_MAX + 64], link[PATH_MAX + 64];
        snprintf(target, sizeof(target), "%s/tp-%s.so", plugdir, variants[i]);
        snprintf(link, sizeof(link), "%s/tp-%s.so", dir, variants[i]);
        if (symlink(target, link) != 0)
            tap_bail("symlink %s", link);
    }
    snprintf(dir, sizeof(dir), "%s/junk.so", tmp_path("plugins"));
    write_file(dir, "text, not ELF\n");
}

static struct dcv_conf *load_conf(const char *text)
{
    struct dcv_conf *conf = NULL;
    char err[1024];
    write_file(tmp_path("probe.conf"), text);
    if (dcv_conf_load(&conf, tmp_path("probe.conf"), 1, err, sizeof(err)) != 0)
        tap_bail("config: %s", err);
    return conf;
}

static void test_probe_all(void)
{
    struct dcv_conf *conf;
    struct json_object *root, *p, *d, *c;
    char *json = NULL, *text = NULL, err[1024] = "";
    int fds_before, rc;

    make_plugin_dir();
    /* The environment outranks the file; make check sets it for everyone. */
    setenv("DISTCONV_PLUGIN_DIR", tmp_path("plugins"), 1);
    conf = load_conf("plugins = {\n  good = { answer = 7; };\n"
                     "  tx-test = { enabled = false; };\n};\n");

    fds_before = count_fds();
    double t0 = now_s();
    rc = dcv_probe_all(conf, TIMEOUT_MS, &json, err, sizeof(err));
    double took = now_s() - t0;
    TAP_IS_INT(rc, 0, "probe_all returns 0");
    if (rc != 0 || !json) {
        tap_diag("  %s", err);
        dcv_conf_free(&conf);
        return;
    }
    TAP_OK(took >= TIMEOUT_MS / 1000.0 - 0.05 && took < TIMEOUT_MS / 1000.0 + 3.0,
           "returns after the time limit, not the sum of hangs (%.2f s)", took);
    errno = 0;
    TAP_OK(waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD, "no child process left");
    TAP_IS_INT(count_fds(), fds_before, "no file descriptor left open");

    root = json_tokener_parse(json);
    if (!TAP_OK(root != NULL, "report is JSON")) {
        tap_diag("%s", json);
        free(json);
        dcv_conf_free(&conf);
        return;
    }
    {
        char abi[16];
        snprintf(abi, sizeof abi, "%d.%d", DCV_ABI_MAJOR, DCV_ABI_MINOR);
        TAP_IS_STR(str(root, "host_abi"), abi, "host_abi");
    }
    TAP_IS_STR(str(root, "plugin_dir"), tmp_path("plugins"), "plugin_dir");
    TAP_OK(str(get(root, "ffmpeg"), "avcodec") != NULL, "ffmpeg versions listed");
    TAP_IS_INT(json_object_array_length(get(root, "plugins")), 11, "every *.so reported");

    p = find_plugin(root, "tp-good.so");
    TAP_IS_STR(str(p, "status"), "ok", "good: ok");
    TAP_IS_STR(str(p, "name"), "good", "good: name");
    TAP_IS_STR(str(p, "kind"), "encoder", "good: kind");
    TAP_IS_STR(str(p, "version"), "1.2.3", "good: version");
    TAP_IS_STR(str(p, "license"), "MIT", "good: license");
    TAP_IS_INT(json_object_array_length(get(p, "devices")), 1, "good: one device");
    d = idx(get(p, "devices"), 0);
    TAP_IS_INT(json_object_get_int(get(d, "index")), 0, "good: device index");
    TAP_OK(json_object_get_boolean(get(d, "available")), "good: device available");
    TAP_OK(!json_object_get_boolean(get(d, "hardware")), "good: software");
    TAP_IS_STR(str(d, "device_id"), "cpu", "good: device_id");
    TAP_IS_STR(str(d, "device_name"), "good (CPU) answer=7",
               "good: init in the child saw the plugin's config");
    TAP_IS_STR(str(d, "sessions_scope"), "unlimited", "good: sessions scope");
    TAP_IS_STR(json_object_get_string(idx(get(d, "flags"), 0)), "ten-bit", "good: flags");
    c = idx(get(d, "codecs"), 0);
    TAP_IS_STR(str(c, "codec"), "h264", "good: codec");
    TAP_IS_STR(str(c, "encoder"), "testenc", "good: encoder");
    TAP_IS_INT(json_object_get_int(get(c, "max_width")), 4096, "good: max_width");
    TAP_IS_INT(json_object_get_int(idx(get(c, "bit_depths"), 1)), 10, "good: bit depths");
    TAP_IS_STR(json_object_get_string(idx(get(c, "pix_fmts"), 1)), "yuv420p10le",
               "good: pix_fmts by name");

    p = find_plugin(root, "tp-crash.so");
    TAP_IS_STR(str(p, "status"), "crashed", "crash: crashed");
    TAP_IS_STR(str(p, "name"), "crash", "crash: still named (identity sent before probe)");
    TAP_HAS_STR(str(p, "reason"), "signal 11 (Segmentation fault)", "crash: signal named");

    p = find_plugin(root, "tp-hang.so");
    TAP_IS_STR(str(p, "status"), "timeout", "hang: timeout");
    TAP_IS_STR(str(p, "name"), "hang", "hang: still named");
    TAP_HAS_STR(str(p, "reason"), "no answer within 1500 ms", "hang: reason");

    p = find_plugin(root, "tp-abi2.so");
    TAP_IS_STR(str(p, "status"), "refused", "abi2: refused");
    TAP_IS_STR(str(p, "reason"), "ABI major 2, this distconvd speaks 1",
               "abi2: the loader's reason, without the path");

    p = find_plugin(root, "junk.so");
    TAP_IS_STR(str(p, "status"), "refused", "text file: refused");
    TAP_HAS_STR(str(p, "reason"), "dlopen failed", "text file: reason");

    p = find_plugin(root, "tp-init-fail.so");
    TAP_IS_STR(str(p, "status"), "init-failed", "init-fail: init-failed");
    TAP_IS_STR(str(p, "reason"), "no widget attached to /dev/widget0", "init-fail: init's err");

    p = find_plugin(root, "tp-nohw.so");
    TAP_IS_STR(str(p, "status"), "ok", "nohw: ok (absent hardware is normal)");
    d = idx(get(p, "devices"), 0);
    TAP_OK(d && !json_object_get_boolean(get(d, "available")), "nohw: device unavailable");
    TAP_IS_STR(str(d, "unavailable_reason"), "no /dev/widget* device", "nohw: reason");

    p = find_plugin(root, "tp-badcaps.so");
    TAP_IS_STR(str(p, "status"), "probe-failed", "badcaps: probe-failed");
    TAP_HAS_STR(str(p, "reason"), "n_codecs 13", "badcaps: reason");

    p = find_plugin(root, "tp-twin.so");
    TAP_IS_STR(str(p, "status"), "refused", "twin: refused like the loader would");
    TAP_HAS_STR(str(p, "reason"), "duplicate plugin name 'good', already loaded from tp-good.so",
                "twin: reason");

    p = find_plugin(root, "tp-transport.so");
    TAP_IS_STR(str(p, "status"), "disabled", "transport: disabled by config");
    TAP_IS_STR(str(p, "kind"), "transport", "transport: kind");

    p = find_plugin(root, "tp-spawn.so");
    TAP_IS_STR(str(p, "status"), "ok", "spawn: a helper holding the pipe is no timeout");
    d = idx(get(p, "devices"), 0);
    int helper = 0;
    if (!TAP_OK(str(d, "device_name") && sscanf(str(d, "device_name"), "helper %d", &helper) == 1 &&
                    helper > 0,
                "spawn: helper pid reported"))
        tap_diag("  device_name '%s'", str(d, "device_name") ? str(d, "device_name") : "(null)");
    else
        TAP_OK(process_gone(helper), "spawn: the plugin's helper process was killed");

    rc = dcv_probe_format_text(json, &text);
    TAP_IS_INT(rc, 0, "format_text");
    if (text) {
        TAP_HAS_STR(text, "good 1.2.3 (tp-good.so): ok\n", "text: good");
        TAP_HAS_STR(text, "device 0 cpu \"good (CPU) answer=7\": available, software, "
                          "sessions unlimited", "text: device line");
        TAP_HAS_STR(text, "h264 via testenc: 8/10-bit, up to 4096x2304, yuv420p yuv420p10le",
                    "text: codec line");
        TAP_HAS_STR(text, "crash 1.2.3 (tp-crash.so): crashed: ", "text: crash");
        TAP_HAS_STR(text, "hang 1.2.3 (tp-hang.so): timeout: ", "text: hang");
        TAP_HAS_STR(text, "tp-abi2.so: refused: ABI major 2, this distconvd speaks 1",
                    "text: refused");
        TAP_HAS_STR(text, "device 0: unavailable: no /dev/widget* device", "text: unavailable");
        TAP_HAS_STR(text, "(tp-init-fail.so): init-failed: no widget", "text: init failure");
        TAP_HAS_STR(text, "(tp-transport.so): disabled", "text: disabled");
    }
    free(text);
    json_object_put(root);
    free(json);
    dcv_conf_free(&conf);

    text = (char *)1;
    TAP_IS_INT(dcv_probe_format_text("{not json", &text), -EINVAL, "format_text: bad JSON");
    TAP_OK(text == NULL, "format_text: nothing returned on error");

    /* An empty directory, and one that does not exist. */
    if (mkdir(tmp_path("empty"), 0755) != 0)
        tap_bail("mkdir");
    setenv("DISTCONV_PLUGIN_DIR", tmp_path("empty"), 1);
    conf = load_conf("");
    rc = dcv_probe_all(conf, TIMEOUT_MS, &json, err, sizeof(err));
    TAP_IS_INT(rc, 0, "empty plugin dir: ok");
    if (rc == 0) {
        root = json_tokener_parse(json);
        TAP_IS_INT(json_object_array_length(get(root, "plugins")), 0, "empty: no plugins");
        json_object_put(root);
        if (dcv_probe_format_text(json, &text) == 0)
            TAP_HAS_STR(text, "(none)", "empty: text says none");
        free(text);
        free(json);
    }
    dcv_conf_free(&conf);

    setenv("DISTCONV_PLUGIN_DIR", tmp_path("nope"), 1);
    conf = load_conf("");
    json = (char *)1;
    rc = dcv_probe_all(conf, TIMEOUT_MS, &json, err, sizeof(err));
    TAP_IS_INT(rc, -ENOENT, "missing plugin dir: -ENOENT");
    TAP_OK(json == NULL, "missing plugin dir: no report");
    TAP_HAS_STR(err, "nope: cannot read plugin directory", "missing plugin dir named");
    dcv_conf_free(&conf);
    unsetenv("DISTCONV_PLUGIN_DIR");
}

/* ------------------------------------------------------------------------ */

static void fill_caps(struct dcv_device_caps *c)
{
    memset(c, 0, sizeof(*c));
    c->struct_size = sizeof(*c);
    c->flags = DCV_CAP_AVAILABLE | DCV_CAP_HARDWARE | DCV_CAP_TEN_BIT | DCV_CAP_DYN_BITRATE;
    c->hw_type = DCV_HW_VAAPI;
    snprintf(c->device_id, sizeof(c->device_id), "/dev/dri/renderD128");
    snprintf(c->device_name, sizeof(c->device_name), "Intel UHD 630");
    c->max_sessions = 3;
    c->max_sessions_scope = DCV_SCOPE_PER_DEVICE;
    c->max_sessions_source = DCV_LIMIT_VENDOR;
    c->n_codecs = 2;
    for (int k = 0; k < 2; k++) {
        struct dcv_codec_caps *cc = &c->codecs[k];
        snprintf(cc->codec, sizeof(cc->codec), k ? "hevc" : "h264");
        snprintf(cc->encoder, sizeof(cc->encoder), k ? "hevc_vaapi" : "h264_vaapi");
        snprintf(cc->profiles, sizeof(cc->profiles), k ? "main,main10" : "main,high");
        cc->max_width = 4096;
        cc->max_height = 4096 - 1000 * k;
        cc->bit_depths = k ? (1u << 8) | (1u << 10) : (1u << 8);
        for (int i = 0; i < DCV_MAX_PIX_FMTS; i++)
            cc->pix_fmts[i] = -1;
        cc->pix_fmts[0] = AV_PIX_FMT_NV12;
        if (k)
            cc->pix_fmts[1] = AV_PIX_FMT_P010LE;
    }
}

static int caps_equal(const struct dcv_device_caps *a, const struct dcv_device_caps *b)
{
    if (a->flags != b->flags || a->hw_type != b->hw_type ||
        strcmp(a->device_id, b->device_id) || strcmp(a->device_name, b->device_name) ||
        a->max_sessions != b->max_sessions || a->max_sessions_scope != b->max_sessions_scope ||
        a->max_sessions_source != b->max_sessions_source || a->n_codecs != b->n_codecs ||
        strcmp(a->unavailable_reason, b->unavailable_reason))
        return 0;
    for (uint32_t k = 0; k < a->n_codecs; k++) {
        const struct dcv_codec_caps *x = &a->codecs[k], *y = &b->codecs[k];
        if (strcmp(x->codec, y->codec) || strcmp(x->encoder, y->encoder) ||
            strcmp(x->profiles, y->profiles) || x->max_width != y->max_width ||
            x->max_height != y->max_height || x->bit_depths != y->bit_depths ||
            memcmp(x->pix_fmts, y->pix_fmts, sizeof(x->pix_fmts)))
            return 0;
    }
    return 1;
}

/* JSON of the filled caps with one field replaced by `patch` (a JSON
 * value, or NULL to delete it); `codec_key` patches inside codecs[0]. */
static struct json_object *patched(const char *key, const char *patch, int in_codec)
{
    struct dcv_device_caps c;
    struct json_object *o = NULL, *target;
    char err[256];

    fill_caps(&c);
    if (dcv_caps_to_json(&c, &o, err, sizeof(err)) != 0)
        tap_bail("to_json: %s", err);
    target = in_codec ? idx(get(o, "codecs"), 0) : o;
    if (!patch) {
        json_object_object_del(target, key);
    } else {
        struct json_object *v = json_tokener_parse(patch);
        if (!v && strcmp(patch, "null") != 0)
            tap_bail("bad patch %s", patch);
        json_object_object_add(target, key, v);
    }
    return o;
}

static void expect_reject(const char *key, const char *patch, int in_codec, const char *want,
                          const char *name)
{
    struct json_object *o = patched(key, patch, in_codec);
    struct dcv_device_caps c;
    char err[256] = "";

    TAP_IS_INT(dcv_caps_from_json(o, &c, err, sizeof(err)), -EINVAL, name);
    TAP_HAS_STR(err, want, name);
    json_object_put(o);
}

static void test_caps_json(void)
{
    struct dcv_device_caps in, out;
    struct json_object *o = NULL, *back;
    char err[256] = "", big[400];

    fill_caps(&in);
    TAP_IS_INT(dcv_caps_to_json(&in, &o, err, sizeof(err)), 0, "to_json");
    /* Through text, as it travels. */
    back = json_tokener_parse(json_object_to_json_string(o));
    json_object_put(o);
    TAP_IS_INT(dcv_caps_from_json(back, &out, err, sizeof(err)), 0, "from_json");
    if (err[0])
        tap_diag("  %s", err);
    TAP_OK(caps_equal(&in, &out), "round trip keeps every field");
    TAP_IS_INT(out.struct_size, sizeof(out), "from_json sets struct_size");
    TAP_IS_STR(str(back, "hw_type"), "vaapi", "hw_type by name");
    TAP_IS_STR(str(back, "sessions_scope"), "per-device", "scope by name");
    TAP_IS_STR(json_object_get_string(idx(get(idx(get(back, "codecs"), 1), "pix_fmts"), 1)),
               "p010le", "pix_fmts by name");
    json_object_put(back);

    /* What a plugin may get wrong is cleaned up on the way out. */
    fill_caps(&in);
    memset(in.device_name, 'A', sizeof(in.device_name)); /* unterminated */
    snprintf(in.unavailable_reason, sizeof(in.unavailable_reason), "line one\nline two");
    TAP_IS_INT(dcv_caps_to_json(&in, &o, err, sizeof(err)), 0, "to_json: messy strings");
    TAP_IS_INT(strlen(str(o, "device_name")), sizeof(in.device_name) - 1,
               "to_json: unterminated string bounded");
    TAP_IS_STR(str(o, "unavailable_reason"), "line one line two", "to_json: no control chars");
    TAP_IS_INT(dcv_caps_from_json(o, &out, err, sizeof(err)), 0,
               "from_json accepts whatever to_json emits");
    json_object_put(o);

    fill_caps(&in);
    in.flags &= ~DCV_CAP_AVAILABLE;
    TAP_IS_INT(dcv_caps_to_json(&in, &o, err, sizeof(err)), 0, "to_json: unavailable");
    TAP_IS_STR(str(o, "unavailable_reason"), "the plugin gave no reason",
               "to_json: unavailable without reason gets one");
    json_object_put(o);

    fill_caps(&in);
    in.n_codecs = DCV_MAX_CODECS + 1;
    o = NULL;
    TAP_IS_INT(dcv_caps_to_json(&in, &o, err, sizeof(err)), -EINVAL, "to_json: too many codecs");
    TAP_OK(o == NULL, "to_json: nothing on error");
    fill_caps(&in);
    in.max_sessions_scope = 9;
    TAP_IS_INT(dcv_caps_to_json(&in, &o, err, sizeof(err)), -EINVAL, "to_json: bad scope");

    /* Hostile input. */
    TAP_IS_INT(dcv_caps_from_json(NULL, &out, err, sizeof(err)), -EINVAL, "from_json: NULL");
    back = json_tokener_parse("[1,2]");
    TAP_IS_INT(dcv_caps_from_json(back, &out, err, sizeof(err)), -EINVAL, "from_json: array");
    json_object_put(back);
    expect_reject("device_id", NULL, 0, "device_id: missing", "missing field");
    expect_reject("available", "\"yes\"", 0, "available: must be a boolean", "wrong type: bool");
    expect_reject("max_sessions", "\"3\"", 0, "max_sessions: must be an integer", "wrong type: int");
    expect_reject("codecs", "{}", 0, "codecs: must be an array", "wrong type: array");
    memset(big, 'x', 200);
    snprintf(big + 200, sizeof(big) - 200, "\"");
    big[0] = '"';
    expect_reject("device_id", big, 0, "device_id: longer than 127 bytes", "overlong string");
    expect_reject("device_name", "\"bell\\u0007\"", 0, "device_name: contains a control character",
                  "control character");
    expect_reject("device_id", "\"\"", 0, "device_id: empty", "empty device id");
    expect_reject("max_width", "-1", 1, "codecs[0].max_width: must be an integer from 0",
                  "negative number");
    expect_reject("max_sessions", "99999999999999999999999", 0, "max_sessions: must be an integer",
                  "number out of range");
    expect_reject("sessions_scope", "\"galaxy\"", 0, "sessions_scope: unknown value",
                  "unknown enum");
    expect_reject("codec", "\"h 264\"", 1, "codecs[0].codec: may only contain", "bad codec name");
    expect_reject("encoder", "\"\"", 1, "codecs[0].encoder: empty", "empty encoder");
    expect_reject("bit_depths", "[64]", 1, "codecs[0].bit_depths[0]: must be an integer from 1",
                  "bit depth out of range");
    expect_reject("bit_depths", "[\"8\"]", 1, "codecs[0].bit_depths[0]", "bit depth wrong type");
    expect_reject("pix_fmts",
                  "[\"nv12\",\"nv12\",\"nv12\",\"nv12\",\"nv12\",\"nv12\",\"nv12\",\"nv12\","
                  "\"nv12\",\"nv12\",\"nv12\",\"nv12\",\"nv12\"]",
                  1, "codecs[0].pix_fmts: more than 12 entries", "too many pix_fmts");
    expect_reject("pix_fmts", "[7]", 1, "codecs[0].pix_fmts[0]: must be a string",
                  "pix_fmt wrong type");
    expect_reject("flags", "[1]", 0, "flags[0]: must be a string", "flag wrong type");
    expect_reject("codecs", "[\"x\"]", 0, "codecs[0]: must be an object", "codec not an object");
    {
        char many[2048] = "[";
        struct dcv_device_caps c;
        struct json_object *tmp = NULL, *one;
        fill_caps(&c);
        c.n_codecs = 1;
        dcv_caps_to_json(&c, &tmp, err, sizeof(err));
        one = idx(get(tmp, "codecs"), 0);
        for (int i = 0; i < DCV_MAX_CODECS + 1; i++) {
            strncat(many, json_object_to_json_string(one), sizeof(many) - strlen(many) - 2);
            strncat(many, i < DCV_MAX_CODECS ? "," : "]", sizeof(many) - strlen(many) - 1);
        }
        json_object_put(tmp);
        expect_reject("codecs", many, 0, "codecs: 9 entries, at most 8 allowed", "too many codecs");
    }

    /* Forward compatibility: what a newer peer may add is not an error. */
    o = patched("future_key", "{\"a\":1}", 0);
    json_object_object_add(o, "hw_type", json_object_new_string("quantum"));
    json_object_object_add(idx(get(o, "codecs"), 1), "pix_fmts",
                           json_tokener_parse("[\"nv12\",\"yuv999p\"]"));
    json_object_array_add(get(o, "flags"), json_object_new_string("warp-drive"));
    TAP_IS_INT(dcv_caps_from_json(o, &out, err, sizeof(err)), 0,
               "unknown key, flag, hw type and pixel format accepted");
    TAP_IS_INT(out.hw_type, DCV_HW_OTHER, "unknown hw_type reads as other");
    TAP_IS_INT(out.codecs[1].pix_fmts[0], AV_PIX_FMT_NV12, "known pix_fmt kept");
    TAP_IS_INT(out.codecs[1].pix_fmts[1], -1, "unknown pix_fmt dropped");
    json_object_put(o);
}

int main(void)
{
    const char *top = getenv("DCV_TOP_BUILDDIR");
    char cmd[PATH_MAX + 32];

    if (!top)
        tap_bail("DCV_TOP_BUILDDIR not set (run through make check)");
    snprintf(plugdir, sizeof(plugdir), "%s/tests/plugins/.libs", top);
    snprintf(tmpdir, sizeof(tmpdir), "%s/dcv-probe.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir))
        tap_bail("mkdtemp");
    /* Children log refusals and plugin lines; keep the TAP stream clean. */
    dcv_log_setup(DCV_LOG_ERROR, DCV_LOG_TEXT, DCV_LOG_STDERR, "test_probe");

    test_probe_all();
    test_caps_json();

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        tap_diag("could not remove %s", tmpdir);
    return tap_done();
}

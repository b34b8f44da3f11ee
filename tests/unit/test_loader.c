/*
 * Plugin loader: every refusal with a real shared object built for it
 * (tests/plugins/testplug.c variants), the accepted plugin's copies and
 * host services, directory loading and duplicate names.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>

#include "config.h"
#include "log.h"
#include "pluginhost.h"
#include "tap.h"
#include "../plugins/testplug.h"

static char plugdir[PATH_MAX];
static char tmpdir[PATH_MAX];

static const char *plug(const char *variant)
{
    static char paths[4][PATH_MAX + 64];
    static int next;
    char *p = paths[next++ % 4];
    snprintf(p, sizeof(paths[0]), "%s/tp-%s.so", plugdir, variant);
    return p;
}

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

static void copy_file(const char *from, const char *to)
{
    char buf[65536];
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    size_t n;
    if (!in || !out)
        tap_bail("cannot copy %s to %s", from, to);
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
        if (fwrite(buf, 1, n, out) != n)
            tap_bail("short write to %s", to);
    fclose(in);
    if (fclose(out) != 0)
        tap_bail("cannot write %s", to);
}

/* Runs with fd 2 going to a file, so log lines can be checked. */
static int saved_stderr = -1;
static void capture_stderr(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    fflush(stderr);
    saved_stderr = dup(2);
    if (fd < 0 || saved_stderr < 0 || dup2(fd, 2) < 0)
        tap_bail("cannot redirect stderr");
    close(fd);
}
static char *restore_stderr(const char *path)
{
    static char text[16384];
    FILE *f;
    size_t n;
    fflush(stderr);
    dup2(saved_stderr, 2);
    close(saved_stderr);
    f = fopen(path, "r");
    n = f ? fread(text, 1, sizeof(text) - 1, f) : 0;
    text[n] = '\0';
    if (f)
        fclose(f);
    return text;
}

/* Load `path`, expect a refusal whose message names the file and says
 * `reason`; nothing may be returned. */
static void expect_refused(const char *path, const struct dcv_plugin_set *set, int want_rc,
                           const char *reason, const char *name)
{
    struct dcv_plugin *p = (struct dcv_plugin *)1;
    char err[2048] = "", head[PATH_MAX + 32];
    int rc = dcv_plugin_load(path, set, &p, err, sizeof(err));

    TAP_IS_INT(rc, want_rc, name);
    TAP_OK(p == NULL, "%s: no plugin returned", name);
    snprintf(head, sizeof(head), "%s: refused: ", path);
    if (!tap_ok(strncmp(err, head, strlen(head)) == 0, "%s: message starts with the file", name))
        tap_diag("  got '%s'", err);
    TAP_HAS_STR(err, reason, name);
}

static void test_refusals(void)
{
    char want[256];

    expect_refused(tmp_path("missing.so"), NULL, -ENOENT, "cannot stat: No such file",
                   "nonexistent file");
    if (mkdir(tmp_path("dir.so"), 0755) != 0)
        tap_bail("mkdir");
    expect_refused(tmp_path("dir.so"), NULL, -EINVAL, "not a regular file", "directory");

    /* World-writable: refused although everything else about it is fine
     * (the same bytes load once the permission is fixed). */
    copy_file(plug("good"), tmp_path("ww.so"));
    chmod(tmp_path("ww.so"), 0666);
    expect_refused(tmp_path("ww.so"), NULL, -EPERM,
                   "world-writable: anyone could replace the code distconvd runs; chmod o-w",
                   "world-writable");
    chmod(tmp_path("ww.so"), 0644);
    {
        struct dcv_plugin *p = NULL;
        char err[1024] = "";
        TAP_IS_INT(dcv_plugin_load(tmp_path("ww.so"), NULL, &p, err, sizeof(err)), 0,
                   "same file loads after chmod o-w");
        free(p);
    }

    write_file(tmp_path("notes.so"), "this is a text file, not an ELF object\n");
    expect_refused(tmp_path("notes.so"), NULL, -ENOEXEC, "dlopen failed: ", "text file named .so");

    expect_refused(plug("no-query"), NULL, -ENOEXEC,
                   "not a distconv v1 plugin (no dcv_plugin_query_v1)", "no query symbol");
    expect_refused(plug("null-query"), NULL, -EINVAL, "dcv_plugin_query_v1() returned NULL",
                   "query returns NULL");
    expect_refused(plug("bad-magic"), NULL, -ENOEXEC, "bad magic 0x12345678", "bad magic");
    expect_refused(plug("abi2"), NULL, -EPROTO, "ABI major 2, this distconvd speaks 1",
                   "ABI major 2");
    {
        char newer[128];
        snprintf(newer, sizeof newer,
                 "built for ABI 1.99, newer than this distconvd (1.%d): upgrade distconv",
                 DCV_ABI_MINOR);
        expect_refused(plug("newer-minor"), NULL, -EPROTO, newer, "newer ABI minor");
    }
    expect_refused(plug("short-header"), NULL, -EINVAL,
                   "header struct_size 8 is smaller than the ABI 1.0 header", "short header");
    expect_refused(plug("bad-kind"), NULL, -EINVAL, "unknown plugin kind 7", "unknown kind");
    expect_refused(plug("bad-flags"), NULL, -EINVAL, "header flags 0x4 set", "header flags");
    snprintf(want, sizeof(want), "built against libavcodec %d / libavutil %d, but this "
             "distconvd runs libavcodec %u / libavutil %u",
             LIBAVCODEC_VERSION_MAJOR + 1, LIBAVUTIL_VERSION_MAJOR, avcodec_version() >> 16,
             avutil_version() >> 16);
    expect_refused(plug("wrong-ffmpeg"), NULL, -EPROTO, want, "wrong FFmpeg major");
    expect_refused(plug("no-ffmpeg"), NULL, -EPROTO, "encoder plugin declares no FFmpeg version",
                   "encoder with FFmpeg major 0");
    expect_refused(plug("bad-name"), NULL, -EINVAL,
                   "plugin name may only contain a-z, 0-9 and '-'", "invalid name");
    expect_refused(plug("ops-null"), NULL, -EINVAL, "encoder plugin has no ops table",
                   "ops NULL");
    expect_refused(plug("ops-short"), NULL, -EINVAL,
                   "encoder ops struct_size 8 is smaller than the ABI 1.0 minimum",
                   "ops struct too small");
    expect_refused(plug("missing-op"), NULL, -EINVAL, "required encoder op 'receive_packet' is NULL",
                   "missing required op");
    expect_refused(plug("no-fini"), NULL, -EINVAL, "required header function 'fini' is NULL",
                   "missing fini");
}

static void test_good(struct dcv_conf *conf)
{
    struct dcv_plugin *p = NULL;
    struct dcv_plugin_set set = {0};
    char err[1024] = "";
    int rc = dcv_plugin_load(plug("good"), NULL, &p, err, sizeof(err));

    if (!TAP_OK(rc == 0 && p, "good plugin loads")) {
        tap_diag("  %s", err);
        return;
    }
    TAP_IS_STR(p->path, plug("good"), "path kept");
    TAP_IS_STR(p->hdr.name, "good", "header copy: name");
    TAP_IS_STR(p->hdr.version, "1.2.3", "header copy: version");
    TAP_IS_STR(p->hdr.license, "MIT", "header copy: license");
    TAP_IS_INT(p->hdr.kind, DCV_PLUGIN_ENCODER, "header copy: kind");
    TAP_IS_INT(p->hdr.abi_major, 1, "header copy: abi_major");
    TAP_IS_INT(p->hdr.struct_size, sizeof(struct dcv_plugin_header), "header copy: struct_size");
    TAP_OK(p->dl != NULL, "dlopen handle kept");
    TAP_OK(p->enc.probe && p->enc.open && p->enc.get_stream_params && p->enc.send_frame &&
               p->enc.receive_packet && p->enc.close && p->enc.last_error,
           "ops copy has every required op");
    TAP_OK(p->enc.reconfigure == NULL, "optional reconfigure absent");
    TAP_IS_INT(p->enc.struct_size, sizeof(struct dcv_encoder_ops), "ops copy: struct_size");
    TAP_OK(!p->initialised && p->ctx == NULL, "not initialised by load");

    if (dcv_plugin_set_add(&set, p) != 0)
        tap_bail("set_add");
    TAP_OK(dcv_plugin_set_find(&set, "good") == p, "set_find finds it");
    TAP_OK(dcv_plugin_set_find(&set, "nope") == NULL, "set_find: unknown name");
    TAP_IS_INT(dcv_plugin_set_add(&set, p), -EEXIST, "set_add refuses the same name twice");

    /* A second file with the same name, from a different path. */
    char want[PATH_MAX + 128];
    snprintf(want, sizeof(want), "duplicate plugin name 'good', already loaded from %s",
             plug("good"));
    expect_refused(plug("twin"), &set, -EEXIST, want, "duplicate name");

    capture_stderr(tmp_path("init.log"));
    rc = dcv_plugin_init(p, conf, err, sizeof(err));
    const char *log = restore_stderr(tmp_path("init.log"));
    TAP_IS_INT(rc, 0, "init with config");
    if (rc != 0) {
        tap_diag("  %s", err);
        dcv_plugin_set_clear(&set);
        return;
    }
    const struct tp_ctx *c = p->ctx;
    TAP_OK(p->initialised && c && c->magic == TP_CTX_MAGIC, "init stored the plugin context");
    TAP_IS_INT(c->host_struct_size, sizeof(struct dcv_host_api), "host api struct_size");
    TAP_IS_INT(c->host_abi_minor, DCV_ABI_MINOR, "host api abi_minor");
    TAP_OK(c->host_ctx_set, "host_ctx set");
    TAP_OK(p->host.host_ctx == p, "host_ctx is the plugin");
    TAP_OK(c->cfg_nonnull, "config handle not NULL");
    TAP_IS_INT(c->answer_rc, 0, "cfg_get_int on the plugin's subtree");
    TAP_IS_INT(c->answer, 42, "cfg_get_int value");
    TAP_IS_INT(c->greeting_rc, 0, "cfg_get_str");
    TAP_IS_STR(c->greeting, "hello", "cfg_get_str value");
    TAP_IS_INT(c->absent_rc, -ENOENT, "absent key: -ENOENT");
    TAP_OK(c->now1 > 0 && c->now2 >= c->now1, "now_ns is monotonic");
    TAP_HAS_STR(log, "plugin:good", "plugin log line attributed to plugin:<name>");
    TAP_HAS_STR(log, "testplug init: answer=42", "plugin log line text");
    TAP_IS_INT(dcv_plugin_init(p, conf, err, sizeof(err)), 0, "second init is a no-op");

    /* The ops are real enough to call through the copies. */
    struct dcv_device_caps caps;
    memset(&caps, 0, sizeof(caps));
    caps.struct_size = sizeof(caps);
    TAP_IS_INT(p->enc.probe(p->ctx, 0, &caps), 1, "probe(0) writes an entry");
    TAP_IS_STR(caps.codecs[0].codec, "h264", "probe: codec");
    TAP_IS_STR(caps.device_name, "good (CPU) answer=42", "probe: name uses config");
    TAP_IS_INT(p->enc.probe(p->ctx, 1, &caps), 0, "probe(1): no more devices");

    struct dcv_enc_params ep;
    void *s = NULL;
    memset(&ep, 0, sizeof(ep));
    ep.struct_size = sizeof(ep);
    snprintf(ep.codec, sizeof(ep.codec), "hevc");
    ep.width = 320;
    ep.height = 240;
    ep.time_base = (struct dcv_rational){1, 25};
    err[0] = '\0';
    TAP_IS_INT(p->enc.open(p->ctx, &ep, &s, err, sizeof(err)), -ENOTSUP, "open hevc: -ENOTSUP");
    TAP_HAS_STR(err, "only does h264", "open failure says why");
    snprintf(ep.codec, sizeof(ep.codec), "h264");
    TAP_IS_INT(p->enc.open(p->ctx, &ep, &s, err, sizeof(err)), 0, "open h264");
    AVCodecParameters *par = avcodec_parameters_alloc();
    struct dcv_rational tb = {0, 0};
    if (!par)
        tap_bail("avcodec_parameters_alloc");
    TAP_IS_INT(p->enc.get_stream_params(s, par, &tb), 0, "get_stream_params");
    TAP_OK(par->codec_id == AV_CODEC_ID_H264 && par->width == 320 && tb.den == 25,
           "stream params match");
    avcodec_parameters_free(&par);
    TAP_IS_INT(p->enc.receive_packet(s, NULL), -EAGAIN, "receive before drain: -EAGAIN");
    TAP_IS_INT(p->enc.send_frame(s, NULL), 0, "send NULL starts draining");
    TAP_IS_INT(p->enc.receive_packet(s, NULL), -ENODATA, "drained: -ENODATA");
    TAP_IS_INT(p->enc.send_frame(s, NULL), -EINVAL, "send after drain refused");
    TAP_HAS_STR(p->enc.last_error(s), "after end of stream", "last_error");
    p->enc.close(s);
    TAP_IS_INT(c->sessions, 0, "session closed");

    setenv("TP_FINI_FILE", tmp_path("fini.txt"), 1);
    dcv_plugin_set_clear(&set);
    unsetenv("TP_FINI_FILE");
    TAP_OK(set.n == 0 && set.items == NULL, "set cleared");
    FILE *f = fopen(tmp_path("fini.txt"), "r");
    char line[64] = "";
    if (f) {
        if (!fgets(line, sizeof(line), f))
            line[0] = '\0';
        fclose(f);
    }
    TAP_IS_STR(line, "good\n", "set_clear called fini");
}

static void test_init_variants(void)
{
    struct dcv_plugin *p = NULL;
    char err[1024] = "";

    /* No configuration at all: still a handle, every lookup -ENOENT. */
    if (dcv_plugin_load(plug("good"), NULL, &p, err, sizeof(err)) != 0)
        tap_bail("%s", err);
    capture_stderr(tmp_path("init2.log"));
    int rc = dcv_plugin_init(p, NULL, err, sizeof(err));
    restore_stderr(tmp_path("init2.log"));
    TAP_IS_INT(rc, 0, "init without config");
    const struct tp_ctx *c = p->ctx;
    TAP_OK(c && c->cfg_nonnull, "init without config: handle not NULL");
    TAP_IS_INT(c ? c->answer_rc : 0, -ENOENT, "init without config: lookups -ENOENT");
    TAP_IS_INT(c ? c->greeting_rc : 0, -ENOENT, "init without config: cfg_get_str -ENOENT");
    p->hdr.fini(p->ctx);
    free(p);

    if (dcv_plugin_load(plug("init-fail"), NULL, &p, err, sizeof(err)) != 0)
        tap_bail("%s", err);
    rc = dcv_plugin_init(p, NULL, err, sizeof(err));
    TAP_IS_INT(rc, -ENODEV, "failing init returns its error");
    TAP_HAS_STR(err, plug("init-fail"), "init failure names the file");
    TAP_HAS_STR(err, "init failed: no widget attached to /dev/widget0", "init failure says why");
    TAP_OK(!p->initialised, "failed init leaves it uninitialised");
    free(p);

    /* A transport does not use FFmpeg: major 0 is fine for it. */
    rc = dcv_plugin_load(plug("transport"), NULL, &p, err, sizeof(err));
    TAP_IS_INT(rc, 0, "transport with FFmpeg majors 0 loads");
    if (rc != 0) {
        tap_diag("  %s", err);
        return;
    }
    TAP_IS_INT(p->hdr.kind, DCV_PLUGIN_TRANSPORT, "transport kind");
    TAP_OK(p->tx.open && p->tx.send && p->tx.recv && p->tx.get_fd && p->tx.close,
           "transport ops copied");
    free(p);
}

static void test_load_dir(void)
{
    struct dcv_plugin_set set = {0};
    char err[1024] = "", dir[PATH_MAX];
    struct {
        const char *link, *target;
    } links[] = {
        {"tp-good.so", "good"},        {"tp-twin.so", "twin"},
        {"tp-abi2.so", "abi2"},        {"tp-transport.so", "transport"},
        {"tp-missing-op.so", "missing-op"},
        /* hidden: never considered, although it would load */
        {".tp-nohw.so", "nohw"},
        /* not "*.so": never considered */
        {"tp-nohw.so.disabled", "nohw"},
        {"tp-crash.txt", "crash"},
    };

    snprintf(dir, sizeof(dir), "%s", tmp_path("plugins"));
    if (mkdir(dir, 0755) != 0)
        tap_bail("mkdir %s", dir);
    for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
        char l[PATH_MAX + 64];
        snprintf(l, sizeof(l), "%s/%s", dir, links[i].link);
        /* Symlinks, as the build tree's stage/plugins has them. */
        if (symlink(plug(links[i].target), l) != 0)
            tap_bail("symlink %s", l);
    }
    {
        char l[PATH_MAX + 64];
        snprintf(l, sizeof(l), "%s/junk.so", dir);
        write_file(l, "not a plugin\n");
        snprintf(l, sizeof(l), "%s/subdir.so", dir);
        if (mkdir(l, 0755) != 0)
            tap_bail("mkdir %s", l);
    }

    char **names = NULL;
    int n = dcv_plugin_scan_dir(dir, &names, err, sizeof(err));
    TAP_IS_INT(n, 7, "scan_dir lists the *.so names only");
    if (n == 7) {
        TAP_IS_STR(names[0], "junk.so", "scan_dir sorted (first)");
        TAP_IS_STR(names[6], "tp-twin.so", "scan_dir sorted (last)");
    }
    dcv_plugin_names_free(names, n);

    capture_stderr(tmp_path("dir.log"));
    n = dcv_plugin_set_load_dir(&set, dir, err, sizeof(err));
    const char *log = restore_stderr(tmp_path("dir.log"));
    TAP_IS_INT(n, 2, "load_dir loads the two good plugins");
    TAP_IS_INT(set.n, 2, "set holds them");
    struct dcv_plugin *g = dcv_plugin_set_find(&set, "good");
    TAP_OK(g && strstr(g->path, "/tp-good.so"), "first file (by name) wins a duplicate name");
    TAP_OK(dcv_plugin_set_find(&set, "tx-test") != NULL, "transport loaded");
    TAP_OK(dcv_plugin_set_find(&set, "nohw") == NULL, "hidden and non-.so files skipped");
    TAP_HAS_STR(log, "tp-twin.so: refused: duplicate plugin name 'good'", "WARN for duplicate");
    TAP_HAS_STR(log, "tp-abi2.so: refused: ABI major 2", "WARN for bad major");
    TAP_HAS_STR(log, "junk.so: refused: dlopen failed", "WARN for text file");
    TAP_HAS_STR(log, "subdir.so: refused: not a regular file", "WARN for directory");
    TAP_HAS_STR(log, "tp-missing-op.so: refused: required encoder op 'receive_packet'",
                "WARN for missing op");
    TAP_HAS_STR(log, "plugin", "WARN lines carry the plugin component");
    dcv_plugin_set_clear(&set);

    err[0] = '\0';
    n = dcv_plugin_set_load_dir(&set, tmp_path("no-such-dir"), err, sizeof(err));
    TAP_IS_INT(n, -ENOENT, "missing directory: -ENOENT");
    TAP_HAS_STR(err, "no-such-dir: cannot read plugin directory", "missing directory named");
    dcv_plugin_set_clear(&set);
}

int main(void)
{
    const char *top = getenv("DCV_TOP_BUILDDIR");
    struct dcv_conf *conf = NULL;
    char err[1024], cmd[PATH_MAX + 32];

    if (!top)
        tap_bail("DCV_TOP_BUILDDIR not set (run through make check)");
    snprintf(plugdir, sizeof(plugdir), "%s/tests/plugins/.libs", top);
    snprintf(tmpdir, sizeof(tmpdir), "%s/dcv-loader.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir))
        tap_bail("mkdtemp");
    dcv_log_setup(DCV_LOG_INFO, DCV_LOG_TEXT, DCV_LOG_STDERR, "test_loader");

    write_file(tmp_path("d.conf"),
               "plugins = {\n  good = {\n    answer = 42;\n    greeting = \"hello\";\n  };\n};\n");
    if (dcv_conf_load(&conf, tmp_path("d.conf"), 1, err, sizeof(err)) != 0)
        tap_bail("config: %s", err);

    test_refusals();
    test_good(conf);
    test_init_variants();
    test_load_dir();

    dcv_conf_free(&conf);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        tap_diag("could not remove %s", tmpdir);
    return tap_done();
}

/*
 * The test-only fakegpu plugin through the real plugin host: what its probe
 * reports, sessions counted across processes (the limit holds against a
 * fork()ed second process too), -EBUSY past the real limit, real H.264
 * packets, the throttle, and the events log the end-to-end tests read.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavutil/frame.h>

#include "clock.h"
#include "config.h"
#include "log.h"
#include "pluginhost.h"
#include "tap.h"
#include "media/encoder.h"

static char tmpdir[PATH_MAX];
static char state[PATH_MAX + 16];

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) == EOF || fclose(f) != 0)
        tap_bail("cannot write %s", path);
}

static struct dcv_plugin *load(const char *so, const char *conf_text, struct dcv_conf **conf,
                               int *init_rc, char *err, size_t errlen)
{
    char path[PATH_MAX + 32];
    struct dcv_plugin *p = NULL;

    snprintf(path, sizeof path, "%s/fakegpu.conf", tmpdir);
    write_file(path, conf_text);
    if (dcv_conf_load(conf, path, 1, err, errlen) != 0)
        tap_bail("config: %s", err);
    if (dcv_plugin_load(so, NULL, &p, err, errlen) != 0)
        tap_bail("load %s: %s", so, err);
    *init_rc = dcv_plugin_init(p, *conf, err, errlen);
    return p;
}

static void unload(struct dcv_plugin *p)
{
    if (p->initialised)
        p->hdr.fini(p->ctx);
    free(p);
}

static int open_session(struct dcv_encoder_choice *ch, struct dcv_enc_session **s, char *err,
                        size_t errlen)
{
    struct dcv_enc_params ep;

    memset(&ep, 0, sizeof ep);
    ep.struct_size = sizeof ep;
    snprintf(ep.codec, sizeof ep.codec, "h264");
    snprintf(ep.encoder, sizeof ep.encoder, "%s", ch->caps.codecs[0].encoder);
    ep.width = 64;
    ep.height = 64;
    ep.pix_fmt = AV_PIX_FMT_YUV420P;
    ep.time_base = (struct dcv_rational){1, 25};
    ep.framerate = (struct dcv_rational){25, 1};
    ep.sample_aspect_ratio = (struct dcv_rational){1, 1};
    ep.color_primaries = AVCOL_PRI_UNSPECIFIED;
    ep.color_trc = AVCOL_TRC_UNSPECIFIED;
    ep.colorspace = AVCOL_SPC_UNSPECIFIED;
    ep.bit_depth = 8;
    ep.max_b_frames = -1;
    ep.threads = 1;
    return dcv_enc_session_open(ch, &ep, s, err, errlen);
}

/* Encode n frames and drain: the number of packets, or negative errno. */
static int encode(struct dcv_enc_session *s, int n, int *bytes)
{
    AVFrame *f = av_frame_alloc();
    AVPacket *pkt = av_packet_alloc();
    int packets = 0, r = 0;

    *bytes = 0;
    if (!f || !pkt)
        tap_bail("out of memory");
    f->format = AV_PIX_FMT_YUV420P;
    f->width = 64;
    f->height = 64;
    if (av_frame_get_buffer(f, 0) < 0)
        tap_bail("frame buffer");
    for (int i = 0; i <= n && r >= 0; i++) {
        if (i < n) {
            if (av_frame_make_writable(f) < 0)
                tap_bail("writable");
            for (int p = 0; p < 3; p++)
                memset(f->data[p], (i * 37 + p * 80) & 0xff,
                       (size_t)f->linesize[p] * (p ? 32 : 64));
            f->pts = i;
        }
        r = dcv_enc_session_send(s, i < n ? f : NULL);
        while (r >= 0) {
            int g = dcv_enc_session_receive(s, pkt);
            if (g == -EAGAIN)
                break;
            if (g == -ENODATA) {
                r = 1;
                break;
            }
            if (g < 0) {
                r = g;
                break;
            }
            packets++;
            *bytes += pkt->size;
            av_packet_unref(pkt);
        }
    }
    av_packet_free(&pkt);
    av_frame_free(&f);
    return r < 0 ? r : packets;
}

struct ev {
    char what[8], dev[64], slot[8];
    long pid;
    long long ms;
};

static int read_events(struct ev *ev, int cap)
{
    char path[PATH_MAX + 32], line[256];
    FILE *f;
    int n = 0;

    snprintf(path, sizeof path, "%s/events", state);
    if (!(f = fopen(path, "r")))
        return -1;
    while (n < cap && fgets(line, sizeof line, f)) {
        if (sscanf(line, "%7s %63s %ld %7s %lld", ev[n].what, ev[n].dev, &ev[n].pid, ev[n].slot,
                   &ev[n].ms) != 5) {
            tap_diag("malformed event line: %s", line);
            n = -1;
            break;
        }
        n++;
    }
    fclose(f);
    return n;
}

static void test_config_errors(const char *so)
{
    struct dcv_conf *conf = NULL;
    char err[1024] = "";
    int rc;

    struct dcv_plugin *p;

    p = load(so, "plugins = { fakegpu = { scope = \"gpu\"; }; };\n", &conf, &rc, err, sizeof err);
    tap_ok(rc < 0 && strstr(err, "plugins.fakegpu.scope"), "scope must be device or host (%s)",
           err);
    unload(p);
    dcv_conf_free(&conf);
    p = load(so, "plugins = { fakegpu = { state_dir = \"relative\"; }; };\n", &conf, &rc, err,
         sizeof err);
    tap_ok(rc < 0 && strstr(err, "state_dir"), "state_dir must be absolute (%s)", err);
    unload(p);
    dcv_conf_free(&conf);
}

int main(void)
{
    const char *top = getenv("DCV_TOP_BUILDDIR");
    struct dcv_conf *conf = NULL;
    struct dcv_plugin *p;
    struct dcv_device_caps caps;
    struct dcv_encoder_choice ch;
    struct dcv_enc_session *s[3] = {NULL, NULL, NULL};
    struct ev ev[64];
    char so[PATH_MAX + 32], conf_text[PATH_MAX + 512], err[1024] = "", cmd[PATH_MAX + 32];
    int rc, st, bytes;
    pid_t child;

    if (!top)
        tap_bail("DCV_TOP_BUILDDIR not set (run through make check)");
    snprintf(so, sizeof so, "%s/tests/plugins/.libs/fakegpu.so", top);
    tap_mkdtemp(tmpdir, sizeof tmpdir, "fakegpu");
    snprintf(state, sizeof state, "%s/gpu", tmpdir);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", state);
    if (system(cmd) != 0)
        tap_bail("mkdir %s", state);
    dcv_log_setup(DCV_LOG_WARN, DCV_LOG_TEXT, DCV_LOG_STDERR, "test_fakegpu");

    test_config_errors(so);

    /* Reports 3 sessions, really has 2: the third open is refused. */
    snprintf(conf_text, sizeof conf_text,
             "plugins = { fakegpu = { device_id = \"GPU-test-1\"; name = \"Test GPU\";\n"
             "  sessions = 3; real_sessions = 2; scope = \"host\"; fps = 50;\n"
             "  state_dir = \"%s\"; }; };\n",
             state);
    p = load(so, conf_text, &conf, &rc, err, sizeof err);
    if (rc < 0)
        tap_bail("init: %s", err);

    /* ---- probe ---- */
    memset(&caps, 0, sizeof caps);
    caps.struct_size = sizeof caps;
    rc = p->enc.probe(p->ctx, 0, &caps);
    tap_ok(rc == 1, "probe(0) writes an entry (%d)", rc);
    tap_ok((caps.flags & DCV_CAP_AVAILABLE) && (caps.flags & DCV_CAP_HARDWARE),
           "available and hardware (flags 0x%x)", caps.flags);
    tap_ok(caps.hw_type == DCV_HW_OTHER, "hw_type other (%d)", caps.hw_type);
    tap_ok(strcmp(caps.device_id, "GPU-test-1") == 0 && strcmp(caps.device_name, "Test GPU") == 0,
           "device id and name from the configuration (%s, %s)", caps.device_id,
           caps.device_name);
    tap_ok(caps.max_sessions == 3 && caps.max_sessions_scope == DCV_SCOPE_PER_HOST &&
               caps.max_sessions_source == DCV_LIMIT_PROBED,
           "reports the configured sessions, scope host, source probed (%u, %u, %u)",
           caps.max_sessions, caps.max_sessions_scope, caps.max_sessions_source);
    tap_ok(caps.n_codecs == 1 && strcmp(caps.codecs[0].codec, "h264") == 0 &&
               strcmp(caps.codecs[0].encoder, "h264_fakegpu") == 0 &&
               caps.codecs[0].pix_fmts[0] == AV_PIX_FMT_YUV420P,
           "h264 via h264_fakegpu from yuv420p");
    {
        struct dcv_device_caps none;
        memset(&none, 0, sizeof none);
        none.struct_size = sizeof none;
        tap_ok(p->enc.probe(p->ctx, 1, &none) == 0, "one device only");
    }

    /* ---- sessions ---- */
    memset(&ch, 0, sizeof ch);
    ch.plugin = p;
    ch.caps = caps;
    rc = open_session(&ch, &s[0], err, sizeof err);
    tap_ok(rc == 0, "first session opens (%s)", rc ? err : "ok");
    rc = open_session(&ch, &s[1], err, sizeof err);
    tap_ok(rc == 0, "second session opens (%s)", rc ? err : "ok");
    err[0] = '\0';
    rc = open_session(&ch, &s[2], err, sizeof err);
    tap_ok(rc == -EBUSY && !s[2], "third session: -EBUSY (%d)", rc);
    tap_ok(strstr(err, "fakegpu GPU-test-1: all 2 encoder sessions in use") != NULL,
           "the refusal says why (%s)", err);

    fflush(NULL);
    child = fork();
    if (child == 0) {
        struct dcv_enc_session *cs = NULL;
        char e[512];
        _exit(open_session(&ch, &cs, e, sizeof e) == -EBUSY ? 0 : 1);
    }
    tap_ok(child > 0 && waitpid(child, &st, 0) == child && WIFEXITED(st) && WEXITSTATUS(st) == 0,
           "another process is refused too: the sessions are the device's, not the process's");

    dcv_enc_session_close(&s[1]);
    fflush(NULL);
    child = fork();
    if (child == 0) {
        struct dcv_enc_session *cs = NULL;
        char e[512];
        int b;
        if (open_session(&ch, &cs, e, sizeof e) != 0)
            _exit(1);
        int n = encode(cs, 2, &b);
        dcv_enc_session_close(&cs);
        _exit(n == 2 ? 0 : 2);
    }
    tap_ok(child > 0 && waitpid(child, &st, 0) == child && WIFEXITED(st) && WEXITSTATUS(st) == 0,
           "after a close another process gets the free session and encodes (status %d)",
           WIFEXITED(st) ? WEXITSTATUS(st) : -1);

    /* ---- encoding ---- */
    {
        AVCodecParameters *par = avcodec_parameters_alloc();
        struct dcv_rational tb;
        int n = encode(s[0], 10, &bytes);
        tap_ok(n == 10 && bytes > 0, "10 frames in, 10 packets out (%d, %d bytes)", n, bytes);
        tap_ok(par && dcv_enc_session_stream_params(s[0], par, &tb) == 0 &&
                   par->codec_id == AV_CODEC_ID_H264 && par->width == 64,
               "stream parameters: H.264 64x64");
        avcodec_parameters_free(&par);
    }
    dcv_enc_session_close(&s[0]);
    /* The throttle counts from open: frame n goes in n/fps after it. */
    {
        uint64_t t0 = dcv_mono_ms(), ms;
        int n = -1;
        if (open_session(&ch, &s[1], err, sizeof err) == 0)
            n = encode(s[1], 10, &bytes);
        ms = dcv_mono_ms() - t0;
        /* A lower bound only: the throttle sleeps at least that long. */
        tap_ok(n == 10 && ms >= 200,
               "throttled: 10 frames at 50 fps take at least 200 ms (%d frames, %llu ms)", n,
               (unsigned long long)ms);
        dcv_enc_session_close(&s[1]);
    }
    unload(p);

    /* ---- the events log ---- */
    {
        int n = read_events(ev, 64), cur = 0, max = 0, opens = 0, closes = 0, busy = 0,
            busy_child = 0, child_open = 0, bad = 0;
        long self = (long)getpid();
        for (int i = 0; i < n; i++) {
            if (strcmp(ev[i].dev, "GPU-test-1") != 0 || ev[i].ms < 1600000000000LL)
                bad++;
            if (strcmp(ev[i].what, "open") == 0) {
                opens++;
                if (++cur > max)
                    max = cur;
                if (ev[i].pid != self)
                    child_open++;
                if (strcmp(ev[i].slot, "0") != 0 && strcmp(ev[i].slot, "1") != 0)
                    bad++;
            } else if (strcmp(ev[i].what, "close") == 0) {
                closes++;
                cur--;
            } else if (strcmp(ev[i].what, "busy") == 0) {
                busy++;
                if (ev[i].pid != self)
                    busy_child++;
                if (strcmp(ev[i].slot, "-") != 0)
                    bad++;
            } else {
                bad++;
            }
        }
        tap_ok(n == 10, "10 events logged (%d)", n);
        tap_ok(bad == 0, "every line: known event, the device id, a slot, a wall-clock time");
        tap_ok(opens == 4 && closes == 4 && cur == 0, "4 opens, 4 closes (%d, %d)", opens, closes);
        tap_ok(max == 2, "never more than 2 sessions at once in file order (%d)", max);
        tap_ok(busy == 2 && busy_child == 1, "2 refusals, one from the other process (%d, %d)",
               busy, busy_child);
        tap_ok(child_open == 1, "the other process's session is logged with its pid");
    }

    dcv_conf_free(&conf);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        tap_diag("could not remove %s", tmpdir);
    return tap_done();
}

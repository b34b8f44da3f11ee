/*
 * One source for every purpose-built test plugin: tests/unit/loader.mk
 * compiles it once per variant with -D flags, so each bad plugin differs
 * from the good one in exactly the field its test is about.
 *
 *   TP_ID=x              plugin name (default good), a bare word so no
 *                        shell quoting is needed in the makefile
 *   TP_MAGIC, TP_ABI_MAJOR, TP_ABI_MINOR, TP_KIND, TP_FLAGS
 *   TP_AVCODEC, TP_AVUTIL FFmpeg majors to declare
 *   TP_SHORT_HEADER      return only the four leading fields, struct_size 8
 *   TP_NULL_QUERY        dcv_plugin_query_v1 returns NULL
 *   TP_NO_QUERY          export some other symbol instead
 *   TP_NO_RECEIVE        required op receive_packet is NULL
 *   TP_OPS_NULL          header ops = NULL
 *   TP_OPS_SIZE          encoder ops struct_size to declare
 *   TP_NO_FINI           fini = NULL
 *   TP_TRANSPORT         a transport plugin (with transport ops)
 *   TP_INIT_FAIL         init fails with a message
 *   TP_PROBE_CRASH       probe raises SIGSEGV
 *   TP_PROBE_HANG        probe never returns
 *   TP_PROBE_NOHW        probe reports one unavailable hardware device
 *   TP_PROBE_BADCAPS     probe reports n_codecs beyond DCV_MAX_CODECS
 *   TP_PROBE_SPAWN       probe leaves a helper process running
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavutil/frame.h>
#include <libavutil/pixfmt.h>

#include "distconv/plugin.h"
#include "testplug.h"

#define TP_STR2(x) #x
#define TP_STR(x) TP_STR2(x)
#ifdef TP_ID
#define TP_NAME TP_STR(TP_ID)
#else
#define TP_NAME "good"
#endif
#ifndef TP_MAGIC
#define TP_MAGIC DCV_PLUGIN_MAGIC
#endif
#ifndef TP_ABI_MAJOR
#define TP_ABI_MAJOR DCV_ABI_MAJOR
#endif
#ifndef TP_ABI_MINOR
#define TP_ABI_MINOR DCV_ABI_MINOR
#endif
#ifndef TP_KIND
#ifdef TP_TRANSPORT
#define TP_KIND DCV_PLUGIN_TRANSPORT
#else
#define TP_KIND DCV_PLUGIN_ENCODER
#endif
#endif
#ifndef TP_FLAGS
#define TP_FLAGS 0
#endif
#ifndef TP_AVCODEC
#ifdef TP_TRANSPORT
#define TP_AVCODEC 0
#else
#define TP_AVCODEC LIBAVCODEC_VERSION_MAJOR
#endif
#endif
#ifndef TP_AVUTIL
#ifdef TP_TRANSPORT
#define TP_AVUTIL 0
#else
#define TP_AVUTIL LIBAVUTIL_VERSION_MAJOR
#endif
#endif
#ifndef TP_OPS_SIZE
#define TP_OPS_SIZE sizeof(struct dcv_encoder_ops)
#endif

static int tp_init(const struct dcv_host_api *h, const struct dcv_config *cfg, void **pctx,
                   char *err, size_t errlen)
{
    struct tp_ctx *c;
    const char *s = NULL;

#ifdef TP_INIT_FAIL
    (void)h;
    (void)cfg;
    (void)pctx;
    snprintf(err, errlen, "no widget attached to /dev/widget0");
    return -ENODEV;
#endif
    c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    c->magic = TP_CTX_MAGIC;
    c->host_struct_size = h->struct_size;
    c->host_abi_minor = h->abi_minor;
    c->host_ctx_set = h->host_ctx != NULL;
    c->cfg_nonnull = cfg != NULL;
    c->answer_rc = h->cfg_get_int(cfg, "answer", &c->answer);
    c->greeting_rc = h->cfg_get_str(cfg, "greeting", &s);
    if (c->greeting_rc == 0)
        snprintf(c->greeting, sizeof(c->greeting), "%s", s);
    c->absent_rc = h->cfg_get_int(cfg, "no-such-key", &(int64_t){0});
    c->now1 = h->now_ns();
    c->now2 = h->now_ns();
    h->log(h->host_ctx, DCV_LOG_INFO, "testplug init: answer=%lld rc=%d",
           (long long)c->answer, c->answer_rc);
    *pctx = c;
    return 0;
}

__attribute__((unused)) /* not in the TP_NO_FINI variant */
static void tp_fini(void *pctx)
{
    const char *mark = getenv("TP_FINI_FILE");

    /* Lets a test see that fini ran without a second exported symbol. */
    if (mark) {
        FILE *f = fopen(mark, "a");
        if (f) {
            fprintf(f, "%s\n", TP_NAME);
            fclose(f);
        }
    }
    free(pctx);
}

/* ------------------------------------------------------------------------ */

struct tp_session {
    struct tp_ctx *ctx;
    struct dcv_enc_params p;
    int frames, draining;
    char error[128];
};

static int tp_probe(void *pctx, uint32_t index, struct dcv_device_caps *out)
{
    struct tp_ctx *c = pctx;

#if defined(TP_PROBE_CRASH)
    (void)c;
    (void)index;
    (void)out;
    raise(SIGSEGV);
    return -EFAULT;
#elif defined(TP_PROBE_HANG)
    (void)c;
    (void)index;
    (void)out;
    for (;;)
        pause();
    return -EFAULT;
#elif defined(TP_PROBE_NOHW)
    (void)c;
    if (index > 0)
        return 0;
    out->flags = DCV_CAP_HARDWARE;
    out->hw_type = DCV_HW_OTHER;
    snprintf(out->device_id, sizeof(out->device_id), "none");
    snprintf(out->unavailable_reason, sizeof(out->unavailable_reason),
             "no /dev/widget* device");
    return 1;
#else
    if (index > 0)
        return 0;
    out->flags = DCV_CAP_AVAILABLE | DCV_CAP_TEN_BIT;
    out->hw_type = DCV_HW_NONE;
    snprintf(out->device_id, sizeof(out->device_id), "cpu");
#ifdef TP_PROBE_SPAWN
    /* A helper that outlives probe() and holds every inherited fd, like a
     * driver's daemon: the prober must neither wait for it nor leave it. */
    (void)c;
    pid_t helper = fork();
    if (helper == 0) {
        for (;;)
            pause();
    }
    snprintf(out->device_name, sizeof(out->device_name), "helper %d", (int)helper);
#else
    /* The answer comes from the plugin's config: proves init saw it. */
    snprintf(out->device_name, sizeof(out->device_name), "%s (CPU) answer=%lld", TP_NAME,
             (long long)c->answer);
#endif
    out->max_sessions_scope = DCV_SCOPE_UNLIMITED;
    out->max_sessions_source = DCV_LIMIT_NONE;
#ifdef TP_PROBE_BADCAPS
    out->n_codecs = DCV_MAX_CODECS + 5;
#else
    out->n_codecs = 1;
#endif
    struct dcv_codec_caps *cc = &out->codecs[0];
    snprintf(cc->codec, sizeof(cc->codec), "h264");
    snprintf(cc->encoder, sizeof(cc->encoder), "testenc");
    snprintf(cc->profiles, sizeof(cc->profiles), "main,high");
    cc->max_width = 4096;
    cc->max_height = 2304;
    cc->bit_depths = (1u << 8) | (1u << 10);
    cc->pix_fmts[0] = AV_PIX_FMT_YUV420P;
    cc->pix_fmts[1] = AV_PIX_FMT_YUV420P10LE;
    cc->pix_fmts[2] = -1;
    return 1;
#endif
}

static int tp_open(void *pctx, const struct dcv_enc_params *p, void **session, char *err,
                   size_t errlen)
{
    struct tp_ctx *c = pctx;
    struct tp_session *s;

    if (strcmp(p->codec, "h264") != 0) {
        snprintf(err, errlen, "testenc only does h264, not '%.16s'", p->codec);
        return -ENOTSUP;
    }
    if (p->width <= 0 || p->height <= 0) {
        snprintf(err, errlen, "bad size %dx%d", p->width, p->height);
        return -EINVAL;
    }
    s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    s->ctx = c;
    memcpy(&s->p, p, p->struct_size < sizeof(s->p) ? p->struct_size : sizeof(s->p));
    snprintf(s->error, sizeof(s->error), "no error");
    c->sessions++;
    *session = s;
    return 0;
}

static int tp_stream_params(void *session, struct AVCodecParameters *par,
                            struct dcv_rational *tb)
{
    struct tp_session *s = session;

    par->codec_type = AVMEDIA_TYPE_VIDEO;
    par->codec_id = AV_CODEC_ID_H264;
    par->width = s->p.width;
    par->height = s->p.height;
    *tb = s->p.time_base;
    return 0;
}

static int tp_send_frame(void *session, const struct AVFrame *frame)
{
    struct tp_session *s = session;

    if (s->draining) {
        snprintf(s->error, sizeof(s->error), "frame after end of stream");
        return -EINVAL;
    }
    if (!frame)
        s->draining = 1;
    else
        s->frames++;
    return 0;
}

/* Produces no packets: the loader tests only need the call contract. */
__attribute__((unused)) /* not in the TP_NO_RECEIVE variant */
static int tp_receive_packet(void *session, struct AVPacket *pkt)
{
    struct tp_session *s = session;

    (void)pkt;
    return s->draining ? -ENODATA : -EAGAIN;
}

static void tp_close(void *session)
{
    struct tp_session *s = session;

    if (s) {
        s->ctx->sessions--;
        free(s);
    }
}

static const char *tp_last_error(void *session)
{
    return ((struct tp_session *)session)->error;
}

/* unused in the transport variant */
__attribute__((unused)) static const struct dcv_encoder_ops enc_ops = {
    .struct_size = TP_OPS_SIZE,
    .probe = tp_probe,
    .open = tp_open,
    .get_stream_params = tp_stream_params,
    .send_frame = tp_send_frame,
#ifndef TP_NO_RECEIVE
    .receive_packet = tp_receive_packet,
#endif
    .close = tp_close,
    .last_error = tp_last_error,
};

/* ------------------------------------------------------------------------ */

#ifdef TP_TRANSPORT
static int tx_open(void *pctx, const struct dcv_tx_config *cfg, void **tx, char *err,
                   size_t errlen)
{
    (void)pctx;
    (void)cfg;
    (void)tx;
    snprintf(err, errlen, "test transport cannot open anything");
    return -ENOTSUP;
}
static int tx_send(void *tx, const struct dcv_tx_peer *to, const struct dcv_tx_frame *frames,
                   unsigned n)
{
    return -ENOTSUP;
}
static int tx_recv(void *tx, struct dcv_tx_peer *from, struct dcv_tx_msg *msg)
{
    return -EAGAIN;
}
static int tx_get_fd(void *tx, int *fd)
{
    return -ENOTSUP;
}
static void tx_msg_free(void *tx, struct dcv_tx_msg *msg)
{
}
static int tx_events(void *tx, int *readable, int *writable)
{
    *readable = *writable = 0;
    return 0;
}
static int tx_endpoint(void *tx, char *buf, size_t len)
{
    return -ENOTSUP;
}
static int tx_stats(void *tx, struct dcv_tx_stats *out)
{
    return -ENOTSUP;
}
static const char *tx_last_error(void *tx)
{
    return "test transport";
}
static void tx_close(void *tx)
{
}
static const struct dcv_transport_ops tx_ops = {
    .struct_size = sizeof(struct dcv_transport_ops),
    .open = tx_open,
    .send = tx_send,
    .recv = tx_recv,
    .msg_free = tx_msg_free,
    .get_fd = tx_get_fd,
    .events = tx_events,
    .endpoint = tx_endpoint,
    .stats = tx_stats,
    .last_error = tx_last_error,
    .close = tx_close,
};
#define TP_OPS (&tx_ops)
#elif defined(TP_OPS_NULL)
#define TP_OPS NULL
#else
#define TP_OPS (&enc_ops)
#endif

static const struct dcv_plugin_header header = {
    .magic = TP_MAGIC,
    .abi_major = TP_ABI_MAJOR,
    .abi_minor = TP_ABI_MINOR,
    .struct_size = sizeof(struct dcv_plugin_header),
    .kind = TP_KIND,
    .avcodec_major = TP_AVCODEC,
    .avutil_major = TP_AVUTIL,
    .flags = TP_FLAGS,
    .name = TP_NAME,
    .version = "1.2.3",
    .license = "MIT",
    .description = "distconv test plugin (" TP_NAME ")",
    .init = tp_init,
#ifndef TP_NO_FINI
    .fini = tp_fini,
#endif
    .ops = TP_OPS,
};

#ifdef TP_SHORT_HEADER
/* Only the four leading fields exist: any read past them is a bug the
 * sanitizer build catches as a global-buffer-overflow. */
static const uint32_t short_header[4] = {DCV_PLUGIN_MAGIC, DCV_ABI_MAJOR, DCV_ABI_MINOR, 8};
#endif

#ifdef TP_NO_QUERY
DCV_EXPORT int tp_not_a_distconv_plugin(void);
int tp_not_a_distconv_plugin(void)
{
    return header.kind + (enc_ops.struct_size != 0);
}
#else
const struct dcv_plugin_header *dcv_plugin_query_v1(void)
{
#if defined(TP_NULL_QUERY)
    (void)header;
    return NULL;
#elif defined(TP_SHORT_HEADER)
    (void)header;
    return (const struct dcv_plugin_header *)(const void *)short_header;
#else
    return &header;
#endif
}
#endif

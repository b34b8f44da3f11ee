/*
 * A third-party encoder plugin as someone outside the tree writes it: only
 * <distconv/plugin.h> from `pkg-config --cflags distconv-plugin` and the
 * FFmpeg version headers. tests/integration/oot-plugin.sh builds it
 * against a DESTDIR install and loads it.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <distconv/plugin.h>
#include <libavcodec/version.h>
#include <libavutil/version.h>

static int oot_init(const struct dcv_host_api *host, const struct dcv_config *cfg, void **pctx,
                    char *err, size_t errlen)
{
    (void)cfg;
    (void)err;
    (void)errlen;
    host->log(host->host_ctx, DCV_LOG_DEBUG, "out-of-tree plugin initialised");
    *pctx = NULL;
    return 0;
}

static void oot_fini(void *pctx)
{
    (void)pctx;
}

/* One software device that can encode nothing yet, said honestly. */
static int oot_probe(void *pctx, uint32_t index, struct dcv_device_caps *out)
{
    (void)pctx;
    if (index > 0)
        return 0;
    snprintf(out->device_id, sizeof(out->device_id), "cpu");
    snprintf(out->device_name, sizeof(out->device_name), "out-of-tree example");
    snprintf(out->unavailable_reason, sizeof(out->unavailable_reason),
             "example plugin: no encoder behind it");
    return 1;
}

static int oot_open(void *pctx, const struct dcv_enc_params *p, void **session, char *err,
                    size_t errlen)
{
    (void)pctx;
    (void)p;
    (void)session;
    snprintf(err, errlen, "example plugin cannot encode");
    return -ENOTSUP;
}

static int oot_stream_params(void *s, struct AVCodecParameters *par, struct dcv_rational *tb)
{
    (void)s;
    (void)par;
    (void)tb;
    return -EINVAL;
}

static int oot_send(void *s, const struct AVFrame *f)
{
    (void)s;
    (void)f;
    return -EINVAL;
}

static int oot_receive(void *s, struct AVPacket *pkt)
{
    (void)s;
    (void)pkt;
    return -EINVAL;
}

static void oot_close(void *s)
{
    (void)s;
}

static const char *oot_last_error(void *s)
{
    (void)s;
    return "example plugin cannot encode";
}

static const struct dcv_encoder_ops ops = {
    .struct_size = sizeof(struct dcv_encoder_ops),
    .probe = oot_probe,
    .open = oot_open,
    .get_stream_params = oot_stream_params,
    .send_frame = oot_send,
    .receive_packet = oot_receive,
    .close = oot_close,
    .last_error = oot_last_error,
};

static const struct dcv_plugin_header header = {
    .magic = DCV_PLUGIN_MAGIC,
    .abi_major = DCV_ABI_MAJOR,
    .abi_minor = DCV_ABI_MINOR,
    .struct_size = sizeof(struct dcv_plugin_header),
    .kind = DCV_PLUGIN_ENCODER,
    .avcodec_major = LIBAVCODEC_VERSION_MAJOR,
    .avutil_major = LIBAVUTIL_VERSION_MAJOR,
    .name = "oot",
    .version = "0.1",
    .license = "MIT",
    .description = "out-of-tree example plugin",
    .init = oot_init,
    .fini = oot_fini,
    .ops = &ops,
};

const struct dcv_plugin_header *dcv_plugin_query_v1(void)
{
    return &header;
}

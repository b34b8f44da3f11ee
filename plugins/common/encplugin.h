/*
 * The frame every libavcodec-backed encoder plugin shares: the plugin
 * context behind init()/fini(), configuration, logging through the host,
 * and one struct dcv_encoder_ops whose functions dispatch on the plugin's
 * description. A plugin file is then a struct dcvenc_desc, its probe and
 * hw_setup hooks (hardware plugins) and one DCVENC_PLUGIN() line.
 *
 * Threading follows the ABI: init/fini/probe are discovery calls (never
 * concurrent), open/close are serialised per plugin (so the session count
 * below needs no lock), data calls are per session.
 */
#ifndef DCVENC_PLUGIN_H
#define DCVENC_PLUGIN_H

#include <stddef.h>
#include <stdint.h>
#include <libavcodec/version.h>
#include <libavutil/version.h>
#include "distconv/plugin.h"
#include "encmap.h"
#include "encsession.h"

struct dcvenc_ctx;
struct dcvenc_probe_cache;

struct dcvenc_codec_desc {
    const char *codec;   /* portable name: "h264" */
    const char *encoder; /* libavcodec encoder: "libx264" */
    uint32_t max_width, max_height;
};

struct dcvenc_desc {
    const char *name; /* the plugin's name, as in its header */
    const struct dcvenc_family *family;
    const struct dcvenc_codec_desc *codecs; /* {NULL}-terminated */
    /* Config key passed through as the encoder's own parameter string
     * (x264_params -> x264-params); NULL: none. */
    const char *params_key;
    int cfg_tune; /* read `tune` from the configuration */
    /* Fill device `index` of a hardware plugin into caps (already
     * dcvenc_caps_init()ed): 1 written, 0 past the end, negative errno.
     * NULL: the software probe, one "cpu" device. */
    int (*probe)(struct dcvenc_ctx *ctx, uint32_t index, struct dcv_device_caps *caps);
    /* Hardware plugins (probe set): where an open of device entry `caps`
     * (the probe's, AVAILABLE, caps->hw_device its device string) encodes.
     * Fill *out: out->device a NEW reference the caller releases (the
     * host's p->hw_device where it is of the plugin's type, else one of
     * the plugin's own), out->hw_fmt, out->frames (p->hw_frames, borrowed,
     * when the encoder takes them), out->pool_size. NULL: software. */
    int (*hw_setup)(struct dcvenc_ctx *ctx, const struct dcv_enc_params *p,
                    const struct dcv_device_caps *caps, struct dcvenc_hwsetup *out, char *err,
                    size_t errlen);
    /* Optional: after avcodec_open2() failed with averr, the hint for
     * dcvenc_hw_open_errno() (VideoToolbox: the OSStatus). Without it,
     * NVENC's ambiguous EINVAL gets the bare-session check. */
    int (*open_hint)(struct dcvenc_ctx *ctx, const struct dcvenc_hwsetup *hw,
                     const struct dcv_codec_caps *cc, const struct dcv_enc_params *p, int averr);
    /* Read plugins.<name>.device (a DRM render node path) into ctx->device. */
    int cfg_device;
    /* Release ctx->priv; may be NULL. */
    void (*fini)(struct dcvenc_ctx *ctx);
};

struct dcvenc_ctx {
    const struct dcvenc_desc *desc;
    struct dcv_host_api host; /* size-checked copy of the host's services */
    const struct dcv_config *cfg;
    struct dcvenc_opts opts; /* threads, tune, params from the configuration */
    uint32_t max_sessions;   /* plugins.<name>.max_sessions, when has_max_sessions */
    int has_max_sessions;
    uint32_t sessions; /* open sessions of this plugin */
    const char *device; /* plugins.<name>.device (cfg_device), NULL when unset */
    /* Hardware plugins: the probe's last answer per device index, which
     * open() uses (a probe encodes test frames; the host probes right
     * before it opens, in the same process). */
    struct dcvenc_probe_cache *probed;
    void *priv; /* the plugin's own state */
};

/* init() of a plugin described by desc: copies the host API (size
 * checked), reads threads / tune / <params_key> / max_sessions from the
 * plugin's configuration (a value of the wrong type or range fails init
 * with a message naming plugins.<name>.<key>). */
int dcvenc_plugin_init(const struct dcvenc_desc *desc, const struct dcv_host_api *host,
                       const struct dcv_config *cfg, void **pctx, char *err, size_t errlen);
void dcvenc_plugin_fini(void *pctx);

/* The ops table of every plugin built on this library. */
extern const struct dcv_encoder_ops dcvenc_encoder_ops;

/* Log through the host (no-op without one). */
void dcvenc_log(const struct dcvenc_ctx *ctx, int level, const char *fmt, ...) DCV_PRINTF(3, 4);

/* Config lookups relative to plugins.<name>: 1 found, 0 absent, negative
 * errno (wrong type or, for ints, outside lo..hi) with the reason in err. */
int dcvenc_cfg_int(const struct dcvenc_ctx *ctx, const char *key, int64_t lo, int64_t hi,
                   int64_t *out, char *err, size_t errlen);
int dcvenc_cfg_str(const struct dcvenc_ctx *ctx, const char *key, const char **out, char *err,
                   size_t errlen);

/* Apply plugins.<name>.max_sessions to a device entry: source CONFIG with
 * `scope` when configured, otherwise leave it as the probe set it. */
void dcvenc_apply_session_config(const struct dcvenc_ctx *ctx, struct dcv_device_caps *caps,
                                 uint32_t scope);

/*
 * The rest of a plugin file: the init wrapper that binds the plugin's
 * description, its struct dcv_plugin_header and the one exported symbol,
 * dcv_plugin_query_v1(). `ident` is the plugin's name as a bare word
 * (x264): it becomes the header's name ("x264"), which must equal
 * desc->name, and prefixes the static x264_init / x264_header. The header
 * records the libavcodec/libavutil majors this file is compiled against
 * (the host refuses a plugin built for other ones); the expanding file
 * includes build-config.h for PACKAGE_VERSION. Use it once, at file scope,
 * without a trailing semicolon:
 *     DCVENC_PLUGIN(x264, &x264_desc, "H.264 on the CPU with libx264")
 */
#define DCVENC_PLUGIN(ident, desc_ptr, descr)                                                      \
    static int ident##_init(const struct dcv_host_api *host, const struct dcv_config *cfg,         \
                            void **pctx, char *err, size_t errlen)                                 \
    {                                                                                              \
        return dcvenc_plugin_init(desc_ptr, host, cfg, pctx, err, errlen);                         \
    }                                                                                              \
                                                                                                   \
    static const struct dcv_plugin_header ident##_header = {                                       \
        .magic = DCV_PLUGIN_MAGIC,                                                                 \
        .abi_major = DCV_ABI_MAJOR,                                                                \
        .abi_minor = DCV_ABI_MINOR,                                                                \
        .struct_size = sizeof(struct dcv_plugin_header),                                           \
        .kind = DCV_PLUGIN_ENCODER,                                                                \
        .avcodec_major = LIBAVCODEC_VERSION_MAJOR,                                                 \
        .avutil_major = LIBAVUTIL_VERSION_MAJOR,                                                   \
        .name = #ident,                                                                            \
        .version = PACKAGE_VERSION,                                                                \
        .license = "GPL-2.0-or-later",                                                             \
        .description = descr,                                                                      \
        .init = ident##_init,                                                                      \
        .fini = dcvenc_plugin_fini,                                                                \
        .ops = &dcvenc_encoder_ops,                                                                \
    };                                                                                             \
                                                                                                   \
    DCV_EXPORT const struct dcv_plugin_header *dcv_plugin_query_v1(void)                           \
    {                                                                                              \
        return &ident##_header;                                                                    \
    }

#endif

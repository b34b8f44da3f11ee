/*
 * Shared checks of the hardware plugins' probes: is the encoder compiled
 * into libavcodec, which DRM render nodes exist and whose are they, may we
 * open them, and does FFmpeg's hardware device creation work. Every
 * failure comes back as a sentence a user can act on.
 */
#ifndef DCVENC_HWPROBE_H
#define DCVENC_HWPROBE_H

#include <stddef.h>

struct AVBufferRef;
struct AVDictionary;
struct dcv_device_caps;
struct dcvenc_codec_desc;
struct dcvenc_ctx;

struct dcvenc_render_node {
    char path[80];   /* "/dev/dri/renderD128" */
    char name[32];   /* "renderD128" */
    unsigned vendor; /* PCI vendor id from sysfs, 0 when unknown */
    unsigned device; /* PCI device id from sysfs, 0 when unknown */
};

/* 1 when this libavcodec has the encoder, else 0. */
int dcvenc_have_encoder(const char *name);

/* 1 when this libavcodec has at least one of the encoders of `codecs` (a
 * plugin's {NULL}-terminated table), else 0; either way the absent ones
 * are listed into missing ("h264_qsv, av1_qsv", "" when none, truncated to
 * fit), for the reason a probe gives. */
int dcvenc_have_any_encoder(const struct dcvenc_codec_desc *codecs, char *missing, size_t size);

/*
 * The render nodes "renderD*" in dev_dir (normally "/dev/dri"), in minor
 * number order, with vendor/device read from
 * sys_dir/<name>/device/{vendor,device} (normally "/sys/class/drm").
 * Returns how many were stored (at most max; 0 when dev_dir is missing) or
 * a negative errno when dev_dir cannot be read.
 */
int dcvenc_render_nodes(const char *dev_dir, const char *sys_dir, struct dcvenc_render_node *out,
                        int max);

/* "Intel", "AMD", "NVIDIA", ... for a PCI vendor id; NULL when unknown. */
const char *dcvenc_vendor_name(unsigned vendor);

/* 0 when path may be opened read-write by this process; otherwise -EACCES
 * ("no permission on /dev/dri/renderD128 (add the user to the 'render'
 * group)", naming the node's real group) or -errno. */
int dcvenc_node_access(const char *path, char *err, size_t errlen);

/*
 * av_hwdevice_ctx_create() for the AVHWDeviceType `type` on `device` (may
 * be NULL) with options (may be NULL, not consumed). 0 with *out, or a
 * negative errno with "cannot create a VAAPI device on X: <FFmpeg's
 * reason>" (or "this FFmpeg was built without CUDA support").
 */
int dcvenc_hwdevice_open(int type, const char *device, struct AVDictionary *opts,
                         struct AVBufferRef **out, char *err, size_t errlen);

/*
 * Does `encoder` really encode here? The encoder is opened at 256x144 and
 * three black sw_pix_fmt frames are encoded; at least one packet must come
 * out. With hw_pix_fmt >= 0 (VAAPI, QSV, CUDA frames) the frames are
 * uploaded into a small hardware frames pool of sw_pix_fmt on dev
 * (hwframes.h, as the sessions do); with hw_pix_fmt < 0 (NVENC,
 * VideoToolbox, which take system memory) the encoder gets dev as its
 * device (dev may be NULL). profile (may be NULL) and opts (may be NULL,
 * not consumed) are set on the encoder (e.g. NVENC's "gpu"). 0, or a
 * negative errno with "<encoder>: <step> failed: <reason>".
 */
int dcvenc_hw_try_encoder(struct AVBufferRef *dev, const char *encoder, int hw_pix_fmt,
                          int sw_pix_fmt, const char *profile, struct AVDictionary *opts, char *err,
                          size_t errlen);

/* Open a bare session of `encoder` on dev (256x144 NV12, default options,
 * hardware frames when hw_pix_fmt >= 0) and close it again: the FFmpeg
 * error of the open, 0 when it opened. The hint for NVENC's ambiguous
 * EINVAL (hwopen.h). */
int dcvenc_hw_bare_open(struct AVBufferRef *dev, const char *encoder, int hw_pix_fmt);

/* What dcvenc_hw_try_codecs() found, for the probe's unavailable_reason. */
struct dcvenc_hw_tried {
    char found[64];      /* the codecs that opened: "h264, hevc" ("" when none) */
    char first_err[256]; /* why the first one that did not open failed */
    int first_rc;        /* its negative errno (0 when none failed) */
};

/*
 * The per-codec part of every hardware probe: for each entry of `codecs`
 * this FFmpeg has (at most DCV_MAX_CODECS), describe it through the
 * plugin's family (dcvenc_codec_caps), then keep it only when
 * dcvenc_hw_try_encoder(dev, encoder, hw_pix_fmt, NV12) succeeds, and keep
 * its 10-bit formats only when the same with P010 and the family's first
 * 10-bit profile does too. Kept codecs are appended to caps (n_codecs;
 * DCV_CAP_TEN_BIT when one keeps 10-bit). `where` names the device in the
 * debug line logged for each failure; NULL logs nothing.
 */
void dcvenc_hw_try_codecs(struct dcvenc_ctx *ctx, struct dcv_device_caps *caps,
                          const struct dcvenc_codec_desc *codecs, struct AVBufferRef *dev,
                          int hw_pix_fmt, const char *where, struct dcvenc_hw_tried *out);

#endif

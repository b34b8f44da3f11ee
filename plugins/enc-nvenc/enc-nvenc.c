/*
 * enc-nvenc: H.264, HEVC and AV1 on NVIDIA GPUs through NVENC, one device
 * per CUDA device.
 *
 * The probe checks for real, in order, and stops at the first problem:
 *   1. {h264,hevc,av1}_nvenc are compiled into libavcodec;
 *   2. the driver's CUDA library loads (dlopen libcuda.so.1), the kernel
 *      module's /dev/nvidiactl exists, cuInit() works and sees GPUs;
 *   3. the GPU's identity (name, UUID -> device_id "GPU-<uuid>");
 *   4. the driver's encode library libnvidia-encode.so.1 loads (containers
 *      without the "video" driver capability lack it);
 *   5. FFmpeg creates a CUDA device on the GPU (av_hwdevice_ctx_create);
 *   6. each encoder opens and encodes three small frames (NV12, then P010 with
 *      a 10-bit profile): only that tells whether this GPU has NVENC at all
 *      (A100, A30, H100 and H200 have none), whether the driver is new
 *      enough for this FFmpeg, and whether the session limit is taken.
 *
 * Session limits (vendor table): GeForce and TITAN cards allow 8
 * concurrent NVENC sessions per host with driver 550 or newer (5 with
 * 530-546, 3 before), counted across all GPUs of the host, so the entry
 * says 8, scope PER_HOST, source VENDOR; professional and datacenter parts
 * are unrestricted. plugins.nvenc.max_sessions overrides either (source
 * CONFIG) - set it on hosts with an older driver.
 *
 * The driver libraries are never dlclose()d: cuInit() starts driver
 * threads whose code must stay mapped.
 *
 * Encoding: a device whose probe encoded for real is AVAILABLE; its
 * hw_device string is the CUDA ordinal. A session encodes on
 *   - the host's CUDA device and frames (ABI 1.2 zero copy: the host
 *     decoded with NVDEC there): CUDA frames pass straight through;
 *   - the host's CUDA device without frames: software frames are uploaded
 *     into a CUDA frames pool of our own (hwframes.c);
 *   - otherwise a CUDA device of our own on the probe's ordinal, given to
 *     NVENC as its hw_device_ctx, with system-memory frames (NVENC copies
 *     them itself). Handing NVENC a device is also what makes its session
 *     errors come back as themselves (hwopen.h: ENOMEM / "incompatible
 *     client key" at the session limit -> -EBUSY).
 *
 * Configuration, plugins.nvenc { max_sessions = N; }.
 */
#include <ctype.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libavutil/buffer.h>
#include <libavutil/hwcontext.h>
#include <libavutil/pixfmt.h>

#include "build-config.h"
#include "enccaps.h"
#include "encplugin.h"
#include "encutil.h"
#include "hwframes.h"
#include "hwprobe.h"

#define GEFORCE_SESSIONS 8 /* driver 550+, per host */

static const struct dcvenc_codec_desc nvenc_codecs[] = {
    /* NVENC's limits since Pascal (NVENC's caps API is not reachable
     * through libavcodec; a larger frame fails at open). */
    {"h264", "h264_nvenc", 4096, 4096},
    {"hevc", "hevc_nvenc", 8192, 8192},
    {"av1", "av1_nvenc", 8192, 8192},
    {NULL, NULL, 0, 0},
};

/* The few CUDA driver API calls we need, resolved at run time so the
 * plugin loads (and explains) on hosts without the driver. */
typedef int cu_result;
typedef int cu_device;
typedef struct {
    unsigned char bytes[16];
} cu_uuid;

struct cuda_api {
    cu_result (*init)(unsigned flags);
    cu_result (*device_get_count)(int *count);
    cu_result (*device_get)(cu_device *dev, int ordinal);
    cu_result (*device_get_name)(char *name, int len, cu_device dev);
    cu_result (*device_get_uuid)(cu_uuid *uuid, cu_device dev);
    cu_result (*get_error_name)(cu_result err, const char **name);
};

struct nvenc_state {
    int loaded;     /* the driver checks ran */
    char fail[256]; /* why the driver is unusable, "" when it is usable */
    struct cuda_api cu;
    int count;      /* CUDA devices */
    int enc_loaded; /* libnvidia-encode checked */
    char enc_fail[256];
    unsigned api_major, api_minor; /* the driver's highest NVENC API */
};

static int sym(void *lib, const char *name, void *fnptr)
{
    void *p = dlsym(lib, name);

    /* memcpy: ISO C has no cast from object to function pointer. */
    memcpy(fnptr, &p, sizeof p);
    return p != NULL;
}

static const char *cu_err(const struct nvenc_state *st, cu_result r, char *buf, size_t size)
{
    const char *name = NULL;

    if (st->cu.get_error_name && st->cu.get_error_name(r, &name) == 0 && name)
        snprintf(buf, size, "%s (%d)", name, r);
    else
        snprintf(buf, size, "CUDA error %d", r);
    return buf;
}

static void load_driver(struct nvenc_state *st)
{
    void *lib;
    cu_result r;
    char ebuf[96];

    st->loaded = 1;
    lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        snprintf(st->fail, sizeof st->fail, "NVIDIA driver not installed: libcuda.so.1 not found");
        return;
    }
    if (!sym(lib, "cuInit", &st->cu.init) ||
        !sym(lib, "cuDeviceGetCount", &st->cu.device_get_count) ||
        !sym(lib, "cuDeviceGet", &st->cu.device_get) ||
        !sym(lib, "cuDeviceGetName", &st->cu.device_get_name)) {
        snprintf(st->fail, sizeof st->fail,
                 "libcuda.so.1 lacks the CUDA driver API (broken driver "
                 "installation?)");
        return;
    }
    sym(lib, "cuDeviceGetUuid", &st->cu.device_get_uuid);
    sym(lib, "cuGetErrorName", &st->cu.get_error_name);
    if (access("/dev/nvidiactl", F_OK) != 0) {
        snprintf(st->fail, sizeof st->fail,
                 "no /dev/nvidiactl: the NVIDIA kernel module is not loaded (or the container "
                 "was started without the NVIDIA devices)");
        return;
    }
    if ((r = st->cu.init(0)) != 0) {
        /* 803/804: CUDA_ERROR_SYSTEM_DRIVER_MISMATCH / COMPAT_NOT_SUPPORTED_ON_DEVICE */
        snprintf(st->fail, sizeof st->fail, "cuInit failed: %s%s", cu_err(st, r, ebuf, sizeof ebuf),
                 r == 803 || r == 804 ? " (the driver library and the kernel module are of "
                                        "different versions)"
                                      : "");
        return;
    }
    if ((r = st->cu.device_get_count(&st->count)) != 0 || st->count <= 0) {
        if (r)
            snprintf(st->fail, sizeof st->fail, "cuDeviceGetCount failed: %s",
                     cu_err(st, r, ebuf, sizeof ebuf));
        else
            snprintf(st->fail, sizeof st->fail, "the NVIDIA driver sees no GPU");
        st->count = 0;
    }
}

static void load_encode_lib(struct nvenc_state *st)
{
    int (*max_version)(uint32_t *) = NULL;
    uint32_t v = 0;
    void *lib;

    st->enc_loaded = 1;
    lib = dlopen("libnvidia-encode.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        snprintf(st->enc_fail, sizeof st->enc_fail,
                 "the NVIDIA encode library libnvidia-encode.so.1 is missing (install the "
                 "driver's encode component; containers need NVIDIA_DRIVER_CAPABILITIES to "
                 "include 'video')");
        return;
    }
    if (sym(lib, "NvEncodeAPIGetMaxSupportedVersion", &max_version) && max_version(&v) == 0) {
        st->api_major = v >> 4;
        st->api_minor = v & 0xf;
    }
}

/* The GPUs without NVENC (NVIDIA's NVENC support matrix has no GA100 or
 * Hopper column). Matched as whole model names: "A30" must not match an
 * "RTX A3000", which has NVENC. */
static int gpu_lacks_nvenc(const char *name)
{
    static const char *const models[] = {"A100", "A800", "A30", "H100",
                                         "H800", "H200", "H20", "GH200"};

    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        size_t len = strlen(models[i]);
        for (const char *s = strstr(name, models[i]); s; s = strstr(s + 1, models[i])) {
            int before = s == name || !isalnum((unsigned char)s[-1]);
            int after = !isdigit((unsigned char)s[len]);
            if (before && after)
                return 1;
        }
    }
    return 0;
}

static int is_consumer(const char *name)
{
    return strstr(name, "GeForce") || strstr(name, "TITAN");
}

static void set_identity(struct nvenc_state *st, uint32_t index, struct dcv_device_caps *caps)
{
    cu_device dev = 0;
    cu_uuid u;
    char name[128] = "";

    snprintf(caps->device_id, sizeof caps->device_id, "cuda:%u", index);
    if (st->cu.device_get(&dev, (int)index) != 0)
        return;
    if (st->cu.device_get_name(name, (int)sizeof name - 1, dev) == 0 && name[0])
        dcvenc_strlcpy(caps->device_name, name, sizeof caps->device_name);
    if (st->cu.device_get_uuid && st->cu.device_get_uuid(&u, dev) == 0) {
        const unsigned char *b = u.bytes;
        /* the spelling nvidia-smi and NVIDIA_VISIBLE_DEVICES use */
        snprintf(caps->device_id, sizeof caps->device_id,
                 "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
                 b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
                 b[14], b[15]);
    }
}

static int nvenc_probe(struct dcvenc_ctx *ctx, uint32_t index, struct dcv_device_caps *caps)
{
    struct nvenc_state *st = ctx->priv;
    AVBufferRef *dev = NULL;
    struct dcvenc_hw_tried tried;
    char msg[256], missing[96], devstr[16];
    int have;

    caps->hw_type = DCV_HW_CUDA;
    /* FFmpeg's NVENC opens are not thread-safe (FF_CODEC_CAP_NOT_INIT_THREADSAFE). */
    caps->flags |= DCV_CAP_HARDWARE | DCV_CAP_NOT_THREADSAFE_OPEN;
    dcvenc_strlcpy(caps->device_name, "NVIDIA NVENC", sizeof caps->device_name);

    if (!st) {
        if (!(st = calloc(1, sizeof *st)))
            return -ENOMEM;
        ctx->priv = st;
    }
    have = dcvenc_have_any_encoder(nvenc_codecs, missing, sizeof missing);
    if (have && !st->loaded)
        load_driver(st);
    if (!have || st->fail[0]) {
        if (index > 0)
            return 0;
        dcvenc_strlcpy(caps->device_id, "none", sizeof caps->device_id);
        if (!have)
            dcvenc_caps_unavailable(caps, "%s missing from this FFmpeg build", missing);
        else
            dcvenc_caps_unavailable(caps, "%s", st->fail);
        return 1;
    }
    if (index >= (uint32_t)st->count)
        return 0;
    set_identity(st, index, caps);

    if (!st->enc_loaded)
        load_encode_lib(st);
    if (st->enc_fail[0]) {
        /* On a GPU without NVENC the library would not help: say the real reason. */
        if (gpu_lacks_nvenc(caps->device_name))
            dcvenc_caps_unavailable(caps,
                                    "this GPU has no NVENC (%s; A100/A30/H100/H200 have "
                                    "none)",
                                    caps->device_name);
        else
            dcvenc_caps_unavailable(caps, "%s", st->enc_fail);
        return 1;
    }
    snprintf(devstr, sizeof devstr, "%u", index);
    dcvenc_strlcpy(caps->hw_device, devstr, sizeof caps->hw_device);
    if (dcvenc_hwdevice_open(AV_HWDEVICE_TYPE_CUDA, devstr, NULL, &dev, msg, sizeof msg) < 0) {
        dcvenc_caps_unavailable(caps, "%s", msg);
        return 1;
    }

    /* NVENC takes system-memory frames: no hardware pixel format. */
    dcvenc_hw_try_codecs(ctx, caps, nvenc_codecs, dev, -1, caps->device_name, &tried);
    av_buffer_unref(&dev);

    if (is_consumer(caps->device_name)) {
        caps->max_sessions = GEFORCE_SESSIONS;
        caps->max_sessions_scope = DCV_SCOPE_PER_HOST;
    } else {
        caps->max_sessions_scope = DCV_SCOPE_UNLIMITED;
    }
    caps->max_sessions_source = DCV_LIMIT_VENDOR;
    dcvenc_apply_session_config(
        ctx, caps, is_consumer(caps->device_name) ? DCV_SCOPE_PER_HOST : DCV_SCOPE_PER_DEVICE);

    if (caps->n_codecs) {
        caps->flags |= DCV_CAP_AVAILABLE;
        dcvenc_log(ctx, DCV_LOG_DEBUG, "%s (%s): NVENC encodes %s (NVENC API %u.%u)",
                   caps->device_name, caps->device_id, tried.found, st->api_major,
                   st->api_minor);
    } else if (gpu_lacks_nvenc(caps->device_name)) {
        dcvenc_caps_unavailable(caps, "this GPU has no NVENC (%s; A100/A30/H100/H200 have none)",
                                caps->device_name);
    } else if (tried.first_rc == -ENOSYS) {
        /* AVERROR(ENOSYS): FFmpeg's NVENC refuses a driver whose NVENC API
         * is older than the headers it was built with (it logs "Driver
         * does not support the required nvenc API version"); the same code
         * means "unsupported device" (no NVENC block: P106, some MX). */
        dcvenc_caps_unavailable(caps,
                                "NVENC on %s: the NVIDIA driver is too old for this FFmpeg "
                                "(the driver offers NVENC API %u.%u; update the driver) or "
                                "the GPU has no NVENC (%s)",
                                caps->device_name, st->api_major, st->api_minor,
                                tried.first_err);
    } else if (tried.first_rc == -ENOMEM) {
        /* NV_ENC_ERR_OUT_OF_MEMORY (10) at session creation (hwopen.h). */
        dcvenc_caps_unavailable(caps,
                                "NVENC on %s refused a session: the GPU's session limit is in "
                                "use (%s); probe again when sessions are free",
                                caps->device_name, tried.first_err);
    } else {
        dcvenc_caps_unavailable(caps,
                                "NVENC would not encode on %s: %s (the session limit may be "
                                "in use; the driver offers NVENC API %u.%u)",
                                caps->device_name, tried.first_err, st->api_major,
                                st->api_minor);
    }
    return 1;
}

static int nvenc_hw_setup(struct dcvenc_ctx *ctx, const struct dcv_enc_params *p,
                          const struct dcv_device_caps *caps, struct dcvenc_hwsetup *out,
                          char *err, size_t errlen)
{
    (void)ctx;
    out->pool_size = 0; /* CUDA pools grow on demand */
    if (p->hw_device && dcvenc_hwdevice_type(p->hw_device) == AV_HWDEVICE_TYPE_CUDA) {
        if (!(out->device = av_buffer_ref(p->hw_device)))
            return dcvenc_err(err, errlen, -ENOMEM, "out of memory");
        out->hw_fmt = AV_PIX_FMT_CUDA;
        out->frames = p->hw_frames;
        return 0;
    }
    out->hw_fmt = -1; /* system memory; NVENC uploads itself */
    return dcvenc_hwdevice_open(AV_HWDEVICE_TYPE_CUDA, caps->hw_device, NULL, &out->device, err,
                                errlen);
}

static void nvenc_fini(struct dcvenc_ctx *ctx)
{
    free(ctx->priv); /* the driver libraries stay loaded, see above */
    ctx->priv = NULL;
}

static const struct dcvenc_desc nvenc_desc = {
    .name = "nvenc",
    .family = &dcvenc_family_nvenc,
    .codecs = nvenc_codecs,
    .probe = nvenc_probe,
    .hw_setup = nvenc_hw_setup,
    .fini = nvenc_fini,
};

DCVENC_PLUGIN(nvenc, &nvenc_desc, "H.264/HEVC/AV1 on NVIDIA GPUs through NVENC")

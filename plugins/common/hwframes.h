/*
 * Hardware frames for the encoders of every hardware plugin: the device a
 * session encodes on, the frames context its encoder is opened with, and
 * the per-frame step that turns what send_frame() got into a frame on
 * that device:
 *   - a hardware frame already on the device (the host decoded there,
 *     ABI 1.2 zero copy) is passed on as a new reference: no copy;
 *   - a software frame of the session's sw format and size is uploaded
 *     (av_hwframe_get_buffer + av_hwframe_transfer_data, props and pts
 *     copied);
 *   - anything else (a hardware frame of another device or format, a
 *     software frame of another format or size) is refused with -EINVAL.
 * One module for VA-API, QSV, CUDA (NVENC) and VideoToolbox; nothing in it
 * depends on the device type, so it is tested against a Vulkan device.
 *
 * Threading: one struct per session, used by that session's thread (the
 * ABI's data class).
 */
#ifndef DCVENC_HWFRAMES_H
#define DCVENC_HWFRAMES_H

#include <stddef.h>
#include <stdint.h>

struct AVBufferRef;
struct AVFrame;

struct dcvenc_hwframes {
    struct AVBufferRef *device; /* the device the frames live on (own reference) */
    /* The frames context the encoder gets: our own pool, or the host's
     * (the decoder's output) in zero-copy mode. */
    struct AVBufferRef *frames;
    /* Where software frames are uploaded: == frames when it is our own;
     * in zero-copy mode a pool of our own made on the first software frame,
     * because a decoder's pool may be fixed and sized for the decoder. */
    struct AVBufferRef *upload;
    int hw_fmt, sw_fmt; /* AVPixelFormat */
    int width, height;
    int pool_size;      /* initial_pool_size of pools we make (0 = dynamic) */
    uint64_t uploaded, passed;
};

/*
 * Set h up on `device` (a new reference is taken). With `frames` (may be
 * NULL) the host's frames context is used after checking it: on the same
 * device (AVHWDeviceContext), of format hw_fmt and sw format sw_fmt, at
 * least width x height (decoders align: 1088 lines for 1080). Without it a
 * pool of hw_fmt/sw_fmt/width x height with pool_size initial surfaces
 * (0: grows on demand, where the device type allows; QSV needs a fixed
 * pool) is made. 0, or a negative errno with the reason in err (-ENOMEM
 * also when the device cannot allocate the surfaces).
 */
int dcvenc_hwframes_init(struct dcvenc_hwframes *h, struct AVBufferRef *device,
                         struct AVBufferRef *frames, int hw_fmt, int sw_fmt, int width, int height,
                         int pool_size, char *err, size_t errlen);

/*
 * Make dst (blank, from av_frame_alloc or unreferenced) a frame on h's
 * device holding src. 1: src was already there and dst is a new reference
 * to it (same buffers); 0: src was uploaded into a new surface; negative
 * errno with the reason in err: -EINVAL for a frame of another device,
 * format or size, else what the upload failed with.
 */
int dcvenc_hwframes_get(struct dcvenc_hwframes *h, const struct AVFrame *src,
                        struct AVFrame *dst, char *err, size_t errlen);

/* 1 when the hardware frames context `frames` belongs to `device` (the same
 * AVHWDeviceContext), else 0; either may be NULL. */
int dcvenc_hwframes_on_device(const struct AVBufferRef *frames, const struct AVBufferRef *device);

/* The AVHWDeviceType of a device reference, or -1 (AV_HWDEVICE_TYPE_NONE
 * is 0) for NULL. */
int dcvenc_hwdevice_type(const struct AVBufferRef *device);

/* Frames an encoder may hold at once, for sizing a fixed pool: its reorder
 * delay (B-frames + 1), its asynchronous depth, its lookahead, plus the
 * frame being uploaded and a margin. b_frames/async_depth/lookahead < 0
 * mean "the encoder's default" and count as 4 / 4 / 0. */
int dcvenc_hw_pool_size(int b_frames, int async_depth, int lookahead);

void dcvenc_hwframes_free(struct dcvenc_hwframes *h);

#endif

#include "hwopen.h"

#include <errno.h>
#include <string.h>

#include <libavutil/error.h>

#include "encutil.h"

#define VT_ENCODER_NOT_AVAILABLE_NOW (-12915) /* kVTVideoEncoderNotAvailableNowErr */
#define VT_COULD_NOT_FIND_ENCODER (-12908)    /* kVTCouldNotFindVideoEncoderErr */

static int ends_with(const char *s, const char *suffix)
{
    size_t n = s ? strlen(s) : 0, m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

int dcvenc_hw_open_needs_bare(const char *encoder, int averr)
{
    return ends_with(encoder, "_nvenc") && averr == AVERROR(EINVAL);
}

int dcvenc_hw_open_errno(const char *encoder, int averr, int hint, const char *detail, char *err,
                         size_t errlen)
{
    const char *d = detail && detail[0] ? detail : "no detail";
    char ebuf[128];
    int rc;

    if (!encoder)
        encoder = "?";
    if (ends_with(encoder, "_nvenc")) {
        if (averr == AVERROR(ENOMEM))
            return dcvenc_err(err, errlen, -EBUSY,
                              "NVENC refused another encode session: the GPU's session limit is "
                              "in use (or its memory is exhausted) (%s; NVENC error 10)",
                              d);
        if (averr == AVERROR(EINVAL) && hint == 1)
            return dcvenc_err(err, errlen, -EBUSY,
                              "NVENC refused another encode session: the GPU's session limit is "
                              "in use (%s; a bare session on the same GPU was refused too: "
                              "NVENC error 21, incompatible client key)",
                              d);
        if (averr == AVERROR(ENOSYS))
            return dcvenc_err(err, errlen, -ENOTSUP,
                              "NVENC cannot do this on this GPU or driver (%s: an unsupported "
                              "device, codec or parameter, or a driver older than the NVENC API "
                              "this FFmpeg needs)",
                              d);
    } else if (ends_with(encoder, "_qsv")) {
        if (averr == AVERROR(ENOMEM))
            return dcvenc_err(err, errlen, -EBUSY,
                              "Quick Sync refused another session: the device is out of "
                              "resources (too many sessions or too little video memory) (%s)",
                              d);
    } else if (ends_with(encoder, "_vaapi")) {
        if (averr == AVERROR(ENOMEM))
            return dcvenc_err(err, errlen, -EBUSY,
                              "the VA-API driver refused another session: the device is out of "
                              "surfaces or memory (%s)",
                              d);
    } else if (ends_with(encoder, "_videotoolbox")) {
        if (hint == VT_ENCODER_NOT_AVAILABLE_NOW)
            return dcvenc_err(err, errlen, -EBUSY,
                              "VideoToolbox: the hardware encoder is not available now "
                              "(kVTVideoEncoderNotAvailableNowErr -12915: busy) (%s)",
                              d);
        if (hint == VT_COULD_NOT_FIND_ENCODER)
            return dcvenc_err(err, errlen, -ENODEV,
                              "VideoToolbox has no encoder for this "
                              "(kVTCouldNotFindVideoEncoderErr -12908) (%s)",
                              d);
    }
    rc = averr < 0 ? dcvenc_averror(averr) : -EIO;
    if (rc == -EAGAIN || rc == -ENODATA)
        rc = -EIO;
    if (detail && detail[0])
        return dcvenc_err(err, errlen, rc, "%s", detail);
    return dcvenc_err(err, errlen, rc, "%s: %s", encoder,
                      dcvenc_av_strerror(averr, ebuf, sizeof ebuf));
}

#include "encutil.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <libavutil/error.h>
#include <libavutil/pixdesc.h>

int dcvenc_strlcpy(char *dst, const char *src, size_t size)
{
    size_t n;

    if (!dst || size == 0)
        return src && *src;
    if (!src)
        src = "";
    n = strlen(src);
    if (n >= size) {
        memcpy(dst, src, size - 1);
        dst[size - 1] = '\0';
        return 1;
    }
    memcpy(dst, src, n + 1);
    return 0;
}

int dcvenc_err(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    va_list ap;

    if (err && errlen) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

int dcvenc_averror(int e)
{
    if (e >= 0)
        return e;
    if (e == AVERROR_EOF)
        return -ENODATA;
    /* An encoder's own ENODATA must not read as "fully drained". */
    if (e == AVERROR(ENODATA))
        return -EIO;
    /* On POSIX systems AVERROR(x) is -x; FFmpeg's own tags are far below. */
    if (e > -4096)
        return e;
    switch (e) {
    case AVERROR_INVALIDDATA:
    case AVERROR_OPTION_NOT_FOUND:
        return -EINVAL;
    case AVERROR_ENCODER_NOT_FOUND:
    case AVERROR_PATCHWELCOME:
        return -ENOTSUP;
    default:
        return -EIO;
    }
}

const char *dcvenc_av_strerror(int averr, char *buf, size_t size)
{
    if (!buf || size == 0)
        return "";
    if (av_strerror(averr, buf, size) < 0 || !buf[0])
        snprintf(buf, size, "error %d", averr);
    return buf;
}

int dcvenc_pix_fmt_info(int pix_fmt, unsigned *depth, int *chroma)
{
    const AVPixFmtDescriptor *d = av_pix_fmt_desc_get((enum AVPixelFormat)pix_fmt);
    int c = -1;

    if (!d || pix_fmt < 0)
        return -EINVAL;
    if (depth)
        *depth = (unsigned)d->comp[0].depth;
    if (d->flags & (AV_PIX_FMT_FLAG_HWACCEL | AV_PIX_FMT_FLAG_RGB | AV_PIX_FMT_FLAG_PAL |
                    AV_PIX_FMT_FLAG_BITSTREAM))
        c = -1;
    else if (d->nb_components <= 2)
        c = 0; /* gray (+alpha): no chroma planes at all */
    else if (d->log2_chroma_w == 1 && d->log2_chroma_h == 1)
        c = 0;
    else if (d->log2_chroma_w == 1 && d->log2_chroma_h == 0)
        c = 1;
    else if (d->log2_chroma_w == 0 && d->log2_chroma_h == 0)
        c = 2;
    if (chroma)
        *chroma = c;
    return 0;
}

const char *dcvenc_pix_fmt_name(int pix_fmt, char *buf, size_t size)
{
    const char *n = pix_fmt >= 0 ? av_get_pix_fmt_name((enum AVPixelFormat)pix_fmt) : NULL;

    if (n)
        return n;
    if (buf && size)
        snprintf(buf, size, "pix_fmt %d", pix_fmt);
    return buf && size ? buf : "?";
}

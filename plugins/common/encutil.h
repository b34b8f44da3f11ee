/*
 * Small helpers every encoder plugin uses: bounded string copies, error text
 * into caller buffers, and FFmpeg error codes translated to the ABI's
 * negative errno values. Part of libdcvenc, the plugins' private
 * convenience library (compiled with hidden visibility, so nothing here is
 * exported from a plugin).
 */
#ifndef DCVENC_UTIL_H
#define DCVENC_UTIL_H

#include <stddef.h>
#include "distconv/plugin.h"

/* Copy src into dst (size bytes, always NUL-terminated when size > 0).
 * Returns 1 when src was truncated, 0 otherwise. */
int dcvenc_strlcpy(char *dst, const char *src, size_t size);

/* snprintf into err (which may be NULL or errlen 0); returns rc so callers
 * can write `return dcvenc_err(err, errlen, -EINVAL, "...")`. */
int dcvenc_err(char *err, size_t errlen, int rc, const char *fmt, ...) DCV_PRINTF(4, 5);

/* Translate a libav* error into the ABI's convention:
 *   AVERROR(EAGAIN) -> -EAGAIN, AVERROR_EOF -> -ENODATA, AVERROR(e) -> -e,
 *   FFmpeg's own tags -> the closest errno (-EINVAL for bad data or options,
 *   -ENOTSUP for missing features, -EIO otherwise). */
int dcvenc_averror(int averr);

/* av_strerror() text for averr into buf (never empty). */
const char *dcvenc_av_strerror(int averr, char *buf, size_t size);

/* The bit depth (of the first component) and chroma class of a pixel
 * format: chroma 0 = 4:2:0 or gray, 1 = 4:2:2, 2 = 4:4:4; -1 for others
 * (packed RGB, hardware formats). Returns 0 or -EINVAL for an unknown
 * format. */
int dcvenc_pix_fmt_info(int pix_fmt, unsigned *depth, int *chroma);

/* "yuv420p" or "pix_fmt 123" for unknown values; buf only used for the latter. */
const char *dcvenc_pix_fmt_name(int pix_fmt, char *buf, size_t size);

#endif

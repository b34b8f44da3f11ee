/*
 * What an open failure of a hardware encoder means for the scheduler.
 *
 * A hardware encoder that refuses a session because its device is full
 * must answer -EBUSY (the job goes elsewhere without spending an attempt);
 * everything else keeps its ordinary errno. The plugin sees only the
 * FFmpeg error code that avcodec_open2() (or our frames pool) returned -
 * the driver's own text goes to FFmpeg's log, and the ABI forbids a plugin
 * to replace the process-wide log callback to read it - so the mapping
 * works on the codes, plus one fact the plugin can find out afterwards
 * (`hint`):
 *
 *   encoder        FFmpeg error            hint                  result
 *   *_nvenc        AVERROR(ENOMEM)         -                     -EBUSY  (1)
 *   *_nvenc        AVERROR(EINVAL)         1: a bare session on  -EBUSY  (2)
 *                                          the same GPU failed
 *                                          too
 *   *_nvenc        AVERROR(EINVAL)         0 / -1                -EINVAL (our parameters)
 *   *_nvenc        AVERROR(ENOSYS)         -                     -ENOTSUP (3)
 *   *_qsv          AVERROR(ENOMEM)         -                     -EBUSY  (4)
 *   *_vaapi        AVERROR(ENOMEM)         -                     -EBUSY  (5)
 *   *_videotoolbox AVERROR_EXTERNAL        OSStatus -12915       -EBUSY  (6)
 *   *_videotoolbox AVERROR_EXTERNAL        OSStatus -12908       -ENODEV
 *   anything else  AVERROR(e)              -                     -e (EAGAIN, EOF: -EIO)
 *
 * (1) NVENC's NV_ENC_ERR_OUT_OF_MEMORY (10) from nvEncOpenEncodeSessionEx,
 *     which FFmpeg's nvenc.c maps to AVERROR(ENOMEM): the consumer-GPU
 *     session cap on older drivers, or video memory exhausted by other
 *     work; both are "this GPU is full now". The plugin always hands
 *     NVENC a CUDA device, so the session error comes back as itself
 *     (without one, FFmpeg tries every GPU and answers AVERROR_EXTERNAL
 *     "no capable devices" for any failure).
 * (2) NV_ENC_ERR_INCOMPATIBLE_CLIENT_KEY (21), the cap on drivers 550+,
 *     maps to AVERROR(EINVAL) like a bad parameter does; the plugin tells
 *     them apart by opening a bare 256x144 session on the same GPU with
 *     default options: refused too -> the limit, opened -> our parameters.
 * (3) NV_ENC_ERR_UNSUPPORTED_DEVICE / _UNSUPPORTED_PARAM / _UNIMPLEMENTED,
 *     or a driver older than the NVENC API this FFmpeg was built with.
 * (4) MFX_ERR_MEMORY_ALLOC (FFmpeg's qsv.c: ENOMEM) at session init, or a
 *     QSV surface pool that could not be allocated.
 * (5) A VA surface pool that could not be allocated (vaCreateSurfaces);
 *     vaCreateContext failures come back as EIO and cannot be told apart.
 * (6) kVTVideoEncoderNotAvailableNowErr; FFmpeg returns AVERROR_EXTERNAL
 *     for every VTCompressionSessionCreate failure, so the VideoToolbox
 *     plugin asks VideoToolbox itself for the status (macOS only).
 */
#ifndef DCVENC_HWOPEN_H
#define DCVENC_HWOPEN_H

#include <stddef.h>

/*
 * The ABI errno for `encoder` failing to open with FFmpeg error averr, and
 * the message into err: "<what it means> (<detail>)"; detail (may be NULL)
 * is the step's own text ("cannot open h264_nvenc for 1920x1080 nv12:
 * Cannot allocate memory"). hint: see the table (-1 / 0 when unknown).
 */
int dcvenc_hw_open_errno(const char *encoder, int averr, int hint, const char *detail, char *err,
                         size_t errlen);

/* 1 when dcvenc_hw_open_errno() needs the bare-session hint for this
 * failure (NVENC's EINVAL), else 0. */
int dcvenc_hw_open_needs_bare(const char *encoder, int averr);

#endif

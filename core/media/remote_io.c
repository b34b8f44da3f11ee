/*
 * AVIOContext over a data-plane range read: see remote_io.h.
 *
 * FFmpeg keeps its own position; we keep ours too (seek may be asked for
 * without a read in between) and read with pread semantics, so a seek is
 * free until the next read, where the stream decides whether it is within
 * its read-ahead or a new range.
 */
#include "media/remote_io.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavformat/avio.h>
#include <libavutil/error.h>
#include <libavutil/mem.h>

#include "errbuf.h"
#include "xfer/client.h"

#define DEFAULT_BUFFER (256u * 1024u)

struct rio {
    struct dcv_xstream *s;
    int64_t pos;
    char error[512];
};

static int rio_read(void *opaque, uint8_t *buf, int size)
{
    struct rio *r = opaque;
    if (size <= 0)
        return 0;
    int64_t n = dcv_xstream_pread(r->s, buf, (size_t)size, r->pos, r->error, sizeof(r->error));
    if (n < 0) {
        /* -EREMOTEIO etc.: FFmpeg reports AVERROR(e); the text stays here */
        return AVERROR((int)-n);
    }
    if (n == 0)
        return AVERROR_EOF;
    r->pos += n;
    return (int)n;
}

static int64_t rio_seek(void *opaque, int64_t offset, int whence)
{
    struct rio *r = opaque;
    int64_t size = dcv_xstream_size(r->s), to;

    if (whence & AVSEEK_SIZE)
        return size;
    switch (whence & ~AVSEEK_FORCE) {
    case SEEK_SET:
        to = offset;
        break;
    case SEEK_CUR:
        to = r->pos + offset;
        break;
    case SEEK_END:
        to = size + offset;
        break;
    default:
        return AVERROR(EINVAL);
    }
    if (to < 0)
        return AVERROR(EINVAL);
    r->pos = to;
    return to;
}

int dcv_remote_avio_open(struct dcv_xstream *s, size_t buffer_size, struct AVIOContext **out,
                         char *err, size_t errlen)
{
    if (!out)
        return dcv_err(err, errlen, -EINVAL, "remote io: missing output");
    *out = NULL;
    if (!s)
        return dcv_err(err, errlen, -EINVAL, "remote io: stream required");
    if (buffer_size == 0)
        buffer_size = DEFAULT_BUFFER;
    if (buffer_size > (1u << 30))
        return dcv_err(err, errlen, -EINVAL, "remote io: buffer of %zu bytes is too large",
                       buffer_size);
    struct rio *r = calloc(1, sizeof(*r));
    uint8_t *buf = av_malloc(buffer_size);
    if (!r || !buf) {
        free(r);
        av_free(buf);
        return dcv_err(err, errlen, -ENOMEM, "remote io: out of memory");
    }
    r->s = s;
    AVIOContext *io = avio_alloc_context(buf, (int)buffer_size, 0, r, rio_read, NULL, rio_seek);
    if (!io) {
        free(r);
        av_free(buf);
        return dcv_err(err, errlen, -ENOMEM, "remote io: out of memory");
    }
    io->seekable = AVIO_SEEKABLE_NORMAL;
    *out = io;
    return 0;
}

const char *dcv_remote_avio_error(const struct AVIOContext *io)
{
    const struct rio *r = io ? io->opaque : NULL;
    return r ? r->error : "";
}

void dcv_remote_avio_close(struct AVIOContext **iop)
{
    AVIOContext *io = iop ? *iop : NULL;
    if (!io)
        return;
    free(io->opaque);
    /* FFmpeg may have replaced the buffer (it reallocates when probing) */
    av_freep(&io->buffer);
    avio_context_free(&io);
    *iop = NULL;
}

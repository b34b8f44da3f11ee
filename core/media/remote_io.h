/*
 * An AVIOContext that reads a file the coordinator holds through the data
 * plane (xfer/client.h dcv_xstream): seekable (AVSEEK_SIZE answered), so
 * demuxers that jump around, such as MP4 with its index at the end, work on
 * a worker that never stores the input.
 */
#ifndef DCV_MEDIA_REMOTE_IO_H
#define DCV_MEDIA_REMOTE_IO_H

#include <stddef.h>

struct AVIOContext;
struct dcv_xstream;

/* The stream is borrowed and must outlive the context. buffer_size 0 =
 * 256 KiB. Read errors reach FFmpeg as AVERROR(errno) and their text is
 * kept for dcv_remote_avio_error(). */
int dcv_remote_avio_open(struct dcv_xstream *s, size_t buffer_size, struct AVIOContext **out,
                         char *err, size_t errlen);
/* The last read error's text ("" when none). */
const char *dcv_remote_avio_error(const struct AVIOContext *io);
void dcv_remote_avio_close(struct AVIOContext **io);

#endif

/*
 * What FFmpeg may open for a job's input (docs/operations.md, distconvctl: URL inputs).
 *
 * URL inputs are opened with protocol_whitelist = the coordinator's allowed
 * protocols (expanded, core/urlpolicy.h) and protocol_blacklist = the ones
 * that read local files, so nested opens (HLS segments, redirects) stay
 * inside the list. File inputs (a path, a copied or streamed upload) must
 * not be playlists: an uploaded .m3u8 or ffconcat file naming
 * file:///etc/shadow would make the worker read its own files into the
 * output, so those demuxers are refused for them.
 */
#ifndef DCV_MEDIA_INPOLICY_H
#define DCV_MEDIA_INPOLICY_H

#include <stddef.h>

struct AVDictionary;
struct AVFormatContext;

/* Options for avformat_open_input: with a whitelist (a URL input) the
 * whitelist and the blacklist; without, only the blacklist minus "file".
 * 0 or -ENOMEM; free with av_dict_free. */
int dcv_media_input_opts(const char *protocol_whitelist, struct AVDictionary **opts);

/* After avformat_open_input: refuse demuxers that open further files when
 * the input is not a URL. 0, or -EPERM with the reason in err. */
int dcv_media_check_input_format(const struct AVFormatContext *ic, int is_url, char *err,
                                 size_t errlen);

#endif

/* Input open policy (inpolicy.h). */
#include "media/inpolicy.h"

#include <errno.h>
#include <string.h>

#include <libavformat/avformat.h>
#include <libavutil/dict.h>

#include "errbuf.h"
#include "urlpolicy.h"

/* Demuxers whose header names other files or URLs to open. */
static const char *const playlist_demuxers[] = {
    "hls", "dash", "concat", "webm_dash_manifest",
};

int dcv_media_input_opts(const char *protocol_whitelist, AVDictionary **opts)
{
    char black[256];
    const char *b = dcv_url_denied_list();

    *opts = NULL;
    if (protocol_whitelist && *protocol_whitelist) {
        if (av_dict_set(opts, "protocol_whitelist", protocol_whitelist, 0) < 0 ||
            av_dict_set(opts, "protocol_blacklist", b, 0) < 0)
            goto nomem;
        return 0;
    }
    /* A file input is opened by path ("file") or through our own AVIO:
     * everything else on the deny list stays closed. */
    if (strncmp(b, "file,", 5) == 0)
        b += 5;
    snprintf(black, sizeof black, "%s", b);
    if (av_dict_set(opts, "protocol_blacklist", black, 0) < 0)
        goto nomem;
    return 0;
nomem:
    av_dict_free(opts);
    return -ENOMEM;
}

int dcv_media_check_input_format(const AVFormatContext *ic, int is_url, char *err,
                                 size_t errlen)
{
    const char *name = ic && ic->iformat ? ic->iformat->name : "";

    if (is_url)
        return 0;
    for (size_t i = 0; i < sizeof playlist_demuxers / sizeof playlist_demuxers[0]; i++) {
        size_t l = strlen(playlist_demuxers[i]);
        /* iformat names may be lists ("mov,mp4,m4a,..."): match an element */
        for (const char *p = name; *p;) {
            const char *e = strchr(p, ',');
            size_t n = e ? (size_t)(e - p) : strlen(p);
            if (n == l && strncmp(p, playlist_demuxers[i], l) == 0)
                return dcv_err(err, errlen, -EPERM,
                               "input is a %s playlist/list file: those name other files and "
                               "are accepted only as URL inputs", playlist_demuxers[i]);
            p += n + (e ? 1 : 0);
        }
    }
    return 0;
}

/*
 * idet counts for one stream (see idet.h): buffer -> idet -> buffersink,
 * built for the first frame; each frame out of idet carries the filter's
 * verdict on it in its metadata.
 */
#include "media/idet.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavfilter/avfilter.h>
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
#include <libavutil/dict.h>

#include "errbuf.h"

struct dcv_idet {
    AVFilterGraph *graph;
    AVFilterContext *src, *sink;
    AVFrame *out;
    int w, h, fmt;
    struct dcv_idet_counts c;
};

int dcv_idet_new(struct dcv_idet **d)
{
    *d = calloc(1, sizeof **d);
    if (!*d)
        return -ENOMEM;
    (*d)->out = av_frame_alloc();
    if (!(*d)->out) {
        free(*d);
        *d = NULL;
        return -ENOMEM;
    }
    return 0;
}

void dcv_idet_free(struct dcv_idet **d)
{
    if (!*d)
        return;
    avfilter_graph_free(&(*d)->graph);
    av_frame_free(&(*d)->out);
    free(*d);
    *d = NULL;
}

static int fail_av(int r, char *err, size_t errlen, const char *what)
{
    char e[AV_ERROR_MAX_STRING_SIZE];
    av_strerror(r, e, sizeof e);
    return dcv_err(err, errlen, r == AVERROR(ENOMEM) ? -ENOMEM : -EINVAL, "idet: %s: %s", what,
                   e);
}

static int build(struct dcv_idet *d, const AVFrame *f, AVRational tb, char *err, size_t errlen)
{
    AVFilterContext *idet;
    char args[256];
    int r;

    d->graph = avfilter_graph_alloc();
    if (!d->graph)
        return dcv_err(err, errlen, -ENOMEM, "out of memory");
    d->graph->nb_threads = 1; /* a side look: leave the cores to the decoder */
    snprintf(args, sizeof args, "video_size=%dx%d:pix_fmt=%d:time_base=%d/%d:pixel_aspect=%d/%d",
             f->width, f->height, f->format, tb.num, tb.den > 0 ? tb.den : 1,
             f->sample_aspect_ratio.num, f->sample_aspect_ratio.den > 0
                                             ? f->sample_aspect_ratio.den : 1);
    if ((r = avfilter_graph_create_filter(&d->src, avfilter_get_by_name("buffer"), "in", args,
                                          NULL, d->graph)) < 0)
        return fail_av(r, err, errlen, "source");
    if ((r = avfilter_graph_create_filter(&idet, avfilter_get_by_name("idet"), "idet", NULL, NULL,
                                          d->graph)) < 0)
        return fail_av(r, err, errlen, "filter");
    if ((r = avfilter_graph_create_filter(&d->sink, avfilter_get_by_name("buffersink"), "out",
                                          NULL, NULL, d->graph)) < 0)
        return fail_av(r, err, errlen, "sink");
    if ((r = avfilter_link(d->src, 0, idet, 0)) < 0 || (r = avfilter_link(idet, 0, d->sink, 0)) < 0)
        return fail_av(r, err, errlen, "link");
    /* idet takes the planar YUV and gray formats: anything else gets a
     * conversion the graph inserts itself. */
    if ((r = avfilter_graph_config(d->graph, NULL)) < 0)
        return fail_av(r, err, errlen, "configure");
    d->w = f->width;
    d->h = f->height;
    d->fmt = f->format;
    return 0;
}

static void count(struct dcv_idet *d, const AVFrame *f)
{
    const AVDictionaryEntry *e = av_dict_get(f->metadata, "lavfi.idet.multiple.current_frame",
                                             NULL, 0);
    if (!e)
        return;
    if (strcmp(e->value, "tff") == 0)
        d->c.tff++;
    else if (strcmp(e->value, "bff") == 0)
        d->c.bff++;
    else if (strcmp(e->value, "progressive") == 0)
        d->c.progressive++;
    else
        d->c.undetermined++;
}

static int drain(struct dcv_idet *d, char *err, size_t errlen)
{
    for (;;) {
        int r = av_buffersink_get_frame(d->sink, d->out);
        if (r == AVERROR(EAGAIN) || r == AVERROR_EOF)
            return 0;
        if (r < 0)
            return fail_av(r, err, errlen, "run");
        count(d, d->out);
        av_frame_unref(d->out);
    }
}

int dcv_idet_frame(struct dcv_idet *d, const AVFrame *f, AVRational tb, char *err,
                   size_t errlen)
{
    int r;

    if (!d->graph && (r = build(d, f, tb, err, errlen)) < 0)
        return r;
    if (f->width != d->w || f->height != d->h || f->format != d->fmt)
        return 0;
    /* KEEP_REF: the caller's frame stays the caller's. */
    r = av_buffersrc_add_frame_flags(d->src, (AVFrame *)f, AV_BUFFERSRC_FLAG_KEEP_REF);
    if (r < 0)
        return fail_av(r, err, errlen, "feed");
    return drain(d, err, errlen);
}

int dcv_idet_finish(struct dcv_idet *d, struct dcv_idet_counts *c, char *err, size_t errlen)
{
    int r = 0;

    if (d->graph) {
        r = av_buffersrc_add_frame_flags(d->src, NULL, 0);
        r = r < 0 ? fail_av(r, err, errlen, "flush") : drain(d, err, errlen);
    }
    *c = d->c;
    return r;
}

int dcv_idet_verdict(const struct dcv_idet_counts *c)
{
    int64_t il = c->tff + c->bff;

    if (il >= DCV_IDET_MIN_FRAMES && il > 2 * c->progressive)
        return c->tff >= c->bff ? 'T' : 'B';
    if (c->progressive >= DCV_IDET_MIN_FRAMES && c->progressive > 2 * il)
        return 'P';
    return '?';
}

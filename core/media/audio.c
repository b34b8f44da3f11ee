/*
 * Audio re-encode (aac, opus) of one input stream: decode -> filter ->
 * libavcodec encoder.
 *
 * Owns the encoder's parameters (the nearest supported sample rate and
 * channel layout), the filter graph that converts to them and trims to the
 * time range (rebuilt when the input format changes mid-stream), and the
 * decode/encode loops. Copied audio never comes here; pipeline.c sends it
 * straight to the muxer.
 */
#include "media/tc.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include <libavcodec/avcodec.h>
#include <libavfilter/avfilter.h>
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
#include <libavformat/avformat.h>
#include <libavutil/avstring.h>
#include <libavutil/channel_layout.h>

#include "log.h"

/* ------------------------------------------------------------------------ */
/* Audio                                                                     */
/* ------------------------------------------------------------------------ */

static const AVCodec *audio_encoder(enum dcv_audio_mode m)
{
    const AVCodec *c = NULL;

    if (m == DCV_AUDIO_AAC)
        c = avcodec_find_encoder_by_name("aac");
    else if (m == DCV_AUDIO_OPUS)
        c = avcodec_find_encoder_by_name("libopus");
    if (!c)
        c = avcodec_find_encoder(m == DCV_AUDIO_OPUS ? AV_CODEC_ID_OPUS : AV_CODEC_ID_AAC);
    return c;
}

static int pick_rate(const AVCodec *c, int src)
{
    const int *r = c->supported_samplerates;
    int best = 0;

    if (!r)
        return src;
    for (; *r; r++) {
        if (*r == src)
            return src;
        /* The smallest rate above the source loses nothing; otherwise the
         * largest one below it. */
        if (*r > src && (best < src || *r < best))
            best = *r;
        else if (*r < src && best < src && *r > best)
            best = *r;
    }
    return best ? best : 48000;
}

static int pick_layout(const AVCodec *c, const AVChannelLayout *src, AVChannelLayout *out)
{
    AVChannelLayout in = { 0 };
    int ret;

    if (src->order == AV_CHANNEL_ORDER_NATIVE || src->order == AV_CHANNEL_ORDER_AMBISONIC)
        ret = av_channel_layout_copy(&in, src);
    else {
        av_channel_layout_default(&in, src->nb_channels > 0 ? src->nb_channels : 2);
        ret = 0;
    }
    if (ret < 0)
        return ret;
    if (c->ch_layouts) {
        const AVChannelLayout *l, *same_count = NULL;
        for (l = c->ch_layouts; l->nb_channels; l++) {
            if (!av_channel_layout_compare(l, &in)) {
                av_channel_layout_uninit(&in);
                return av_channel_layout_copy(out, l);
            }
            if (!same_count && l->nb_channels == in.nb_channels)
                same_count = l;
        }
        av_channel_layout_uninit(&in);
        if (same_count)
            return av_channel_layout_copy(out, same_count);
        /* Downmix what the encoder cannot take to stereo. */
        av_channel_layout_default(out, 2);
        return 0;
    }
    if (in.nb_channels > 8) {
        av_channel_layout_uninit(&in);
        av_channel_layout_default(out, 2);
        return 0;
    }
    *out = in;
    return 0;
}

int dcv_tc_setup_audio_encode(struct tc *t, struct sstate *s, unsigned idx,
                              enum dcv_audio_mode mode)
{
    const AVCodecParameters *par = s->ist->codecpar;
    const AVCodec *dc = avcodec_find_decoder(par->codec_id);
    const AVCodec *ec = audio_encoder(mode);
    AVCodecContext *enc;
    int ret;

    if (!dc)
        return dcv_tc_fail(t, -EINVAL, "input '%s': no decoder for audio stream #%u (%s)",
                           t->in_name, idx, avcodec_get_name(par->codec_id));
    if (!ec)
        return dcv_tc_fail(t, -ENOENT, "this FFmpeg has no %s encoder",
                           mode == DCV_AUDIO_OPUS ? "opus" : "aac");
    if (par->sample_rate <= 0 || par->ch_layout.nb_channels <= 0)
        return dcv_tc_fail(t, -EINVAL,
                           "input '%s': audio stream #%u has no sample rate or channels",
                           t->in_name, idx);
    s->dec = avcodec_alloc_context3(dc);
    if (!s->dec)
        return dcv_tc_fail(t, -ENOMEM, "out of memory");
    ret = avcodec_parameters_to_context(s->dec, par);
    if (ret >= 0) {
        s->dec->pkt_timebase = s->ist->time_base;
        ret = avcodec_open2(s->dec, dc, NULL);
    }
    if (ret < 0)
        return dcv_tc_fail_av(t, ret, "open %s decoder for audio stream #%u", dc->name, idx);

    enc = s->enc = avcodec_alloc_context3(ec);
    if (!enc)
        return dcv_tc_fail(t, -ENOMEM, "out of memory");
    enc->sample_rate = pick_rate(ec, par->sample_rate);
    ret = pick_layout(ec, &par->ch_layout, &enc->ch_layout);
    if (ret < 0)
        return dcv_tc_fail(t, -ENOMEM, "out of memory");
    enc->sample_fmt = ec->sample_fmts ? ec->sample_fmts[0] : s->dec->sample_fmt;
    if (ec->sample_fmts)
        for (const enum AVSampleFormat *f = ec->sample_fmts; *f != AV_SAMPLE_FMT_NONE; f++)
            if (*f == s->dec->sample_fmt)
                enc->sample_fmt = *f;
    if (t->prof->audio_bitrate_kbps)
        enc->bit_rate = (int64_t)t->prof->audio_bitrate_kbps * 1000;
    else
        enc->bit_rate = (int64_t)(mode == DCV_AUDIO_OPUS ? 48000 : 64000) *
                        (enc->ch_layout.nb_channels > 2 ? enc->ch_layout.nb_channels : 2);
    enc->time_base = (AVRational){ 1, enc->sample_rate };
    if (t->ofmt->flags & AVFMT_GLOBALHEADER)
        enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    if (ec->capabilities & AV_CODEC_CAP_EXPERIMENTAL)
        enc->strict_std_compliance = FF_COMPLIANCE_EXPERIMENTAL;
    ret = avcodec_open2(enc, ec, NULL);
    if (ret < 0)
        return dcv_tc_fail_av(t, ret, "open %s encoder for audio stream #%u", ec->name, idx);
    s->enc_name = ec->name;
    ret = avcodec_parameters_from_context(s->ost->codecpar, enc);
    if (ret < 0)
        return dcv_tc_fail_av(t, ret, "audio stream #%u parameters", idx);
    s->ost->time_base = enc->time_base;
    s->next_pts = AV_NOPTS_VALUE;
    s->g_fmt = -1;
    return 0;
}

static int build_audio_graph(struct tc *t, struct sstate *s, const AVFrame *f, unsigned idx)
{
    AVChannelLayout l = { 0 };
    enum link_step step;
    char args[512], desc[256], outl[128], flt[512];
    const AVFilter *abuf = avfilter_get_by_name("abuffer");
    const AVFilter *asink = avfilter_get_by_name("abuffersink");
    int ret;

    avfilter_graph_free(&s->graph);
    s->graph = avfilter_graph_alloc();
    if (!s->graph)
        return dcv_tc_fail(t, -ENOMEM, "out of memory");
    s->graph->nb_threads = 1; /* audio filters gain nothing from threads */
    if (f->ch_layout.order == AV_CHANNEL_ORDER_UNSPEC || f->ch_layout.nb_channels <= 0)
        av_channel_layout_default(&l, f->ch_layout.nb_channels > 0 ? f->ch_layout.nb_channels : 2);
    else if (av_channel_layout_copy(&l, &f->ch_layout) < 0)
        return dcv_tc_fail(t, -ENOMEM, "out of memory");
    av_channel_layout_describe(&l, desc, sizeof(desc));
    av_channel_layout_uninit(&l);
    snprintf(args, sizeof(args), "time_base=1/%d:sample_rate=%d:sample_fmt=%s:channel_layout=%s",
             f->sample_rate, f->sample_rate,
             av_get_sample_fmt_name((enum AVSampleFormat)f->format), desc);
    ret = avfilter_graph_create_filter(&s->src, abuf, "in", args, NULL, s->graph);
    if (ret < 0)
        return dcv_tc_fail_av(t, ret, "audio stream #%u: filter source (%s)", idx, args);
    ret = avfilter_graph_create_filter(&s->sink, asink, "out", NULL, NULL, s->graph);
    if (ret < 0)
        return dcv_tc_fail_av(t, ret, "audio stream #%u: filter sink", idx);

    av_channel_layout_describe(&s->enc->ch_layout, outl, sizeof(outl));
    flt[0] = '\0';
    if (t->start_abs_us != INT64_MIN || t->end_abs_us != INT64_MAX) {
        /* Timestamps are already shifted so the range starts at 0. */
        if (t->end_abs_us != INT64_MAX)
            snprintf(flt, sizeof(flt), "atrim=start=0:end=%" PRId64 "us,",
                     t->end_abs_us - t->offset_us);
        else
            snprintf(flt, sizeof(flt), "atrim=start=0,");
    }
    av_strlcatf(flt, sizeof(flt), "aformat=sample_fmts=%s:sample_rates=%d:channel_layouts=%s",
                av_get_sample_fmt_name(s->enc->sample_fmt), s->enc->sample_rate, outl);

    ret = dcv_tc_link_graph(s->graph, s->src, s->sink, flt, &step);
    if (ret < 0)
        return step == LINK_ALLOC ? dcv_tc_fail(t, -ENOMEM, "out of memory")
               : step == LINK_PARSE
                   ? dcv_tc_fail_av(t, ret, "audio stream #%u: filter '%s'", idx, flt)
                   : dcv_tc_fail_av(t, ret, "audio stream #%u: configure filter '%s'", idx, flt);
    if (!(s->enc->codec->capabilities & AV_CODEC_CAP_VARIABLE_FRAME_SIZE) && s->enc->frame_size)
        av_buffersink_set_frame_size(s->sink, (unsigned)s->enc->frame_size);
    s->g_fmt = f->format;
    s->g_rate = f->sample_rate;
    av_channel_layout_uninit(&s->g_layout);
    if (av_channel_layout_copy(&s->g_layout, &f->ch_layout) < 0)
        return dcv_tc_fail(t, -ENOMEM, "out of memory");
    return 0;
}

static int audio_drain_encoder(struct tc *t, struct sstate *s, unsigned idx)
{
    AVPacket *pkt = av_packet_alloc();
    int ret;

    if (!pkt)
        return dcv_tc_fail(t, -ENOMEM, "out of memory");
    for (;;) {
        ret = avcodec_receive_packet(s->enc, pkt);
        if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) {
            ret = 0;
            break;
        }
        if (ret < 0) {
            ret = dcv_tc_fail_av(t, ret, "encode audio stream #%u", idx);
            break;
        }
        ret = dcv_tc_mux(t, pkt, s->enc->time_base, s->ost->index);
        if (ret < 0)
            break;
    }
    av_packet_free(&pkt);
    return ret;
}

static int audio_encode(struct tc *t, struct sstate *s, const AVFrame *f, unsigned idx)
{
    int ret = avcodec_send_frame(s->enc, f);
    if (ret < 0 && ret != AVERROR_EOF)
        return dcv_tc_fail_av(t, ret, "encode audio stream #%u", idx);
    return audio_drain_encoder(t, s, idx);
}

static int audio_pull(struct tc *t, struct sstate *s, unsigned idx)
{
    AVFrame *f = av_frame_alloc();
    int ret;

    if (!f)
        return dcv_tc_fail(t, -ENOMEM, "out of memory");
    for (;;) {
        ret = av_buffersink_get_frame(s->sink, f);
        if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) {
            ret = 0;
            break;
        }
        if (ret < 0) {
            ret = dcv_tc_fail_av(t, ret, "filter audio stream #%u", idx);
            break;
        }
        ret = audio_encode(t, s, f, idx);
        av_frame_unref(f);
        if (ret < 0)
            break;
    }
    av_frame_free(&f);
    return ret;
}

static int audio_frame(struct tc *t, struct sstate *s, AVFrame *f, unsigned idx)
{
    int64_t pts = f->best_effort_timestamp;
    int ret;

    if (f->sample_rate <= 0)
        return 0;
    if (pts != AV_NOPTS_VALUE)
        pts = av_rescale_q(pts - s->off, s->ist->time_base, (AVRational){ 1, f->sample_rate });
    else if (s->next_pts != AV_NOPTS_VALUE)
        pts = s->next_pts;
    else
        pts = 0;
    s->next_pts = pts + f->nb_samples;
    f->pts = pts;
    if (!s->graph || f->format != s->g_fmt || f->sample_rate != s->g_rate ||
        av_channel_layout_compare(&f->ch_layout, &s->g_layout)) {
        if (s->graph) {
            /* Full frames already in the old graph still go out; a partial
             * encoder frame at the change is dropped (a few ms). */
            ret = audio_pull(t, s, idx);
            if (ret < 0)
                return ret;
            dcv_log(DCV_LOG_INFO, LOG_COMP, "audio stream #%u changed format mid-stream", idx);
        }
        ret = build_audio_graph(t, s, f, idx);
        if (ret < 0)
            return ret;
    }
    ret = av_buffersrc_add_frame_flags(s->src, f, 0);
    if (ret < 0)
        return dcv_tc_fail_av(t, ret, "filter audio stream #%u", idx);
    return audio_pull(t, s, idx);
}

/* Sends one packet (NULL: flush) to an audio decoder and on through. */
int dcv_tc_audio_decode(struct tc *t, struct sstate *s, const AVPacket *pkt, unsigned idx)
{
    AVFrame *f;
    int ret = avcodec_send_packet(s->dec, pkt);

    if (ret < 0 && ret != AVERROR_EOF) {
        if (ret == AVERROR(ENOMEM))
            return dcv_tc_fail(t, -ENOMEM, "out of memory");
        s->errors++;
        if (++s->consecutive_errors >= MAX_CONSECUTIVE_DECODE_ERRORS)
            return dcv_tc_fail_av(t, ret, "decode audio stream #%u of '%s' (%d errors in a row)",
                                  idx, t->in_name, s->consecutive_errors);
        return 0;
    }
    f = av_frame_alloc();
    if (!f)
        return dcv_tc_fail(t, -ENOMEM, "out of memory");
    for (;;) {
        ret = avcodec_receive_frame(s->dec, f);
        if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) {
            ret = 0;
            break;
        }
        if (ret < 0) {
            s->errors++;
            if (++s->consecutive_errors >= MAX_CONSECUTIVE_DECODE_ERRORS) {
                ret = dcv_tc_fail_av(t, ret, "decode audio stream #%u of '%s'", idx, t->in_name);
                break;
            }
            continue;
        }
        s->consecutive_errors = 0;
        ret = audio_frame(t, s, f, idx);
        av_frame_unref(f);
        if (ret < 0)
            break;
    }
    av_frame_free(&f);
    return ret;
}

int dcv_tc_audio_flush(struct tc *t, struct sstate *s, unsigned idx)
{
    int ret = dcv_tc_audio_decode(t, s, NULL, idx);
    if (ret < 0)
        return ret;
    if (s->graph) {
        ret = av_buffersrc_add_frame_flags(s->src, NULL, 0);
        if (ret < 0)
            return dcv_tc_fail_av(t, ret, "filter audio stream #%u", idx);
        ret = audio_pull(t, s, idx);
        if (ret < 0)
            return ret;
    }
    return audio_encode(t, s, NULL, idx);
}

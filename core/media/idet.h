/*
 * Telling interlaced content from progressive by looking at the pictures:
 * FFmpeg's idet filter, which compares each frame's fields with its
 * neighbours'. The pipeline uses it on a source whose stream does not say
 * its field order (media/interlace.c), verification on an output flagged
 * progressive, to catch combing (media/verify.c).
 *
 * One dcv_idet per stream: frames go in one by one (by reference, not
 * kept), the counts come out at the end. Frames of another size than the
 * first are left out (the graph is built for the first).
 */
#ifndef DCV_MEDIA_IDET_H
#define DCV_MEDIA_IDET_H

#include <stddef.h>
#include <stdint.h>

#include <libavutil/frame.h>
#include <libavutil/rational.h>

struct dcv_idet;

struct dcv_idet_counts {
    int64_t tff, bff, progressive, undetermined; /* idet's multi-frame verdicts */
};

/* 0 or -ENOMEM. */
int dcv_idet_new(struct dcv_idet **d);
/* Look at one frame (tb: its pts' time base). 0, or a negative errno with
 * the reason in err (the graph could not be built or run). */
int dcv_idet_frame(struct dcv_idet *d, const AVFrame *f, AVRational tb, char *err,
                   size_t errlen);
/* Flush the filter and give the counts. 0 or a negative errno as above. */
int dcv_idet_finish(struct dcv_idet *d, struct dcv_idet_counts *c, char *err, size_t errlen);
void dcv_idet_free(struct dcv_idet **d);

/* The verdict on counts: 'T' (interlaced, top field first), 'B' (bottom
 * first), 'P' (progressive) or '?' (too few frames told apart to say).
 * Interlaced needs a clear majority: more than twice as many interlaced
 * frames as progressive ones, and at least DCV_IDET_MIN_FRAMES of them. */
#define DCV_IDET_MIN_FRAMES 5
int dcv_idet_verdict(const struct dcv_idet_counts *c);

#endif

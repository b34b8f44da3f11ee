/*
 * distconvctl's human output: aligned tables on stdout and progress on
 * stderr (a redrawn bar on a terminal, a plain line per 10 % otherwise,
 * nothing with -q). Machine output (--json) bypasses all of this.
 */
#ifndef DCV_CLI_UI_H
#define DCV_CLI_UI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- tables ---------------------------------------------------------------- */

#define DCV_TABLE_MAX_COLS 8

struct dcv_table {
    unsigned ncols;
    size_t nrows, cap; /* rows including the header */
    char **cells;      /* nrows x ncols, owned */
    unsigned right;    /* bit i: column i is right-aligned (numbers) */
};

/* header: ncols names. 0 or -ENOMEM. */
int dcv_table_init(struct dcv_table *t, unsigned ncols, const char *const *header,
                   unsigned right_mask);
/* One row of ncols cells (NULL = ""); copied. 0 or -ENOMEM. */
int dcv_table_add(struct dcv_table *t, const char *const *cells);
/* Columns padded to the widest cell (UTF-8 aware), two spaces apart; the
 * last column is not padded. */
void dcv_table_print(const struct dcv_table *t, FILE *f);
void dcv_table_free(struct dcv_table *t);

/* ---- formatting ------------------------------------------------------------ */

/* 1536 -> "1.5 KiB"; negative -> "-". */
void dcv_fmt_bytes(char *buf, size_t len, int64_t bytes);
/* A duration in ms as "42s", "3m12s", "2h05m", "4d03h". */
void dcv_fmt_age(char *buf, size_t len, int64_t ms);
/* Unix ms as local "YYYY-MM-DD HH:MM:SS"; 0 -> "-". */
void dcv_fmt_time(char *buf, size_t len, int64_t unix_ms);
int64_t dcv_now_unix_ms(void);

/* ---- progress -------------------------------------------------------------- */

enum dcv_progress_style { DCV_PROGRESS_NONE = 0, DCV_PROGRESS_PLAIN, DCV_PROGRESS_BAR };

struct dcv_progress_line {
    enum dcv_progress_style style;
    char label[32];
    int64_t t0_ms;     /* start, for the rate */
    int64_t last_draw; /* bar: redraw at most every 100 ms */
    int last_decile;   /* plain: the last 10 % step printed */
    int drawn;         /* a bar is on screen (needs a newline at the end) */
};

/* Bar when stderr is a terminal, plain lines otherwise, nothing when quiet. */
enum dcv_progress_style dcv_progress_style_auto(int quiet);
void dcv_progress_begin(struct dcv_progress_line *p, enum dcv_progress_style style,
                        const char *label);
/* Bytes done of total (total < 0: unknown). */
void dcv_progress_bytes(struct dcv_progress_line *p, int64_t done, int64_t total);
/* A percentage with a short note ("encode 42 frames/s"). */
void dcv_progress_pct(struct dcv_progress_line *p, double pct, const char *note);
/* Ends the line (final redraw with done = total when ok). */
/* A line of its own (plain) or the bar's text (terminal) without a
 * percentage, drawn at once: why a queued job waits. */
void dcv_progress_note(struct dcv_progress_line *p, const char *note);
void dcv_progress_end(struct dcv_progress_line *p);

#endif

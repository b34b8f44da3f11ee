/*
 * Tables, formatting and progress lines for distconvctl: see ui.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "ui.h"

/* ---- tables ---------------------------------------------------------------- */

int dcv_table_init(struct dcv_table *t, unsigned ncols, const char *const *header,
                   unsigned right_mask)
{
    memset(t, 0, sizeof *t);
    if (ncols == 0 || ncols > DCV_TABLE_MAX_COLS)
        return -EINVAL;
    t->ncols = ncols;
    t->right = right_mask;
    return dcv_table_add(t, header);
}

int dcv_table_add(struct dcv_table *t, const char *const *cells)
{
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **n = realloc(t->cells, cap * t->ncols * sizeof *n);
        if (!n)
            return -ENOMEM;
        t->cells = n;
        t->cap = cap;
    }
    for (unsigned i = 0; i < t->ncols; i++) {
        char *c = strdup(cells[i] ? cells[i] : "");
        if (!c) {
            while (i-- > 0)
                free(t->cells[t->nrows * t->ncols + i]);
            return -ENOMEM;
        }
        t->cells[t->nrows * t->ncols + i] = c;
    }
    t->nrows++;
    return 0;
}

/* Display width: code points, not bytes (names may be UTF-8). */
static size_t width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            w++;
    return w;
}

void dcv_table_print(const struct dcv_table *t, FILE *f)
{
    size_t w[DCV_TABLE_MAX_COLS] = {0};

    for (size_t r = 0; r < t->nrows; r++)
        for (unsigned c = 0; c < t->ncols; c++) {
            size_t x = width(t->cells[r * t->ncols + c]);
            if (x > w[c])
                w[c] = x;
        }
    for (size_t r = 0; r < t->nrows; r++) {
        for (unsigned c = 0; c < t->ncols; c++) {
            const char *s = t->cells[r * t->ncols + c];
            size_t pad = w[c] - width(s);
            int last = c + 1 == t->ncols;
            if (t->right & (1u << c))
                fprintf(f, "%*s%s", (int)pad, "", s);
            else
                fprintf(f, "%s%*s", s, last ? 0 : (int)pad, "");
            if (!last)
                fputs("  ", f);
        }
        fputc('\n', f);
    }
}

void dcv_table_free(struct dcv_table *t)
{
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    memset(t, 0, sizeof *t);
}

/* ---- formatting ------------------------------------------------------------ */

void dcv_fmt_bytes(char *buf, size_t len, int64_t bytes)
{
    static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = (double)bytes;
    unsigned u = 0;

    if (bytes < 0) {
        snprintf(buf, len, "-");
        return;
    }
    while (v >= 1024 && u + 1 < sizeof(unit) / sizeof(unit[0])) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, len, "%lld B", (long long)bytes);
    else
        snprintf(buf, len, "%.1f %s", v, unit[u]);
}

void dcv_fmt_age(char *buf, size_t len, int64_t ms)
{
    long long s = ms < 0 ? 0 : ms / 1000;
    if (s < 60)
        snprintf(buf, len, "%llds", s);
    else if (s < 3600)
        snprintf(buf, len, "%lldm%02llds", s / 60, s % 60);
    else if (s < 86400)
        snprintf(buf, len, "%lldh%02lldm", s / 3600, (s / 60) % 60);
    else
        snprintf(buf, len, "%lldd%02lldh", s / 86400, (s / 3600) % 24);
}

void dcv_fmt_time(char *buf, size_t len, int64_t unix_ms)
{
    time_t t = (time_t)(unix_ms / 1000);
    struct tm tm;

    if (unix_ms <= 0 || !localtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm))
        snprintf(buf, len, "-");
}

int64_t dcv_now_unix_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- progress -------------------------------------------------------------- */

enum dcv_progress_style dcv_progress_style_auto(int quiet)
{
    if (quiet)
        return DCV_PROGRESS_NONE;
    return isatty(STDERR_FILENO) ? DCV_PROGRESS_BAR : DCV_PROGRESS_PLAIN;
}

void dcv_progress_begin(struct dcv_progress_line *p, enum dcv_progress_style style,
                        const char *label)
{
    memset(p, 0, sizeof *p);
    p->style = style;
    snprintf(p->label, sizeof p->label, "%s", label);
    p->t0_ms = dcv_mono_ms();
    p->last_draw = -1000000;
    p->last_decile = -1;
}

static void draw(struct dcv_progress_line *p, double pct, const char *note, int force)
{
    int64_t now = dcv_mono_ms();

    if (p->style == DCV_PROGRESS_NONE)
        return;
    if (pct > 100)
        pct = 100;
    if (p->style == DCV_PROGRESS_PLAIN) {
        /* A log wants a line per 10 %, not per chunk. */
        int decile = pct < 0 ? 0 : (int)(pct / 10);
        if (decile <= p->last_decile && !force)
            return;
        p->last_decile = decile;
        if (pct >= 0)
            fprintf(stderr, "%s: %.0f%%%s%s\n", p->label, pct, note && *note ? " " : "",
                    note ? note : "");
        else
            fprintf(stderr, "%s:%s%s\n", p->label, note && *note ? " " : "", note ? note : "");
        return;
    }
    if (!force && now - p->last_draw < 100)
        return;
    p->last_draw = now;
    {
        char bar[31];
        int fill = pct < 0 ? 0 : (int)(pct * 30 / 100);
        memset(bar, '#', (size_t)fill);
        memset(bar + fill, '.', (size_t)(30 - fill));
        bar[30] = '\0';
        if (pct >= 0)
            fprintf(stderr, "\r%-8s [%s] %5.1f%% %s\033[K", p->label, bar, pct, note ? note : "");
        else
            fprintf(stderr, "\r%-8s %s\033[K", p->label, note ? note : "");
        fflush(stderr);
        p->drawn = 1;
    }
}

void dcv_progress_bytes(struct dcv_progress_line *p, int64_t done, int64_t total)
{
    char d[32], t[32], note[128];
    double secs = (dcv_mono_ms() - p->t0_ms) / 1000.0;
    double rate = secs > 0.2 ? done / secs : -1; /* too early to say */
    double pct = total > 0 ? 100.0 * (double)done / (double)total : (total == 0 ? 100 : -1);

    dcv_fmt_bytes(d, sizeof d, done);
    dcv_fmt_bytes(t, sizeof t, total);
    if (p->style == DCV_PROGRESS_PLAIN)
        snprintf(note, sizeof note, "(%s of %s)", d, t);
    else {
        char r[32];
        dcv_fmt_bytes(r, sizeof r, (int64_t)rate);
        snprintf(note, sizeof note, "%s / %s%s%s%s", d, t, rate >= 0 ? "  " : "",
                 rate >= 0 ? r : "", rate >= 0 ? "/s" : "");
    }
    draw(p, pct, note, done == total);
}

void dcv_progress_pct(struct dcv_progress_line *p, double pct, const char *note)
{
    draw(p, pct, note, 0);
}

void dcv_progress_note(struct dcv_progress_line *p, const char *note)
{
    draw(p, -1, note, 1);
}

void dcv_progress_end(struct dcv_progress_line *p)
{
    if (p->style == DCV_PROGRESS_BAR && p->drawn) {
        fputc('\n', stderr);
        fflush(stderr);
    }
    p->drawn = 0;
}

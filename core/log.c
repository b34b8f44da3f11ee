/*
 * Logging: one line per event, text or JSON, to stderr or syslog.
 *
 * Lines are built in a stack buffer and handed to the kernel with a single
 * write(2) (or one syslog() call), so lines from concurrent threads and from
 * the job child processes sharing our stderr never interleave mid-line.
 * Settings live in atomics: dcv_log_setup() may run again after the config
 * is read while plugin or FFmpeg threads are already logging.
 */
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <libavutil/log.h>

/* A message longer than this is cut (and marked): a log line is not the
 * place for a megabyte of text, and staying near PIPE_BUF keeps writes
 * atomic. The line buffer leaves room for JSON's worst-case escaping. */
#define MSG_MAX 4096
#define LINE_MAX_BYTES (MSG_MAX * 6 + 512)

static atomic_int g_level = DCV_LOG_INFO;
static atomic_int g_format = DCV_LOG_TEXT;
static atomic_int g_target = DCV_LOG_STDERR;

/* openlog() keeps the ident pointer, so it must outlive every syslog() call;
 * the mutex only serialises setup against itself. */
static pthread_mutex_t g_setup_lock = PTHREAD_MUTEX_INITIALIZER;
static char g_ident[64];
static int g_syslog_open;

static const char *const level_names[] = { "error", "warn", "info", "debug", "trace" };

int dcv_log_level_parse(const char *s, int *level)
{
    if (!s)
        return -EINVAL;
    for (int i = 0; i < (int)(sizeof level_names / sizeof level_names[0]); i++) {
        if (strcasecmp(s, level_names[i]) == 0) {
            *level = i;
            return 0;
        }
    }
    if (strcasecmp(s, "warning") == 0) {
        *level = DCV_LOG_WARN;
        return 0;
    }
    return -EINVAL;
}

int dcv_log_format_parse(const char *s, enum dcv_log_format *fmt)
{
    if (s && strcasecmp(s, "text") == 0)
        *fmt = DCV_LOG_TEXT;
    else if (s && strcasecmp(s, "json") == 0)
        *fmt = DCV_LOG_JSON;
    else
        return -EINVAL;
    return 0;
}

int dcv_log_target_parse(const char *s, enum dcv_log_target *target)
{
    if (s && strcasecmp(s, "stderr") == 0)
        *target = DCV_LOG_STDERR;
    else if (s && strcasecmp(s, "syslog") == 0)
        *target = DCV_LOG_SYSLOG;
    else
        return -EINVAL;
    return 0;
}

const char *dcv_log_level_name(int level)
{
    if (level < DCV_LOG_ERROR)
        level = DCV_LOG_ERROR;
    if (level > DCV_LOG_TRACE)
        level = DCV_LOG_TRACE;
    return level_names[level];
}

static const char *current_ident(void)
{
    /* Before setup, the program's own name is the least surprising tag. */
    return g_ident[0] ? g_ident : program_invocation_short_name;
}

void dcv_log_setup(int level, enum dcv_log_format fmt, enum dcv_log_target target,
                   const char *ident)
{
    if (level < DCV_LOG_ERROR)
        level = DCV_LOG_ERROR;
    if (level > DCV_LOG_TRACE)
        level = DCV_LOG_TRACE;

    pthread_mutex_lock(&g_setup_lock);
    if (ident && ident[0] && strcmp(ident, g_ident) != 0) {
        if (g_syslog_open) {
            /* syslog must stop using the old ident before we overwrite it. */
            atomic_store(&g_target, DCV_LOG_STDERR);
            closelog();
            g_syslog_open = 0;
        }
        snprintf(g_ident, sizeof g_ident, "%s", ident);
    }
    if (target == DCV_LOG_SYSLOG && !g_syslog_open) {
        openlog(current_ident(), LOG_PID | LOG_NDELAY, LOG_DAEMON);
        g_syslog_open = 1;
    }
    atomic_store(&g_level, level);
    atomic_store(&g_format, fmt == DCV_LOG_JSON ? DCV_LOG_JSON : DCV_LOG_TEXT);
    atomic_store(&g_target, target == DCV_LOG_SYSLOG ? DCV_LOG_SYSLOG : DCV_LOG_STDERR);
    pthread_mutex_unlock(&g_setup_lock);
}

int dcv_log_enabled(int level)
{
    return level <= atomic_load_explicit(&g_level, memory_order_relaxed);
}

/* ---- line building ------------------------------------------------------ */

struct linebuf {
    char *buf;
    size_t len, cap; /* cap excludes the byte kept for the final NUL */
    int full;
};

static void lb_put(struct linebuf *lb, const char *s, size_t n)
{
    if (lb->full)
        return;
    if (n > lb->cap - lb->len) {
        n = lb->cap - lb->len;
        lb->full = 1;
    }
    memcpy(lb->buf + lb->len, s, n);
    lb->len += n;
    lb->buf[lb->len] = '\0';
}

static void lb_puts(struct linebuf *lb, const char *s)
{
    lb_put(lb, s, strlen(s));
}

/* Length of a valid UTF-8 sequence at s (1..4), or 0 if invalid. Strict:
 * no overlongs, no surrogates, nothing above U+10FFFF. */
static size_t utf8_seq_len(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0];
    size_t n;
    unsigned int cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (avail < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

/* JSON string body. Invalid UTF-8 (file names, FFmpeg metadata) becomes
 * U+FFFD so every line stays parseable by strict JSON readers. */
static void lb_json_str(struct linebuf *lb, const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t left = strlen(str);
    char esc[8];
    while (left > 0 && !lb->full) {
        unsigned char c = *s;
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            lb_put(lb, esc, 2);
        } else if (c == '\n') {
            lb_puts(lb, "\\n");
        } else if (c == '\r') {
            lb_puts(lb, "\\r");
        } else if (c == '\t') {
            lb_puts(lb, "\\t");
        } else if (c < 0x20 || c == 0x7f) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            lb_puts(lb, esc);
        } else if (c >= 0x80) {
            size_t n = utf8_seq_len(s, left);
            if (n == 0) {
                lb_puts(lb, "\\ufffd");
                n = 1;
            } else {
                lb_put(lb, (const char *)s, n);
            }
            s += n;
            left -= n;
            continue;
        } else {
            lb_put(lb, (const char *)s, 1);
        }
        s++;
        left--;
    }
}

/* Text mode: a message must not be able to forge a second log line (it may
 * quote a remote peer or a file name), so control characters are escaped. */
static void lb_text_str(struct linebuf *lb, const char *str)
{
    char esc[8];
    for (const unsigned char *s = (const unsigned char *)str; *s && !lb->full; s++) {
        if (*s == '\n') {
            lb_puts(lb, "\\n");
        } else if ((*s < 0x20 && *s != '\t') || *s == 0x7f) {
            snprintf(esc, sizeof esc, "\\x%02x", *s);
            lb_puts(lb, esc);
        } else {
            lb_put(lb, (const char *)s, 1);
        }
    }
}

static void format_ts(char *out, size_t outlen)
{
    struct timespec ts;
    struct tm tm;
    char date[32];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, outlen, "%s.%03dZ", date, (int)(ts.tv_nsec / 1000000L) % 1000);
}

static void write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return; /* nowhere left to report a failing stderr */
        buf += n;
        len -= (size_t)n;
    }
}

static int syslog_priority(int level)
{
    switch (level) {
    case DCV_LOG_ERROR: return LOG_ERR;
    case DCV_LOG_WARN: return LOG_WARNING;
    case DCV_LOG_INFO: return LOG_INFO;
    default: return LOG_DEBUG;
    }
}

void dcv_logv(int level, const char *component, const char *fmt, va_list ap)
{
    int saved_errno = errno; /* callers log and then still look at errno */
    char msg[MSG_MAX];
    char line[LINE_MAX_BYTES];
    char ts[64], num[48];
    struct linebuf lb = { line, 0, sizeof line - 1, 0 };
    int target, json;
    size_t mlen;

    if (!dcv_log_enabled(level))
        return;
    if (level < DCV_LOG_ERROR)
        level = DCV_LOG_ERROR;
    if (level > DCV_LOG_TRACE)
        level = DCV_LOG_TRACE;
    if (!component || !component[0])
        component = "main";

    int n = fmt ? vsnprintf(msg, sizeof msg, fmt, ap) : (msg[0] = '\0', 0);
    if (n < 0)
        snprintf(msg, sizeof msg, "(unformattable log message)");
    else if ((size_t)n >= sizeof msg)
        memcpy(msg + sizeof msg - 4, "...", 4);
    mlen = strlen(msg);
    while (mlen > 0 && (msg[mlen - 1] == '\n' || msg[mlen - 1] == '\r'))
        msg[--mlen] = '\0';

    target = atomic_load_explicit(&g_target, memory_order_relaxed);
    json = atomic_load_explicit(&g_format, memory_order_relaxed) == DCV_LOG_JSON;
    line[0] = '\0';

    if (json) {
        format_ts(ts, sizeof ts);
        lb_puts(&lb, "{\"ts\":\"");
        lb_puts(&lb, ts);
        lb_puts(&lb, "\",\"level\":\"");
        lb_puts(&lb, level_names[level]);
        lb_puts(&lb, "\",\"component\":\"");
        lb_json_str(&lb, component);
        snprintf(num, sizeof num, "\",\"pid\":%ld,\"msg\":\"", (long)getpid());
        lb_puts(&lb, num);
        /* Reserve the closing bytes so a cut message still ends in valid JSON. */
        lb.cap -= 3;
        lb_json_str(&lb, msg);
        lb.cap += 3;
        lb.full = 0;
        lb_puts(&lb, "\"}");
    } else {
        if (target != DCV_LOG_SYSLOG) {
            /* syslog stamps time, ident and pid itself. */
            format_ts(ts, sizeof ts);
            lb_puts(&lb, ts);
            lb_puts(&lb, " ");
            lb_puts(&lb, current_ident());
            snprintf(num, sizeof num, "[%ld] ", (long)getpid());
            lb_puts(&lb, num);
        }
        lb_puts(&lb, level_names[level]);
        lb_puts(&lb, " ");
        lb_text_str(&lb, component);
        lb_puts(&lb, ": ");
        lb.cap -= 1;
        lb_text_str(&lb, msg);
        lb.cap += 1;
        lb.full = 0;
    }

    if (target == DCV_LOG_SYSLOG) {
        syslog(syslog_priority(level), "%s", line);
    } else {
        lb_puts(&lb, "\n");
        write_all(STDERR_FILENO, line, lb.len);
    }
    errno = saved_errno;
}

void dcv_log(int level, const char *component, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    dcv_logv(level, component, fmt, ap);
    va_end(ap);
}

/* ---- FFmpeg ------------------------------------------------------------- */

/* FFmpeg emits lines in pieces (one av_log per word in some places) and
 * decides whether to print the "[ctx @ 0x..]" prefix from whether the
 * previous piece ended a line, so both the partial line and that flag are
 * per thread, like FFmpeg's own callback state. */
struct ff_tls {
    int print_prefix;
    int pending_level; /* most severe piece of the pending line */
    size_t pending_len;
    char pending[1024];
    char last_error[1024];
    int expecting_failure; /* see dcv_log_ffmpeg_expect_failure() */
};

static _Thread_local struct ff_tls ff_state = { .print_prefix = 1, .pending_level = -1 };

static int map_av_level(int av_level)
{
    if (av_level <= AV_LOG_ERROR)
        return DCV_LOG_ERROR;
    if (av_level <= AV_LOG_WARNING)
        return DCV_LOG_WARN;
    /* FFmpeg's info level is per-stream chatter; a normal run stays quiet. */
    if (av_level <= AV_LOG_VERBOSE)
        return DCV_LOG_DEBUG;
    return DCV_LOG_TRACE;
}

/* "[libx264 @ 0x55d0c0a0] msg" -> "[libx264] msg": the address means
 * nothing to whoever reads a job's failure reason. */
static void strip_addresses(char *s)
{
    char *p;
    while ((p = strstr(s, " @ 0x")) != NULL) {
        char *e = p + 5;
        while ((*e >= '0' && *e <= '9') || (*e >= 'a' && *e <= 'f') || (*e >= 'A' && *e <= 'F'))
            e++;
        memmove(p, e, strlen(e) + 1);
    }
}

static void ff_flush(struct ff_tls *st)
{
    int level = st->pending_level;
    size_t len = st->pending_len;

    while (len > 0 && (st->pending[len - 1] == '\n' || st->pending[len - 1] == '\r'))
        len--;
    st->pending[len] = '\0';
    if (len > 0 && level >= 0 && st->expecting_failure && level < DCV_LOG_DEBUG)
        level = DCV_LOG_DEBUG;
    if (len > 0 && level >= 0) {
        if (level == DCV_LOG_ERROR) {
            /* The first error is usually the cause ("Protocol 'file' not
             * on whitelist"), later ones its consequences ("Error when
             * loading first segment"): keep the first, add later ones
             * while the text stays short. */
            size_t have = strlen(st->last_error);
            char one[sizeof st->last_error];
            snprintf(one, sizeof one, "%s", st->pending);
            strip_addresses(one);
            if (!have)
                snprintf(st->last_error, sizeof st->last_error, "%s", one);
            else if (have + strlen(one) + 2 < 600 && !strstr(st->last_error, one))
                snprintf(st->last_error + have, sizeof st->last_error - have, "; %s", one);
        }
        dcv_log(level, "ffmpeg", "%s", st->pending);
    }
    st->pending_len = 0;
    st->pending[0] = '\0';
    st->pending_level = -1;
}

static void ff_callback(void *avcl, int av_level, const char *fmt, va_list vl)
{
    struct ff_tls *st = &ff_state;
    char piece[sizeof st->pending];
    int level;
    size_t plen;

    av_level &= 0xff; /* higher bits carry FFmpeg's colour hints */
    if (av_level < 0 || av_level > AV_LOG_TRACE)
        return; /* AV_LOG_QUIET and anything stranger */
    level = map_av_level(av_level);
    if (st->expecting_failure && level < DCV_LOG_DEBUG)
        level = DCV_LOG_DEBUG;

    if (!dcv_log_enabled(level) && st->pending_len == 0) {
        /* Skip formatting debug floods, but keep the prefix state right
         * (the formatted text ends a line exactly when the format does,
         * except for "%s"-only pieces, where a wrong guess only misplaces
         * one prefix). */
        size_t fl = fmt ? strlen(fmt) : 0;
        st->print_prefix = fl > 0 && fmt[fl - 1] == '\n';
        return;
    }

    av_log_format_line2(avcl, av_level, fmt, vl, piece, sizeof piece, &st->print_prefix);
    plen = strlen(piece);
    if (plen == 0)
        return;
    if (st->pending_level < 0 || level < st->pending_level)
        st->pending_level = level;
    if (plen > sizeof st->pending - 1 - st->pending_len)
        plen = sizeof st->pending - 1 - st->pending_len;
    memcpy(st->pending + st->pending_len, piece, plen);
    st->pending_len += plen;
    st->pending[st->pending_len] = '\0';

    if (st->print_prefix || st->pending_len >= sizeof st->pending - 1)
        ff_flush(st);
}

void dcv_log_hook_ffmpeg(void)
{
    av_log_set_callback(ff_callback);
}

const char *dcv_log_last_ffmpeg_error(void)
{
    return ff_state.last_error;
}

void dcv_log_clear_ffmpeg_error(void)
{
    ff_state.last_error[0] = '\0';
}

void dcv_log_ffmpeg_expect_failure(int on)
{
    if (!on && ff_state.pending_len)
        ff_flush(&ff_state); /* the pending line belongs to the check */
    ff_state.expecting_failure = on;
}

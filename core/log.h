/*
 * Logging for the daemon, the CLI and (through the host API) plugins.
 * One line per event, text or JSON, to stderr or syslog. Thread-safe: a line
 * is formatted into a local buffer and written with one write()/syslog().
 */
#ifndef DCV_LOG_H
#define DCV_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include "distconv/plugin.h" /* enum dcv_log_level */

enum dcv_log_format { DCV_LOG_TEXT = 0, DCV_LOG_JSON = 1 };
enum dcv_log_target { DCV_LOG_STDERR = 0, DCV_LOG_SYSLOG = 1 };

/* Parse "error|warn|info|debug|trace" (also "warning"). 0 or -EINVAL. */
int dcv_log_level_parse(const char *s, int *level);
int dcv_log_format_parse(const char *s, enum dcv_log_format *fmt);
int dcv_log_target_parse(const char *s, enum dcv_log_target *target);
const char *dcv_log_level_name(int level);

/* Process-wide settings; safe to call again (e.g. after reading config).
 * ident is the syslog identity ("distconvd"). */
void dcv_log_setup(int level, enum dcv_log_format fmt, enum dcv_log_target target,
                   const char *ident);
int dcv_log_enabled(int level);

/* component: short tag ("config", "plugin:x264", "media"). */
void dcv_log(int level, const char *component, const char *fmt, ...) DCV_PRINTF(3, 4);
void dcv_logv(int level, const char *component, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* Route FFmpeg's av_log through dcv_log (component "ffmpeg"), keeping the
 * error-level lines since the last clear per thread (the first, which is
 * usually the cause, then later ones "; "-joined while under 600 bytes) so
 * failures can quote FFmpeg's own text. */
void dcv_log_hook_ffmpeg(void);
const char *dcv_log_last_ffmpeg_error(void); /* "" when none on this thread */
/* Forget this thread's last FFmpeg error, so a failure quotes only text
 * produced by the operation that failed. */
void dcv_log_clear_ffmpeg_error(void);
/* While on, FFmpeg messages from this thread belong to a check that may
 * fail on purpose (does this muxer take this codec?): they are logged at
 * debug and never become the last error. */
void dcv_log_ffmpeg_expect_failure(int on);

#endif

/* Logging: stderr is redirected to a temp file and the lines read back. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>
#include <libavutil/log.h>

#include "log.h"
#include "tap.h"

static char cap_path[PATH_MAX];
static int saved_stderr = -1;

/* Point fd 2 at a fresh file. A file (not a pipe) so that many threads can
 * log without a reader and without blocking. */
static void capture_begin(void)
{
    int fd = open(cap_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
    if (fd < 0)
        tap_bail("open %s", cap_path);
    fflush(stderr);
    saved_stderr = dup(STDERR_FILENO);
    if (saved_stderr < 0 || dup2(fd, STDERR_FILENO) < 0)
        tap_bail("dup2");
    close(fd);
}

/* Restore stderr; return what was written (malloc'd, NUL-terminated). */
static char *capture_end(void)
{
    FILE *f;
    char *buf;
    long n;
    dup2(saved_stderr, STDERR_FILENO);
    close(saved_stderr);
    f = fopen(cap_path, "r");
    if (!f)
        tap_bail("reopen %s", cap_path);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n)
        tap_bail("read %s", cap_path);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void test_parse(void)
{
    static const char *const names[] = { "error", "warn", "info", "debug", "trace" };
    int lvl = -1;
    enum dcv_log_format fmt;
    enum dcv_log_target tgt;

    for (int i = 0; i < 5; i++) {
        lvl = -1;
        TAP_IS_INT(dcv_log_level_parse(names[i], &lvl), 0, names[i]);
        TAP_IS_INT(lvl, i, "level value");
        TAP_IS_STR(dcv_log_level_name(i), names[i], "level name round trip");
    }
    TAP_IS_INT(dcv_log_level_parse("warning", &lvl), 0, "warning accepted");
    TAP_IS_INT(lvl, DCV_LOG_WARN, "warning = warn");
    TAP_IS_INT(dcv_log_level_parse("DEBUG", &lvl), 0, "level names are case-insensitive");
    TAP_IS_INT(lvl, DCV_LOG_DEBUG, "DEBUG = debug");
    TAP_IS_INT(dcv_log_level_parse("loud", &lvl), -EINVAL, "unknown level rejected");
    TAP_IS_INT(dcv_log_level_parse("", &lvl), -EINVAL, "empty level rejected");
    TAP_IS_INT(dcv_log_level_parse(NULL, &lvl), -EINVAL, "NULL level rejected");
    TAP_IS_INT(dcv_log_level_parse("info ", &lvl), -EINVAL, "trailing space rejected");
    TAP_IS_STR(dcv_log_level_name(99), "trace", "out of range level name clamps");
    TAP_IS_STR(dcv_log_level_name(-3), "error", "negative level name clamps");

    TAP_IS_INT(dcv_log_format_parse("json", &fmt), 0, "format json");
    TAP_IS_INT(fmt, DCV_LOG_JSON, "format json value");
    TAP_IS_INT(dcv_log_format_parse("text", &fmt), 0, "format text");
    TAP_IS_INT(fmt, DCV_LOG_TEXT, "format text value");
    TAP_IS_INT(dcv_log_format_parse("xml", &fmt), -EINVAL, "format xml rejected");
    TAP_IS_INT(dcv_log_target_parse("syslog", &tgt), 0, "target syslog");
    TAP_IS_INT(tgt, DCV_LOG_SYSLOG, "target syslog value");
    TAP_IS_INT(dcv_log_target_parse("stderr", &tgt), 0, "target stderr");
    TAP_IS_INT(tgt, DCV_LOG_STDERR, "target stderr value");
    TAP_IS_INT(dcv_log_target_parse("journal", &tgt), -EINVAL, "target journal rejected");
}

/* "2026-11-22T03:04:05.123Z" */
static int is_timestamp(const char *s)
{
    static const char pat[] = "dddd-dd-ddTdd:dd:dd.dddZ";
    for (size_t i = 0; i < sizeof pat - 1; i++) {
        if (pat[i] == 'd' ? !(s[i] >= '0' && s[i] <= '9') : s[i] != pat[i])
            return 0;
    }
    return 1;
}

static void test_text(void)
{
    char *out, want[256];
    dcv_log_setup(DCV_LOG_INFO, DCV_LOG_TEXT, DCV_LOG_STDERR, "testd");

    capture_begin();
    dcv_log(DCV_LOG_INFO, "config", "hello %d", 42);
    out = capture_end();
    if (!TAP_OK(is_timestamp(out), "text line starts with an ISO-8601 UTC timestamp"))
        tap_diag("  line: %s", out);
    snprintf(want, sizeof want, "Z testd[%ld] info config: hello 42\n", (long)getpid());
    TAP_OK(strlen(out) > 23 && strcmp(out + 23, want) == 0, "text line format");
    if (strlen(out) <= 23 || strcmp(out + 23, want) != 0)
        tap_diag("  got '%s' want '...%s'", out, want);
    free(out);

    capture_begin();
    dcv_log(DCV_LOG_DEBUG, "config", "hidden");
    dcv_log(DCV_LOG_TRACE, "config", "hidden");
    dcv_log(DCV_LOG_WARN, "config", "shown warn");
    dcv_log(DCV_LOG_ERROR, "config", "shown error");
    out = capture_end();
    TAP_IS_INT(count_lines(out), 2, "info level drops debug and trace");
    TAP_OK(strstr(out, "hidden") == NULL, "nothing below the level");
    TAP_HAS_STR(out, " warn config: shown warn\n", "warn shown");
    TAP_HAS_STR(out, " error config: shown error\n", "error shown");
    free(out);

    TAP_OK(dcv_log_enabled(DCV_LOG_INFO) && !dcv_log_enabled(DCV_LOG_DEBUG),
           "dcv_log_enabled follows the level");

    dcv_log_setup(DCV_LOG_ERROR, DCV_LOG_TEXT, DCV_LOG_STDERR, NULL);
    capture_begin();
    dcv_log(DCV_LOG_WARN, "x", "no");
    dcv_log(DCV_LOG_ERROR, "x", "yes");
    out = capture_end();
    TAP_IS_INT(count_lines(out), 1, "error level shows only errors");
    TAP_HAS_STR(out, "testd[", "ident kept when setup passes NULL");
    free(out);

    dcv_log_setup(DCV_LOG_TRACE, DCV_LOG_TEXT, DCV_LOG_STDERR, "testd");
    capture_begin();
    dcv_log(DCV_LOG_TRACE, "x", "deep");
    dcv_log(DCV_LOG_INFO, "x", "two\nlines\r\x01 end\n");
    dcv_log(DCV_LOG_INFO, NULL, "no component");
    out = capture_end();
    TAP_IS_INT(count_lines(out), 3, "trace level shows trace; a message is one line");
    TAP_HAS_STR(out, " trace x: deep\n", "trace line");
    TAP_HAS_STR(out, " info x: two\\nlines\\x0d\\x01 end\n",
                "control characters escaped, trailing newline dropped");
    TAP_HAS_STR(out, " info main: no component\n", "missing component named main");
    free(out);

    {
        int after;
        capture_begin();
        errno = ENOSPC;
        dcv_log(DCV_LOG_ERROR, "x", "keeps errno");
        after = errno;
        out = capture_end();
        free(out);
        TAP_IS_INT(after, ENOSPC, "dcv_log preserves errno");
    }

    /* syslog target: nothing on stderr (whether or not /dev/log exists). */
    dcv_log_setup(DCV_LOG_INFO, DCV_LOG_TEXT, DCV_LOG_SYSLOG, "testd");
    capture_begin();
    dcv_log(DCV_LOG_ERROR, "x", "to syslog");
    out = capture_end();
    TAP_IS_STR(out, "", "syslog target writes nothing to stderr");
    free(out);
    dcv_log_setup(DCV_LOG_INFO, DCV_LOG_TEXT, DCV_LOG_STDERR, "testd2");
    capture_begin();
    dcv_log(DCV_LOG_ERROR, "x", "back");
    out = capture_end();
    TAP_HAS_STR(out, " testd2[", "back on stderr with the new ident");
    free(out);
}

static struct json_object *parse_json_line(const char *line)
{
    struct json_object *o = json_tokener_parse(line);
    if (o && !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        o = NULL;
    }
    return o;
}

static const char *jstr(struct json_object *o, const char *key)
{
    struct json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

static void test_json(void)
{
    char *out;
    struct json_object *o, *pid;

    dcv_log_setup(DCV_LOG_INFO, DCV_LOG_JSON, DCV_LOG_STDERR, "testd");
    capture_begin();
    dcv_log(DCV_LOG_WARN, "plugin:\"x\"", "quote \" backslash \\ nl \n tab \t ctl \x01 "
                                           "utf8 \xc3\xa9 bad \xff end");
    out = capture_end();
    TAP_IS_INT(count_lines(out), 1, "one JSON line");
    o = parse_json_line(out);
    if (!tap_ok(o != NULL, "JSON line parses with json-c")) {
        tap_diag("  line: %s", out);
    } else {
        const char *ts = jstr(o, "ts");
        TAP_OK(ts && is_timestamp(ts) && strlen(ts) == 24, "ts field");
        TAP_IS_STR(jstr(o, "level"), "warn", "level field");
        TAP_IS_STR(jstr(o, "component"), "plugin:\"x\"", "component escaped");
        TAP_OK(json_object_object_get_ex(o, "pid", &pid) &&
                   json_object_is_type(pid, json_type_int) &&
                   json_object_get_int64(pid) == (int64_t)getpid(),
               "pid field");
        TAP_IS_STR(jstr(o, "msg"),
                   "quote \" backslash \\ nl \n tab \t ctl \x01 utf8 \xc3\xa9 bad "
                   "\xef\xbf\xbd end",
                   "msg round-trips; invalid UTF-8 becomes U+FFFD");
        TAP_IS_INT(json_object_object_length(o), 5, "exactly five fields");
        json_object_put(o);
    }
    free(out);

    /* A huge message is cut, and the line is still valid JSON. */
    {
        size_t n = 20000;
        char *big = malloc(n + 1);
        if (!big)
            tap_bail("out of memory");
        memset(big, '"', n);
        big[n] = '\0';
        capture_begin();
        dcv_log(DCV_LOG_ERROR, "big", "%s", big);
        out = capture_end();
        o = parse_json_line(out);
        TAP_OK(o != NULL, "cut message still valid JSON");
        if (o) {
            const char *m = jstr(o, "msg");
            size_t ml = m ? strlen(m) : 0;
            TAP_OK(ml > 1000 && ml < n && strcmp(m + ml - 3, "...") == 0,
                   "cut message ends with ...");
            json_object_put(o);
        }
        TAP_IS_INT(count_lines(out), 1, "cut message is one line");
        free(out);
        free(big);
    }
}

#define N_THREADS 4
#define N_PER_THREAD 300

static void *spam(void *arg)
{
    long id = (long)arg;
    for (int i = 0; i < N_PER_THREAD; i++)
        dcv_log(DCV_LOG_INFO, "spam", "thread %ld line %d %s", id, i,
                "padding padding padding padding padding padding padding padding");
    return NULL;
}

static void test_threads(void)
{
    pthread_t th[N_THREADS];
    char *out, *line, *save = NULL;
    int good = 0, total = 0;

    dcv_log_setup(DCV_LOG_INFO, DCV_LOG_JSON, DCV_LOG_STDERR, "testd");
    capture_begin();
    for (long i = 0; i < N_THREADS; i++)
        pthread_create(&th[i], NULL, spam, (void *)i);
    for (int i = 0; i < N_THREADS; i++)
        pthread_join(th[i], NULL);
    out = capture_end();
    for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        struct json_object *o = parse_json_line(line);
        total++;
        if (o && jstr(o, "msg") && strncmp(jstr(o, "msg"), "thread ", 7) == 0)
            good++;
        if (o)
            json_object_put(o);
    }
    TAP_IS_INT(total, N_THREADS * N_PER_THREAD, "every line from every thread arrived");
    TAP_IS_INT(good, N_THREADS * N_PER_THREAD, "no line interleaved with another");
    free(out);
}

/* ---- FFmpeg hook --------------------------------------------------------- */

static const AVClass test_class = {
    .class_name = "testctx",
    .item_name = av_default_item_name,
    .version = LIBAVUTIL_VERSION_INT,
};

struct test_obj {
    const AVClass *cls;
};

static char thread_err[256];

static void *other_thread(void *arg)
{
    (void)arg;
    snprintf(thread_err, sizeof thread_err, "%s", dcv_log_last_ffmpeg_error());
    av_log(NULL, AV_LOG_ERROR, "error in the other thread\n");
    strncat(thread_err, "|", sizeof thread_err - strlen(thread_err) - 1);
    strncat(thread_err, dcv_log_last_ffmpeg_error(), sizeof thread_err - strlen(thread_err) - 1);
    return NULL;
}

static void test_ffmpeg(void)
{
    struct test_obj obj = { &test_class };
    pthread_t th;
    char *out;

    dcv_log_setup(DCV_LOG_INFO, DCV_LOG_TEXT, DCV_LOG_STDERR, "testd");
    dcv_log_hook_ffmpeg();
    TAP_IS_STR(dcv_log_last_ffmpeg_error(), "", "no FFmpeg error yet");

    capture_begin();
    av_log(NULL, AV_LOG_ERROR, "boom %d\n", 42);
    out = capture_end();
    TAP_IS_STR(dcv_log_last_ffmpeg_error(), "boom 42", "last error captured");
    TAP_HAS_STR(out, " error ffmpeg: boom 42\n", "FFmpeg error logged as error");
    free(out);

    capture_begin();
    av_log(NULL, AV_LOG_INFO, "stream chatter\n");
    av_log(NULL, AV_LOG_VERBOSE, "more chatter\n");
    av_log(NULL, AV_LOG_WARNING, "a warning\n");
    out = capture_end();
    TAP_OK(strstr(out, "chatter") == NULL, "FFmpeg info is quiet at info level");
    TAP_HAS_STR(out, " warn ffmpeg: a warning\n", "FFmpeg warning logged as warn");
    TAP_IS_STR(dcv_log_last_ffmpeg_error(), "boom 42", "a warning is not an error");
    free(out);

    dcv_log_setup(DCV_LOG_DEBUG, DCV_LOG_TEXT, DCV_LOG_STDERR, "testd");
    capture_begin();
    av_log(NULL, AV_LOG_INFO, "stream chatter\n");
    av_log(NULL, AV_LOG_DEBUG, "codec internals\n");
    out = capture_end();
    TAP_HAS_STR(out, " debug ffmpeg: stream chatter\n", "FFmpeg info appears at debug");
    TAP_OK(strstr(out, "internals") == NULL, "FFmpeg debug needs trace");
    free(out);
    dcv_log_setup(DCV_LOG_INFO, DCV_LOG_TEXT, DCV_LOG_STDERR, "testd");

    dcv_log_clear_ffmpeg_error();
    capture_begin();
    av_log(NULL, AV_LOG_ERROR, "part one, ");
    av_log(NULL, AV_LOG_ERROR, "part %s, ", "two");
    av_log(NULL, AV_LOG_ERROR, "end\n");
    out = capture_end();
    TAP_IS_STR(dcv_log_last_ffmpeg_error(), "part one, part two, end", "partial lines joined");
    TAP_IS_INT(count_lines(out), 1, "partial lines logged as one line");
    free(out);

    /* The first error since the clear is the cause; later ones are added
     * while short, once each. */
    dcv_log_clear_ffmpeg_error();
    capture_begin();
    av_log(&obj, AV_LOG_ERROR, "bad thing\n");
    av_log(&obj, AV_LOG_FATAL, "fatal thing\n");
    av_log(&obj, AV_LOG_ERROR, "bad thing\n");
    out = capture_end();
    TAP_IS_STR(dcv_log_last_ffmpeg_error(), "[testctx] bad thing; [testctx] fatal thing",
               "errors since the clear kept in order, once each, context kept, address dropped");
    TAP_HAS_STR(out, "[testctx @ 0x", "log line keeps FFmpeg's prefix");
    TAP_HAS_STR(out, "bad thing", "first error logged too");
    free(out);

    capture_begin();
    pthread_create(&th, NULL, other_thread, NULL);
    pthread_join(th, NULL);
    out = capture_end();
    free(out);
    TAP_IS_STR(thread_err, "|error in the other thread", "the last error is per thread");
    TAP_IS_STR(dcv_log_last_ffmpeg_error(), "[testctx] bad thing; [testctx] fatal thing",
               "another thread's error does not reach ours");
    {
        /* a flood of errors stays short */
        dcv_log_clear_ffmpeg_error();
        capture_begin();
        for (int i = 0; i < 200; i++)
            av_log(NULL, AV_LOG_ERROR, "decode error %d at a long position description\n", i);
        out = capture_end();
        free(out);
        TAP_OK(strlen(dcv_log_last_ffmpeg_error()) < 650 &&
                   strncmp(dcv_log_last_ffmpeg_error(), "decode error 0 at", 17) == 0,
               "a flood keeps the first error and stays under 650 bytes (%zu)",
               strlen(dcv_log_last_ffmpeg_error()));
    }

    dcv_log_clear_ffmpeg_error();
    TAP_IS_STR(dcv_log_last_ffmpeg_error(), "", "clear forgets the last error");

    capture_begin();
    dcv_log_ffmpeg_expect_failure(1);
    av_log(NULL, AV_LOG_ERROR, "flac in MP4 support is experimental\n");
    dcv_log_ffmpeg_expect_failure(0);
    av_log(NULL, AV_LOG_ERROR, "a real failure\n");
    out = capture_end();
    TAP_OK(strstr(out, "experimental") == NULL, "an expected failure is not logged at info");
    TAP_HAS_STR(out, " error ffmpeg: a real failure\n", "errors after the check are logged");
    TAP_IS_STR(dcv_log_last_ffmpeg_error(), "a real failure",
               "an expected failure never becomes the last error");
    free(out);
    dcv_log_clear_ffmpeg_error();

    capture_begin();
    av_log(NULL, AV_LOG_QUIET, "quiet\n");
    av_log(NULL, AV_LOG_ERROR, "\n");
    out = capture_end();
    TAP_IS_STR(out, "", "quiet messages and empty lines produce nothing");
    free(out);
    av_log_set_callback(av_log_default_callback);
}

int main(void)
{
    int fd;
    snprintf(cap_path, sizeof cap_path, "%s/dcv-log-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    fd = mkstemp(cap_path);
    if (fd < 0)
        tap_bail("mkstemp failed");
    close(fd);

    test_parse();
    test_text();
    test_json();
    test_threads();
    test_ffmpeg();

    unlink(cap_path);
    return tap_done();
}

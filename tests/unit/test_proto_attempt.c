/*
 * Part of test_proto: the fields that carry an attempt's facts (issue 11,
 * item 10): JOB.input's record of a path input (size, mtime, sha256) and
 * REJECT/FAIL.log_tail, with their limits.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "tap.h"

void test_attempt_fields(void);

static char err[512];

#define JOBID "0123456789abcdef0123456789abcdef"
#define SHA "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define FENCE_J "\"job_id\":\"" JOBID "\",\"attempt\":2,\"session\":\"s1\""
#define PROFILE "\"profile\":{\"codec\":\"hevc\"}"

static int job_from(const char *input, struct dcv_proto_job *out)
{
    char body[1024];
    snprintf(body, sizeof body, "{" FENCE_J ",\"input\":%s," PROFILE "}", input);
    return dcv_proto_job_from_json(body, strlen(body), out, err, sizeof err);
}

static void test_path_record(void)
{
    struct dcv_proto_job *m = calloc(2, sizeof *m), *back = m + 1;
    char *j = NULL;
    size_t l;

    if (!m)
        tap_bail("out of memory");
    snprintf(m->fence.job_id, sizeof m->fence.job_id, JOBID);
    m->fence.attempt = 2;
    snprintf(m->fence.session, sizeof m->fence.session, "s1");
    snprintf(m->profile, sizeof m->profile, "{\"codec\":\"hevc\"}");
    m->input.kind = DCV_INPUT_PATH;
    snprintf(m->input.path, sizeof m->input.path, "/srv/media/a.mkv");
    m->input.blob.size = 5678;
    m->input.mtime = 1714564800;
    snprintf(m->input.blob.sha256, sizeof m->input.blob.sha256, SHA);
    TAP_OK(dcv_proto_job_to_json(m, &j, &l, err, sizeof err) == 0 && strstr(j, "\"mtime\":1714564800") &&
               strstr(j, "\"size\":5678") && strstr(j, SHA),
           "JOB.input kind path carries size, mtime and sha256 (%s)", j ? j : err);
    TAP_OK(j && dcv_proto_job_from_json(j, l, back, err, sizeof err) == 0 &&
               back->input.blob.size == 5678 && back->input.mtime == 1714564800 &&
               strcmp(back->input.blob.sha256, SHA) == 0,
           "... and reads them back");
    free(j);

    TAP_OK(job_from("{\"kind\":\"path\",\"path\":\"/srv/a.mkv\"}", back) == 0 &&
               back->input.blob.size == -1 && back->input.mtime == 0 && !back->input.blob.sha256[0],
           "without them (an older coordinator): size -1, mtime 0, no digest: nothing to check");
    m->input.blob.size = -1;
    m->input.mtime = 0;
    m->input.blob.sha256[0] = '\0';
    j = NULL;
    TAP_OK(dcv_proto_job_to_json(m, &j, &l, err, sizeof err) == 0 && !strstr(j, "mtime") &&
               !strstr(j, "size") && !strstr(j, "sha256"),
           "unknown parts are not sent");
    free(j);

    TAP_OK(job_from("{\"kind\":\"path\",\"path\":\"/srv/a.mkv\",\"mtime\":0}", back) == -EINVAL &&
               strstr(err, "JOB.input.mtime: expected an integer 1.."),
           "mtime 0 is refused (%s)", err);
    TAP_OK(job_from("{\"kind\":\"path\",\"path\":\"/srv/a.mkv\",\"mtime\":-5}", back) == -EINVAL &&
               strstr(err, "JOB.input.mtime"),
           "a negative mtime is refused");
    TAP_OK(job_from("{\"kind\":\"path\",\"path\":\"/srv/a.mkv\",\"mtime\":1.5}", back) == -EINVAL &&
               strstr(err, "JOB.input.mtime"),
           "a fractional mtime is refused");
    TAP_OK(job_from("{\"kind\":\"path\",\"path\":\"/srv/a.mkv\",\"mtime\":9007199254740993}", back) ==
                   -EINVAL && strstr(err, "JOB.input.mtime"),
           "an mtime beyond 2^53 is refused");
    TAP_OK(job_from("{\"kind\":\"xfer\",\"xfer_id\":1,\"size\":1,\"sha256\":\"" SHA
                    "\",\"mtime\":1714564800}", back) == -EINVAL &&
               strstr(err, "JOB.input.mtime: only for kind path"),
           "mtime with kind xfer is refused (%s)", err);
    m->input.kind = DCV_INPUT_URL;
    m->input.path[0] = '\0';
    snprintf(m->input.url, sizeof m->input.url, "https://example.com/a.mkv");
    snprintf(m->input.protocols, sizeof m->input.protocols, "https,tls,tcp");
    m->input.mtime = 1714564800;
    j = NULL;
    TAP_OK(dcv_proto_job_to_json(m, &j, &l, err, sizeof err) == -EINVAL && !j &&
               strstr(err, "mtime"),
           "and never sent with another kind");
    free(m);
}

static void failure_init(struct dcv_proto_failure *f)
{
    memset(f, 0, sizeof *f);
    snprintf(f->fence.job_id, sizeof f->fence.job_id, JOBID);
    f->fence.attempt = 2;
    snprintf(f->fence.session, sizeof f->fence.session, "s1");
    f->code = DCV_CODE_INPUT;
    snprintf(f->message, sizeof f->message, "Invalid data found when processing input");
}

/* A FAIL body with `tail` as its log_tail value. */
static int fail_with(const char *tail, struct dcv_proto_failure *out)
{
    size_t n = strlen(tail) + 256;
    char *body = malloc(n);
    int r;
    if (!body)
        tap_bail("out of memory");
    snprintf(body, n, "{" FENCE_J ",\"code\":\"input\",\"message\":\"m\",\"retryable\":false,"
                      "\"log_tail\":%s}", tail);
    r = dcv_proto_fail_from_json(body, strlen(body), out, err, sizeof err);
    free(body);
    return r;
}

/* A JSON array of n strings of len bytes each ("x..."). */
static char *lines_json(size_t n, size_t len)
{
    size_t cap = n * (len + 3) + 3, o = 0;
    char *s = malloc(cap);
    if (!s)
        tap_bail("out of memory");
    s[o++] = '[';
    for (size_t i = 0; i < n; i++) {
        if (i)
            s[o++] = ',';
        s[o++] = '"';
        memset(s + o, 'x', len);
        o += len;
        s[o++] = '"';
    }
    s[o++] = ']';
    s[o] = '\0';
    return s;
}

static void test_log_tail(void)
{
    struct dcv_proto_failure *f = calloc(2, sizeof *f), *g = f + 1;
    char *j = NULL, *t;
    size_t l;

    if (!f)
        tap_bail("out of memory");
    failure_init(f);
    TAP_OK(dcv_proto_fail_to_json(f, &j, &l, err, sizeof err) == 0 && !strstr(j, "log_tail"),
           "a FAIL without a log tail does not send the key");
    TAP_OK(j && dcv_proto_fail_from_json(j, l, g, err, sizeof err) == 0 && g->n_log_tail == 0,
           "... and reads back none (an older worker)");
    free(j);
    f->n_log_tail = 3;
    snprintf(f->log_tail[0], sizeof f->log_tail[0], "info job: input: matroska, h264");
    snprintf(f->log_tail[1], sizeof f->log_tail[1], "error ffmpeg: [matroska @ 0x1] EBML header "
                                                    "parsing failed \xc3\xa9");
    snprintf(f->log_tail[2], sizeof f->log_tail[2], "error job: input: not media");
    j = NULL;
    TAP_OK(dcv_proto_fail_to_json(f, &j, &l, err, sizeof err) == 0 && strstr(j, "\"log_tail\":["),
           "FAIL.log_tail is sent as an array of lines");
    TAP_OK(j && dcv_proto_fail_from_json(j, l, g, err, sizeof err) == 0 && g->n_log_tail == 3 &&
               strcmp(g->log_tail[1], f->log_tail[1]) == 0 &&
               strcmp(g->log_tail[2], f->log_tail[2]) == 0,
           "... read back in order, UTF-8 kept");
    free(j);
    j = NULL;
    TAP_OK(dcv_proto_reject_to_json(f, &j, &l, err, sizeof err) == 0 &&
               dcv_proto_reject_from_json(j, l, g, err, sizeof err) == 0 && g->n_log_tail == 3,
           "REJECT carries it too (a job process failing before its accept)");
    free(j);

    t = lines_json(DCV_PROTO_LOG_LINES, 10);
    TAP_OK(fail_with(t, g) == 0 && g->n_log_tail == DCV_PROTO_LOG_LINES, "%d lines pass",
           DCV_PROTO_LOG_LINES);
    free(t);
    t = lines_json(DCV_PROTO_LOG_LINES + 1, 10);
    TAP_OK(fail_with(t, g) == -EINVAL && strstr(err, "FAIL.log_tail: more than 20 elements"),
           "%d lines are refused (%s)", DCV_PROTO_LOG_LINES + 1, err);
    free(t);
    t = lines_json(1, DCV_PROTO_LOG_LINE - 1);
    TAP_OK(fail_with(t, g) == 0 && strlen(g->log_tail[0]) == DCV_PROTO_LOG_LINE - 1,
           "a line of %d bytes passes", DCV_PROTO_LOG_LINE - 1);
    free(t);
    t = lines_json(1, DCV_PROTO_LOG_LINE);
    TAP_OK(fail_with(t, g) == -EINVAL && strstr(err, "log_tail[0]"),
           "a line of %d bytes is refused (%s)", DCV_PROTO_LOG_LINE, err);
    free(t);
    t = lines_json(9, 500); /* 4500 bytes in all */
    TAP_OK(fail_with(t, g) == -EINVAL && strstr(err, "FAIL.log_tail: holds 4500 bytes, more than 4096"),
           "more than %d bytes in all are refused (%s)", DCV_PROTO_LOG_BYTES, err);
    free(t);
    TAP_OK(fail_with("[\"a\\u0001b\"]", g) == -EINVAL && strstr(err, "log_tail[0]") &&
               strstr(err, "control character"),
           "a control character is refused (%s)", err);
    TAP_OK(fail_with("[\"a\\u001b[31mred\"]", g) == -EINVAL, "an escape sequence is refused");
    TAP_OK(fail_with("[\"bad \xff\xfe bytes\"]", g) == -EINVAL, "invalid UTF-8 is refused");
    TAP_OK(fail_with("[\"\"]", g) == -EINVAL && strstr(err, "log_tail[0]"),
           "an empty line is refused");
    TAP_OK(fail_with("[1]", g) == -EINVAL && strstr(err, "log_tail"), "a number is refused");
    TAP_OK(fail_with("\"one line\"", g) == -EINVAL && strstr(err, "expected an array"),
           "a bare string is refused");

    /* What a worker must never send: the encoder checks the same limits. */
    failure_init(f);
    f->n_log_tail = 9;
    for (int i = 0; i < 9; i++) {
        memset(f->log_tail[i], 'y', 500);
        f->log_tail[i][500] = '\0';
    }
    j = NULL;
    TAP_OK(dcv_proto_fail_to_json(f, &j, &l, err, sizeof err) == -EINVAL && !j,
           "to_json refuses a tail over %d bytes", DCV_PROTO_LOG_BYTES);
    f->n_log_tail = 1;
    snprintf(f->log_tail[0], sizeof f->log_tail[0], "tab\there");
    TAP_OK(dcv_proto_fail_to_json(f, &j, &l, err, sizeof err) == -EINVAL && !j,
           "to_json refuses a control character");
    free(f);
}

void test_attempt_fields(void)
{
    test_path_record();
    test_log_tail();
}

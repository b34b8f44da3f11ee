/*
 * distconvctl's admin-plane client: the configuration and transport, one
 * request with its retries and exit codes (ctl_call), job id prefixes, and
 * the error messages every part prints.
 */
#include "ctl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- errors ---------------------------------------------------------------------- */

int ctl_usage_error(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, PROG ": ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry '" PROG " --help' for more information.\n");
    return EXIT_USAGE;
}

void ctl_errorf(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, PROG ": ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int ctl_parse_int(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    char *end;
    long long v;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -EINVAL;
    *out = v;
    return 0;
}

/* ---- talking to the coordinator --------------------------------------------------- */

void ctl_args_init(struct dcv_proto_args *a)
{
    memset(a, 0, sizeof *a);
    a->state = -1;
    a->prio_class = 1;
    a->blob.size = -1;
    a->role = -1;
}

/* Load the configuration and the transport; work out the endpoint. Exit code. */
int ctl_open(struct ctl *c)
{
    char err[1024];
    const char *v;
    int64_t n;
    int r;

    r = dcv_conf_load(&c->conf, c->o->config_path, c->o->config_explicit, err, sizeof err);
    if (r < 0) {
        ctl_errorf("configuration: %s", err);
        return EXIT_USAGE;
    }
    c->s = dcv_conf_settings(c->conf);
    snprintf(c->endpoint, sizeof c->endpoint, "%s", c->o->endpoint ? c->o->endpoint : c->s->admin);
    if (strncmp(c->endpoint, "ipc://", 6) != 0 && strncmp(c->endpoint, "tcp://", 6) != 0)
        return ctl_usage_error("--endpoint: expected ipc:///PATH or tcp://HOST:PORT, got '%s'",
                               c->endpoint);

    c->ac.timeout_ms = 5000;
    c->ac.tries = 3;
    if ((v = getenv("DISTCONV_CTL_TIMEOUT_MS")) && *v) {
        if (ctl_parse_int(v, 100, 600000, &n) < 0)
            return ctl_usage_error("DISTCONV_CTL_TIMEOUT_MS: expected milliseconds 100..600000, "
                                   "got '%s'", v);
        c->ac.timeout_ms = (int)n;
    }
    if ((v = getenv("DISTCONV_CTL_TRIES")) && *v) {
        if (ctl_parse_int(v, 1, 100, &n) < 0)
            return ctl_usage_error("DISTCONV_CTL_TRIES: expected an integer 1..100, got '%s'", v);
        c->ac.tries = (int)n;
    }

    r = dcv_net_open(c->s->plugin_dir, c->s->transport[0] ? c->s->transport : "zmq", c->conf,
                     &c->net, err, sizeof err);
    if (r < 0) {
        ctl_errorf("transport: %s", err);
        return EXIT_UNREACHABLE;
    }
    /* Keys are read when a tcp socket first needs them: ipc needs none. */
    if (c->o->cmd != CMD_KEYGEN &&
        (r = dcv_net_secure(c->net, c->s, NULL, err, sizeof err)) < 0) {
        ctl_errorf("%s", err);
        return EXIT_USAGE;
    }
    c->ac.net = c->net;
    c->ac.endpoint = c->endpoint;
    c->ac.cancel = &g_cancel;
    return EXIT_OK;
}

void ctl_close(struct ctl *c)
{
    dcv_net_close(&c->net);
    dcv_conf_free(&c->conf);
}

/*
 * One admin request. On EXIT_OK *body is the FINAL's parsed body (put it
 * with json_object_put) and *raw its text when raw is non-NULL (free()).
 * Anything else has been reported and is the exit code.
 */
int ctl_call(struct ctl *c, int verb, const struct dcv_proto_args *args, const char *key,
                    json_object **body, char **raw)
{
    struct dcv_proto_request req;
    struct dcv_proto_reply rep = {0};
    char err[1024];
    int r;

    memset(&req, 0, sizeof req);
    req.verb = verb;
    req.args = *args;
    if (key)
        snprintf(req.idempotency_key, sizeof req.idempotency_key, "%s", key);
    *body = NULL;
    if (raw)
        *raw = NULL;
    r = dcv_adminc_call(&c->ac, &req, &rep, err, sizeof err);
    if (r == -ECANCELED)
        return EXIT_INTERRUPTED;
    if (r == -EINVAL) {
        /* Our own codec refused what we built: an argument it judges (a
         * path too long, a name with '/') rather than a bug. */
        ctl_errorf("%s", err);
        return EXIT_USAGE;
    }
    if (r < 0) {
        ctl_errorf("%s", err);
        return EXIT_UNREACHABLE;
    }
    if (rep.status >= 400) {
        int code = rep.status == 404 ? EXIT_FAILED
                   : rep.status == 400 || rep.status == 403 ? EXIT_USAGE
                   : rep.status >= 500 ? EXIT_UNREACHABLE : EXIT_FAILED;
        if (rep.status >= 500)
            ctl_errorf("the coordinator at %s failed after %d tries: %s", c->endpoint, c->ac.tries,
                       rep.error);
        else
            ctl_errorf("%s", rep.error[0] ? rep.error : "request refused");
        dcv_proto_reply_clear(&rep);
        return code;
    }
    *body = json_tokener_parse(rep.body ? rep.body : "{}");
    if (!*body || !json_object_is_type(*body, json_type_object)) {
        json_object_put(*body);
        *body = NULL;
        ctl_errorf("the coordinator's reply body is not a JSON object");
        dcv_proto_reply_clear(&rep);
        return EXIT_FAILED;
    }
    if (raw) {
        *raw = strdup(rep.body ? rep.body : "{}");
        if (!*raw) {
            json_object_put(*body);
            *body = NULL;
            dcv_proto_reply_clear(&rep);
            ctl_errorf("out of memory");
            return EXIT_FAILED;
        }
    }
    dcv_proto_reply_clear(&rep);
    return EXIT_OK;
}

void ctl_print_raw(const char *raw)
{
    fputs(raw, stdout);
    fputc('\n', stdout);
    fflush(stdout);
}

/* A JOB argument: 32 hex digits, or a unique prefix looked up in `jobs`. */
int ctl_resolve_job(struct ctl *c, const char *arg, char id[DCV_PROTO_JOB_ID])
{
    size_t n = strlen(arg);
    char lower[DCV_PROTO_JOB_ID];
    struct dcv_proto_args a;
    json_object *body, *jobs;
    const char *match = NULL;
    size_t nmatch = 0;
    int r;

    if (n < 1 || n > 32 || strspn(arg, "0123456789abcdefABCDEF") != n)
        return ctl_usage_error("'%s' is not a job id (32 hex digits, or a prefix of one)", arg);
    for (size_t i = 0; i <= n; i++)
        lower[i] = (char)(arg[i] >= 'A' && arg[i] <= 'F' ? arg[i] - 'A' + 'a' : arg[i]);
    if (n == 32) {
        memcpy(id, lower, DCV_PROTO_JOB_ID);
        return EXIT_OK;
    }
    ctl_args_init(&a);
    a.limit = 10000;
    if ((r = ctl_call(c, DCV_VERB_JOBS, &a, NULL, &body, NULL)) != EXIT_OK)
        return r;
    jobs = dcv_json_get(body, "jobs", json_type_array);
    for (size_t i = 0; jobs && i < json_object_array_length(jobs); i++) {
        const char *j = dcv_json_str(json_object_array_get_idx(jobs, i), "job_id", "");
        if (strncmp(j, lower, n) == 0) {
            match = j;
            nmatch++;
        }
    }
    if (nmatch == 1)
        snprintf(id, DCV_PROTO_JOB_ID, "%s", match);
    json_object_put(body);
    if (nmatch == 0) {
        ctl_errorf("no job id starts with '%s'", arg);
        return EXIT_FAILED;
    }
    if (nmatch > 1)
        return ctl_usage_error("'%s' is ambiguous: %zu jobs start with it", arg, nmatch);
    return EXIT_OK;
}

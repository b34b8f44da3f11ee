/*
 * distconvctl's parts (internal): the command line (distconvctl.c), the
 * admin-plane client with its configuration and error reporting (ctl.c),
 * uploads and downloads on the data plane (transfer.c) and the human
 * output of jobs and workers (show.c).
 */
#ifndef DCV_CLI_CTL_H
#define DCV_CLI_CTL_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include <json-c/json.h>

#include "jsonutil.h"

#include "adminc.h"
#include "config.h"
#include "errbuf.h"
#include "net.h"
#include "profile.h"
#include "proto.h"

#define PROG "distconvctl"

enum {
    EXIT_OK = 0, EXIT_FAILED = 1, EXIT_USAGE = 2, EXIT_UNREACHABLE = 3, EXIT_NO_OUTPUT = 4,
    EXIT_INTERRUPTED = 130
};

/* Set by SIGINT/SIGTERM: every wait (admin, data plane, polling) checks it,
 * so an interrupted download removes its .part file. */
extern volatile sig_atomic_t g_cancel;

enum cmd {
    CMD_SUBMIT, CMD_STATUS, CMD_JOBS, CMD_CANCEL, CMD_RETRY, CMD_GET, CMD_WORKERS, CMD_WORKER,
    CMD_DRAIN, CMD_UNDRAIN, CMD_INFO, CMD_KEYGEN, CMD_RM, CMD_PURGE, CMD_TOKEN, CMD_COUNT
};

struct opts {
    const char *endpoint;
    const char *config_path;
    int config_explicit;
    int json, quiet, verbose;
    enum cmd cmd;
    const char *arg; /* the command's positional argument */
    char **args;     /* rm: every JOB argument (args[0] is arg) */
    int nargs;

    /* submit */
    struct dcv_profile profile;   /* validation only: the wire gets what the user typed */
    json_object *profile_json;    /* option name -> value as typed */
    int prio_class;               /* 0 low, 1 normal, 2 high */
    int64_t priority;
    int64_t max_attempts;         /* 0 = the coordinator's default */
    const char *idem_key;
    int shared, wait;
    const char *out;
    /* status */
    int follow;
    /* jobs */
    int state; /* -1 = all */
    int64_t limit;
    int64_t offset; /* jobs --offset */
    /* get */
    int input;
    /* purge */
    const char *done_before;
    int dry_run;
    /* keygen, token create */
    const char *key_name, *key_dir;
    /* token create */
    const char *role;
    int fd; /* submit: FILE, opened before anything else so a bad name is a usage error */
};
/* The running program: configuration, transport and the admin client. */
struct ctl {
    struct opts *o;
    struct dcv_conf *conf;
    const struct dcv_settings *s;
    struct dcv_net *net;
    char endpoint[DCV_ENDPOINT_MAX];
    struct dcv_adminc ac;
};

/* ---- ctl.c: errors, the configuration and the admin plane ----------------- */

/* "distconvctl: MESSAGE" and the --help hint on stderr; returns EXIT_USAGE. */
int ctl_usage_error(const char *fmt, ...) DCV_PRINTF(1, 2);
/* "distconvctl: MESSAGE" on stderr. */
void ctl_errorf(const char *fmt, ...) DCV_PRINTF(1, 2);
/* A decimal integer in lo..hi: 0 or -EINVAL. */
int ctl_parse_int(const char *s, int64_t lo, int64_t hi, int64_t *out);

/* Load the configuration and the transport; work out the endpoint. Exit code. */
int ctl_open(struct ctl *c);
void ctl_close(struct ctl *c);
/* Request arguments with nothing set (all states, normal priority). */
void ctl_args_init(struct dcv_proto_args *a);
/*
 * One admin request. On EXIT_OK *body is the FINAL's parsed body (put it
 * with json_object_put) and *raw its text when raw is non-NULL (free()).
 * Anything else has been reported and is the exit code.
 */
int ctl_call(struct ctl *c, int verb, const struct dcv_proto_args *args, const char *key,
             json_object **body, char **raw);
/* A reply body as it came, one line on stdout (--json). */
void ctl_print_raw(const char *raw);
/* A JOB argument: 32 hex digits, or a unique prefix looked up in `jobs`. */
int ctl_resolve_job(struct ctl *c, const char *arg, char id[DCV_PROTO_JOB_ID]);

/* ---- transfer.c: the data plane -------------------------------------------- */

/* Upload fd (its size in blob->size) to the coordinator; fills blob
 * (xfer_id, sha256). Exit code. */
int transfer_upload(struct ctl *c, int fd, struct dcv_proto_blob *blob);
/* Download a job's output (or input) to `out`, never leaving it partial. Exit code. */
int transfer_download(struct ctl *c, const char *job_id, int what_input, const char *out);

/* ---- show.c: jobs and workers for people ------------------------------------ */

/* "encode 42% 30 fps" from a job's progress, "100%" done, "-" when none. */
void show_progress_text(json_object *job, char *buf, size_t len);
/* A done job whose attempt produced no output (library rules): its
 * outcome ("skipped", "kept-original"), else NULL. */
const char *show_no_output(json_object *job);
/* "key        value" */
void show_kv(const char *k, const char *v);
/* `status`, `worker`: one object; `jobs`, `workers`: the table of a reply
 * body. The tables return EXIT_OK or EXIT_FAILED (out of memory). */
void show_job(json_object *job);
void show_worker(json_object *w);
int show_jobs(json_object *body, int64_t offset, int quiet);
int show_workers(json_object *body, int quiet);

/* ---- storage.c: rm, purge, info, removed blobs in status ------------------- */

int cmd_rm(struct ctl *c);
int cmd_purge(struct ctl *c);
/* tokens.c */
int cmd_token(struct ctl *c);
int cmd_info(struct ctl *c);
/* "7d" (that long before now_ms) or "YYYY-MM-DD[THH:MM[:SS]]" local time,
 * with a trailing Z in UTC: Unix ms in *ms. 0 or -1. */
int ctl_parse_when(const char *s, int64_t now_ms, int64_t *ms);
/* status: the output's first download, and the blobs retention removed. */
void show_blob_facts(json_object *job);

#endif

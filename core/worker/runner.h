/*
 * Job child processes for the worker (DESIGN.md §2): each job runs as a
 * separate, niced, rlimited process in its own process group, so a crash in
 * a decoder or driver fails one attempt, not the worker, and cancel reaches
 * everything the job started.
 *
 * No threads: the caller's poll loop watches the fds from dcv_runner_pollfds()
 * and hands readiness back to dcv_runner_dispatch(); it calls
 * dcv_runner_reap() on SIGCHLD (signalfd or self-pipe; the runner installs no
 * handlers) and dcv_runner_tick() when dcv_runner_timeout_ms() expires.
 * Output arrives line by line through on_line (stdout: the job's progress
 * JSON, stderr: its log); the end arrives once through on_exit, after which
 * the child handle is freed.
 */
#ifndef DCV_RUNNER_H
#define DCV_RUNNER_H

#include <poll.h>
#include <stddef.h>
#include <sys/types.h>

struct dcv_runner;
struct dcv_child;

enum dcv_child_stream { DCV_CHILD_STDOUT = 1, DCV_CHILD_STDERR = 2 };

/* on_line flags */
#define DCV_LINE_TRUNCATED 1u /* longer than max_line; the rest was dropped */
#define DCV_LINE_NO_EOL 2u    /* the stream ended without a final newline */

struct dcv_child_status {
    int exited;       /* 1: exit_code is valid; 0: killed by term_signal */
    int exit_code;
    int term_signal;
    int core_dumped;
    int cancelled;    /* dcv_runner_cancel() was called for it */
    int killed;       /* the grace ran out and SIGKILL was sent */
    long long runtime_ms;
};

/* line is NUL-terminated (len excludes the NUL); valid during the call only. */
typedef void (*dcv_child_line_fn)(struct dcv_child *c, enum dcv_child_stream stream,
                                  const char *line, size_t len, unsigned flags, void *user);
typedef void (*dcv_child_exit_fn)(struct dcv_child *c, const struct dcv_child_status *st,
                                  void *user);

struct dcv_spawn_opts {
    int nice;                   /* niceness of at least this (never raised above the parent's) */
    unsigned long long rlimit_as; /* address space in bytes; 0: inherit */
    unsigned long rlimit_nofile;  /* open files; 0: inherit */
    int allow_core;             /* 0 (default): RLIMIT_CORE 0, no multi-GB cores from a job */
    const char *cwd;            /* NULL: inherit */
    const char *log_prefix;     /* kept for the caller, dcv_child_prefix(); may be NULL */
    size_t max_line;            /* 0: 4096; longer lines are truncated and flagged */
    dcv_child_line_fn on_line;  /* may be NULL */
    dcv_child_exit_fn on_exit;  /* may be NULL */
    void *user;
};

/* NULL on allocation failure; max_children >= 1. */
struct dcv_runner *dcv_runner_new(unsigned max_children);
/* SIGKILLs every child's process group and reaps it; no callbacks run.
 * Sets *r to NULL; NULL and *r NULL are fine. */
void dcv_runner_destroy(struct dcv_runner **r);

/*
 * Start argv[0] (searched in PATH when it has no '/') with envp (NULL: this
 * process's environment). stdin is /dev/null. Returns 0 and *out once the
 * child has exec'd; -EBUSY at max_children; a failure in the child before
 * exec comes back as its negative errno with e.g.
 * "exec /x/distconvd: No such file or directory" in err, and no child left.
 */
int dcv_runner_spawn(struct dcv_runner *r, char *const argv[], char *const envp[],
                     const struct dcv_spawn_opts *opts, struct dcv_child **out, char *err,
                     size_t errlen);

/*
 * SIGTERM to the child's process group now; SIGKILL to the group from
 * dcv_runner_tick() once grace_ms has passed (grace_ms 0: SIGKILL now).
 * Repeated calls never extend an earlier deadline.
 */
int dcv_runner_cancel(struct dcv_runner *r, struct dcv_child *c, unsigned grace_ms);

/* Send the SIGKILLs whose grace is over. Returns how many were sent. */
int dcv_runner_tick(struct dcv_runner *r);
/* Milliseconds until tick() has work (a poll() timeout), -1 when none. */
int dcv_runner_timeout_ms(const struct dcv_runner *r);

/* Fills up to cap entries; returns how many are needed (may exceed cap). */
size_t dcv_runner_pollfds(const struct dcv_runner *r, struct pollfd *fds, size_t cap);
/* Reads the ready fds of fds[0..n) that belong to the runner, others ignored. */
void dcv_runner_dispatch(struct dcv_runner *r, const struct pollfd *fds, size_t n);

/*
 * Read what one of the child's streams holds now (without waiting, a
 * bounded amount), delivering its lines through on_line: a caller told a
 * line of one stream can first take in what the child wrote on the other
 * before it (a job's log lines before its final line). Safe inside on_line.
 */
void dcv_child_drain(struct dcv_child *c, enum dcv_child_stream st);

/*
 * Collects every child that has ended (waitpid WNOHANG on its own pids, so
 * other children of the process are left alone): kills what is left of its
 * process group, delivers its remaining output, calls on_exit, frees it.
 * Returns how many were reaped.
 */
int dcv_runner_reap(struct dcv_runner *r);

unsigned dcv_runner_count(const struct dcv_runner *r);

pid_t dcv_child_pid(const struct dcv_child *c);
const char *dcv_child_prefix(const struct dcv_child *c);

#endif

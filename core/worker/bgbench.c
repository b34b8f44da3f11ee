/*
 * The startup benchmark in a niced child process (see bgbench.h).
 */
#include "worker/bgbench.h"
#include "build-config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "errbuf.h"
#include "log.h"
#include "probe.h"
#include "worker/encbench.h"

#define COMP "benchmark"
/* Below every job's priority: the figures compare devices, and a job the
 * worker runs meanwhile matters more than how fast they come. */
#define BENCH_NICE 10
/* A report is a few KiB; more is not a report. */
#define MAX_REPLY (4u << 20)

struct dcv_bgbench {
    pid_t pid;
    int fd;
    char *buf;
    size_t len, cap;
    int overflow;
};

/* The child: first byte 'R' and the report, or 'E' and why not. */
static void write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

static void child_main(struct dcv_conf *conf, unsigned probe_timeout_ms, int fd, pid_t parent)
{
    char *json = NULL, err[1024] = "";

    /* Its own group: a TERM for the daemon's group (a terminal's ^C)
     * reaches the daemon, which then ends this one itself. */
    dcv_probe_child_setup(parent);
    errno = 0;
    if (setpriority(PRIO_PROCESS, 0, getpriority(PRIO_PROCESS, 0) + BENCH_NICE) < 0)
        dcv_log(DCV_LOG_DEBUG, COMP, "cannot lower its priority: %s", strerror(errno));
    if (dcv_bench_measure(conf, probe_timeout_ms, &json, err, sizeof err) == 0) {
        write_all(fd, "R", 1);
        write_all(fd, json, strlen(json));
    } else {
        write_all(fd, "E", 1);
        write_all(fd, err, strlen(err));
    }
    /* _exit: the parent's atexit handlers and stdio buffers are not ours. */
    _exit(0);
}

int dcv_bgbench_start(struct dcv_conf *conf, unsigned probe_timeout_ms, struct dcv_bgbench **out,
                      char *err, size_t errlen)
{
    struct dcv_bgbench *b = calloc(1, sizeof *b);
    int fds[2];
    pid_t self = getpid();

    *out = NULL;
    if (!b)
        return dcv_err(err, errlen, -ENOMEM, "out of memory");
    if (pipe2(fds, O_CLOEXEC) < 0) {
        int e = errno;
        free(b);
        return dcv_err(err, errlen, -e, "pipe: %s", strerror(e));
    }
    /* Buffered log lines would be written again by the child. */
    fflush(NULL);
    b->pid = fork();
    if (b->pid < 0) {
        int e = errno;
        close(fds[0]);
        close(fds[1]);
        free(b);
        return dcv_err(err, errlen, -e, "fork: %s", strerror(e));
    }
    if (b->pid == 0) {
        close(fds[0]);
        child_main(conf, probe_timeout_ms, fds[1], self);
    }
    close(fds[1]);
    setpgid(b->pid, b->pid);
    b->fd = fds[0];
    fcntl(b->fd, F_SETFL, fcntl(b->fd, F_GETFL) | O_NONBLOCK);
    *out = b;
    return 0;
}

int dcv_bgbench_fd(const struct dcv_bgbench *b)
{
    return b ? b->fd : -1;
}

static void reap(struct dcv_bgbench *b)
{
    if (b->pid > 0)
        while (waitpid(b->pid, NULL, 0) < 0 && errno == EINTR)
            ;
    b->pid = 0;
}

int dcv_bgbench_read(struct dcv_bgbench *b, char **json_out, char *err, size_t errlen)
{
    char chunk[16384];
    ssize_t n;

    *json_out = NULL;
    if (b->fd < 0) {
        dcv_err(err, errlen, -EINVAL, "benchmark already finished");
        return 1;
    }
    while ((n = read(b->fd, chunk, sizeof chunk)) > 0) {
        if (b->len + (size_t)n + 1 > MAX_REPLY) {
            b->overflow = 1;
            continue;
        }
        if (b->len + (size_t)n + 1 > b->cap) {
            size_t cap = (b->len + (size_t)n + 1) * 2;
            char *p = realloc(b->buf, cap);
            if (!p) {
                b->overflow = 1;
                continue;
            }
            b->buf = p;
            b->cap = cap;
        }
        memcpy(b->buf + b->len, chunk, (size_t)n);
        b->len += (size_t)n;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    /* End of file (or a read error, which ends it as well). */
    close(b->fd);
    b->fd = -1;
    reap(b);
    if (b->overflow || b->len == 0) {
        dcv_err(err, errlen, -EPROTO, "%s", b->overflow ? "its report is too large or out of memory"
                                                        : "the benchmark process died");
        return 1;
    }
    b->buf[b->len] = '\0';
    if (b->buf[0] == 'R' && (*json_out = strdup(b->buf + 1)))
        return 1;
    dcv_err(err, errlen, -EPROTO, "%s", b->buf[0] == 'E' ? b->buf + 1 : "out of memory");
    return 1;
}

void dcv_bgbench_destroy(struct dcv_bgbench **bp)
{
    struct dcv_bgbench *b = bp ? *bp : NULL;

    if (!b)
        return;
    if (b->pid > 0) {
        /* Its probe children die with it (their PDEATHSIG). */
        kill(b->pid, SIGKILL);
        reap(b);
    }
    if (b->fd >= 0)
        close(b->fd);
    free(b->buf);
    free(b);
    *bp = NULL;
}

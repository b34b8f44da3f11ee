#include "worker/runner.h"
#include "clock.h"

#include "errbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define DEFAULT_MAX_LINE 4096
/* Bytes read per fd per dispatch, so one chatty job cannot starve the loop. */
#define READ_BUDGET (64 * 1024)

struct linebuf {
    int fd;             /* -1 once EOF was seen */
    char *buf;          /* max_line + 1 */
    size_t len;
    int truncated;      /* dropping bytes up to the next newline */
};

struct dcv_child {
    struct dcv_child *next;
    pid_t pid; /* also the process group id */
    struct linebuf out, errs;
    size_t max_line;
    char *prefix;
    dcv_child_line_fn on_line;
    dcv_child_exit_fn on_exit;
    void *user;
    long long started_ms;
    long long kill_at_ms; /* 0: no SIGKILL pending */
    int cancelled, killed;
};

struct dcv_runner {
    unsigned max_children, count;
    struct dcv_child *children;
};

/* What the child reports through the CLOEXEC pipe when setup fails. */
enum stage { ST_SETPGID = 1, ST_PDEATHSIG, ST_SIGNALS, ST_DUP2, ST_CLOSE, ST_NICE, ST_RLIMIT,
             ST_CHDIR, ST_EXEC };

static const char *stage_name(int st)
{
    switch (st) {
    case ST_SETPGID: return "setpgid";
    case ST_PDEATHSIG: return "prctl(PR_SET_PDEATHSIG)";
    case ST_SIGNALS: return "signal reset";
    case ST_DUP2: return "dup2";
    case ST_CLOSE: return "closing inherited fds";
    case ST_NICE: return "setpriority";
    case ST_RLIMIT: return "setrlimit";
    case ST_CHDIR: return "chdir";
    case ST_EXEC: return "exec";
    default: return "child setup";
    }
}

struct dcv_runner *dcv_runner_new(unsigned max_children)
{
    struct dcv_runner *r;
    if (max_children == 0)
        return NULL;
    r = calloc(1, sizeof(*r));
    if (r)
        r->max_children = max_children;
    return r;
}

static void close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

static void child_free(struct dcv_child *c)
{
    close_fd(&c->out.fd);
    close_fd(&c->errs.fd);
    free(c->out.buf);
    free(c->errs.buf);
    free(c->prefix);
    free(c);
}

static void unlink_child(struct dcv_runner *r, struct dcv_child *c)
{
    for (struct dcv_child **pp = &r->children; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            r->count--;
            return;
        }
}

void dcv_runner_destroy(struct dcv_runner **rp)
{
    struct dcv_runner *r = rp ? *rp : NULL;

    if (!r)
        return;
    while (r->children) {
        struct dcv_child *c = r->children;
        r->children = c->next;
        kill(-c->pid, SIGKILL);
        /* SIGKILL cannot be caught, so this wait is short; EINTR just retries. */
        while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR)
            ;
        child_free(c);
    }
    free(r);
    *rp = NULL;
}

/* pipe2 with both ends >= 3, so dup2 onto 0-2 in the child never clobbers
 * one of them (the worker may run with stdin closed). */
static int pipe_hi(int p[2])
{
    if (pipe2(p, O_CLOEXEC) < 0)
        return -errno;
    for (int i = 0; i < 2; i++)
        if (p[i] < 3) {
            int n = fcntl(p[i], F_DUPFD_CLOEXEC, 3);
            if (n < 0) {
                int e = errno;
                close(p[0]);
                close(p[1]);
                return -e;
            }
            close(p[i]);
            p[i] = n;
        }
    return 0;
}

/* PATH lookup done before fork: execvp's would allocate in the child. */
static int resolve(const char *name, char *out, size_t outlen)
{
    const char *path = getenv("PATH");
    if (strchr(name, '/')) {
        if ((size_t)snprintf(out, outlen, "%s", name) >= outlen)
            return -ENAMETOOLONG;
        return 0;
    }
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    int last = -ENOENT;
    while (*path) {
        const char *colon = strchrnul(path, ':');
        size_t dl = (size_t)(colon - path);
        if (dl == 0) /* empty element: the current directory */
            snprintf(out, outlen, "%s", name);
        else if ((size_t)snprintf(out, outlen, "%.*s/%s", (int)dl, path, name) >= outlen)
            last = -ENAMETOOLONG;
        if (access(out, X_OK) == 0)
            return 0;
        if (errno == EACCES)
            last = -EACCES;
        path = *colon ? colon + 1 : colon;
    }
    snprintf(out, outlen, "%s", name);
    return last;
}

struct child_setup {
    const char *path;
    char *const *argv;
    char *const *envp;
    const struct dcv_spawn_opts *o;
    pid_t parent;
    int nullfd, outw, errw, reportw;
};

static void child_fail(int reportw, int stage) __attribute__((noreturn));
static void child_fail(int reportw, int stage)
{
    int msg[2] = {stage, errno};
    ssize_t n;
    do
        n = write(reportw, msg, sizeof(msg));
    while (n < 0 && errno == EINTR);
    _exit(127);
}

static int close_others(int keep)
{
    /* Everything but 0-2 and the report pipe, which is CLOEXEC itself. */
    if (keep > 3 && syscall(SYS_close_range, 3u, (unsigned)keep - 1, 0u) < 0 && errno != ENOSYS)
        return -1;
    if (syscall(SYS_close_range, (unsigned)keep + 1, ~0u, 0u) == 0)
        return 0;
    if (errno != ENOSYS)
        return -1;
    /* Pre-5.9 kernel: the slow way, bounded by the hard fd limit. */
    struct rlimit rl;
    long max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY
                   ? (long)rl.rlim_max : 65536;
    for (long fd = 3; fd < max; fd++)
        if (fd != keep)
            close((int)fd);
    return 0;
}

static int lower_limit(int res, rlim_t v)
{
    struct rlimit rl;
    if (getrlimit(res, &rl) < 0)
        return -1;
    /* Only ever lower: raising the hard limit needs privilege. */
    if (rl.rlim_max != RLIM_INFINITY && v > rl.rlim_max)
        v = rl.rlim_max;
    rl.rlim_cur = rl.rlim_max = v;
    return setrlimit(res, &rl);
}

/* Runs between fork and exec: async-signal-safe calls only. */
static void child_main(const struct child_setup *s) __attribute__((noreturn));
static void child_main(const struct child_setup *s)
{
    const struct dcv_spawn_opts *o = s->o;
    struct sigaction sa;
    sigset_t none;

    if (setpgid(0, 0) < 0)
        child_fail(s->reportw, ST_SETPGID);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
        child_fail(s->reportw, ST_PDEATHSIG);
    /* The parent may have died before prctl took effect: nobody would ever
     * deliver that SIGKILL, so check by hand. */
    if (getppid() != s->parent)
        _exit(127);

    /* Handlers are reset by exec anyway, ignored signals are not; the mask
     * is inherited and the parent blocked everything around fork. */
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            sigaction(sig, &sa, NULL); /* EINVAL for glibc-reserved ones is fine */
    sigemptyset(&none);
    if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
        child_fail(s->reportw, ST_SIGNALS);

    if (dup2(s->nullfd, 0) < 0 || dup2(s->outw, 1) < 0 || dup2(s->errw, 2) < 0)
        child_fail(s->reportw, ST_DUP2);
    if (close_others(s->reportw) < 0)
        child_fail(s->reportw, ST_CLOSE);

    if (o->nice > 0) {
        errno = 0;
        int cur = getpriority(PRIO_PROCESS, 0);
        if (!(cur == -1 && errno != 0) && o->nice > cur &&
            setpriority(PRIO_PROCESS, 0, o->nice > 19 ? 19 : o->nice) < 0)
            child_fail(s->reportw, ST_NICE);
    }
    if (!o->allow_core && lower_limit(RLIMIT_CORE, 0) < 0)
        child_fail(s->reportw, ST_RLIMIT);
    if (o->rlimit_as && lower_limit(RLIMIT_AS, (rlim_t)o->rlimit_as) < 0)
        child_fail(s->reportw, ST_RLIMIT);
    if (o->rlimit_nofile && lower_limit(RLIMIT_NOFILE, (rlim_t)o->rlimit_nofile) < 0)
        child_fail(s->reportw, ST_RLIMIT);
    if (o->cwd && chdir(o->cwd) < 0)
        child_fail(s->reportw, ST_CHDIR);

    execve(s->path, s->argv, s->envp);
    child_fail(s->reportw, ST_EXEC);
}

static int linebuf_init(struct linebuf *lb, int fd, size_t max_line)
{
    lb->fd = fd;
    lb->len = 0;
    lb->truncated = 0;
    lb->buf = malloc(max_line + 1);
    return lb->buf ? 0 : -ENOMEM;
}

int dcv_runner_spawn(struct dcv_runner *r, char *const argv[], char *const envp[],
                     const struct dcv_spawn_opts *opts, struct dcv_child **out, char *err,
                     size_t errlen)
{
    static const struct dcv_spawn_opts defaults;
    const struct dcv_spawn_opts *o = opts ? opts : &defaults;
    char path[PATH_MAX];
    int outp[2] = {-1, -1}, errp[2] = {-1, -1}, rep[2] = {-1, -1}, nullfd = -1;
    struct dcv_child *c = NULL;
    sigset_t all, old;
    int rc;

    if (out)
        *out = NULL;
    if (!r || !argv || !argv[0] || !*argv[0])
        return dcv_err(err, errlen, -EINVAL, "spawn: no program given");
    if (r->count >= r->max_children)
        return dcv_err(err, errlen, -EBUSY, "spawn %s: already running %u children (the limit)",
                       argv[0], r->max_children);
    rc = resolve(argv[0], path, sizeof(path));
    if (rc < 0)
        return dcv_err(err, errlen, rc, "exec %s: %s", argv[0], strerror(-rc));

    c = calloc(1, sizeof(*c));
    if (!c)
        return dcv_err(err, errlen, -ENOMEM, "spawn %s: out of memory", argv[0]);
    c->out.fd = c->errs.fd = -1;
    c->max_line = o->max_line ? o->max_line : DEFAULT_MAX_LINE;
    if ((o->log_prefix && !(c->prefix = strdup(o->log_prefix))) ||
        linebuf_init(&c->out, -1, c->max_line) < 0 || linebuf_init(&c->errs, -1, c->max_line) < 0) {
        child_free(c);
        return dcv_err(err, errlen, -ENOMEM, "spawn %s: out of memory", argv[0]);
    }
    c->on_line = o->on_line;
    c->on_exit = o->on_exit;
    c->user = o->user;

    if ((rc = pipe_hi(outp)) < 0 || (rc = pipe_hi(errp)) < 0 || (rc = pipe_hi(rep)) < 0) {
        dcv_errf(err, errlen, "spawn %s: pipe: %s", argv[0], strerror(-rc));
        goto fail;
    }
    nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (nullfd >= 0 && nullfd < 3) { /* our stdio is closed: keep 0-2 free for dup2 */
        int hi = fcntl(nullfd, F_DUPFD_CLOEXEC, 3);
        close(nullfd);
        nullfd = hi;
    }
    if (nullfd < 0) {
        rc = -errno;
        dcv_errf(err, errlen, "spawn %s: /dev/null: %s", argv[0], strerror(errno));
        goto fail;
    }

    struct child_setup s = {
        .path = path, .argv = argv, .envp = envp ? envp : environ, .o = o, .parent = getpid(),
        .nullfd = nullfd, .outw = outp[1], .errw = errp[1], .reportw = rep[1],
    };
    /* Blocked across fork so no parent handler runs in the child before
     * child_main resets the dispositions. */
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, &old);
    pid_t pid = fork();
    if (pid == 0)
        child_main(&s);
    int fork_errno = errno;
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (pid < 0) {
        rc = -fork_errno;
        dcv_errf(err, errlen, "spawn %s: fork: %s", argv[0], strerror(fork_errno));
        goto fail;
    }
    close_fd(&rep[1]);
    close_fd(&outp[1]);
    close_fd(&errp[1]);
    close_fd(&nullfd);

    int msg[2];
    ssize_t n;
    do
        n = read(rep[0], msg, sizeof(msg));
    while (n < 0 && errno == EINTR);
    close_fd(&rep[0]);
    if (n != 0) {
        /* Setup failed (or the report is unreadable): the child is exiting
         * or gone already, so this wait is short and leaves no zombie. */
        int e = n == (ssize_t)sizeof(msg) ? msg[1] : EIO;
        const char *what = n == (ssize_t)sizeof(msg) ? stage_name(msg[0]) : "child setup";
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        rc = -(e ? e : EIO);
        if (n == (ssize_t)sizeof(msg) && msg[0] == ST_EXEC)
            dcv_errf(err, errlen, "exec %s: %s", path, strerror(e));
        else if (n == (ssize_t)sizeof(msg) && msg[0] == ST_CHDIR)
            dcv_errf(err, errlen, "spawn %s: chdir %s: %s", argv[0], o->cwd, strerror(e));
        else
            dcv_errf(err, errlen, "spawn %s: %s: %s", argv[0], what, strerror(e));
        goto fail;
    }

    fcntl(outp[0], F_SETFL, O_NONBLOCK);
    fcntl(errp[0], F_SETFL, O_NONBLOCK);
    c->out.fd = outp[0];
    c->errs.fd = errp[0];
    c->pid = pid;
    c->started_ms = dcv_mono_ms();
    c->next = r->children;
    r->children = c;
    r->count++;
    if (out)
        *out = c;
    return 0;

fail:
    close_fd(&outp[0]);
    close_fd(&outp[1]);
    close_fd(&errp[0]);
    close_fd(&errp[1]);
    close_fd(&rep[0]);
    close_fd(&rep[1]);
    close_fd(&nullfd);
    child_free(c);
    return rc < 0 ? rc : -EIO;
}

static struct dcv_child *find_child(const struct dcv_runner *r, const struct dcv_child *c)
{
    for (struct dcv_child *it = r->children; it; it = it->next)
        if (it == c)
            return it;
    return NULL;
}

int dcv_runner_cancel(struct dcv_runner *r, struct dcv_child *c, unsigned grace_ms)
{
    if (!r || !c || !find_child(r, c))
        return -EINVAL;
    c->cancelled = 1;
    if (grace_ms == 0 || c->killed) {
        c->killed = 1;
        c->kill_at_ms = 0;
        return kill(-c->pid, SIGKILL) < 0 && errno != ESRCH ? -errno : 0;
    }
    long long at = dcv_mono_ms() + grace_ms;
    if (c->kill_at_ms == 0 || at < c->kill_at_ms)
        c->kill_at_ms = at;
    /* ESRCH: the whole group is gone already; reap will tell. */
    return kill(-c->pid, SIGTERM) < 0 && errno != ESRCH ? -errno : 0;
}

int dcv_runner_tick(struct dcv_runner *r)
{
    long long t = dcv_mono_ms();
    int n = 0;
    for (struct dcv_child *c = r ? r->children : NULL; c; c = c->next)
        if (c->kill_at_ms && t >= c->kill_at_ms) {
            c->kill_at_ms = 0;
            c->killed = 1;
            kill(-c->pid, SIGKILL);
            n++;
        }
    return n;
}

int dcv_runner_timeout_ms(const struct dcv_runner *r)
{
    long long t = dcv_mono_ms(), best = -1;
    for (const struct dcv_child *c = r ? r->children : NULL; c; c = c->next)
        if (c->kill_at_ms) {
            long long d = c->kill_at_ms > t ? c->kill_at_ms - t : 0;
            if (best < 0 || d < best)
                best = d;
        }
    return best > INT_MAX ? INT_MAX : (int)best;
}

size_t dcv_runner_pollfds(const struct dcv_runner *r, struct pollfd *fds, size_t cap)
{
    size_t n = 0;
    for (const struct dcv_child *c = r ? r->children : NULL; c; c = c->next) {
        const int f[2] = {c->out.fd, c->errs.fd};
        for (int i = 0; i < 2; i++)
            if (f[i] >= 0) {
                if (n < cap)
                    fds[n] = (struct pollfd){.fd = f[i], .events = POLLIN};
                n++;
            }
    }
    return n;
}

static void emit(struct dcv_child *c, enum dcv_child_stream st, struct linebuf *lb, unsigned flags)
{
    lb->buf[lb->len] = '\0';
    if (lb->truncated)
        flags |= DCV_LINE_TRUNCATED;
    if (c->on_line)
        c->on_line(c, st, lb->buf, lb->len, flags, c->user);
    lb->len = 0;
    lb->truncated = 0;
}

static void feed(struct dcv_child *c, enum dcv_child_stream st, struct linebuf *lb,
                 const char *p, size_t n)
{
    while (n > 0) {
        const char *nl = memchr(p, '\n', n);
        size_t seg = nl ? (size_t)(nl - p) : n;
        size_t room = c->max_line - lb->len;
        size_t take = seg < room ? seg : room;
        memcpy(lb->buf + lb->len, p, take);
        lb->len += take;
        if (take < seg)
            lb->truncated = 1; /* the excess is dropped, memory stays bounded */
        if (nl) {
            emit(c, st, lb, 0);
            seg++;
        }
        p += seg;
        n -= seg;
    }
}

/* Reads what is available (up to budget bytes; 0: until EAGAIN). At EOF
 * delivers any unterminated last line and closes the fd. */
static void drain(struct dcv_child *c, enum dcv_child_stream st, size_t budget)
{
    struct linebuf *lb = st == DCV_CHILD_STDOUT ? &c->out : &c->errs;
    char chunk[4096];
    size_t got = 0;

    while (lb->fd >= 0 && (budget == 0 || got < budget)) {
        ssize_t n = read(lb->fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) { /* EOF, or an error that will not go away */
            if (lb->len || lb->truncated)
                emit(c, st, lb, DCV_LINE_NO_EOL);
            close_fd(&lb->fd);
            return;
        }
        feed(c, st, lb, chunk, (size_t)n);
        got += (size_t)n;
    }
}

void dcv_child_drain(struct dcv_child *c, enum dcv_child_stream st)
{
    if (c)
        drain(c, st, READ_BUDGET);
}

void dcv_runner_dispatch(struct dcv_runner *r, const struct pollfd *fds, size_t n)
{
    for (size_t i = 0; r && i < n; i++) {
        if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        for (struct dcv_child *c = r->children; c; c = c->next) {
            if (c->out.fd == fds[i].fd) {
                drain(c, DCV_CHILD_STDOUT, READ_BUDGET);
                break;
            }
            if (c->errs.fd == fds[i].fd) {
                drain(c, DCV_CHILD_STDERR, READ_BUDGET);
                break;
            }
        }
    }
}

int dcv_runner_reap(struct dcv_runner *r)
{
    int reaped = 0;
    struct dcv_child *c = r ? r->children : NULL;

    while (c) {
        struct dcv_child *next = c->next;
        siginfo_t si;
        memset(&si, 0, sizeof(si));
        /* Peek without reaping: while the leader is a zombie its pid cannot
         * be reused, so killing the group below cannot hit a stranger. */
        int wr = waitid(P_PID, (id_t)c->pid, &si, WEXITED | WNOHANG | WNOWAIT);
        if (wr < 0 && errno == EINTR)
            continue; /* same child again */
        int gone = wr < 0 && errno == ECHILD; /* reaped behind our back */
        if (!gone && (wr < 0 || si.si_pid == 0)) {
            c = next;
            continue;
        }
        /* Leftovers (a job's own helpers) would be orphans: kill them. Not
         * when the pid is no longer ours: it may belong to a stranger now. */
        if (!gone)
            kill(-c->pid, SIGKILL);
        /* What the child wrote before exiting is in the pipes now. */
        drain(c, DCV_CHILD_STDOUT, 0);
        drain(c, DCV_CHILD_STDERR, 0);

        int status = 0;
        pid_t w = -1;
        while (!gone && (w = waitpid(c->pid, &status, 0)) < 0 && errno == EINTR)
            ;
        struct dcv_child_status st = {
            .cancelled = c->cancelled,
            .killed = c->killed,
            .runtime_ms = dcv_mono_ms() - c->started_ms,
        };
        if (w == c->pid && WIFEXITED(status)) {
            st.exited = 1;
            st.exit_code = WEXITSTATUS(status);
        } else if (w == c->pid && WIFSIGNALED(status)) {
            st.term_signal = WTERMSIG(status);
            st.core_dumped = WCOREDUMP(status) ? 1 : 0;
        } else { /* someone else reaped it (waitpid(-1) elsewhere): unknown */
            st.exit_code = -1;
        }
        unlink_child(r, c);
        if (c->on_exit)
            c->on_exit(c, &st, c->user);
        child_free(c);
        reaped++;
        c = next;
    }
    return reaped;
}

unsigned dcv_runner_count(const struct dcv_runner *r)
{
    return r ? r->count : 0;
}

pid_t dcv_child_pid(const struct dcv_child *c)
{
    return c ? c->pid : -1;
}

const char *dcv_child_prefix(const struct dcv_child *c)
{
    return c && c->prefix ? c->prefix : "";
}

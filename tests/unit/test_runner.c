/*
 * Job child processes, with real processes: /bin/sh scripts, sleep, and the
 * real distconvd. Time limits are generous lower bounds only, so a loaded
 * machine makes the test slower, not flaky.
 */
#include "tap.h"
#include "worker/runner.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAXL 512
#define LONG_WAIT_MS 60000

struct rec {
    char out[MAXL][160];
    unsigned out_flags[MAXL];
    size_t out_len[MAXL];
    int nout;
    char errs[64][160];
    int nerr;
    int done;
    struct dcv_child_status st;
};

static void on_line(struct dcv_child *c, enum dcv_child_stream s, const char *line, size_t len,
                    unsigned flags, void *user)
{
    struct rec *r = user;
    (void)c;
    if (s == DCV_CHILD_STDOUT && r->nout < MAXL) {
        snprintf(r->out[r->nout], sizeof(r->out[0]), "%s", line);
        r->out_flags[r->nout] = flags;
        r->out_len[r->nout] = len;
        r->nout++;
    } else if (s == DCV_CHILD_STDERR && r->nerr < 64) {
        snprintf(r->errs[r->nerr++], sizeof(r->errs[0]), "%s", line);
    }
}

static void on_exit_cb(struct dcv_child *c, const struct dcv_child_status *st, void *user)
{
    struct rec *r = user;
    (void)c;
    r->st = *st;
    r->done = 1;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One turn of a worker-style poll loop. */
static void turn(struct dcv_runner *r)
{
    struct pollfd fds[64];
    size_t n = dcv_runner_pollfds(r, fds, 64);
    int t = dcv_runner_timeout_ms(r);
    if (n > 64)
        n = 64;
    /* A short poll stands in for SIGCHLD wakeups. */
    poll(fds, n, t >= 0 && t < 20 ? t : 20);
    dcv_runner_dispatch(r, fds, n);
    dcv_runner_tick(r);
    dcv_runner_reap(r);
}

static int wait_done(struct dcv_runner *r, struct rec *rc, int ms)
{
    long long end = now_ms() + ms;
    while (!rc->done && now_ms() < end)
        turn(r);
    return rc->done;
}

static int wait_lines(struct dcv_runner *r, struct rec *rc, int nlines, int ms)
{
    long long end = now_ms() + ms;
    while (rc->nout < nlines && !rc->done && now_ms() < end)
        turn(r);
    return rc->nout >= nlines;
}

static struct dcv_spawn_opts opts_for(struct rec *rc)
{
    memset(rc, 0, sizeof(*rc));
    return (struct dcv_spawn_opts){.on_line = on_line, .on_exit = on_exit_cb, .user = rc};
}

static int sh(struct dcv_runner *r, const char *script, const struct dcv_spawn_opts *o,
              struct dcv_child **c, char *err, size_t errlen)
{
    char *argv[] = {"/bin/sh", "-c", (char *)script, NULL};
    return dcv_runner_spawn(r, argv, NULL, o, c, err, errlen);
}

/* 1: the pid exists and is not a zombie. */
static int alive(pid_t pid)
{
    char p[64], buf[512];
    snprintf(p, sizeof(p), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(p, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *rp = strrchr(buf, ')');
    return rp && rp[1] == ' ' && rp[2] != 'Z' && rp[2] != 'X';
}

static int wait_dead(pid_t pid, int ms)
{
    long long end = now_ms() + ms;
    while (alive(pid) && now_ms() < end)
        usleep(20000);
    return !alive(pid);
}

/* Children of this process still in /proc (zombies included). */
static int count_my_children(char *which, size_t len)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    int n = 0;
    which[0] = '\0';
    if (!d)
        return -1;
    while ((e = readdir(d))) {
        char p[300], buf[512];
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        snprintf(p, sizeof(p), "/proc/%s/stat", e->d_name);
        FILE *f = fopen(p, "r");
        if (!f)
            continue;
        size_t k = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[k] = '\0';
        const char *rp = strrchr(buf, ')');
        char state;
        int ppid;
        if (rp && sscanf(rp + 1, " %c %d", &state, &ppid) == 2 && ppid == getpid()) {
            n++;
            size_t used = strlen(which);
            snprintf(which + used, len - used, " %s(%c)", e->d_name, state);
        }
    }
    closedir(d);
    return n;
}

static void test_exit_and_signal(struct dcv_runner *r)
{
    struct rec rc;
    struct dcv_spawn_opts o = opts_for(&rc);
    char err[256] = "";
    struct dcv_child *c;

    TAP_IS_INT(sh(r, "exit 3", &o, &c, err, sizeof(err)), 0, "spawn sh exit 3");
    TAP_OK(c && dcv_child_pid(c) > 0, "child handle has a pid");
    TAP_OK(wait_done(r, &rc, LONG_WAIT_MS), "exit reported");
    TAP_OK(rc.st.exited && rc.st.exit_code == 3 && !rc.st.cancelled, "exit code 3 reported");

    o = opts_for(&rc);
    TAP_IS_INT(sh(r, "kill -USR1 $$", &o, &c, err, sizeof(err)), 0, "spawn self-signalling sh");
    TAP_OK(wait_done(r, &rc, LONG_WAIT_MS), "signal death reported");
    TAP_OK(!rc.st.exited && rc.st.term_signal == SIGUSR1, "SIGUSR1 reported (got exited=%d sig=%d)",
           rc.st.exited, rc.st.term_signal);
    TAP_IS_INT(dcv_runner_count(r), 0, "both children freed");
}

static void test_lines(struct dcv_runner *r)
{
    struct rec rc;
    struct dcv_spawn_opts o = opts_for(&rc);
    char err[256] = "";
    struct dcv_child *c;

    TAP_IS_INT(sh(r,
                  "i=0; while [ $i -lt 300 ]; do echo \"line $i\"; i=$((i+1)); done;"
                  "echo err1 >&2; echo err2 >&2; printf tail",
                  &o, &c, err, sizeof(err)),
               0, "spawn line writer");
    TAP_OK(wait_done(r, &rc, LONG_WAIT_MS), "line writer finished");
    TAP_IS_INT(rc.nout, 301, "301 stdout lines delivered");
    int inorder = 1;
    for (int i = 0; i < 300 && i < rc.nout; i++) {
        char want[32];
        snprintf(want, sizeof(want), "line %d", i);
        if (strcmp(rc.out[i], want) || rc.out_flags[i])
            inorder = 0;
    }
    TAP_OK(inorder, "stdout lines complete, in order, unflagged");
    TAP_OK(rc.nout == 301 && !strcmp(rc.out[300], "tail") && rc.out_flags[300] == DCV_LINE_NO_EOL,
           "unterminated last line delivered and flagged NO_EOL");
    TAP_OK(rc.nerr == 2 && !strcmp(rc.errs[0], "err1") && !strcmp(rc.errs[1], "err2"),
           "stderr lines delivered in order");

    o = opts_for(&rc);
    o.max_line = 100;
    TAP_IS_INT(sh(r, "head -c 100000 /dev/zero | tr '\\000' x; echo; echo after", &o, &c, err,
                  sizeof(err)),
               0, "spawn overlong line writer");
    TAP_OK(wait_done(r, &rc, LONG_WAIT_MS), "overlong writer finished");
    TAP_OK(rc.nout == 2 && rc.out_len[0] == 100 && (rc.out_flags[0] & DCV_LINE_TRUNCATED),
           "100000-byte line truncated to max_line and flagged (n=%d len=%zu flags=%u)", rc.nout,
           rc.out_len[0], rc.out_flags[0]);
    TAP_OK(rc.nout == 2 && !strcmp(rc.out[1], "after") && rc.out_flags[1] == 0,
           "line after the overlong one intact");
}

static void test_spawn_errors(struct dcv_runner *r)
{
    struct rec rc;
    struct dcv_spawn_opts o = opts_for(&rc);
    char err[256] = "";
    struct dcv_child *c = (struct dcv_child *)1;
    char *missing[] = {"/nonexistent/x/distconvd", "--version", NULL};
    char *noexec[] = {NULL, NULL};
    char *nopath[] = {"no-such-program-dcv-xyz", NULL};
    char *ok[] = {"true", NULL};

    int ret = dcv_runner_spawn(r, missing, NULL, &o, &c, err, sizeof(err));
    TAP_IS_INT(ret, -ENOENT, "exec of a missing binary -> -ENOENT");
    TAP_HAS_STR(err, "exec /nonexistent/x/distconvd: No such file or directory",
                "error names the binary and the reason");
    TAP_OK(c == NULL, "no child handle on failure");

    /* Even root needs an x bit; garbage with one is ENOEXEC for everyone. */
    char tmpl[] = "/tmp/dcv-runner-XXXXXX";
    char *dir = mkdtemp(tmpl);
    char f644[PATH_MAX], f755[PATH_MAX], want[PATH_MAX + 64];
    if (!dir)
        tap_bail("mkdtemp: %s", strerror(errno));
    snprintf(f644, sizeof(f644), "%s/plain", dir);
    snprintf(f755, sizeof(f755), "%s/garbage", dir);
    FILE *f = fopen(f644, "w");
    if (!f || fputs("junk\n", f) < 0 || fclose(f) != 0 || chmod(f644, 0644) < 0)
        tap_bail("cannot write %s", f644);
    f = fopen(f755, "w");
    if (!f || fputs("\x01\x02junk\n", f) < 0 || fclose(f) != 0 || chmod(f755, 0755) < 0)
        tap_bail("cannot write %s", f755);
    noexec[0] = f644;
    ret = dcv_runner_spawn(r, noexec, NULL, &o, &c, err, sizeof(err));
    TAP_IS_INT(ret, -EACCES, "exec of a file without x bits -> -EACCES");
    snprintf(want, sizeof(want), "exec %s: Permission denied", f644);
    TAP_HAS_STR(err, want, "EACCES message");
    noexec[0] = f755;
    ret = dcv_runner_spawn(r, noexec, NULL, &o, &c, err, sizeof(err));
    TAP_IS_INT(ret, -ENOEXEC, "exec of a non-program -> -ENOEXEC");
    snprintf(want, sizeof(want), "exec %s: Exec format error", f755);
    TAP_HAS_STR(err, want, "ENOEXEC message");
    unlink(f644);
    unlink(f755);
    rmdir(dir);

    ret = dcv_runner_spawn(r, nopath, NULL, &o, &c, err, sizeof(err));
    TAP_IS_INT(ret, -ENOENT, "PATH lookup of a missing name -> -ENOENT");
    TAP_HAS_STR(err, "no-such-program-dcv-xyz", "PATH error names the program");

    o.cwd = "/nonexistent-dir-dcv";
    ret = dcv_runner_spawn(r, ok, NULL, &o, &c, err, sizeof(err));
    TAP_IS_INT(ret, -ENOENT, "bad working directory -> -ENOENT");
    TAP_HAS_STR(err, "chdir /nonexistent-dir-dcv", "chdir error names the directory");
    TAP_IS_INT(dcv_runner_count(r), 0, "failed spawns leave no child behind");

    char *empty[] = {NULL};
    TAP_IS_INT(dcv_runner_spawn(r, empty, NULL, &o, &c, err, sizeof(err)), -EINVAL,
               "empty argv -> -EINVAL");
}

static void test_max_children(void)
{
    struct dcv_runner *r = dcv_runner_new(2);
    struct rec a, b, x;
    struct dcv_spawn_opts oa = opts_for(&a), ob = opts_for(&b), ox = opts_for(&x);
    struct dcv_child *ca, *cb, *cx;
    char err[256] = "";
    char *argv[] = {"sleep", "100", NULL};

    TAP_OK(dcv_runner_new(0) == NULL, "max_children 0 refused");
    TAP_IS_INT(dcv_runner_spawn(r, argv, NULL, &oa, &ca, err, sizeof(err)), 0, "slot 1 (PATH: sleep)");
    TAP_IS_INT(dcv_runner_spawn(r, argv, NULL, &ob, &cb, err, sizeof(err)), 0, "slot 2");
    TAP_IS_INT(dcv_runner_spawn(r, argv, NULL, &ox, &cx, err, sizeof(err)), -EBUSY,
               "third child -> -EBUSY");
    TAP_HAS_STR(err, "limit", "EBUSY message says why");
    TAP_IS_INT(dcv_runner_pollfds(r, NULL, 0), 4, "two fds to watch per child");
    TAP_IS_INT(dcv_runner_timeout_ms(r), -1, "no deadline before cancel");
    TAP_IS_INT(dcv_runner_cancel(r, ca, 30000), 0, "cancel slot 1");
    int t = dcv_runner_timeout_ms(r);
    TAP_OK(t > 0 && t <= 30000, "deadline exposed after cancel (%d ms)", t);
    TAP_OK(wait_done(r, &a, LONG_WAIT_MS), "sleep ended by SIGTERM");
    TAP_OK(a.st.cancelled && !a.st.killed && a.st.term_signal == SIGTERM, "reported as SIGTERM, cancelled");
    TAP_IS_INT(dcv_runner_spawn(r, argv, NULL, &ox, &cx, err, sizeof(err)), 0,
               "a slot is free again after reap");
    pid_t pb = dcv_child_pid(cb), px = dcv_child_pid(cx);
    dcv_runner_destroy(&r);
    TAP_OK(!alive(pb) && !alive(px) && kill(pb, 0) < 0 && kill(px, 0) < 0,
           "destroy kills and reaps the rest");
}

static int proc_nice(pid_t pid)
{
    char p[64], buf[1024];
    snprintf(p, sizeof(p), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(p, "r");
    if (!f)
        return -100;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* Field 19 is nice; fields are counted from the state after ")". */
    char *s = strrchr(buf, ')');
    int field = 2;
    for (char *tok = s ? strtok(s + 1, " ") : NULL; tok; tok = strtok(NULL, " "))
        if (++field == 19)
            return atoi(tok);
    return -100;
}

static void test_nice_limits_cwd_fds(struct dcv_runner *r)
{
    struct rec rc;
    struct dcv_spawn_opts o = opts_for(&rc);
    char err[256] = "";
    struct dcv_child *c;
    char *sleeper[] = {"/bin/sleep", "100", NULL};

    o.nice = 10;
    TAP_IS_INT(dcv_runner_spawn(r, sleeper, NULL, &o, &c, err, sizeof(err)), 0, "spawn niced sleep");
    int mine = getpriority(PRIO_PROCESS, 0), want = mine > 10 ? mine : 10;
    TAP_IS_INT(proc_nice(dcv_child_pid(c)), want, "child's nice value from /proc/<pid>/stat");
    struct dcv_child *sleeper_c = c;
    struct rec sleeper_rec = rc;
    (void)sleeper_rec;

    /* A non-CLOEXEC fd here must not reach the child, nor the sleeper's pipes. */
    int leak = open("/dev/null", O_RDONLY);
    int high = leak >= 0 ? dup2(leak, 57) : -1;
    struct rec lr;
    struct dcv_spawn_opts lo = opts_for(&lr);
    char *lsfd[] = {"/bin/ls", "/proc/self/fd", NULL};
    TAP_IS_INT(dcv_runner_spawn(r, lsfd, NULL, &lo, &c, err, sizeof(err)), 0, "spawn ls /proc/self/fd");
    TAP_OK(wait_done(r, &lr, LONG_WAIT_MS), "ls finished");
    int bad = 0;
    char seen[256] = "";
    for (int i = 0; i < lr.nout; i++) {
        size_t used = strlen(seen);
        snprintf(seen + used, sizeof(seen) - used, " %s", lr.out[i]);
        if (atoi(lr.out[i]) > 3)
            bad++;
    }
    /* 0-2 plus ls's own handle on the directory. */
    TAP_OK(lr.nout >= 3 && bad == 0, "only 0-3 open in the child:%s", seen);
    if (high >= 0)
        close(high);
    if (leak >= 0)
        close(leak);

    char tmpl[] = "/tmp/dcv-runner-XXXXXX";
    char *dir = mkdtemp(tmpl);
    struct rec cr;
    struct dcv_spawn_opts co = opts_for(&cr);
    co.cwd = dir;
    co.rlimit_nofile = 64;
    co.rlimit_as = 1ull << 30;
    char *cat[] = {"/bin/sh", "-c", "pwd; cat /proc/self/limits", NULL};
    TAP_IS_INT(dcv_runner_spawn(r, cat, NULL, &co, &c, err, sizeof(err)), 0, "spawn limits reader");
    TAP_OK(wait_done(r, &cr, LONG_WAIT_MS), "limits reader finished");
    char real[PATH_MAX];
    TAP_OK(dir && realpath(dir, real) && cr.nout > 0 && !strcmp(cr.out[0], real),
           "working directory applied (%s)", cr.nout ? cr.out[0] : "");
    int nofile = 0, core = 0, as = 0;
    for (int i = 1; i < cr.nout; i++) {
        char a[32], b[32];
        if (sscanf(cr.out[i], "Max open files %31s %31s", a, b) == 2)
            nofile = !strcmp(a, "64") && !strcmp(b, "64");
        if (sscanf(cr.out[i], "Max core file size %31s %31s", a, b) == 2)
            core = !strcmp(a, "0") && !strcmp(b, "0");
        if (sscanf(cr.out[i], "Max address space %31s", a) == 1)
            as = !strcmp(a, "1073741824");
    }
    TAP_OK(nofile, "RLIMIT_NOFILE 64 applied");
    TAP_OK(core, "RLIMIT_CORE 0 by default");
    TAP_OK(as, "RLIMIT_AS applied");
    if (dir)
        rmdir(dir);

    dcv_runner_cancel(r, sleeper_c, 0);
    while (dcv_runner_count(r) > 0)
        turn(r);
}

static void test_cancel(struct dcv_runner *r)
{
    struct rec rc;
    struct dcv_spawn_opts o = opts_for(&rc);
    char err[256] = "";
    struct dcv_child *c;

    /* The grandchild shares the group, so cancel must reach it too. */
    TAP_IS_INT(sh(r, "sleep 100 & echo $!; sleep 100", &o, &c, err, sizeof(err)), 0,
               "spawn sh with a background grandchild");
    TAP_OK(wait_lines(r, &rc, 1, LONG_WAIT_MS), "grandchild pid received");
    pid_t gpid = rc.nout ? (pid_t)atoi(rc.out[0]) : 0;
    TAP_OK(gpid > 0 && alive(gpid), "grandchild %d running", (int)gpid);
    TAP_IS_INT(dcv_runner_cancel(r, c, 30000), 0, "cancel with 30 s grace");
    TAP_OK(wait_done(r, &rc, LONG_WAIT_MS), "cancelled child reaped");
    TAP_OK(rc.st.cancelled && !rc.st.killed && rc.st.term_signal == SIGTERM,
           "ended by SIGTERM within the grace (sig %d, killed %d)", rc.st.term_signal, rc.st.killed);
    TAP_OK(gpid > 0 && wait_dead(gpid, LONG_WAIT_MS), "grandchild in the process group died too");

    o = opts_for(&rc);
    TAP_IS_INT(sh(r, "trap '' TERM; echo ready; sleep 100", &o, &c, err, sizeof(err)), 0,
               "spawn TERM-ignoring sh");
    TAP_OK(wait_lines(r, &rc, 1, LONG_WAIT_MS), "trap installed");
    long long t0 = now_ms();
    TAP_IS_INT(dcv_runner_cancel(r, c, 300), 0, "cancel with 300 ms grace");
    TAP_IS_INT(dcv_runner_cancel(r, c, 60000), 0, "second cancel does not extend the deadline");
    TAP_OK(wait_done(r, &rc, LONG_WAIT_MS), "TERM-ignoring child reaped");
    long long dt = now_ms() - t0;
    TAP_OK(rc.st.killed && rc.st.term_signal == SIGKILL, "SIGKILLed after the grace (sig %d)",
           rc.st.term_signal);
    TAP_OK(dt >= 290, "not killed before the grace ran out (%lld ms)", dt);

    TAP_IS_INT(dcv_runner_cancel(r, c, 0), -EINVAL, "cancel of a reaped child -> -EINVAL");

    /* A child that exits leaving a helper behind: reap kills the helper. */
    o = opts_for(&rc);
    TAP_IS_INT(sh(r, "sleep 100 & echo $!", &o, &c, err, sizeof(err)), 0,
               "spawn sh that leaves a background job");
    TAP_OK(wait_done(r, &rc, LONG_WAIT_MS), "sh exited");
    gpid = rc.nout ? (pid_t)atoi(rc.out[0]) : 0;
    TAP_OK(rc.st.exited && rc.st.exit_code == 0, "exit 0 reported");
    TAP_OK(gpid > 0 && wait_dead(gpid, LONG_WAIT_MS), "leftover in its group killed at reap (no orphan)");
}

/* Forked tester: subreaper, so the orphaned grandchild comes to us and its
 * fate is known exactly. Exit code 0 means it died of SIGKILL. */
static int pdeathsig_tester(void)
{
    int p[2];
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0 || pipe(p) < 0)
        return 10;
    pid_t mid = fork();
    if (mid < 0)
        return 11;
    if (mid == 0) {
        struct dcv_runner *r = dcv_runner_new(1);
        struct dcv_child *c;
        char *argv[] = {"/bin/sleep", "100", NULL};
        char err[256];
        close(p[0]);
        if (!r || dcv_runner_spawn(r, argv, NULL, NULL, &c, err, sizeof(err)) < 0)
            _exit(12);
        pid_t gc = dcv_child_pid(c);
        if (write(p[1], &gc, sizeof(gc)) != (ssize_t)sizeof(gc))
            _exit(13);
        raise(SIGKILL); /* no cleanup: only PDEATHSIG can take the grandchild down */
        _exit(14);
    }
    close(p[1]);
    pid_t gc = 0;
    ssize_t n = read(p[0], &gc, sizeof(gc));
    close(p[0]);
    int st;
    waitpid(mid, &st, 0);
    if (n != (ssize_t)sizeof(gc) || gc <= 0)
        return 15;
    if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL)
        return 16;
    long long end = now_ms() + LONG_WAIT_MS;
    while (now_ms() < end) {
        pid_t w = waitpid(gc, &st, WNOHANG);
        if (w == gc)
            return WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL ? 0 : 17;
        if (w < 0)
            return 18;
        usleep(20000);
    }
    kill(gc, SIGKILL);
    waitpid(gc, &st, 0);
    return 19;
}

static void test_pdeathsig(void)
{
    fflush(stdout);
    pid_t t = fork();
    if (t == 0)
        _exit(pdeathsig_tester());
    int st = 0;
    waitpid(t, &st, 0);
    TAP_OK(t > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
           "grandchild dies with SIGKILL when the runner's process is killed (tester %d)",
           WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

static void test_distconvd(struct dcv_runner *r)
{
    const char *top = getenv("DCV_TOP_BUILDDIR"), *ffmpeg = getenv("DCV_FFMPEG");
    char bin[PATH_MAX], err[256] = "";
    struct rec rc;
    struct dcv_spawn_opts o = opts_for(&rc);
    struct dcv_child *c;

    snprintf(bin, sizeof(bin), "%s/core/distconvd", top ? top : ".");
    if (!top || access(bin, X_OK) < 0) {
        tap_skip("DCV_TOP_BUILDDIR/core/distconvd not built", "distconvd --version");
        tap_skip("DCV_TOP_BUILDDIR/core/distconvd not built", "distconvd --transcode progress");
        return;
    }
    char *ver[] = {bin, "--version", NULL};
    TAP_IS_INT(dcv_runner_spawn(r, ver, NULL, &o, &c, err, sizeof(err)), 0, "spawn distconvd --version");
    TAP_OK(wait_done(r, &rc, LONG_WAIT_MS) && rc.st.exited && rc.st.exit_code == 0, "--version exit 0");
    TAP_OK(rc.nout >= 1 && !strncmp(rc.out[0], "distconvd ", 10), "--version line read: %s",
           rc.nout ? rc.out[0] : "");

    if (!ffmpeg || !*ffmpeg || access(ffmpeg, X_OK) < 0) {
        tap_skip("DCV_FFMPEG not set", "distconvd --transcode progress");
        return;
    }
    char tmpl[] = "/tmp/dcv-runner-XXXXXX";
    char *dir = mkdtemp(tmpl);
    if (!dir)
        tap_bail("mkdtemp: %s", strerror(errno));
    char in[PATH_MAX], outf[PATH_MAX], cmd[PATH_MAX * 3];
    snprintf(in, sizeof(in), "%s/in.mp4", dir);
    snprintf(outf, sizeof(outf), "%s/out.mkv", dir);
    snprintf(cmd, sizeof(cmd),
             "'%s' -nostdin -loglevel error -f lavfi -i testsrc=size=160x90:rate=10:duration=1 "
             "-pix_fmt yuv420p -y '%s'", ffmpeg, in);
    if (system(cmd) != 0)
        tap_bail("could not generate the test clip: %s", cmd);

    o = opts_for(&rc);
    o.nice = 5;
    o.cwd = dir;
    o.log_prefix = "job-1";
    char *tc[] = {bin, "--transcode", in, outf, "--progress", "json", "--preset", "ultrafast", NULL};
    TAP_IS_INT(dcv_runner_spawn(r, tc, NULL, &o, &c, err, sizeof(err)), 0, "spawn distconvd --transcode");
    TAP_IS_STR(dcv_child_prefix(c), "job-1", "log prefix kept");
    TAP_OK(wait_done(r, &rc, LONG_WAIT_MS), "transcode finished");
    TAP_OK(rc.st.exited && rc.st.exit_code == 0, "transcode exit 0 (code %d sig %d)", rc.st.exit_code,
           rc.st.term_signal);
    int json = rc.nout > 0, mono = 1;
    double last = -1;
    for (int i = 0; i < rc.nout; i++) {
        const char *l = rc.out[i];
        size_t n = strlen(l);
        const char *pp = strstr(l, "\"percent\":");
        if (n < 2 || l[0] != '{' || l[n - 1] != '}' || !strstr(l, "\"frames\":") || !pp)
            json = 0;
        else {
            double pc = atof(pp + 10);
            if (pc < last)
                mono = 0;
            last = pc;
        }
    }
    TAP_OK(json, "%d progress JSON lines on stdout", rc.nout);
    TAP_OK(mono && last >= 99.0, "progress in order, ending at %.1f%%", last);
    TAP_OK(rc.nerr > 0, "log lines on stderr (%d)", rc.nerr);
    struct stat sb;
    TAP_OK(stat(outf, &sb) == 0 && sb.st_size > 0, "output written");
    unlink(in);
    unlink(outf);
    rmdir(dir);
}

int main(void)
{
    struct dcv_runner *r = dcv_runner_new(4);
    char which[512];

    if (!r)
        tap_bail("dcv_runner_new failed");
    test_exit_and_signal(r);
    test_lines(r);
    test_spawn_errors(r);
    test_max_children();
    test_nice_limits_cwd_fds(r);
    test_cancel(r);
    test_pdeathsig();
    test_distconvd(r);
    TAP_IS_INT(dcv_runner_count(r), 0, "every child reaped");
    dcv_runner_destroy(&r);
    int n = count_my_children(which, sizeof(which));
    TAP_IS_INT(n, 0, "no zombies or orphans left among this process's children");
    if (n)
        tap_diag("left:%s", which);
    return tap_done();
}

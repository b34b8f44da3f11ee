/*
 * core/loop: fd watchers (and removal from callbacks), timer order, spacing,
 * repetition without drift and cancel, signals through the signalfd
 * (SIGTERM, SIGCHLD from a real child), the edge-triggered transport rule
 * against a fake transport built to punish a loop that polls too early, and
 * 100 messages through the real transport-zmq when it is staged.
 *
 * Timing checks are order and lower bounds; every upper bound is a generous
 * guard timer (seconds) so a loaded machine cannot make them flake.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"
#include "pluginhost.h"
#include "tap.h"

#define GUARD_MS 5000

static int guard_fired;

static void guard_cb(struct dcv_loop *l, uint64_t id, void *arg)
{
    (void)id;
    (void)arg;
    guard_fired = 1;
    dcv_loop_stop(l);
}

static struct dcv_loop *new_loop(void)
{
    struct dcv_loop *l = NULL;
    char err[256];
    if (dcv_loop_new(&l, err, sizeof(err)) != 0)
        tap_bail("dcv_loop_new: %s", err);
    guard_fired = 0;
    return l;
}

static uint64_t add_guard(struct dcv_loop *l)
{
    uint64_t id = 0;
    if (dcv_loop_add_timer(l, GUARD_MS, 0, guard_cb, NULL, &id, NULL, 0) != 0)
        tap_bail("guard timer");
    return id;
}

static int run(struct dcv_loop *l)
{
    char err[256] = "";
    int rc = dcv_loop_run(l, err, sizeof(err));
    if (rc)
        tap_diag("  dcv_loop_run: %d %s", rc, err);
    return rc;
}

static void mkpipe(int p[2])
{
    if (pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0)
        tap_bail("pipe: %s", strerror(errno));
}

static void drain(int fd)
{
    char buf[256];
    while (read(fd, buf, sizeof(buf)) > 0)
        ;
}

/* ---- argument checks ------------------------------------------------ */

static void nop_fd(struct dcv_loop *l, int fd, short re, void *a)
{
    (void)l, (void)fd, (void)re, (void)a;
}

static void nop_timer(struct dcv_loop *l, uint64_t id, void *a)
{
    (void)l, (void)id, (void)a;
}

static void test_args(void)
{
    struct dcv_loop *l = new_loop();
    char err[256] = "";
    int p[2];
    uint64_t id = 0, dl;
    mkpipe(p);
    TAP_IS_INT(dcv_loop_new(NULL, err, sizeof(err)), -EINVAL, "new(NULL) refused");
    TAP_IS_INT(dcv_loop_add_fd(l, -1, POLLIN, nop_fd, NULL, err, sizeof(err)), -EINVAL,
               "add_fd(-1) refused");
    TAP_HAS_STR(err, "fd -1", "error names the fd");
    TAP_IS_INT(dcv_loop_add_fd(l, p[0], POLLIN, NULL, NULL, err, sizeof(err)), -EINVAL,
               "add_fd without callback refused");
    TAP_IS_INT(dcv_loop_add_fd(l, p[0], POLLIN, nop_fd, NULL, err, sizeof(err)), 0, "add_fd");
    TAP_IS_INT(dcv_loop_add_fd(l, p[0], POLLIN, nop_fd, NULL, err, sizeof(err)), -EEXIST,
               "second watcher on the same fd -> -EEXIST");
    TAP_HAS_STR(err, "already watched", "and says so");
    TAP_IS_INT(dcv_loop_set_fd_events(l, p[0], POLLOUT), 0, "set_fd_events");
    TAP_IS_INT(dcv_loop_set_fd_events(l, p[1], POLLOUT), -ENOENT, "set_fd_events unknown -> -ENOENT");
    TAP_IS_INT(dcv_loop_remove_fd(l, p[1]), -ENOENT, "remove unknown fd -> -ENOENT");
    TAP_IS_INT(dcv_loop_remove_fd(l, p[0]), 0, "remove fd");
    TAP_IS_INT(dcv_loop_remove_fd(l, p[0]), -ENOENT, "remove twice -> -ENOENT");
    TAP_IS_INT(dcv_loop_add_timer(l, 10, 0, NULL, NULL, &id, err, sizeof(err)), -EINVAL,
               "timer without callback refused");
    TAP_IS_INT(dcv_loop_add_timer(l, 1000, 0, nop_timer, NULL, &id, err, sizeof(err)), 0, "add timer");
    TAP_OK(id != 0, "timer id is not 0");
    TAP_IS_INT(dcv_loop_timer_deadline(l, id, &dl), 0, "deadline of a pending timer");
    TAP_OK(dl >= dcv_loop_now_ms() + 900, "deadline is ~1 s ahead");
    TAP_IS_INT(dcv_loop_cancel_timer(l, id), 0, "cancel");
    TAP_IS_INT(dcv_loop_cancel_timer(l, id), -ENOENT, "cancel twice -> -ENOENT");
    TAP_IS_INT(dcv_loop_cancel_timer(l, 987654), -ENOENT, "cancel unknown -> -ENOENT");
    TAP_IS_INT(dcv_loop_add_signal(l, SIGKILL, NULL, NULL, err, sizeof(err)), -EINVAL,
               "SIGKILL refused");
    TAP_IS_INT(dcv_loop_add_signal(l, 0, NULL, NULL, err, sizeof(err)), -EINVAL, "signal 0 refused");
    TAP_IS_INT(dcv_loop_remove_signal(l, SIGUSR2), -ENOENT, "remove unregistered signal -> -ENOENT");
    TAP_IS_INT(dcv_loop_add_transport(l, NULL, l, NULL, NULL, err, sizeof(err)), -EINVAL,
               "transport without ops refused");
    TAP_IS_INT(dcv_loop_remove_transport(l, l), -ENOENT, "remove unknown transport -> -ENOENT");
    /* Nothing registered: run must return instead of sleeping forever. */
    TAP_IS_INT(dcv_loop_run(l, err, sizeof(err)), 0, "run with nothing to wait for returns 0");
    dcv_loop_destroy(&l);
    TAP_OK(l == NULL, "destroy clears the pointer");
    dcv_loop_destroy(&l);
    dcv_loop_destroy(NULL);
    close(p[0]);
    close(p[1]);
}

/* ---- fd watchers ------------------------------------------------------ */

struct fdt {
    int a[2], b[2], c[2], d[2];
    int na, nb, nc, nd, nd2;
    short last_revents;
};

static void two_cb(struct dcv_loop *l, int fd, short re, void *arg)
{
    struct fdt *t = arg;
    drain(fd);
    t->last_revents = re;
    if (fd == t->a[0])
        t->na++;
    else
        t->nb++;
    if (t->na && t->nb)
        dcv_loop_stop(l);
}

static void test_pipes_fire(void)
{
    struct dcv_loop *l = new_loop();
    struct fdt t = {0};
    mkpipe(t.a);
    mkpipe(t.b);
    dcv_loop_add_fd(l, t.a[0], POLLIN, two_cb, &t, NULL, 0);
    dcv_loop_add_fd(l, t.b[0], POLLIN, two_cb, &t, NULL, 0);
    add_guard(l);
    if (write(t.a[1], "x", 1) != 1 || write(t.b[1], "y", 1) != 1)
        tap_bail("write");
    TAP_IS_INT(run(l), 0, "run returns 0 after stop");
    TAP_OK(t.na == 1 && t.nb == 1, "both pipe watchers fired once (%d, %d)", t.na, t.nb);
    TAP_OK(t.last_revents & POLLIN, "revents has POLLIN");
    TAP_OK(!guard_fired, "before the guard timer");
    dcv_loop_destroy(&l);
    close(t.a[0]), close(t.a[1]), close(t.b[0]), close(t.b[1]);
}

/* a removes itself and b (a later slot), never draining: a level-triggered
 * fd that stayed watched would be called again and again. d removes itself
 * and re-adds its fd with another callback. c counts iterations. */
static void rm_a(struct dcv_loop *l, int fd, short re, void *arg);
static void rm_b(struct dcv_loop *l, int fd, short re, void *arg)
{
    (void)l, (void)fd, (void)re;
    ((struct fdt *)arg)->nb++;
}

static void rm_a(struct dcv_loop *l, int fd, short re, void *arg)
{
    struct fdt *t = arg;
    (void)re;
    t->na++;
    dcv_loop_remove_fd(l, fd);
    dcv_loop_remove_fd(l, t->b[0]);
}

static void rm_d2(struct dcv_loop *l, int fd, short re, void *arg)
{
    struct fdt *t = arg;
    (void)re;
    drain(fd);
    t->nd2++;
    dcv_loop_remove_fd(l, fd);
}

static void rm_d(struct dcv_loop *l, int fd, short re, void *arg)
{
    struct fdt *t = arg;
    (void)re;
    t->nd++;
    dcv_loop_remove_fd(l, fd);
    if (dcv_loop_add_fd(l, fd, POLLIN, rm_d2, t, NULL, 0) != 0)
        t->nd = -100;
}

static void rm_c(struct dcv_loop *l, int fd, short re, void *arg)
{
    struct fdt *t = arg;
    (void)re;
    drain(fd);
    if (++t->nc >= 5)
        dcv_loop_stop(l);
    else if (write(t->c[1], "c", 1) != 1)
        dcv_loop_stop(l);
}

static void test_remove_in_callback(void)
{
    struct dcv_loop *l = new_loop();
    struct fdt t = {0};
    mkpipe(t.a), mkpipe(t.b), mkpipe(t.c), mkpipe(t.d);
    dcv_loop_add_fd(l, t.a[0], POLLIN, rm_a, &t, NULL, 0);
    dcv_loop_add_fd(l, t.b[0], POLLIN, rm_b, &t, NULL, 0);
    dcv_loop_add_fd(l, t.d[0], POLLIN, rm_d, &t, NULL, 0);
    dcv_loop_add_fd(l, t.c[0], POLLIN, rm_c, &t, NULL, 0);
    add_guard(l);
    if (write(t.a[1], "a", 1) != 1 || write(t.b[1], "b", 1) != 1 || write(t.d[1], "d", 1) != 1 ||
        write(t.c[1], "c", 1) != 1)
        tap_bail("write");
    run(l);
    TAP_IS_INT(t.nc, 5, "the loop kept running (5 iterations of c)");
    TAP_IS_INT(t.na, 1, "watcher that removed itself ran exactly once");
    TAP_IS_INT(t.nb, 0, "watcher removed by an earlier callback of the same iteration never ran");
    TAP_IS_INT(t.nd, 1, "remove+re-add of the same fd: old callback once");
    TAP_IS_INT(t.nd2, 1, "and the new callback took over");
    TAP_OK(!guard_fired, "no guard");
    dcv_loop_destroy(&l);
    close(t.a[0]), close(t.a[1]), close(t.b[0]), close(t.b[1]);
    close(t.c[0]), close(t.c[1]), close(t.d[0]), close(t.d[1]);
}

/* A closed fd left in the loop must not make it spin. */
static int nval_calls;
static void nval_cb(struct dcv_loop *l, int fd, short re, void *arg)
{
    (void)l, (void)fd, (void)arg;
    if (re & POLLNVAL)
        nval_calls++;
}

static void stop_cb(struct dcv_loop *l, uint64_t id, void *arg)
{
    (void)id, (void)arg;
    dcv_loop_stop(l);
}

static void test_pollnval(void)
{
    struct dcv_loop *l = new_loop();
    int p[2];
    mkpipe(p);
    dcv_loop_add_fd(l, p[0], POLLIN, nval_cb, NULL, NULL, 0);
    close(p[0]);
    close(p[1]);
    dcv_loop_add_timer(l, 50, 0, stop_cb, NULL, NULL, NULL, 0);
    run(l);
    TAP_IS_INT(nval_calls, 1, "closed fd: POLLNVAL delivered once, then the watcher is dropped");
    TAP_IS_INT(dcv_loop_remove_fd(l, p[0]), -ENOENT, "and it is gone");
    dcv_loop_destroy(&l);
}

/* POLLOUT interest toggled with set_fd_events. */
static int out_calls;
static void out_cb(struct dcv_loop *l, int fd, short re, void *arg)
{
    (void)arg;
    if (re & POLLOUT)
        out_calls++;
    dcv_loop_set_fd_events(l, fd, 0);
    dcv_loop_stop(l);
}

static void test_pollout(void)
{
    struct dcv_loop *l = new_loop();
    int p[2];
    mkpipe(p);
    dcv_loop_add_fd(l, p[1], POLLOUT, out_cb, NULL, NULL, 0);
    add_guard(l);
    run(l);
    TAP_IS_INT(out_calls, 1, "POLLOUT watcher fires on a writable pipe");
    dcv_loop_add_timer(l, 30, 0, stop_cb, NULL, NULL, NULL, 0);
    run(l);
    TAP_IS_INT(out_calls, 1, "events 0: not polled any more (and run can be called again)");
    dcv_loop_destroy(&l);
    close(p[0]);
    close(p[1]);
}

/* ---- timers ------------------------------------------------------------- */

struct tt {
    uint64_t start;
    int order[8];
    uint64_t at[8];
    int n;
};

static void order_cb(struct dcv_loop *l, uint64_t id, void *arg);
static struct tt T1;

static void order_cb(struct dcv_loop *l, uint64_t id, void *arg)
{
    (void)id;
    if (T1.n < 8) {
        T1.order[T1.n] = (int)(intptr_t)arg;
        T1.at[T1.n++] = dcv_loop_now_ms();
    }
    if (T1.n == 6)
        dcv_loop_stop(l);
}

static void test_timer_order(void)
{
    struct dcv_loop *l = new_loop();
    /* tag = delay in ms; 30a/30b/30c share a delay: added order wins. */
    static const int delays[] = {90, 30, 60, 30, 30, 120};
    static const int tags[] = {90, 31, 60, 32, 33, 120};
    uint64_t cancelled = 0;
    memset(&T1, 0, sizeof(T1));
    T1.start = dcv_loop_now_ms();
    for (int i = 0; i < 6; i++)
        dcv_loop_add_timer(l, (uint64_t)delays[i], 0, order_cb, (void *)(intptr_t)tags[i], NULL,
                           NULL, 0);
    dcv_loop_add_timer(l, 45, 0, order_cb, (void *)(intptr_t)999, &cancelled, NULL, 0);
    TAP_IS_INT(dcv_loop_cancel_timer(l, cancelled), 0, "cancel a pending one-shot");
    add_guard(l);
    run(l);
    static const int want[] = {31, 32, 33, 60, 90, 120};
    int ok = T1.n == 6;
    for (int i = 0; ok && i < 6; i++)
        ok = T1.order[i] == want[i];
    TAP_OK(ok, "one-shots fire by deadline, ties in added order, cancelled never (%d: %d %d %d %d %d %d)",
           T1.n, T1.order[0], T1.order[1], T1.order[2], T1.order[3], T1.order[4], T1.order[5]);
    int lower = 1;
    for (int i = 0; i < T1.n; i++) {
        int d = want[i] >= 31 && want[i] <= 33 ? 30 : want[i];
        if (T1.at[i] < T1.start + (uint64_t)d)
            lower = 0;
    }
    TAP_OK(lower, "none fires before its delay");
    TAP_OK(T1.at[T1.n ? T1.n - 1 : 0] - T1.start < GUARD_MS, "all within the guard");
    TAP_OK(!guard_fired, "no guard");
    dcv_loop_destroy(&l);
}

struct rep {
    uint64_t id, first_deadline, interval, prev_end;
    int n, limit, grid_ok, ahead_ok, slow_first;
    uint64_t fired_at[32];
};

static void rep_cb(struct dcv_loop *l, uint64_t id, void *arg)
{
    struct rep *r = arg;
    uint64_t next = 0;
    r->fired_at[r->n < 32 ? r->n : 31] = dcv_loop_now_ms();
    r->n++;
    if (dcv_loop_timer_deadline(l, id, &next) != 0) {
        r->grid_ok = 0;
    } else {
        /* Drift-free: every deadline is first + k * interval exactly. */
        if (next <= r->first_deadline || (next - r->first_deadline) % r->interval)
            r->grid_ok = 0;
        /* Periods that passed while the loop was blocked are skipped. */
        if (r->prev_end && next <= r->prev_end)
            r->ahead_ok = 0;
    }
    if (r->slow_first && r->n == 1)
        usleep((useconds_t)(r->interval * 3500)); /* 3.5 periods */
    if (r->n == r->limit) {
        TAP_IS_INT(dcv_loop_cancel_timer(l, id), 0, "repeating timer cancels itself");
        dcv_loop_add_timer(l, r->interval * 5, 0, stop_cb, NULL, NULL, NULL, 0);
    }
    r->prev_end = dcv_loop_now_ms();
}

static void test_repeating(int slow)
{
    struct dcv_loop *l = new_loop();
    struct rep r = {.interval = 20, .limit = 8, .grid_ok = 1, .ahead_ok = 1, .slow_first = slow};
    uint64_t t0 = dcv_loop_now_ms();
    dcv_loop_add_timer(l, 20, 20, rep_cb, &r, &r.id, NULL, 0);
    dcv_loop_timer_deadline(l, r.id, &r.first_deadline);
    add_guard(l);
    run(l);
    TAP_IS_INT(r.n, r.limit, slow ? "slow callback: exact count, cancelled after the last"
                                  : "repeating timer: exact count, none after cancel");
    TAP_OK(r.grid_ok, "%s: every deadline on the first + k*interval grid (no drift)",
           slow ? "slow" : "plain");
    TAP_OK(r.ahead_ok, "%s: the next deadline is always in the future (no catch-up burst)",
           slow ? "slow" : "plain");
    int spaced = 1;
    for (int i = 0; i < r.n && i < 32; i++)
        if (r.fired_at[i] < t0 + r.interval * (uint64_t)(i + 1))
            spaced = 0;
    TAP_OK(spaced, "%s: k-th firing no earlier than k intervals", slow ? "slow" : "plain");
    if (slow)
        TAP_OK(r.n >= 2 && r.fired_at[r.limit - 1] >= t0 + r.interval * (uint64_t)(r.limit + 2),
               "slow: skipped periods push the last firing later");
    TAP_OK(!guard_fired, "no guard");
    dcv_loop_destroy(&l);
}

/* A 0 ms timer re-armed by its own callback must not starve fd watchers. */
static int rearm_n, rearm_fd_seen;
static void rearm_cb(struct dcv_loop *l, uint64_t id, void *arg)
{
    (void)id;
    rearm_n++;
    if (rearm_fd_seen || rearm_n > 100000)
        dcv_loop_stop(l);
    else
        dcv_loop_add_timer(l, 0, 0, rearm_cb, arg, NULL, NULL, 0);
}

static void rearm_fd_cb(struct dcv_loop *l, int fd, short re, void *arg)
{
    (void)l, (void)re, (void)arg;
    drain(fd);
    rearm_fd_seen = 1;
}

static void test_zero_timer_fairness(void)
{
    struct dcv_loop *l = new_loop();
    int p[2];
    mkpipe(p);
    dcv_loop_add_fd(l, p[0], POLLIN, rearm_fd_cb, NULL, NULL, 0);
    if (write(p[1], "x", 1) != 1)
        tap_bail("write");
    dcv_loop_add_timer(l, 0, 0, rearm_cb, NULL, NULL, NULL, 0);
    run(l);
    TAP_OK(rearm_fd_seen && rearm_n < 10, "self re-arming 0 ms timer lets the fd watcher run (%d)",
           rearm_n);
    dcv_loop_destroy(&l);
    close(p[0]);
    close(p[1]);
}

/* ---- signals ------------------------------------------------------------- */

struct sigt {
    int signo, count;
    pid_t child;
    int reaped, status;
    int32_t ssi_pid;
};

static void sig_cb(struct dcv_loop *l, const struct signalfd_siginfo *si, void *arg)
{
    struct sigt *s = arg;
    s->signo = (int)si->ssi_signo;
    s->ssi_pid = (int32_t)si->ssi_pid;
    s->count++;
    dcv_loop_stop(l);
}

static void kill_self_cb(struct dcv_loop *l, uint64_t id, void *arg)
{
    (void)l, (void)id;
    kill(getpid(), (int)(intptr_t)arg);
}

static int is_blocked(int signo)
{
    sigset_t cur;
    pthread_sigmask(SIG_BLOCK, NULL, &cur);
    return sigismember(&cur, signo);
}

static void test_sigterm(void)
{
    struct dcv_loop *l = new_loop();
    struct sigt s = {0};
    char err[256];
    TAP_OK(!is_blocked(SIGTERM), "SIGTERM not blocked before");
    TAP_IS_INT(dcv_loop_add_signal(l, SIGTERM, sig_cb, &s, err, sizeof(err)), 0, "add SIGTERM");
    TAP_IS_INT(dcv_loop_add_signal(l, SIGTERM, sig_cb, &s, err, sizeof(err)), -EEXIST,
               "second SIGTERM handler -> -EEXIST");
    TAP_IS_INT(dcv_loop_add_signal(l, SIGHUP, sig_cb, &s, err, sizeof(err)), 0, "add SIGHUP");
    TAP_OK(is_blocked(SIGTERM), "SIGTERM blocked while the loop owns it");
    dcv_loop_add_timer(l, 20, 0, kill_self_cb, (void *)(intptr_t)SIGTERM, NULL, NULL, 0);
    add_guard(l);
    TAP_IS_INT(run(l), 0, "kill(self, SIGTERM): run returns");
    TAP_IS_INT(s.signo, SIGTERM, "callback got SIGTERM through the signalfd");
    TAP_IS_INT(s.ssi_pid, getpid(), "with the sender's pid");
    TAP_OK(!guard_fired, "before the guard");

    /* raise() before run: pending, delivered on the first poll. */
    s.count = 0;
    raise(SIGHUP);
    run(l);
    TAP_OK(s.signo == SIGHUP && s.count == 1, "raise(SIGHUP) before run is delivered once");

    TAP_IS_INT(dcv_loop_remove_signal(l, SIGHUP), 0, "remove SIGHUP");
    TAP_OK(!is_blocked(SIGHUP), "SIGHUP unblocked again");
    /* Pending at destroy: discarded, not delivered with the default action
     * (which would kill this test). */
    raise(SIGTERM);
    dcv_loop_destroy(&l);
    TAP_OK(!is_blocked(SIGTERM), "destroy restores the mask (survived a pending SIGTERM)");
}

static void chld_cb(struct dcv_loop *l, const struct signalfd_siginfo *si, void *arg)
{
    struct sigt *s = arg;
    int st;
    pid_t p;
    s->ssi_pid = (int32_t)si->ssi_pid;
    /* Signals coalesce: reap everything. */
    while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
        if (p == s->child) {
            s->reaped = 1;
            s->status = st;
        }
    }
    if (s->reaped)
        dcv_loop_stop(l);
}

static void test_sigchld(void)
{
    struct dcv_loop *l = new_loop();
    struct sigt s = {0};
    char err[256];
    int already_blocked;
    sigset_t one;
    /* Block SIGUSR1 ourselves: the loop must leave it blocked on destroy. */
    sigemptyset(&one);
    sigaddset(&one, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &one, NULL);
    already_blocked = is_blocked(SIGUSR1);
    TAP_IS_INT(dcv_loop_add_signal(l, SIGCHLD, chld_cb, &s, err, sizeof(err)), 0, "add SIGCHLD");
    TAP_IS_INT(dcv_loop_add_signal(l, SIGUSR1, sig_cb, &s, err, sizeof(err)), 0, "add SIGUSR1");
    s.child = fork();
    if (s.child < 0)
        tap_bail("fork: %s", strerror(errno));
    if (s.child == 0) {
        usleep(20000);
        _exit(7);
    }
    add_guard(l);
    run(l);
    TAP_OK(s.reaped && WIFEXITED(s.status) && WEXITSTATUS(s.status) == 7,
           "SIGCHLD callback reaped the child (exit 7)");
    TAP_IS_INT(s.ssi_pid, s.child, "siginfo names the child");
    TAP_OK(!guard_fired, "before the guard");
    dcv_loop_destroy(&l);
    TAP_OK(already_blocked && is_blocked(SIGUSR1), "a signal blocked before stays blocked");
    TAP_OK(!is_blocked(SIGCHLD), "SIGCHLD unblocked after destroy");
    pthread_sigmask(SIG_UNBLOCK, &one, NULL);
}

/* ---- fake edge-triggered transport ----------------------------------------
 * Like libzmq: the fd gets one byte when the incoming queue goes from empty
 * to non-empty (once per batch, not per message), and every send, recv and
 * events call consumes whatever edge is pending. A loop that only trusts
 * the fd sleeps with messages queued. */

#define FQ 512
struct fake {
    int rfd, wfd;
    int q[FQ];
    int head, len;
    int inject_on_events; /* events() call number that sees a message "arrive" */
    int events_calls, recv_calls, sends;
    int reply_on_send;
};

static void fake_edge_consume(struct fake *f)
{
    drain(f->rfd);
}

static void fake_push(struct fake *f, int v)
{
    if (f->len == FQ)
        return;
    f->q[(f->head + f->len++) % FQ] = v;
    if (f->len == 1 && write(f->wfd, "e", 1) != 1)
        tap_diag("fake edge write failed");
}

static int fake_get_fd(void *tx, int *fd)
{
    *fd = ((struct fake *)tx)->rfd;
    return 0;
}

static int fake_events(void *tx, int *r, int *w)
{
    struct fake *f = tx;
    int readable;
    fake_edge_consume(f);
    readable = f->len > 0;
    if (++f->events_calls == f->inject_on_events)
        fake_push(f, 4242); /* arrives just after the snapshot: new edge */
    if (r)
        *r = readable;
    if (w)
        *w = 1;
    return 0;
}

static int fake_recv(void *tx, struct dcv_tx_peer *from, struct dcv_tx_msg *m)
{
    struct fake *f = tx;
    static int val;
    fake_edge_consume(f);
    f->recv_calls++;
    if (!f->len)
        return -EAGAIN;
    val = f->q[f->head];
    f->head = (f->head + 1) % FQ;
    f->len--;
    memset(m, 0, sizeof(*m));
    m->n = 1;
    m->frames[0].data = &val;
    m->frames[0].len = sizeof(val);
    m->total = sizeof(val);
    if (from)
        from->len = 0;
    return 0;
}

static void fake_msg_free(void *tx, struct dcv_tx_msg *m)
{
    (void)tx;
    memset(m, 0, sizeof(*m));
}

/* The reply lands in the queue while send() processes commands: edge gone. */
static int fake_send(void *tx, const struct dcv_tx_peer *to, const struct dcv_tx_frame *fr,
                     unsigned n)
{
    struct fake *f = tx;
    (void)to, (void)fr, (void)n;
    f->sends++;
    if (f->reply_on_send)
        fake_push(f, 777);
    fake_edge_consume(f);
    return 0;
}

static const struct dcv_transport_ops fake_ops = {
    .struct_size = sizeof(struct dcv_transport_ops),
    .send = fake_send,
    .recv = fake_recv,
    .msg_free = fake_msg_free,
    .get_fd = fake_get_fd,
    .events = fake_events,
};

static void fake_init(struct fake *f)
{
    int p[2];
    memset(f, 0, sizeof(*f));
    mkpipe(p);
    f->rfd = p[0];
    f->wfd = p[1];
}

static void fake_fini(struct fake *f)
{
    close(f->rfd);
    close(f->wfd);
}

struct ftest {
    struct fake f;
    int got[FQ];
    int n, stop_at, remove_after, other_ran_at;
};

/* Exactly one recv per call: the loop has to come back while readable. */
static void fake_cb(struct dcv_loop *l, void *tx, void *arg)
{
    struct ftest *t = arg;
    struct dcv_tx_msg m;
    if (fake_recv(tx, NULL, &m) != 0)
        return;
    int v;
    memcpy(&v, m.frames[0].data, sizeof(v));
    fake_msg_free(tx, &m);
    if (t->n < FQ)
        t->got[t->n] = v;
    t->n++;
    if (t->remove_after && t->n == t->remove_after)
        dcv_loop_remove_transport(l, tx);
    if (t->n == t->stop_at)
        dcv_loop_stop(l);
}

static void test_fake_batch(void)
{
    struct dcv_loop *l = new_loop();
    struct ftest t = {.stop_at = 5};
    char err[256];
    fake_init(&t.f);
    TAP_IS_INT(dcv_loop_add_transport(l, &fake_ops, &t.f, fake_cb, &t, err, sizeof(err)), 0,
               "add fake transport");
    TAP_IS_INT(dcv_loop_add_transport(l, &fake_ops, &t.f, fake_cb, &t, err, sizeof(err)), -EEXIST,
               "same transport twice -> -EEXIST");
    for (int i = 0; i < 5; i++)
        fake_push(&t.f, i);
    add_guard(l);
    run(l);
    int inorder = t.n == 5;
    for (int i = 0; inorder && i < 5; i++)
        inorder = t.got[i] == i;
    TAP_OK(inorder, "one edge, 5 queued: all 5 delivered in order (%d)", t.n);
    TAP_OK(!guard_fired, "without waiting for another wakeup");
    dcv_loop_destroy(&l);
    fake_fini(&t.f);
}

/* A send from a timer callback lets the reply arrive and eats the edge. */
static void send_cb(struct dcv_loop *l, uint64_t id, void *arg)
{
    struct ftest *t = arg;
    struct dcv_tx_frame fr = {"x", 1};
    (void)l, (void)id;
    fake_send(&t->f, NULL, &fr, 1);
}

static void test_fake_send_eats_edge(void)
{
    struct dcv_loop *l = new_loop();
    struct ftest t = {.stop_at = 1};
    fake_init(&t.f);
    t.f.reply_on_send = 1;
    dcv_loop_add_transport(l, &fake_ops, &t.f, fake_cb, &t, NULL, 0);
    dcv_loop_add_timer(l, 20, 0, send_cb, &t, NULL, NULL, 0);
    add_guard(l);
    run(l);
    TAP_OK(t.n == 1 && t.got[0] == 777, "reply queued during send() (edge consumed) is received");
    TAP_OK(!guard_fired, "without sleeping until the guard");
    dcv_loop_destroy(&l);
    fake_fini(&t.f);
}

/* at = which events() call of the run sees the arrival: 1 is the dispatch
 * pass, 2 the last check right before poll(). */
static void test_fake_arrival_during_events(int at)
{
    struct dcv_loop *l = new_loop();
    struct ftest t = {.stop_at = 1};
    fake_init(&t.f);
    t.f.inject_on_events = at;
    dcv_loop_add_transport(l, &fake_ops, &t.f, fake_cb, &t, NULL, 0);
    add_guard(l);
    run(l);
    TAP_OK(t.n == 1 && t.got[0] == 4242,
           "message arriving right after events() call %d said empty is received (%d calls)", at,
           t.f.events_calls);
    TAP_OK(!guard_fired, "woken by the fd, not the guard");
    dcv_loop_destroy(&l);
    fake_fini(&t.f);
}

/* 3 * batch messages: a ready pipe gets its turn before they are all done. */
static int fair_n_at_pipe = -1;
static struct ftest *fair_t;
static void fair_pipe_cb(struct dcv_loop *l, int fd, short re, void *arg)
{
    (void)re, (void)arg;
    drain(fd);
    if (fair_n_at_pipe < 0)
        fair_n_at_pipe = fair_t->n;
    dcv_loop_remove_fd(l, fd);
}

static void test_fake_fairness(void)
{
    struct dcv_loop *l = new_loop();
    struct ftest t = {.stop_at = 3 * DCV_LOOP_TX_BATCH};
    int p[2];
    fake_init(&t.f);
    fair_t = &t;
    mkpipe(p);
    for (int i = 0; i < 3 * DCV_LOOP_TX_BATCH; i++)
        fake_push(&t.f, i);
    if (write(p[1], "x", 1) != 1)
        tap_bail("write");
    dcv_loop_add_transport(l, &fake_ops, &t.f, fake_cb, &t, NULL, 0);
    dcv_loop_add_fd(l, p[0], POLLIN, fair_pipe_cb, NULL, NULL, 0);
    add_guard(l);
    run(l);
    TAP_IS_INT(t.n, 3 * DCV_LOOP_TX_BATCH, "all messages of a long backlog delivered");
    TAP_OK(fair_n_at_pipe >= 0 && fair_n_at_pipe < 3 * DCV_LOOP_TX_BATCH,
           "a ready fd ran in between (after %d messages)", fair_n_at_pipe);
    TAP_OK(!guard_fired, "no guard");
    dcv_loop_destroy(&l);
    fake_fini(&t.f);
    close(p[0]);
    close(p[1]);
}

static void resume_cb(struct dcv_loop *l, uint64_t id, void *arg)
{
    struct ftest *t = arg;
    (void)id;
    t->other_ran_at = t->n + 1; /* 1 + count seen while paused */
    dcv_loop_pause_transport(l, &t->f, 0);
}

static void test_fake_pause_remove(void)
{
    struct dcv_loop *l = new_loop();
    struct ftest t = {.stop_at = 3};
    fake_init(&t.f);
    for (int i = 0; i < 3; i++)
        fake_push(&t.f, i);
    dcv_loop_add_transport(l, &fake_ops, &t.f, fake_cb, &t, NULL, 0);
    TAP_IS_INT(dcv_loop_pause_transport(l, &t.f, 1), 0, "pause");
    dcv_loop_add_timer(l, 40, 0, resume_cb, &t, NULL, NULL, 0);
    add_guard(l);
    run(l);
    TAP_IS_INT(t.other_ran_at, 1, "paused transport: no callback until resumed");
    TAP_IS_INT(t.n, 3, "resumed: the waiting messages arrive");
    TAP_OK(!guard_fired, "no guard");

    /* Removal inside its own callback: the rest stay queued. */
    t.n = 0;
    t.stop_at = 0;
    t.remove_after = 2;
    for (int i = 0; i < 5; i++)
        fake_push(&t.f, i);
    dcv_loop_add_timer(l, 50, 0, stop_cb, NULL, NULL, NULL, 0);
    run(l);
    TAP_IS_INT(t.n, 2, "transport removed by its callback is not called again");
    TAP_IS_INT(t.f.len, 3, "and its other messages stay queued");
    TAP_IS_INT(dcv_loop_remove_transport(l, &t.f), -ENOENT, "already removed");
    dcv_loop_destroy(&l);
    fake_fini(&t.f);
}

/* ---- the real transport-zmq --------------------------------------------- */

#define ZN 100
struct zt {
    const struct dcv_transport_ops *T;
    void *router, *dealer;
    int sent, received, in_order, done_seen, eproto;
    struct dcv_tx_peer peer;
    uint64_t send_timer;
};

static void z_send_cb(struct dcv_loop *l, uint64_t id, void *arg)
{
    struct zt *z = arg;
    char buf[32];
    (void)l;
    while (z->sent < ZN) {
        int len = snprintf(buf, sizeof(buf), "msg-%d", z->sent);
        struct dcv_tx_frame f[2] = {{"DATA", 4}, {buf, (size_t)len}};
        if (z->T->send(z->dealer, NULL, f, 2) != 0)
            return; /* -EAGAIN until connected: next tick */
        z->sent++;
    }
    dcv_loop_cancel_timer(l, id);
}

static void z_router_cb(struct dcv_loop *l, void *tx, void *arg)
{
    struct zt *z = arg;
    struct dcv_tx_msg m;
    struct dcv_tx_peer from;
    char want[32];
    int rc = z->T->recv(tx, &from, &m);
    (void)l;
    if (rc == -EPROTO) {
        z->eproto++;
        return;
    }
    if (rc != 0)
        return;
    snprintf(want, sizeof(want), "msg-%d", z->received);
    if (m.n != 2 || m.frames[1].len != strlen(want) || memcmp(m.frames[1].data, want, strlen(want)))
        z->in_order = 0;
    z->received++;
    z->peer = from;
    z->T->msg_free(tx, &m);
    if (z->received == ZN) {
        struct dcv_tx_frame f = {"DONE", 4};
        if (z->T->send(tx, &z->peer, &f, 1) != 0)
            z->in_order = 0;
    }
}

static void z_dealer_cb(struct dcv_loop *l, void *tx, void *arg)
{
    struct zt *z = arg;
    struct dcv_tx_msg m;
    if (z->T->recv(tx, NULL, &m) != 0)
        return;
    if (m.n == 1 && m.frames[0].len == 4 && !memcmp(m.frames[0].data, "DONE", 4)) {
        z->done_seen = 1;
        dcv_loop_stop(l);
    }
    z->T->msg_free(tx, &m);
}

static void test_zmq(void)
{
    const char *pdir = getenv("DISTCONV_PLUGIN_DIR");
    char path[4096], err[1024], dir[] = "/tmp/dcv-loop-XXXXXX", ep[256];
    struct dcv_plugin *P = NULL;
    struct dcv_plugin_set set = {0};
    struct zt z = {.in_order = 1};
    struct stat st;
    struct dcv_loop *l;

    snprintf(path, sizeof(path), "%s/transport-zmq.so", pdir ? pdir : "");
    if (!pdir || stat(path, &st) != 0) {
        tap_skip("transport-zmq.so not staged (DISTCONV_PLUGIN_DIR)", "real zmq through the loop");
        return;
    }
    if (dcv_plugin_load(path, NULL, &P, err, sizeof(err)) != 0 || dcv_plugin_set_add(&set, P) != 0 ||
        dcv_plugin_init(P, NULL, err, sizeof(err)) != 0)
        tap_bail("transport-zmq: %s", err);
    z.T = &P->tx;
    if (!mkdtemp(dir))
        tap_bail("mkdtemp: %s", strerror(errno));
    snprintf(ep, sizeof(ep), "ipc://%s/loop.sock", dir);
    struct dcv_tx_config rc_ = {.struct_size = sizeof(rc_), .role = DCV_TX_BIND_ROUTER, .endpoint = ep};
    struct dcv_tx_config dc_ = {.struct_size = sizeof(dc_), .role = DCV_TX_CONNECT_DEALER, .endpoint = ep};
    TAP_IS_INT(z.T->open(P->ctx, &rc_, &z.router, err, sizeof(err)), 0, "zmq router binds ipc");
    TAP_IS_INT(z.T->open(P->ctx, &dc_, &z.dealer, err, sizeof(err)), 0, "zmq dealer connects");
    if (!z.router || !z.dealer)
        tap_bail("zmq open: %s", err);
    l = new_loop();
    TAP_IS_INT(dcv_loop_add_transport(l, z.T, z.router, z_router_cb, &z, err, sizeof(err)), 0,
               "loop watches the router");
    TAP_IS_INT(dcv_loop_add_transport(l, z.T, z.dealer, z_dealer_cb, &z, err, sizeof(err)), 0,
               "loop watches the dealer");
    dcv_loop_add_timer(l, 0, 5, z_send_cb, &z, &z.send_timer, NULL, 0);
    add_guard(l);
    run(l);
    TAP_IS_INT(z.received, ZN, "zmq: all 100 messages received through the loop");
    TAP_OK(z.in_order, "zmq: whole, in order");
    TAP_OK(z.done_seen, "zmq: reply sent from a callback reaches the dealer's callback");
    TAP_IS_INT(z.eproto, 0, "zmq: nothing discarded");
    TAP_OK(!guard_fired, "zmq: before the guard");
    dcv_loop_remove_transport(l, z.dealer);
    dcv_loop_remove_transport(l, z.router);
    dcv_loop_destroy(&l);
    z.T->close(z.dealer);
    z.T->close(z.router);
    dcv_plugin_set_clear(&set);
    snprintf(ep, sizeof(ep), "%s/loop.sock", dir);
    unlink(ep);
    rmdir(dir);
}

int main(void)
{
    test_args();
    test_pipes_fire();
    test_remove_in_callback();
    test_pollnval();
    test_pollout();
    test_timer_order();
    test_repeating(0);
    test_repeating(1);
    test_zero_timer_fairness();
    test_sigterm();
    test_sigchld();
    test_fake_batch();
    test_fake_send_eats_edge();
    test_fake_arrival_during_events(1);
    test_fake_arrival_during_events(2);
    test_fake_fairness();
    test_fake_pause_remove();
    test_zmq();
    return tap_done();
}

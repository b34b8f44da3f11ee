#include "loop.h"
#include "clock.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "errbuf.h"

/* Watchers are heap objects referenced from arrays. Removal inside a
 * dispatch only marks them dead (the pollfd snapshot of this iteration may
 * still point at them); they are freed at the next sweep. */
struct fdw {
    int fd;
    short events;
    int dead;
    dcv_loop_fd_cb cb;
    void *arg;
};

struct txw {
    const struct dcv_transport_ops *ops;
    void *tx;
    int fd;
    int dead, paused;
    dcv_loop_tx_cb cb;
    void *arg;
};

struct timer {
    uint64_t id, seq;
    uint64_t deadline, interval; /* ms */
    size_t heap_idx;
    dcv_loop_timer_cb cb;
    void *arg;
};

struct sigw {
    dcv_loop_signal_cb cb;
    void *arg;
    int active;
    int we_blocked; /* restore on removal only what we changed */
};

/* What a pollfd slot of this iteration stands for. */
enum slot_kind { SLOT_SIGNAL, SLOT_FD, SLOT_TX };

struct slot {
    enum slot_kind kind;
    void *w;
};

struct dcv_loop {
    struct fdw **fds;
    size_t n_fds, cap_fds;
    struct txw **txs;
    size_t n_txs, cap_txs;
    int need_sweep;

    struct timer **heap; /* min-heap on (deadline, seq) */
    size_t n_timers, cap_timers;
    uint64_t next_id, next_seq;

    struct sigw sigs[_NSIG];
    sigset_t sigmask; /* signals the signalfd reads */
    int n_sigs;
    int sigfd;

    struct pollfd *pfds;
    struct slot *slots;
    size_t cap_pfds;

    int running, stop;
};

uint64_t dcv_loop_now_ms(void)
{
    return (uint64_t)dcv_mono_ms();
}

static int grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    size_t ncap;
    void *p;
    if (need <= *cap)
        return 0;
    ncap = *cap ? *cap * 2 : 8;
    while (ncap < need)
        ncap *= 2;
    p = realloc(*arr, ncap * elem);
    if (!p)
        return -ENOMEM;
    *arr = p;
    *cap = ncap;
    return 0;
}

int dcv_loop_new(struct dcv_loop **out, char *err, size_t errlen)
{
    struct dcv_loop *l;
    if (!out)
        return dcv_err(err, errlen, -EINVAL, "dcv_loop_new: out is NULL");
    l = calloc(1, sizeof(*l));
    if (!l)
        return dcv_err(err, errlen, -ENOMEM, "event loop: out of memory");
    l->sigfd = -1;
    l->next_id = 1;
    sigemptyset(&l->sigmask);
    *out = l;
    return 0;
}

/* ---- fd watchers ------------------------------------------------------ */

static struct fdw *find_fd(struct dcv_loop *l, int fd)
{
    for (size_t i = 0; i < l->n_fds; i++)
        if (!l->fds[i]->dead && l->fds[i]->fd == fd)
            return l->fds[i];
    return NULL;
}

int dcv_loop_add_fd(struct dcv_loop *l, int fd, short events, dcv_loop_fd_cb cb, void *arg,
                    char *err, size_t errlen)
{
    struct fdw *w;
    if (!l || fd < 0 || !cb || (events & ~(POLLIN | POLLOUT | POLLPRI)))
        return dcv_err(err, errlen, -EINVAL, "add fd %d: invalid arguments", fd);
    if (find_fd(l, fd))
        return dcv_err(err, errlen, -EEXIST, "add fd %d: already watched", fd);
    if (grow((void **)&l->fds, &l->cap_fds, l->n_fds + 1, sizeof(*l->fds)) < 0 ||
        !(w = calloc(1, sizeof(*w))))
        return dcv_err(err, errlen, -ENOMEM, "add fd %d: out of memory", fd);
    w->fd = fd;
    w->events = events;
    w->cb = cb;
    w->arg = arg;
    l->fds[l->n_fds++] = w;
    return 0;
}

int dcv_loop_set_fd_events(struct dcv_loop *l, int fd, short events)
{
    struct fdw *w;
    if (!l || (events & ~(POLLIN | POLLOUT | POLLPRI)))
        return -EINVAL;
    if (!(w = find_fd(l, fd)))
        return -ENOENT;
    w->events = events;
    return 0;
}

int dcv_loop_remove_fd(struct dcv_loop *l, int fd)
{
    struct fdw *w;
    if (!l)
        return -EINVAL;
    if (!(w = find_fd(l, fd)))
        return -ENOENT;
    w->dead = 1;
    l->need_sweep = 1;
    return 0;
}

/* ---- transports ------------------------------------------------------- */

static struct txw *find_tx(struct dcv_loop *l, void *tx)
{
    for (size_t i = 0; i < l->n_txs; i++)
        if (!l->txs[i]->dead && l->txs[i]->tx == tx)
            return l->txs[i];
    return NULL;
}

int dcv_loop_add_transport(struct dcv_loop *l, const struct dcv_transport_ops *ops, void *tx,
                           dcv_loop_tx_cb cb, void *arg, char *err, size_t errlen)
{
    struct txw *w;
    int fd = -1, rc;
    if (!l || !ops || !tx || !cb || !ops->get_fd || !ops->events)
        return dcv_err(err, errlen, -EINVAL, "add transport: invalid arguments");
    if (find_tx(l, tx))
        return dcv_err(err, errlen, -EEXIST, "add transport: already watched");
    rc = ops->get_fd(tx, &fd);
    if (rc < 0 || fd < 0)
        return dcv_err(err, errlen, rc < 0 ? rc : -EBADF, "add transport: get_fd failed: %s",
                       ops->last_error ? ops->last_error(tx) : strerror(rc < 0 ? -rc : EBADF));
    if (grow((void **)&l->txs, &l->cap_txs, l->n_txs + 1, sizeof(*l->txs)) < 0 ||
        !(w = calloc(1, sizeof(*w))))
        return dcv_err(err, errlen, -ENOMEM, "add transport: out of memory");
    w->ops = ops;
    w->tx = tx;
    w->fd = fd;
    w->cb = cb;
    w->arg = arg;
    l->txs[l->n_txs++] = w;
    return 0;
}

int dcv_loop_pause_transport(struct dcv_loop *l, void *tx, int paused)
{
    struct txw *w;
    if (!l)
        return -EINVAL;
    if (!(w = find_tx(l, tx)))
        return -ENOENT;
    w->paused = paused != 0;
    return 0;
}

int dcv_loop_remove_transport(struct dcv_loop *l, void *tx)
{
    struct txw *w;
    if (!l)
        return -EINVAL;
    if (!(w = find_tx(l, tx)))
        return -ENOENT;
    w->dead = 1;
    l->need_sweep = 1;
    return 0;
}

/* Only between iterations: nothing may point at a dead watcher then. */
static void sweep(struct dcv_loop *l)
{
    size_t j = 0;
    for (size_t i = 0; i < l->n_fds; i++) {
        if (l->fds[i]->dead)
            free(l->fds[i]);
        else
            l->fds[j++] = l->fds[i];
    }
    l->n_fds = j;
    j = 0;
    for (size_t i = 0; i < l->n_txs; i++) {
        if (l->txs[i]->dead)
            free(l->txs[i]);
        else
            l->txs[j++] = l->txs[i];
    }
    l->n_txs = j;
    l->need_sweep = 0;
}

/* ---- timers ------------------------------------------------------------ */

static int timer_before(const struct timer *a, const struct timer *b)
{
    return a->deadline != b->deadline ? a->deadline < b->deadline : a->seq < b->seq;
}

static void heap_set(struct dcv_loop *l, size_t i, struct timer *t)
{
    l->heap[i] = t;
    t->heap_idx = i;
}

static void heap_up(struct dcv_loop *l, size_t i)
{
    struct timer *t = l->heap[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!timer_before(t, l->heap[p]))
            break;
        heap_set(l, i, l->heap[p]);
        i = p;
    }
    heap_set(l, i, t);
}

static void heap_down(struct dcv_loop *l, size_t i)
{
    struct timer *t = l->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= l->n_timers)
            break;
        if (c + 1 < l->n_timers && timer_before(l->heap[c + 1], l->heap[c]))
            c++;
        if (!timer_before(l->heap[c], t))
            break;
        heap_set(l, i, l->heap[c]);
        i = c;
    }
    heap_set(l, i, t);
}

static void heap_remove(struct dcv_loop *l, struct timer *t)
{
    size_t i = t->heap_idx;
    struct timer *last = l->heap[--l->n_timers];
    if (i == l->n_timers)
        return;
    heap_set(l, i, last);
    heap_up(l, i);
    heap_down(l, last->heap_idx);
}

int dcv_loop_add_timer(struct dcv_loop *l, uint64_t delay_ms, uint64_t interval_ms,
                       dcv_loop_timer_cb cb, void *arg, uint64_t *id, char *err, size_t errlen)
{
    struct timer *t;
    /* Bounded so deadline arithmetic cannot overflow (~292 million years). */
    const uint64_t max = UINT64_C(1) << 53;
    if (!l || !cb || delay_ms > max || interval_ms > max)
        return dcv_err(err, errlen, -EINVAL, "add timer: invalid arguments");
    if (grow((void **)&l->heap, &l->cap_timers, l->n_timers + 1, sizeof(*l->heap)) < 0 ||
        !(t = calloc(1, sizeof(*t))))
        return dcv_err(err, errlen, -ENOMEM, "add timer: out of memory");
    t->id = l->next_id++;
    t->seq = l->next_seq++;
    t->deadline = dcv_loop_now_ms() + delay_ms;
    t->interval = interval_ms;
    t->cb = cb;
    t->arg = arg;
    l->heap[l->n_timers++] = t;
    heap_up(l, l->n_timers - 1);
    if (id)
        *id = t->id;
    return 0;
}

int dcv_loop_cancel_timer(struct dcv_loop *l, uint64_t id)
{
    if (!l)
        return -EINVAL;
    for (size_t i = 0; i < l->n_timers; i++) {
        struct timer *t = l->heap[i];
        if (t->id == id) {
            heap_remove(l, t);
            free(t);
            return 0;
        }
    }
    return -ENOENT;
}

int dcv_loop_timer_deadline(struct dcv_loop *l, uint64_t id, uint64_t *deadline_ms)
{
    if (!l || !deadline_ms)
        return -EINVAL;
    for (size_t i = 0; i < l->n_timers; i++) {
        if (l->heap[i]->id == id) {
            *deadline_ms = l->heap[i]->deadline;
            return 0;
        }
    }
    return -ENOENT;
}

/* Fires what is due now. Timers added by these callbacks (seq >= limit)
 * wait for the next iteration, so a callback re-arming a 0 ms timer cannot
 * starve everything else. */
static void run_timers(struct dcv_loop *l)
{
    uint64_t now = dcv_loop_now_ms(), limit = l->next_seq;
    while (l->n_timers && !l->stop) {
        struct timer *t = l->heap[0];
        if (t->deadline > now || t->seq >= limit)
            break;
        uint64_t id = t->id;
        dcv_loop_timer_cb cb = t->cb;
        void *arg = t->arg;
        if (t->interval) {
            /* Step from the old deadline, not from now: no drift. */
            t->deadline += t->interval;
            if (t->deadline <= now)
                t->deadline += ((now - t->deadline) / t->interval + 1) * t->interval;
            heap_down(l, 0);
        } else {
            heap_remove(l, t);
            free(t);
        }
        cb(l, id, arg);
    }
}

/* ---- signals ---------------------------------------------------------- */

static int update_sigfd(struct dcv_loop *l, char *err, size_t errlen)
{
    int fd = signalfd(l->sigfd, &l->sigmask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0)
        return dcv_err(err, errlen, -errno, "signalfd: %s", strerror(errno));
    l->sigfd = fd;
    return 0;
}

int dcv_loop_add_signal(struct dcv_loop *l, int signo, dcv_loop_signal_cb cb, void *arg,
                        char *err, size_t errlen)
{
    sigset_t one, old;
    int rc;
    if (!l || !cb || signo <= 0 || signo >= _NSIG || signo == SIGKILL || signo == SIGSTOP)
        return dcv_err(err, errlen, -EINVAL, "add signal %d: invalid arguments", signo);
    if (l->sigs[signo].active)
        return dcv_err(err, errlen, -EEXIST, "signal %d already has a handler", signo);
    sigemptyset(&one);
    if (sigaddset(&one, signo) < 0)
        return dcv_err(err, errlen, -EINVAL, "signal %d: %s", signo, strerror(errno));
    /* Block first: a signal arriving between the two steps then waits in
     * the pending set for the signalfd instead of killing the process. */
    rc = pthread_sigmask(SIG_BLOCK, &one, &old);
    if (rc)
        return dcv_err(err, errlen, -rc, "block signal %d: %s", signo, strerror(rc));
    sigaddset(&l->sigmask, signo);
    rc = update_sigfd(l, err, errlen);
    if (rc < 0) {
        sigdelset(&l->sigmask, signo);
        if (!sigismember(&old, signo))
            pthread_sigmask(SIG_UNBLOCK, &one, NULL);
        return rc;
    }
    l->sigs[signo] = (struct sigw){.cb = cb, .arg = arg, .active = 1,
                                   .we_blocked = !sigismember(&old, signo)};
    l->n_sigs++;
    return 0;
}

static void release_signal(struct dcv_loop *l, int signo)
{
    sigset_t one;
    struct timespec zero = {0, 0};
    sigemptyset(&one);
    sigaddset(&one, signo);
    if (l->sigs[signo].we_blocked) {
        /* Unblocking with an instance pending would deliver it with the
         * default action (usually: terminate). Consume it first. */
        while (sigtimedwait(&one, NULL, &zero) == signo)
            ;
        pthread_sigmask(SIG_UNBLOCK, &one, NULL);
    }
    memset(&l->sigs[signo], 0, sizeof(l->sigs[signo]));
    l->n_sigs--;
}

int dcv_loop_remove_signal(struct dcv_loop *l, int signo)
{
    if (!l || signo <= 0 || signo >= _NSIG)
        return -EINVAL;
    if (!l->sigs[signo].active)
        return -ENOENT;
    sigdelset(&l->sigmask, signo);
    /* Cannot fail with a valid fd; on failure the fd merely keeps reading
     * a signal that has no handler (ignored in dispatch). */
    (void)update_sigfd(l, NULL, 0);
    release_signal(l, signo);
    return 0;
}

static void dispatch_signals(struct dcv_loop *l)
{
    struct signalfd_siginfo si;
    /* One record per read, so a stop() leaves the rest queued in the fd. */
    while (!l->stop && read(l->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        int signo = (int)si.ssi_signo;
        if (signo > 0 && signo < _NSIG && l->sigs[signo].active)
            l->sigs[signo].cb(l, &si, l->sigs[signo].arg);
    }
}

/* ---- transports: the edge-triggered rule -------------------------------- */

static int tx_readable(struct txw *w)
{
    int r = 0, wr = 0;
    if (w->ops->events(w->tx, &r, &wr) < 0)
        return 0; /* the next recv() reports the error to the callback */
    return r != 0;
}

/* Returns 1 when some transport is still readable after its batch. */
static int dispatch_transports(struct dcv_loop *l)
{
    int pending = 0;
    size_t n = l->n_txs; /* added during dispatch: next iteration */
    for (size_t i = 0; i < n && !l->stop; i++) {
        struct txw *w = l->txs[i];
        int k;
        for (k = 0; k < DCV_LOOP_TX_BATCH && !w->dead && !w->paused && !l->stop; k++) {
            if (!tx_readable(w))
                break;
            w->cb(l, w->tx, w->arg);
        }
        if (k == DCV_LOOP_TX_BATCH)
            pending = 1;
    }
    return pending;
}

/* The last events() before sleeping: a callback of one transport may have
 * sent on another one (consuming its edge) after that one was checked. */
static int any_tx_readable(struct dcv_loop *l)
{
    for (size_t i = 0; i < l->n_txs; i++) {
        struct txw *w = l->txs[i];
        if (!w->dead && !w->paused && tx_readable(w))
            return 1;
    }
    return 0;
}

/* ---- run ---------------------------------------------------------------- */

static int build_pollset(struct dcv_loop *l, size_t *nout)
{
    size_t n = 0, need = l->n_fds + l->n_txs + 1;
    if (need > l->cap_pfds) {
        struct pollfd *p = realloc(l->pfds, need * sizeof(*p));
        if (!p)
            return -ENOMEM;
        l->pfds = p;
        struct slot *s = realloc(l->slots, need * sizeof(*s));
        if (!s)
            return -ENOMEM;
        l->slots = s;
        l->cap_pfds = need;
    }
    if (l->n_sigs > 0 && l->sigfd >= 0) {
        l->pfds[n] = (struct pollfd){.fd = l->sigfd, .events = POLLIN};
        l->slots[n++] = (struct slot){SLOT_SIGNAL, NULL};
    }
    for (size_t i = 0; i < l->n_fds; i++) {
        struct fdw *w = l->fds[i];
        if (w->dead || !w->events)
            continue;
        l->pfds[n] = (struct pollfd){.fd = w->fd, .events = w->events};
        l->slots[n++] = (struct slot){SLOT_FD, w};
    }
    for (size_t i = 0; i < l->n_txs; i++) {
        struct txw *w = l->txs[i];
        if (w->dead || w->paused)
            continue;
        l->pfds[n] = (struct pollfd){.fd = w->fd, .events = POLLIN};
        l->slots[n++] = (struct slot){SLOT_TX, w};
    }
    *nout = n;
    return 0;
}

static void dispatch_fds(struct dcv_loop *l, size_t n)
{
    /* Signals first so a SIGTERM is seen before a flood of I/O. */
    for (size_t i = 0; i < n && !l->stop; i++)
        if (l->slots[i].kind == SLOT_SIGNAL && l->pfds[i].revents)
            dispatch_signals(l);
    for (size_t i = 0; i < n && !l->stop; i++) {
        struct fdw *w;
        if (l->slots[i].kind != SLOT_FD || !l->pfds[i].revents)
            continue;
        w = l->slots[i].w;
        if (w->dead)
            continue;
        w->cb(l, w->fd, l->pfds[i].revents, w->arg);
        if ((l->pfds[i].revents & POLLNVAL) && !w->dead) {
            w->dead = 1;
            l->need_sweep = 1;
        }
    }
    /* SLOT_TX revents mean only "state may have changed": the next
     * iteration asks events() anyway. */
}

int dcv_loop_run(struct dcv_loop *l, char *err, size_t errlen)
{
    int rc = 0;
    if (!l)
        return dcv_err(err, errlen, -EINVAL, "dcv_loop_run: loop is NULL");
    if (l->running)
        return dcv_err(err, errlen, -EBUSY, "dcv_loop_run called from a callback");
    l->running = 1;
    l->stop = 0;
    while (!l->stop) {
        size_t n;
        int timeout = -1, pending;

        if (l->need_sweep)
            sweep(l);
        run_timers(l);
        if (l->stop)
            break;
        pending = dispatch_transports(l);
        if (l->stop)
            break;
        if (l->need_sweep)
            sweep(l);
        rc = build_pollset(l, &n);
        if (rc < 0) {
            dcv_errf(err, errlen, "event loop: out of memory");
            break;
        }
        if (pending || any_tx_readable(l)) {
            timeout = 0;
        } else if (l->n_timers) {
            uint64_t now = dcv_loop_now_ms(), dl = l->heap[0]->deadline;
            uint64_t d = dl > now ? dl - now : 0;
            timeout = d > INT32_MAX ? INT32_MAX : (int)d;
        } else if (n == 0) {
            break; /* nothing could ever wake us */
        }
        int nr = poll(l->pfds, n, timeout);
        if (nr < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            dcv_errf(err, errlen, "poll: %s", strerror(errno));
            break;
        }
        if (nr > 0)
            dispatch_fds(l, n);
    }
    l->running = 0;
    return rc;
}

void dcv_loop_stop(struct dcv_loop *l)
{
    if (l)
        l->stop = 1;
}

void dcv_loop_destroy(struct dcv_loop **lp)
{
    struct dcv_loop *l;
    if (!lp || !(l = *lp))
        return;
    for (size_t i = 0; i < l->n_fds; i++)
        free(l->fds[i]);
    for (size_t i = 0; i < l->n_txs; i++)
        free(l->txs[i]);
    for (size_t i = 0; i < l->n_timers; i++)
        free(l->heap[i]);
    if (l->sigfd >= 0)
        close(l->sigfd);
    for (int s = 1; s < _NSIG; s++)
        if (l->sigs[s].active)
            release_signal(l, s);
    free(l->fds);
    free(l->txs);
    free(l->heap);
    free(l->pfds);
    free(l->slots);
    free(l);
    *lp = NULL;
}

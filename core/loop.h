/*
 * The daemons' event loop (DESIGN §2): one poll() over fd watchers, message
 * transports, a signalfd and CLOCK_MONOTONIC timers.
 *
 * Threading: a loop and everything registered on it belong to the one
 * thread that calls dcv_loop_run(); no function here may be called from
 * another thread or from an async signal handler (signals arrive through
 * dcv_loop_add_signal instead).
 *
 * Callbacks may add and remove any watcher or timer, including the one being
 * called, and may call dcv_loop_stop(). They must not call dcv_loop_run() or
 * dcv_loop_destroy(). A watcher removed inside a callback is never called
 * again, even if it was ready in the same iteration; one added inside a
 * callback is first considered in the next iteration.
 *
 * Ownership: the loop never owns the fds, transports or callback arguments
 * it is given; the caller closes them (after removing the watcher). The loop
 * owns only its signalfd.
 *
 * Errors: 0 or a negative errno; where a message helps it goes to err.
 */
#ifndef DCV_LOOP_H
#define DCV_LOOP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/signalfd.h>

#include "distconv/plugin.h" /* struct dcv_transport_ops */

struct dcv_loop;

/* revents as poll() reported them (POLLIN, POLLOUT, POLLERR, POLLHUP,
 * POLLNVAL). */
typedef void (*dcv_loop_fd_cb)(struct dcv_loop *loop, int fd, short revents, void *arg);
typedef void (*dcv_loop_timer_cb)(struct dcv_loop *loop, uint64_t timer_id, void *arg);
typedef void (*dcv_loop_signal_cb)(struct dcv_loop *loop, const struct signalfd_siginfo *si,
                                   void *arg);
/* Called while ops->events() says a message can be received; it should
 * call ops->recv() (at least once; draining is fine). See below. */
typedef void (*dcv_loop_tx_cb)(struct dcv_loop *loop, void *tx, void *arg);

/* Transport callbacks per transport per iteration before other watchers get
 * a turn (the loop then polls with a zero timeout and comes back). */
#define DCV_LOOP_TX_BATCH 64

int dcv_loop_new(struct dcv_loop **out, char *err, size_t errlen);
/* Removes everything, unblocks the signals the loop blocked (discarding
 * instances still pending: the process is shutting the loop down anyway),
 * frees the loop and sets *loopp to NULL. NULL and *loopp == NULL are fine. */
void dcv_loop_destroy(struct dcv_loop **loopp);

/* Runs until dcv_loop_stop(); returns 0 then, or when nothing is registered
 * that could ever wake it. A negative errno if poll() itself fails, -EBUSY
 * when called from a callback. The stop request is cleared on entry, so a
 * stopped loop can be run again. */
int dcv_loop_run(struct dcv_loop *loop, char *err, size_t errlen);
/* Makes dcv_loop_run() return once the current callback returns; watchers
 * still ready are handled by the next run. */
void dcv_loop_stop(struct dcv_loop *loop);

/* CLOCK_MONOTONIC in milliseconds (the timers' clock). */
uint64_t dcv_loop_now_ms(void);

/* --- fd watchers (level-triggered, like poll) ---------------------------
 * events: POLLIN and/or POLLOUT; 0 keeps the watcher but stops polling the
 * fd. One watcher per fd: -EEXIST otherwise. A callback that sees POLLERR or
 * POLLHUP usually removes the watcher; after POLLNVAL (fd closed while still
 * watched) the loop removes it itself, so a forgotten fd cannot spin. */
int dcv_loop_add_fd(struct dcv_loop *loop, int fd, short events, dcv_loop_fd_cb cb, void *arg,
                    char *err, size_t errlen);
/* Change the interest set (e.g. POLLOUT only while output is queued). */
int dcv_loop_set_fd_events(struct dcv_loop *loop, int fd, short events);
/* -ENOENT when fd is not watched. */
int dcv_loop_remove_fd(struct dcv_loop *loop, int fd);

/* --- timers ---------------------------------------------------------------
 * First fires delay_ms from now; then every interval_ms if that is > 0
 * (0: one-shot). Repeating deadlines advance by exactly interval_ms from the
 * previous deadline, so lateness does not accumulate; periods missed
 * entirely (loop blocked) are skipped, not fired in a burst. Timers due at
 * the same time fire in the order they were added. *id (never 0, never
 * reused) is for dcv_loop_cancel_timer; id may be NULL. */
int dcv_loop_add_timer(struct dcv_loop *loop, uint64_t delay_ms, uint64_t interval_ms,
                       dcv_loop_timer_cb cb, void *arg, uint64_t *id, char *err, size_t errlen);
/* -ENOENT when the timer does not exist (any more: a one-shot that fired). */
int dcv_loop_cancel_timer(struct dcv_loop *loop, uint64_t id);
/* The next deadline (dcv_loop_now_ms() clock) of a pending timer; inside a
 * repeating timer's callback it is already the following one. -ENOENT. */
int dcv_loop_timer_deadline(struct dcv_loop *loop, uint64_t id, uint64_t *deadline_ms);

/* --- signals ----------------------------------------------------------------
 * Blocks signo for this thread and delivers it through a signalfd. Register
 * before creating any thread: threads inherit the mask, and a process-wide
 * signal may go to any thread that does not block it. Standard signals
 * coalesce: a SIGCHLD callback must reap with waitpid(-1, ..., WNOHANG) in a
 * loop, not once. One handler per signal: -EEXIST. SIGKILL/SIGSTOP and
 * invalid numbers: -EINVAL. Only one loop per process should own signals. */
int dcv_loop_add_signal(struct dcv_loop *loop, int signo, dcv_loop_signal_cb cb, void *arg,
                        char *err, size_t errlen);
/* Unblocks signo again if the loop had blocked it (after discarding a pending
 * instance). -ENOENT when not registered. */
int dcv_loop_remove_signal(struct dcv_loop *loop, int signo);

/* --- transports (struct dcv_transport_ops, edge-triggered fd) -------------
 * The loop follows the rule in plugin.h: it calls ops->events() before every
 * sleep, invokes cb while events() says readable (at most DCV_LOOP_TX_BATCH
 * times per iteration), and polls ops->get_fd() for POLLIN only. Because any
 * send/recv/events may consume the fd's edge, sending from any callback is
 * safe: events() is checked again before the loop sleeps.
 * A callback that does not recv() while readable would make the loop spin:
 * pause the watcher instead (backpressure). One watcher per tx: -EEXIST. */
int dcv_loop_add_transport(struct dcv_loop *loop, const struct dcv_transport_ops *ops, void *tx,
                           dcv_loop_tx_cb cb, void *arg, char *err, size_t errlen);
/* paused != 0: cb is not called until resumed (messages wait in the
 * transport). -ENOENT when tx is not watched. */
int dcv_loop_pause_transport(struct dcv_loop *loop, void *tx, int paused);
/* Remove before ops->close(tx). -ENOENT when tx is not watched. */
int dcv_loop_remove_transport(struct dcv_loop *loop, void *tx);

#endif

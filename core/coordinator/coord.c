/*
 * The coordinator service (coord.h): sockets, worker registry and
 * liveness, dispatch, the control plane, and the data-plane callbacks that
 * map transfers to blob files. Admin verbs live in admin.c.
 *
 * Everything runs on the daemon's loop thread. The store is the truth for
 * job states and fences; the in-memory records (workers, attempts out with
 * them) are rebuilt from HELLOs after a restart. Sends never block: a full
 * peer queue parks the message in an ordered per-peer backlog retried from
 * a timer, and a departed peer is forgotten until it says HELLO again.
 */
#include "coordinator/coord_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <libavformat/avformat.h>

#include "auth.h"
#include "clock.h"
#include "errbuf.h"
#include "urlpolicy.h"
#include "log.h"
#include "loop.h"
#include "profile.h"
#include "xfer/chunk.h"

#define OUT_MAX 20000            /* queued messages over all peers before we drop a peer's */
#define OUT_PEER_MAX 2000        /* per peer */
#define DISPATCH_BATCH 64        /* queued jobs considered per dispatch pass */
#define HASH_SLICE (8u << 20)    /* bytes hashed per loop turn */
#define HASH_KEEP 256            /* finished digests remembered */

/* ---- small helpers -------------------------------------------------------- */

uint64_t co_now(void)
{
    return dcv_loop_now_ms();
}

int64_t co_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Transfer ids: random, 1..2^53 (exact in any JSON reader). */
int64_t co_random_id(void)
{
    uint64_t v = 0;
    while (v == 0) {
        if (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v)
            v = (uint64_t)dcv_mono_ns() ^ ((uint64_t)getpid() << 32);
        v &= ((uint64_t)1 << 53) - 1;
    }
    return (int64_t)v;
}

static void hex_random(char *out, size_t nbytes)
{
    unsigned char b[32];
    if (nbytes > sizeof b)
        nbytes = sizeof b;
    if (getrandom(b, nbytes, 0) != (ssize_t)nbytes)
        for (size_t i = 0; i < nbytes; i++)
            b[i] = (unsigned char)(dcv_mono_ns() >> (i % 8));
    for (size_t i = 0; i < nbytes; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
}

static void copy_str(char *dst, size_t len, const char *src)
{
    snprintf(dst, len, "%s", src ? src : "");
}

struct co_worker *co_worker_find(struct dcv_coord *c, const char *id)
{
    for (struct co_worker *w = c->workers; w; w = w->next)
        if (strcmp(w->id, id) == 0)
            return w;
    return NULL;
}

static struct co_worker *worker_by_peer(struct dcv_coord *c, const struct dcv_tx_peer *p)
{
    for (struct co_worker *w = c->workers; w; w = w->next)
        if (w->peer.len && dcv_peer_equal(&w->peer, p))
            return w;
    return NULL;
}

struct co_job *co_job_find(struct dcv_coord *c, const char *id)
{
    for (struct co_job *j = c->jobs; j; j = j->next)
        if (strcmp(j->id, id) == 0)
            return j;
    return NULL;
}

static struct co_job *job_add(struct dcv_coord *c, const char *id)
{
    struct co_job *j = co_job_find(c, id);
    if (j)
        return j;
    if (!(j = calloc(1, sizeof *j)))
        return NULL;
    copy_str(j->id, sizeof j->id, id);
    j->next = c->jobs;
    c->jobs = j;
    return j;
}

unsigned co_held_by(struct dcv_coord *c, const struct co_worker *w)
{
    unsigned n = 0;
    for (struct co_job *j = c->jobs; j; j = j->next)
        if (strcmp(j->worker, w->id) == 0)
            n++;
    return n;
}

/* ---- sending -------------------------------------------------------------- */

static int peer_has_backlog(struct dcv_coord *c, struct dcv_sock *s, const struct dcv_tx_peer *p,
                            size_t *count)
{
    size_t n = 0;
    for (struct co_out *o = c->out_head; o; o = o->next)
        if (o->sock == s && dcv_peer_equal(&o->peer, p))
            n++;
    if (count)
        *count = n;
    return n > 0;
}

static void drop_backlog(struct dcv_coord *c, struct dcv_sock *s, const struct dcv_tx_peer *p)
{
    struct co_out **pp = &c->out_head, *o;
    c->out_tail = NULL;
    while ((o = *pp)) {
        if (o->sock == s && dcv_peer_equal(&o->peer, p)) {
            *pp = o->next;
            free(o->body);
            free(o);
            c->n_out--;
            continue;
        }
        c->out_tail = o;
        pp = &o->next;
    }
}

static void flush_cb(struct dcv_loop *loop, uint64_t id, void *arg);

static void arm_flush(struct dcv_coord *c)
{
    char err[256];
    if (c->flush_timer || !c->out_head)
        return;
    if (dcv_loop_add_timer(c->loop, 10, 0, flush_cb, c, &c->flush_timer, err, sizeof err) < 0)
        c->flush_timer = 0; /* the tick flushes too */
}

static int enqueue(struct dcv_coord *c, struct dcv_sock *s, const struct dcv_tx_peer *to, int cmd,
                   const char *body, size_t len)
{
    struct co_out *o;
    size_t n;

    peer_has_backlog(c, s, to, &n);
    if (n >= OUT_PEER_MAX || c->n_out >= OUT_MAX) {
        char hex[80];
        dcv_peer_hex(to, hex, sizeof hex);
        dcv_log(DCV_LOG_WARN, CO_LOG, "peer %s does not read its messages: dropping its backlog", hex);
        drop_backlog(c, s, to);
        return -EHOSTUNREACH;
    }
    if (!(o = calloc(1, sizeof *o)) || !(o->body = malloc(len ? len : 1))) {
        free(o);
        return -ENOMEM;
    }
    memcpy(o->body, body, len);
    o->len = len;
    o->sock = s;
    o->peer = *to;
    o->cmd = cmd;
    if (c->out_tail)
        c->out_tail->next = o;
    else
        c->out_head = o;
    c->out_tail = o;
    c->n_out++;
    arm_flush(c);
    return 0;
}

int co_send(struct dcv_coord *c, struct dcv_sock *s, const struct dcv_tx_peer *to, int cmd,
            const char *body, size_t len)
{
    char err[256];
    int r;

    if (!to || !to->len)
        return -EHOSTUNREACH;
    /* Order per peer: behind its backlog, never past it. */
    if (peer_has_backlog(c, s, to, NULL))
        return enqueue(c, s, to, cmd, body, len);
    r = dcv_sock_send(s, to, cmd, body, len, NULL, 0, err, sizeof err);
    if (r == -EAGAIN)
        return enqueue(c, s, to, cmd, body, len);
    if (r < 0 && r != -EHOSTUNREACH)
        dcv_log(DCV_LOG_WARN, CO_LOG, "send %s: %s",
                dcv_proto_cmd_name(dcv_sock_plane(s), cmd) ? dcv_proto_cmd_name(dcv_sock_plane(s), cmd) : "?",
                err);
    return r;
}

static void peer_gone(struct dcv_coord *c, struct dcv_sock *s, const struct dcv_tx_peer *p);

static void flush(struct dcv_coord *c)
{
    struct co_out **pp = &c->out_head, *o;
    /* Peers found full in this pass keep their order: skip the rest of theirs. */
    struct dcv_tx_peer blocked[16];
    struct dcv_sock *blocked_s[16];
    unsigned nb = 0;
    char err[256];

    c->out_tail = NULL;
    while ((o = *pp)) {
        int skip = 0, r;
        for (unsigned i = 0; i < nb && !skip; i++)
            skip = blocked_s[i] == o->sock && dcv_peer_equal(&blocked[i], &o->peer);
        if (skip || nb == 16) {
            c->out_tail = o;
            pp = &o->next;
            continue;
        }
        r = dcv_sock_send(o->sock, &o->peer, o->cmd, o->body, o->len, NULL, 0, err, sizeof err);
        if (r == -EAGAIN) {
            blocked[nb] = o->peer;
            blocked_s[nb++] = o->sock;
            c->out_tail = o;
            pp = &o->next;
            continue;
        }
        *pp = o->next;
        c->n_out--;
        if (r == -EHOSTUNREACH) {
            struct dcv_tx_peer p = o->peer;
            struct dcv_sock *s = o->sock;
            free(o->body);
            free(o);
            drop_backlog(c, s, &p);
            peer_gone(c, s, &p);
            /* the list changed under us: start over */
            pp = &c->out_head;
            c->out_tail = NULL;
            continue;
        }
        free(o->body);
        free(o);
    }
    for (o = c->out_head; o; o = o->next)
        c->out_tail = o;
}

static void flush_cb(struct dcv_loop *loop, uint64_t id, void *arg)
{
    struct dcv_coord *c = arg;
    (void)loop;
    (void)id;
    c->flush_timer = 0;
    flush(c);
    arm_flush(c);
}

/* Serialise with the codec (which re-validates what we send) and send. The
 * scratch fields of c carry the encoded text between the two halves. */
static int send_encoded(struct dcv_coord *c, struct dcv_sock *s, const struct dcv_tx_peer *to,
                        int cmd, const char *what, int r)
{
    if (r < 0)
        dcv_log(DCV_LOG_ERROR, CO_LOG, "cannot encode %s: %s", what, c->enc_err);
    else
        r = co_send(c, s, to, cmd, c->enc_buf, c->enc_len);
    free(c->enc_buf);
    c->enc_buf = NULL;
    return r;
}
#define SEND_MSG(c, s, to, cmd, kind, m)                                                     \
    send_encoded((c), (s), (to), (cmd), #kind,                                               \
                 dcv_proto_##kind##_to_json((m), &(c)->enc_buf, &(c)->enc_len, (c)->enc_err, \
                                            sizeof (c)->enc_err))

static void send_disconnect(struct dcv_coord *c, const struct dcv_tx_peer *to, const char *reason)
{
    struct dcv_proto_disconnect d;
    memset(&d, 0, sizeof d);
    copy_str(d.reason, sizeof d.reason, reason && *reason ? reason : "protocol error");
    /* a reason with control characters would not encode: keep it printable */
    for (char *p = d.reason; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
    (void)SEND_MSG(c, c->ctl, to, DCV_CMD_DISCONNECT, disconnect, &d);
}

void co_send_cancel(struct dcv_coord *c, const char *worker, const char *job_id, int attempt,
                    const char *session, const char *reason)
{
    struct co_worker *w = worker ? co_worker_find(c, worker) : NULL;
    struct dcv_proto_cancel m;

    if (!w || !w->online || !w->peer.len || !session || !*session)
        return;
    memset(&m, 0, sizeof m);
    copy_str(m.fence.job_id, sizeof m.fence.job_id, job_id);
    m.fence.attempt = attempt;
    copy_str(m.fence.session, sizeof m.fence.session, session);
    copy_str(m.reason, sizeof m.reason, reason);
    (void)SEND_MSG(c, c->ctl, &w->peer, DCV_CMD_CANCEL, cancel, &m);
}

void co_send_drain(struct dcv_coord *c, struct co_worker *w)
{
    struct dcv_proto_drain d = { .draining = w->admin_drain };
    if (w->online && w->peer.len)
        (void)SEND_MSG(c, c->ctl, &w->peer, DCV_CMD_DRAIN, drain, &d);
}

/* ---- timers: pump, dispatch ------------------------------------------------ */

static void pump_cb(struct dcv_loop *loop, uint64_t id, void *arg);

static void arm_pump(struct dcv_coord *c)
{
    uint64_t d = dcv_xsrv_deadline(c->xsrv), now = co_now();
    char err[256];

    if (c->pump_timer && c->pump_at == d)
        return;
    if (c->pump_timer) {
        dcv_loop_cancel_timer(c->loop, c->pump_timer);
        c->pump_timer = 0;
    }
    if (d == UINT64_MAX)
        return;
    if (dcv_loop_add_timer(c->loop, d > now ? d - now : 0, 0, pump_cb, c, &c->pump_timer, err,
                           sizeof err) == 0)
        c->pump_at = d;
    else
        c->pump_timer = 0; /* the tick pumps as a fallback */
}

static void pump_cb(struct dcv_loop *loop, uint64_t id, void *arg)
{
    struct dcv_coord *c = arg;
    (void)loop;
    (void)id;
    c->pump_timer = 0;
    dcv_xsrv_pump(c->xsrv, co_now());
    arm_pump(c);
}

static void dispatch(struct dcv_coord *c);
static int hold_after_busy(struct dcv_coord *c, const char *job_id, const char *skey,
                           const char *dev);

static void dispatch_cb(struct dcv_loop *loop, uint64_t id, void *arg)
{
    struct dcv_coord *c = arg;
    (void)loop;
    (void)id;
    c->dispatch_timer = 0;
    dispatch(c);
}

void co_dispatch_soon(struct dcv_coord *c)
{
    char err[256];
    if (c->dispatch_timer)
        return;
    if (dcv_loop_add_timer(c->loop, 0, 0, dispatch_cb, c, &c->dispatch_timer, err, sizeof err) < 0) {
        c->dispatch_timer = 0;
        dispatch(c);
    }
}

/* ---- jobs out with workers --------------------------------------------------- */

/* ---- GPU session holds (-EBUSY) ------------------------------------------------ */

static struct co_hold *hold_find(struct dcv_coord *c, const char *key)
{
    for (size_t i = 0; i < c->n_holds; i++)
        if (strcmp(c->holds[i].key, key) == 0)
            return &c->holds[i];
    return NULL;
}

static void hold_drop(struct dcv_coord *c, const char *key)
{
    struct co_hold *h = hold_find(c, key);
    if (!h)
        return;
    dcv_log(DCV_LOG_DEBUG, CO_LOG, "%s: session limit hold ended (a job on it ended)", key);
    *h = c->holds[--c->n_holds];
    co_dispatch_soon(c);
}

/* Drop expired holds; 1 when one was dropped. */
static int hold_expire(struct dcv_coord *c, uint64_t now)
{
    int any = 0;
    for (size_t i = 0; i < c->n_holds;) {
        if (now >= c->holds[i].until) {
            dcv_log(DCV_LOG_INFO, CO_LOG, "%s: session limit hold of %u expired",
                    c->holds[i].key, c->holds[i].limit);
            c->holds[i] = c->holds[--c->n_holds];
            any = 1;
        } else {
            i++;
        }
    }
    return any;
}

static int hold_set(struct dcv_coord *c, const char *key, uint32_t limit, uint64_t until)
{
    struct co_hold *h = hold_find(c, key);
    if (!h) {
        if (c->n_holds == c->cap_holds) {
            size_t cap = c->cap_holds ? 2 * c->cap_holds : 8;
            struct co_hold *v = realloc(c->holds, cap * sizeof *v);
            if (!v)
                return -ENOMEM;
            c->holds = v;
            c->cap_holds = cap;
        }
        h = &c->holds[c->n_holds++];
        copy_str(h->key, sizeof h->key, key);
    }
    h->limit = limit;
    h->until = until;
    return 0;
}

void co_job_release(struct dcv_coord *c, const char *job_id, int code, const char *reason)
{
    struct co_job **pp = &c->jobs, *j;
    char id[DCV_PROTO_JOB_ID];
    int attempt = 0;

    copy_str(id, sizeof id, job_id);
    while ((j = *pp)) {
        if (strcmp(j->id, id) == 0) {
            *pp = j->next;
            attempt = j->attempt;
            /* A session freed on that GPU: what an -EBUSY taught us about
             * its limit is worth a fresh try. */
            if (j->skey[0])
                hold_drop(c, j->skey);
            free(j);
            break;
        }
        pp = &j->next;
    }
    /* After forgetting it: the abort's callbacks must find no attempt to update. */
    if (c->xsrv)
        dcv_xsrv_abort_job(c->xsrv, id, code, reason);
    if (c->xsrv)
        arm_pump(c);
    /* Nobody resumes an output of an attempt that is over: its part (the
     * abort above closed it) only takes disk. A committed output stays. */
    if (attempt > 0 && c->blobs) {
        char file[32], path[PATH_MAX], err[256];
        snprintf(file, sizeof file, "out-%d", attempt);
        if (dcv_blobs_job_path(c->blobs, id, file, 0, path, sizeof path, err, sizeof err) == 0)
            dcv_blobs_discard_part(path);
    }
}

/* ---- inputs ------------------------------------------------------------------ */

/* Stored form (written by admin.c's submit):
 *   {"kind":"upload","xfer_id":N,"size":N,"sha256":"..","name":".."}
 *   {"kind":"path","path":"/real/path","size":N,"name":".."}
 *   {"kind":"url","url":"https://...","name":".."} */
int co_input_parse(struct dcv_coord *c, const char *input_json, struct co_input *in, char *err,
                   size_t errlen)
{
    json_object *o = input_json ? json_tokener_parse(input_json) : NULL, *v;
    const char *kind;
    int r = 0;

    memset(in, 0, sizeof *in);
    in->size = -1;
    if (!o || !json_object_is_type(o, json_type_object)) {
        r = dcv_err(err, errlen, -EINVAL, "stored input description is not a JSON object");
        goto out;
    }
    kind = json_object_object_get_ex(o, "kind", &v) ? json_object_get_string(v) : "";
    if (json_object_object_get_ex(o, "size", &v))
        in->size = json_object_get_int64(v);
    if (json_object_object_get_ex(o, "name", &v))
        copy_str(in->name, sizeof in->name, json_object_get_string(v));
    if (json_object_object_get_ex(o, "sha256", &v))
        copy_str(in->sha, sizeof in->sha, json_object_get_string(v));
    if (strcmp(kind, "upload") == 0) {
        in->kind = DCV_SUBMIT_UPLOAD;
        in->xfer_id = json_object_object_get_ex(o, "xfer_id", &v) ? json_object_get_int64(v) : 0;
        if (in->xfer_id <= 0 || dcv_blobs_upload_path(c->blobs, in->xfer_id, in->path, sizeof in->path) < 0)
            r = dcv_err(err, errlen, -EINVAL, "stored upload input has no valid xfer_id");
    } else if (strcmp(kind, "path") == 0) {
        in->kind = DCV_SUBMIT_PATH;
        if (!json_object_object_get_ex(o, "path", &v) || json_object_get_string(v)[0] != '/')
            r = dcv_err(err, errlen, -EINVAL, "stored path input has no path");
        else
            copy_str(in->path, sizeof in->path, json_object_get_string(v));
    } else if (strcmp(kind, "url") == 0) {
        in->kind = DCV_SUBMIT_URL;
        if (!json_object_object_get_ex(o, "url", &v) || !strstr(json_object_get_string(v), "://"))
            r = dcv_err(err, errlen, -EINVAL, "stored url input has no URL");
        else
            copy_str(in->path, sizeof in->path, json_object_get_string(v));
    } else {
        r = dcv_err(err, errlen, -EINVAL, "stored input has unknown kind \"%s\"", kind);
    }
out:
    json_object_put(o);
    return r;
}

/* ---- hashing inputs on shared storage ----------------------------------------- */

static void hash_cb(struct dcv_loop *loop, uint64_t id, void *arg);

static void arm_hash(struct dcv_coord *c)
{
    char err[256];
    if (c->hash_timer)
        return;
    for (struct co_hash *h = c->hashes; h; h = h->next)
        if (h->state == 0) {
            if (dcv_loop_add_timer(c->loop, 1, 0, hash_cb, c, &c->hash_timer, err, sizeof err) < 0)
                c->hash_timer = 0;
            return;
        }
}

static void hash_finish(struct co_hash *h, int state)
{
    if (h->fd >= 0)
        close(h->fd);
    h->fd = -1;
    if (h->h && state == 1) {
        uint8_t d[DCV_SHA256_LEN];
        dcv_sha256_final(h->h, d);
        dcv_sha256_hex(d, h->sha);
    }
    dcv_sha256_free(&h->h);
    h->state = state;
}

/* One slice per running hash per turn, so heartbeats keep flowing while a
 * large file on shared storage is read. */
static void hash_cb(struct dcv_loop *loop, uint64_t id, void *arg)
{
    struct dcv_coord *c = arg;
    static unsigned char buf[1 << 20];
    int finished = 0;
    (void)loop;
    (void)id;

    c->hash_timer = 0;
    for (struct co_hash *h = c->hashes; h; h = h->next) {
        size_t left = HASH_SLICE;
        if (h->state != 0)
            continue;
        while (left > 0 && h->done < h->size) {
            size_t want = sizeof buf < left ? sizeof buf : left;
            ssize_t n = pread(h->fd, buf, want, h->done);
            if (n <= 0) {
                dcv_log(DCV_LOG_WARN, CO_LOG, "hash %s: %s", h->path,
                        n < 0 ? strerror(errno) : "file shrank");
                hash_finish(h, n < 0 ? -errno : -EIO);
                finished = 1;
                break;
            }
            dcv_sha256_update(h->h, buf, (size_t)n);
            h->done += n;
            left -= (size_t)n;
        }
        if (h->state == 0 && h->done >= h->size) {
            hash_finish(h, 1);
            finished = 1;
        }
    }
    if (finished)
        co_dispatch_soon(c);
    arm_hash(c);
}

int co_hash_get(struct dcv_coord *c, const char *path, int64_t size, char sha[DCV_PROTO_SHA])
{
    struct co_hash *h, **pp, *oldest = NULL;
    struct stat st;
    int64_t mt;
    size_t n = 0;

    if (stat(path, &st) < 0)
        return -errno;
    if (!S_ISREG(st.st_mode) || (size >= 0 && st.st_size != size))
        return -ESTALE; /* changed since submit */
    mt = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    for (h = c->hashes; h; h = h->next) {
        if (strcmp(h->path, path) == 0 && h->size == st.st_size && h->mtime_ns == mt) {
            h->used = co_now();
            if (h->state == 1)
                memcpy(sha, h->sha, DCV_PROTO_SHA);
            return h->state == 1 ? 1 : h->state;
        }
    }
    /* Forget the least recently used finished digests beyond the cap. */
    for (h = c->hashes; h; h = h->next) {
        n++;
        if (h->state != 0 && (!oldest || h->used < oldest->used))
            oldest = h;
    }
    if (n >= HASH_KEEP && oldest) {
        for (pp = &c->hashes; *pp; pp = &(*pp)->next)
            if (*pp == oldest) {
                *pp = oldest->next;
                free(oldest);
                break;
            }
    }
    if (!(h = calloc(1, sizeof *h)))
        return -ENOMEM;
    copy_str(h->path, sizeof h->path, path);
    h->size = st.st_size;
    h->mtime_ns = mt;
    h->used = co_now();
    if ((h->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || dcv_sha256_new(&h->h) < 0) {
        int e = h->fd < 0 ? -errno : -ENOMEM;
        if (h->fd >= 0)
            close(h->fd);
        free(h);
        return e;
    }
    h->next = c->hashes;
    c->hashes = h;
    arm_hash(c);
    return 0;
}

int co_path_under(const char *file, const char *prefix)
{
    size_t n = strlen(prefix);
    while (n > 1 && prefix[n - 1] == '/')
        n--;
    if (n == 1 && prefix[0] == '/')
        return file[0] == '/';
    return strncmp(file, prefix, n) == 0 && (file[n] == '/' || file[n] == '\0');
}

static int worker_reads_path(const struct co_worker *w, const char *file)
{
    for (size_t i = 0; i < w->n_paths; i++)
        if (co_path_under(file, w->paths[i]))
            return 1;
    return 0;
}

/* ---- registry: workers coming and going ------------------------------------------ */

struct active_ud {
    size_t n, cap;
    struct act {
        char id[DCV_PROTO_JOB_ID];
        int attempt;
        enum dcv_job_state state;
        char session[DCV_PROTO_ID];
        char worker[DCV_PROTO_ID];
    } *v;
    int err;
};

static int collect_active(const struct dcv_job *j, void *ud)
{
    struct active_ud *a = ud;
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 16;
        struct act *v = realloc(a->v, cap * sizeof *v);
        if (!v) {
            a->err = -ENOMEM;
            return 1;
        }
        a->v = v;
        a->cap = cap;
    }
    memset(&a->v[a->n], 0, sizeof a->v[a->n]);
    copy_str(a->v[a->n].id, sizeof a->v[a->n].id, j->id);
    a->v[a->n].attempt = j->attempt;
    a->v[a->n].state = j->state;
    copy_str(a->v[a->n].session, sizeof a->v[a->n].session, j->session);
    copy_str(a->v[a->n].worker, sizeof a->v[a->n].worker, j->worker);
    a->n++;
    return 0;
}

/* A worker is gone (silent, DISCONNECT): every attempt it held is lost. */
static void worker_lost(struct dcv_coord *c, struct co_worker *w, const char *why)
{
    struct active_ud a = { 0 };
    char err[512];
    int r;

    dcv_log(DCV_LOG_WARN, CO_LOG, "worker %s (session %s) lost: %s", w->id, w->session, why);
    if (w->peer.len)
        drop_backlog(c, c->ctl, &w->peer);
    w->online = 0;
    w->peer.len = 0;
    if (dcv_store_list_active(c->store, w->id, collect_active, &a, err, sizeof err) < 0)
        dcv_log(DCV_LOG_ERROR, CO_LOG, "worker %s: %s", w->id, err);
    r = dcv_store_requeue_running_of_worker(c->store, w->id, NULL, why, err, sizeof err);
    if (r < 0)
        dcv_log(DCV_LOG_ERROR, CO_LOG, "requeue jobs of worker %s: %s", w->id, err);
    else if (r > 0)
        dcv_log(DCV_LOG_INFO, CO_LOG, "requeued %d job(s) of worker %s", r, w->id);
    for (size_t i = 0; i < a.n; i++)
        co_job_release(c, a.v[i].id, DCV_CODE_STALE, "worker lost");
    /* in-memory attempts the store no longer has as held (should be none) */
    for (struct co_job *j = c->jobs, *next; j; j = next) {
        next = j->next;
        if (strcmp(j->worker, w->id) == 0)
            co_job_release(c, j->id, DCV_CODE_STALE, "worker lost");
    }
    free(a.v);
    co_dispatch_soon(c);
}

/* A send found the peer gone: forget the connection; its liveness window
 * decides whether it comes back (HELLO) or is lost. */
static void peer_gone(struct dcv_coord *c, struct dcv_sock *s, const struct dcv_tx_peer *p)
{
    struct co_worker *w;
    if (s != c->ctl || !(w = worker_by_peer(c, p)))
        return;
    dcv_log(DCV_LOG_INFO, CO_LOG, "worker %s: connection gone", w->id);
    w->peer.len = 0;
}

static int apply_ev(struct dcv_coord *c, const char *job_id, enum dcv_job_event ev, int attempt,
                    const char *note, const char *worker, const char *session, const char *error,
                    struct dcv_job *out)
{
    char err[512];
    int r = dcv_store_apply(c->store, job_id, ev, attempt, note, worker, session, error, out, err,
                            sizeof err);
    if (r == -ESTALE || r == -EINVAL || r == -ENOENT)
        dcv_log(DCV_LOG_DEBUG, CO_LOG, "ignored %s for job %s attempt %d: %s",
                dcv_job_event_name(ev), job_id, attempt, err);
    else if (r < 0)
        dcv_log(DCV_LOG_ERROR, CO_LOG, "job %s: %s: %s", job_id, dcv_job_event_name(ev), err);
    return r;
}

static void send_welcome(struct dcv_coord *c, struct co_worker *w)
{
    struct dcv_proto_welcome m;
    memset(&m, 0, sizeof m);
    copy_str(m.session, sizeof m.session, w->session);
    copy_str(m.coordinator_epoch, sizeof m.coordinator_epoch, c->epoch);
    m.proto = 1;
    m.hb_ivl_ms = c->set->heartbeat_ms;
    m.liveness = c->set->liveness;
    m.chunk_max = c->set->chunk_size;
    m.credit_chunks = c->set->credit_chunks;
    copy_str(m.data_endpoint, sizeof m.data_endpoint,
             c->set->data_endpoint[0] ? c->set->data_endpoint : c->ep_data);
    (void)SEND_MSG(c, c->ctl, &w->peer, DCV_CMD_WELCOME, welcome, &m);
}

static void reattach_sessions(struct dcv_coord *c, const struct co_worker *w);

static void on_hello(struct dcv_coord *c, const struct dcv_tx_peer *from, const void *body,
                     size_t len)
{
    struct dcv_proto_hello *h = calloc(1, sizeof *h);
    struct active_ud a = { 0 };
    struct co_worker *w, *other;
    char err[512];
    int fresh = 0;

    if (!h) {
        send_disconnect(c, from, "coordinator out of memory");
        return;
    }
    if (dcv_proto_hello_from_json(body, len, h, err, sizeof err) < 0) {
        dcv_log(DCV_LOG_WARN, CO_LOG, "bad HELLO: %s", err);
        send_disconnect(c, from, err);
        goto out;
    }
    if (h->proto_min > 1 || h->proto_max < 1) {
        snprintf(err, sizeof err, "no common protocol minor: worker speaks %" PRId64 "..%" PRId64
                 ", coordinator 1", h->proto_min, h->proto_max);
        send_disconnect(c, from, err);
        goto out;
    }
    /* The claimed worker_id must be the identity the connection proved
     * (its enrolled key's NAME): one worker's key cannot speak for another. */
    {
        int64_t uid;
        const char *user = dcv_sock_user(c->ctl, &uid);
        if (user[0] && strcmp(user, h->worker_id) != 0) {
            dcv_log(DCV_LOG_WARN, CO_LOG, "worker %s presented the key of %s: disconnected",
                    h->worker_id, user);
            send_disconnect(c, from, "worker_id is not the identity of this connection's key");
            goto out;
        }
        if (!(dcv_auth_role(dcv_net_auth(c->net), user, uid) & DCV_AUTH_WORKER)) {
            dcv_log(DCV_LOG_WARN, CO_LOG, "HELLO from %s refused: not an enrolled worker", user);
            send_disconnect(c, from, "not an enrolled worker");
            goto out;
        }
    }
    /* The connection may have belonged to another worker id (a restarted
     * process reusing a socket cannot, but be safe): detach it. */
    if ((other = worker_by_peer(c, from)) && strcmp(other->id, h->worker_id) != 0)
        other->peer.len = 0;
    if (!(w = co_worker_find(c, h->worker_id))) {
        if (!(w = calloc(1, sizeof *w))) {
            send_disconnect(c, from, "coordinator out of memory");
            goto out;
        }
        copy_str(w->id, sizeof w->id, h->worker_id);
        w->next = c->workers;
        c->workers = w;
        fresh = 1;
    } else if (w->peer.len && !dcv_peer_equal(&w->peer, from)) {
        drop_backlog(c, c->ctl, &w->peer);
    }
    if (!fresh && strcmp(w->session, h->session) != 0)
        dcv_log(DCV_LOG_INFO, CO_LOG, "worker %s: new session %s retires %s", w->id, h->session,
                w->session);

    /* Reconcile what the store says it holds with what it says it runs. */
    if (dcv_store_list_active(c->store, h->worker_id, collect_active, &a, err, sizeof err) < 0 ||
        a.err < 0)
        dcv_log(DCV_LOG_ERROR, CO_LOG, "worker %s: list its jobs: %s", h->worker_id, err);
    for (size_t i = 0; i < a.n; i++) {
        const struct act *j = &a.v[i];
        const struct dcv_proto_jobref *run = NULL;
        for (size_t k = 0; k < h->n_running; k++)
            if (strcmp(h->running[k].job_id, j->id) == 0 && h->running[k].attempt == j->attempt)
                run = &h->running[k];
        if (run) {
            struct co_job *cj;
            int ok = 1;
            if (strcmp(j->session, h->session) != 0 &&
                dcv_store_set_session(c->store, j->id, j->attempt, h->worker_id, h->session, err,
                                      sizeof err) < 0) {
                dcv_log(DCV_LOG_WARN, CO_LOG, "job %s: cannot re-attach: %s", j->id, err);
                ok = 0;
            }
            if (ok && j->state == DCV_JOB_ASSIGNED &&
                apply_ev(c, j->id, DCV_EV_START, j->attempt, "re-attached from HELLO.running", NULL,
                         h->session, NULL, NULL) < 0)
                ok = 0;
            if (ok && (cj = job_add(c, j->id))) {
                copy_str(cj->worker, sizeof cj->worker, h->worker_id);
                copy_str(cj->session, sizeof cj->session, h->session);
                if (cj->attempt != j->attempt) {
                    cj->out_state = 0;
                    cj->in_xfer = 0;
                }
                /* After a restart we no longer know the input xfer_id the
                 * JOB carried: adopt the one its FETCH names (the fence
                 * already says it is this attempt). */
                if (!cj->in_xfer)
                    cj->in_xfer = CO_XFER_ADOPT;
                cj->attempt = j->attempt;
                cj->accepted = 1;
                cj->assigned_at = co_now();
                cj->has_progress = 1;
                cj->pct = run->progress;
                /* Counted against its device once this HELLO's devices are
                 * known (reattach_sessions below). */
                if (run->plugin[0] && run->device_id[0]) {
                    cj->skey[0] = '\0';
                    copy_str(cj->reattach_plugin, sizeof cj->reattach_plugin, run->plugin);
                    copy_str(cj->place_dev, sizeof cj->place_dev, run->device_id);
                }
                dcv_log(DCV_LOG_INFO, CO_LOG, "job %s attempt %d re-attached to worker %s", j->id,
                        j->attempt, h->worker_id);
                continue;
            }
            if (ok)
                continue;
        }
        /* The same process saying HELLO again (a re-sent HELLO that crossed
         * our WELCOME, a reconnect) may not have received a JOB that is
         * still in flight: leave an unaccepted one to the accept timeout. */
        if (!run && j->state == DCV_JOB_ASSIGNED && strcmp(j->session, h->session) == 0) {
            struct co_job *cj = co_job_find(c, j->id);
            if (cj && cj->attempt == j->attempt && !cj->accepted)
                continue;
        }
        /* Not running there any more: that attempt is lost. */
        apply_ev(c, j->id, DCV_EV_WORKER_LOST, j->attempt, "not in the worker's HELLO.running",
                 NULL, NULL, "worker lost", NULL);
        co_job_release(c, j->id, DCV_CODE_STALE, "worker restarted");
    }
    /* What it runs that it does not hold (any more): tell it to stop. */
    for (size_t k = 0; k < h->n_running; k++) {
        struct co_job *cj = co_job_find(c, h->running[k].job_id);
        if (!cj || cj->attempt != h->running[k].attempt || strcmp(cj->worker, h->worker_id) != 0) {
            struct dcv_proto_cancel m;
            memset(&m, 0, sizeof m);
            copy_str(m.fence.job_id, sizeof m.fence.job_id, h->running[k].job_id);
            m.fence.attempt = h->running[k].attempt;
            copy_str(m.fence.session, sizeof m.fence.session, h->session);
            copy_str(m.reason, sizeof m.reason, "attempt is no longer assigned to this worker");
            (void)SEND_MSG(c, c->ctl, from, DCV_CMD_CANCEL, cancel, &m);
        }
    }

    copy_str(w->session, sizeof w->session, h->session);
    copy_str(w->host, sizeof w->host, h->host);
    copy_str(w->hostname, sizeof w->hostname, h->hostname);
    copy_str(w->version, sizeof w->version, h->version);
    w->peer = *from;
    w->online = 1;
    w->slots = h->slots;
    w->max_cpu_jobs = h->max_cpu_jobs;
    w->max_gpu_jobs = h->max_gpu_jobs;
    w->n_plugins = h->n_plugins;
    memcpy(w->plugins, h->plugins, sizeof w->plugins);
    w->n_devices = h->n_devices;
    memcpy(w->devices, h->devices, sizeof w->devices);
    reattach_sessions(c, w);
    free(w->paths);
    w->paths = NULL;
    w->n_paths = 0;
    if (h->n_paths && (w->paths = calloc(h->n_paths, sizeof *w->paths))) {
        memcpy(w->paths, h->paths, h->n_paths * sizeof *w->paths);
        w->n_paths = h->n_paths;
    }
    w->has_tel = 0;
    w->busy_until = 0;
    w->last_rx = w->last_hb_tx = co_now();
    w->last_seen_ms = co_wall_ms();
    dcv_log(DCV_LOG_INFO, CO_LOG, "worker %s online: session %s, %" PRId64 " slot(s), %zu device(s)%s",
            w->id, w->session, w->slots, w->n_devices, fresh ? "" : " (again)");
    send_welcome(c, w);
    if (w->admin_drain)
        co_send_drain(c, w);
    co_dispatch_soon(c);
out:
    free(a.v);
    free(h);
}

/* ---- control plane: job messages ------------------------------------------------ */

/* The attempt a fenced message names, if this worker holds it. */
static struct co_job *fenced(struct dcv_coord *c, struct co_worker *w, const struct dcv_proto_fence *f)
{
    struct co_job *j = co_job_find(c, f->job_id);
    if (j && j->attempt == f->attempt && strcmp(j->session, f->session) == 0 &&
        strcmp(j->worker, w->id) == 0)
        return j;
    return NULL;
}

/* Count job j against device dev of worker view, as the session table,
 * the GPU classes and the -EBUSY holds see it: its session key ("" for
 * an unlimited device), whether it is a GPU job, and for a GPU job its
 * physical device "host/device_id". */
static void job_place(struct co_job *j, const struct dcv_sched_worker *view,
                      const struct dcv_sched_device *dev)
{
    const struct dcv_device_caps *caps = dev->caps;
    int n = (int)strnlen(caps->device_id, sizeof caps->device_id);

    if (dcv_sched_session_key(view, dev, j->skey, sizeof j->skey) != 0)
        j->skey[0] = '\0';
    j->hw = (caps->flags & DCV_CAP_HARDWARE) != 0;
    j->phys[0] = '\0';
    if (j->hw)
        snprintf(j->phys, sizeof j->phys, "%s/%.*s", view->host ? view->host : "", n,
                 caps->device_id);
    snprintf(j->place_dev, sizeof j->place_dev, "%.*s", n, caps->device_id);
}

/* A restarted coordinator learns where re-attached jobs encode from
 * HELLO.running (the JOB's placement): count them against that device's
 * session key again, as assign() did, or a GPU whose sessions are all in use
 * would look free. */
static void reattach_sessions(struct dcv_coord *c, const struct co_worker *w)
{
    for (struct co_job *j = c->jobs; j; j = j->next) {
        struct dcv_sched_worker view = {0};
        struct dcv_sched_device dv = {0};
        const struct dcv_device_caps *cp = NULL;
        size_t k;
        if (!j->reattach_plugin[0] || strcmp(j->worker, w->id) != 0)
            continue;
        for (k = 0; k < w->n_devices; k++) {
            cp = &w->devices[k].caps;
            if (strcmp(w->devices[k].plugin, j->reattach_plugin) == 0 &&
                strncmp(cp->device_id, j->place_dev, sizeof cp->device_id) == 0)
                break;
        }
        j->reattach_plugin[0] = '\0';
        if (k == w->n_devices)
            continue; /* the device is gone: the job will fail and free nothing */
        view.id = w->id;
        view.host = w->host;
        dv.plugin = w->devices[k].plugin;
        dv.caps = cp;
        job_place(j, &view, &dv);
        dcv_log(DCV_LOG_DEBUG, CO_LOG, "job %s re-attached on %s %s: session key \"%s\"", j->id,
                dv.plugin, j->place_dev, j->skey);
    }
}

static void on_accept(struct dcv_coord *c, struct co_worker *w, const struct dcv_proto_accept *m)
{
    struct co_job *j;
    char note[300];

    snprintf(note, sizeof note, "%s/%s on %s", m->plugin, m->encoder, m->device_id);
    if (apply_ev(c, m->fence.job_id, DCV_EV_ACCEPT, (int)m->fence.attempt, note, NULL,
                 m->fence.session, NULL, NULL) < 0)
        return;
    if ((j = fenced(c, w, &m->fence))) {
        j->accepted = 1;
        j->has_encoder = 1;
        copy_str(j->plugin, sizeof j->plugin, m->plugin);
        copy_str(j->encoder, sizeof j->encoder, m->encoder);
        copy_str(j->device_id, sizeof j->device_id, m->device_id);
    }
    dcv_log(DCV_LOG_INFO, CO_LOG, "job %s attempt %" PRId64 " accepted by %s: %s", m->fence.job_id,
            m->fence.attempt, w->id, note);
}

static void failure_text(char *buf, size_t len, const struct co_worker *w,
                         const struct dcv_proto_failure *m)
{
    snprintf(buf, len, "%s: %s (worker %s, attempt %" PRId64 ")",
             dcv_proto_code_name(m->code) ? dcv_proto_code_name(m->code) : "?", m->message, w->id,
             m->fence.attempt);
}

/* REJECT and FAIL: busy requeues on the same attempt; otherwise the attempt
 * is spent (retryable or not). */
static void on_failure(struct dcv_coord *c, struct co_worker *w, const struct dcv_proto_failure *m,
                       int is_reject)
{
    struct dcv_job job;
    enum dcv_job_event ev;
    struct co_job *j;
    char text[DCV_PROTO_TEXT + 200], err[512];
    char held_key[DCV_SCHED_KEY_MAX] = "", held_dev[DCV_PROTO_HOST] = "";
    int r;

    /* Read the state first: REJECT is only legal from ASSIGNED, busy only
     * from ASSIGNED/RUNNING, and a FAIL `cancelled` after our CANCEL finds
     * the job CANCELLED already. */
    if (dcv_store_get(c->store, m->fence.job_id, &job, err, sizeof err) < 0) {
        dcv_log(DCV_LOG_DEBUG, CO_LOG, "%s for unknown job: %s", is_reject ? "REJECT" : "FAIL", err);
        return;
    }
    if (m->code == DCV_CODE_BUSY && (job.state == DCV_JOB_ASSIGNED || job.state == DCV_JOB_RUNNING))
        ev = DCV_EV_REQUEUE_BUSY;
    else if (is_reject && job.state == DCV_JOB_ASSIGNED && m->retryable)
        ev = DCV_EV_REJECT;
    else if (m->retryable || m->code == DCV_CODE_BUSY)
        ev = DCV_EV_FAIL_RETRYABLE;
    else
        ev = DCV_EV_FAIL_PERMANENT;
    dcv_job_clear(&job);
    if (ev == DCV_EV_REQUEUE_BUSY && (j = fenced(c, w, &m->fence)) && j->hw && j->skey[0] &&
        strncmp(m->message, "no free ", 8) != 0) {
        /* The device itself refused (not the worker's slot count, whose
         * refusals start "no free"): remember where, to hold its limit
         * once the attempt is released. */
        copy_str(held_key, sizeof held_key, j->skey);
        copy_str(held_dev, sizeof held_dev, j->place_dev);
    }
    failure_text(text, sizeof text, w, m);
    r = apply_ev(c, m->fence.job_id, ev, (int)m->fence.attempt, is_reject ? "rejected" : "failed",
                 NULL, m->fence.session, text, &job);
    if (r < 0)
        return;
    dcv_log(ev == DCV_EV_REQUEUE_BUSY ? DCV_LOG_INFO : DCV_LOG_WARN, CO_LOG,
            "job %s %s: %s -> %s", m->fence.job_id, is_reject ? "rejected" : "failed", text,
            dcv_job_state_name(job.state));
    dcv_job_clear(&job);
    co_job_release(c, m->fence.job_id, DCV_CODE_STALE, "attempt ended");
    /* A device that refused a session counts as full at what it has now;
     * any other busy answer pauses the worker until its counts settle. */
    if (ev == DCV_EV_REQUEUE_BUSY &&
        !(held_key[0] && hold_after_busy(c, m->fence.job_id, held_key, held_dev)))
        w->busy_until = co_now() + c->hb_ms;
    co_dispatch_soon(c);
}

static void on_reject(struct dcv_coord *c, struct co_worker *w, const struct dcv_proto_failure *m)
{
    on_failure(c, w, m, 1);
}

static void on_fail(struct dcv_coord *c, struct co_worker *w, const struct dcv_proto_failure *m)
{
    on_failure(c, w, m, 0);
}

/* PROGRESS arrives about once a second per attempt: the fence is checked
 * against the attempt we know is out (the same check the store makes), and
 * the store's clock is touched only every PROGRESS_STORE_MS, so a busy
 * cluster does not turn progress into a stream of fsyncs. */
#define PROGRESS_STORE_MS 10000
static void on_progress(struct dcv_coord *c, struct co_worker *w, const struct dcv_proto_progress *m)
{
    struct co_job *j = fenced(c, w, &m->fence);
    uint64_t now = co_now();

    if (!j) {
        dcv_log(DCV_LOG_DEBUG, CO_LOG, "stale PROGRESS for job %s attempt %" PRId64 " from %s",
                m->fence.job_id, m->fence.attempt, w->id);
        return;
    }
    if (!j->progress_stored || now - j->progress_stored >= PROGRESS_STORE_MS) {
        if (apply_ev(c, m->fence.job_id, DCV_EV_PROGRESS, (int)m->fence.attempt, NULL, NULL,
                     m->fence.session, NULL, NULL) < 0)
            return;
        j->progress_stored = now;
    }
    /* PROGRESS renews the attempt's lease (protocol §3.5): a job still
     * fetching a large input before its ACCEPT is alive, not lost. */
    if (!j->accepted)
        j->assigned_at = now;
    {
        j->has_progress = 1;
        j->phase = m->phase;
        j->pct = m->pct;
        j->frames = m->frames;
        j->fps = m->fps;
    }
}

/* The output name the user gets: the input's base name with the container's extension. */
static void output_name(const char *in_name, const char *container, char *out, size_t len)
{
    char base[DCV_PROTO_HOST * 2];
    const char *ext = container && *container ? container : NULL;
    char *dot;

    copy_str(base, sizeof base, in_name && *in_name ? in_name : "output");
    if ((dot = strrchr(base, '.')) && dot != base) {
        if (!ext)
            ext = in_name + (dot - base) + 1;
        *dot = '\0';
    }
    if (!ext || !*ext)
        ext = "mkv";
    snprintf(out, len, "%s.%s", base, ext);
}

/* The profile's container, if it names one. */
static void profile_container(const char *profile_json, char *out, size_t len)
{
    json_object *o = profile_json ? json_tokener_parse(profile_json) : NULL, *v;
    out[0] = '\0';
    if (o && json_object_object_get_ex(o, "container", &v) && json_object_is_type(v, json_type_string))
        copy_str(out, len, json_object_get_string(v));
    json_object_put(o);
}

/* Open the output with libavformat: it must have streams and a duration. */
static int verify_media(const char *path, char *err, size_t errlen)
{
    AVFormatContext *fc = NULL;
    int r, has_duration = 0;

    if ((r = avformat_open_input(&fc, path, NULL, NULL)) < 0)
        return dcv_err(err, errlen, -EBADMSG, "not a media file (%s)", av_err2str(r));
    if ((r = avformat_find_stream_info(fc, NULL)) < 0) {
        avformat_close_input(&fc);
        return dcv_err(err, errlen, -EBADMSG, "cannot read stream info (%s)", av_err2str(r));
    }
    if (fc->nb_streams == 0) {
        avformat_close_input(&fc);
        return dcv_err(err, errlen, -EBADMSG, "no streams");
    }
    /* The worker decoded it all (media/verify.c); this is the cheap check
     * that what arrived is still a video. */
    if (av_find_best_stream(fc, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0) < 0) {
        avformat_close_input(&fc);
        return dcv_err(err, errlen, -EBADMSG, "no video stream");
    }
    has_duration = fc->duration > 0;
    for (unsigned i = 0; i < fc->nb_streams && !has_duration; i++)
        has_duration = fc->streams[i]->duration > 0;
    avformat_close_input(&fc);
    if (!has_duration)
        return dcv_err(err, errlen, -EBADMSG, "no duration");
    return 0;
}

static int verify_output(const char *path, int64_t size, const char *sha, char *err, size_t errlen)
{
    int64_t rsize;
    char rsha[DCV_PROTO_SHA];
    struct stat st;

    if (stat(path, &st) < 0)
        return dcv_err(err, errlen, -errno, "output file: %s", strerror(errno));
    if (st.st_size != size)
        return dcv_err(err, errlen, -EBADMSG, "output holds %lld bytes, DONE says %lld",
                       (long long)st.st_size, (long long)size);
    if (dcv_blobs_read_record(path, &rsize, rsha) == 0 && strcmp(rsha, sha) != 0)
        return dcv_err(err, errlen, -EBADMSG, "output sha256 differs from DONE's");
    return verify_media(path, err, errlen);
}

/* A library rule made the source the result (outcome skipped or
 * kept-original): nothing was uploaded and there is nothing to verify. The
 * record (output_json without "file") keeps the outcome and its reason, so
 * status shows them and `get` can say why there is no output. */
static void done_without_output(struct dcv_coord *c, struct co_worker *w, struct co_job *j,
                                const struct dcv_proto_done *m)
{
    const char *outcome = dcv_proto_outcome_name(m->outcome);
    char err[512], note[DCV_PROTO_TEXT + 32];
    json_object *o;
    int r;

    /* A skip is decided before any encoder is chosen, so no ACCEPT came:
     * the attempt ran all the same (ASSIGNED -> RUNNING -> DONE). */
    if (!j->accepted)
        (void)apply_ev(c, j->id, DCV_EV_START, j->attempt, outcome, NULL, m->fence.session, NULL,
                       NULL);
    if (!(o = json_object_new_object()))
        return;
    json_object_object_add(o, "outcome", json_object_new_string(outcome));
    json_object_object_add(o, "note", json_object_new_string(m->note[0] ? m->note : outcome));
    if (m->elapsed_ms >= 0)
        json_object_object_add(o, "elapsed_ms", json_object_new_int64(m->elapsed_ms));
    json_object_object_add(o, "worker", json_object_new_string(w->id));
    r = dcv_store_set_output(c->store, j->id, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
                             err, sizeof err);
    json_object_put(o);
    snprintf(note, sizeof note, "%s: %s", outcome, m->note[0] ? m->note : "no output");
    if (r < 0) {
        dcv_log(DCV_LOG_ERROR, CO_LOG, "job %s: record outcome: %s", j->id, err);
        apply_ev(c, j->id, DCV_EV_FAIL_RETRYABLE, j->attempt, "outcome not recorded", NULL,
                 j->session, err, NULL);
    } else if (apply_ev(c, j->id, DCV_EV_SUCCEED, j->attempt, note, NULL, j->session, NULL,
                        NULL) == 0) {
        dcv_log(DCV_LOG_INFO, CO_LOG, "job %s done on %s without output: %s", j->id, w->id, note);
    }
    co_job_release(c, m->fence.job_id, DCV_CODE_STALE, "attempt ended");
    co_dispatch_soon(c);
}

static void on_done(struct dcv_coord *c, struct co_worker *w, const struct dcv_proto_done *m)
{
    struct co_job *j = fenced(c, w, &m->fence);
    struct dcv_job job;
    char file[32], path[PATH_MAX], err[512], text[700], name[600], cont[64];
    struct co_input in;
    int64_t rsize;
    char rsha[DCV_PROTO_SHA];
    json_object *o, *enc;
    int r, committed;

    if (!j) {
        dcv_log(DCV_LOG_DEBUG, CO_LOG, "stale DONE for job %s attempt %" PRId64 " from %s",
                m->fence.job_id, m->fence.attempt, w->id);
        return;
    }
    if (m->outcome != DCV_OUTCOME_ENCODED) {
        done_without_output(c, w, j, m);
        return;
    }
    snprintf(file, sizeof file, "out-%d", j->attempt);
    if (dcv_blobs_job_path(c->blobs, j->id, file, 0, path, sizeof path, err, sizeof err) < 0) {
        dcv_log(DCV_LOG_ERROR, CO_LOG, "job %s: %s", j->id, err);
        return;
    }
    committed = j->out_state == 2 && j->out_xfer == m->output.xfer_id &&
                j->out_size == m->output.size && strcmp(j->out_sha, m->output.sha256) == 0;
    /* After a coordinator restart the commit happened before we knew the
     * attempt: the record on disk says what was received. */
    if (!committed && j->out_state == 0 && dcv_blobs_read_record(path, &rsize, rsha) == 0)
        committed = rsize == m->output.size && strcmp(rsha, m->output.sha256) == 0;
    if (!committed) {
        snprintf(text, sizeof text,
                 "transfer: DONE names output transfer %" PRId64 " that was not committed here",
                 m->output.xfer_id);
        apply_ev(c, j->id, DCV_EV_FAIL_RETRYABLE, j->attempt, "done without output", NULL,
                 j->session, text, NULL);
        dcv_log(DCV_LOG_WARN, CO_LOG, "job %s: %s", j->id, text);
        co_job_release(c, j->id, DCV_CODE_STALE, "attempt ended");
        co_dispatch_soon(c);
        return;
    }
    if (apply_ev(c, j->id, DCV_EV_VERIFY, j->attempt, "output received", NULL, m->fence.session,
                 NULL, &job) < 0)
        return;
    if ((r = verify_output(path, m->output.size, m->output.sha256, err, sizeof err)) < 0) {
        dcv_job_clear(&job);
        snprintf(text, sizeof text, "verify: %s (worker %s, attempt %d)", err, w->id, j->attempt);
        apply_ev(c, j->id, DCV_EV_FAIL_RETRYABLE, j->attempt, "verification failed", NULL,
                 j->session, text, NULL);
        dcv_log(DCV_LOG_WARN, CO_LOG, "job %s: %s", j->id, text);
        co_job_release(c, j->id, DCV_CODE_STALE, "attempt ended");
        co_dispatch_soon(c);
        return;
    }
    if (co_input_parse(c, job.input_json, &in, err, sizeof err) < 0)
        in.name[0] = '\0';
    profile_container(job.profile_json, cont, sizeof cont);
    output_name(in.name, cont, name, sizeof name);
    dcv_job_clear(&job);

    o = json_object_new_object();
    if (!o)
        return;
    json_object_object_add(o, "outcome", json_object_new_string("encoded"));
    if (m->note[0])
        json_object_object_add(o, "note", json_object_new_string(m->note));
    json_object_object_add(o, "file", json_object_new_string(file));
    json_object_object_add(o, "name", json_object_new_string(name));
    json_object_object_add(o, "size", json_object_new_int64(m->output.size));
    json_object_object_add(o, "sha256", json_object_new_string(m->output.sha256));
    if (m->frames >= 0)
        json_object_object_add(o, "frames", json_object_new_int64(m->frames));
    if (m->elapsed_ms >= 0)
        json_object_object_add(o, "elapsed_ms", json_object_new_int64(m->elapsed_ms));
    if (j->has_encoder && (enc = json_object_new_object())) {
        json_object_object_add(enc, "plugin", json_object_new_string(j->plugin));
        json_object_object_add(enc, "encoder", json_object_new_string(j->encoder));
        json_object_object_add(enc, "device_id", json_object_new_string(j->device_id));
        json_object_object_add(o, "encoder", enc);
    }
    json_object_object_add(o, "worker", json_object_new_string(w->id));
    r = dcv_store_set_output(c->store, j->id, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
                             err, sizeof err);
    json_object_put(o);
    if (r < 0) {
        /* Not done without a record of what `get` serves: retry later. */
        dcv_log(DCV_LOG_ERROR, CO_LOG, "job %s: record output: %s", j->id, err);
        apply_ev(c, j->id, DCV_EV_FAIL_RETRYABLE, j->attempt, "output not recorded", NULL,
                 j->session, err, NULL);
    } else if (apply_ev(c, j->id, DCV_EV_SUCCEED, j->attempt, "output verified", NULL, j->session,
                        NULL, NULL) == 0) {
        dcv_log(DCV_LOG_INFO, CO_LOG, "job %s done on %s: %s, %" PRId64 " bytes", j->id, w->id,
                name, m->output.size);
    }
    co_job_release(c, m->fence.job_id, DCV_CODE_STALE, "attempt ended");
    co_dispatch_soon(c);
}

/* Other software opened or closed encoder sessions on a GPU of w (NVML):
 * jobs waiting for a session may fit now, or fewer may. */
static int gpu_sessions_changed(const struct co_worker *w, const struct dcv_proto_telemetry *t)
{
    if (!w->has_tel || w->tel.n_gpus != t->n_gpus)
        return t->n_gpus > 0;
    for (size_t i = 0; i < t->n_gpus && i < DCV_PROTO_MAX_GPUS; i++)
        if (w->tel.gpus[i].enc_sessions != t->gpus[i].enc_sessions ||
            strcmp(w->tel.gpus[i].id, t->gpus[i].id) != 0)
            return 1;
    return 0;
}

static void on_heartbeat(struct dcv_coord *c, struct co_worker *w, const struct dcv_proto_heartbeat *m)
{
    int was_busy, was_draining, sessions_moved;

    if (!m->has_telemetry)
        return;
    was_busy = w->has_tel && w->tel.busy;
    was_draining = w->has_tel && w->tel.draining;
    sessions_moved = gpu_sessions_changed(w, &m->telemetry);
    w->tel = m->telemetry;
    w->tel_at = co_now();
    /* Admission (the worker's own limits): log the change, not each beat. */
    if (w->tel.busy && !was_busy)
        dcv_log(DCV_LOG_INFO, CO_LOG, "worker %s is busy, not eligible for jobs: %s", w->id,
                w->tel.busy_reason[0] ? w->tel.busy_reason : "no reason given");
    else if (!w->tel.busy && was_busy)
        dcv_log(DCV_LOG_INFO, CO_LOG, "worker %s is no longer busy", w->id);
    if (!w->has_tel || was_busy != w->tel.busy || was_draining != w->tel.draining ||
        sessions_moved)
        co_dispatch_soon(c);
    w->has_tel = 1;
    /* Attempts it still runs that it no longer holds (requeued elsewhere, or
     * cancelled while it could not hear us): tell it again to stop. */
    for (size_t i = 0; i < w->tel.n_jobs; i++) {
        const struct dcv_proto_jobref *r = &w->tel.jobs[i];
        struct co_job *j = co_job_find(c, r->job_id);
        if (!j || j->attempt != r->attempt || strcmp(j->worker, w->id) != 0) {
            struct dcv_proto_cancel cm;
            memset(&cm, 0, sizeof cm);
            copy_str(cm.fence.job_id, sizeof cm.fence.job_id, r->job_id);
            cm.fence.attempt = r->attempt;
            copy_str(cm.fence.session, sizeof cm.fence.session, w->session);
            copy_str(cm.reason, sizeof cm.reason, "attempt is no longer assigned to this worker");
            (void)SEND_MSG(c, c->ctl, &w->peer, DCV_CMD_CANCEL, cancel, &cm);
        }
    }
}

/* Decode a body into a heap struct (some are large), run the handler. */
#define HANDLE(kind, type, fn)                                                         \
    do {                                                                                    \
        struct type *x_ = calloc(1, sizeof *x_);                                            \
        if (!x_)                                                                            \
            break;                                                                          \
        if (dcv_proto_##kind##_from_json(m->body, m->body_len, x_, err, sizeof err) < 0) {  \
            dcv_log(DCV_LOG_WARN, CO_LOG, "worker %s: %s", w->id, err);                      \
            send_disconnect(c, from, err);                                                  \
        } else {                                                                            \
            fn(c, w, x_);                                                    \
        }                                                                                   \
        free(x_);                                                                           \
    } while (0)

static void on_control(struct dcv_coord *c, const struct dcv_tx_peer *from, const struct dcv_proto_msg *m)
{
    struct co_worker *w;
    char err[512];

    if (m->cmd == DCV_CMD_HELLO) {
        on_hello(c, from, m->body, m->body_len);
        return;
    }
    if (!(w = worker_by_peer(c, from))) {
        char hex[80];
        dcv_peer_hex(from, hex, sizeof hex);
        dcv_log(DCV_LOG_DEBUG, CO_LOG, "%s from unknown connection %s",
                dcv_proto_cmd_name(DCV_PLANE_CONTROL, m->cmd), hex);
        if (m->cmd != DCV_CMD_DISCONNECT)
            send_disconnect(c, from, "unknown connection: send HELLO first");
        return;
    }
    /* Every message: still the worker that said HELLO on this connection,
     * and still enrolled (a SIGHUP may have removed its key). */
    {
        int64_t uid;
        const char *user = dcv_sock_user(c->ctl, &uid);
        if (user[0] && strcmp(user, w->id) != 0) {
            dcv_log(DCV_LOG_WARN, CO_LOG, "%s from %s on the connection of worker %s: disconnected",
                    dcv_proto_cmd_name(DCV_PLANE_CONTROL, m->cmd), user, w->id);
            w->peer.len = 0;
            send_disconnect(c, from, "message identity does not match the worker");
            return;
        }
        if (!(dcv_auth_role(dcv_net_auth(c->net), user, uid) & DCV_AUTH_WORKER)) {
            dcv_log(DCV_LOG_WARN, CO_LOG, "worker %s is no longer enrolled: disconnected", w->id);
            send_disconnect(c, from, "this worker is no longer enrolled");
            worker_lost(c, w, "no longer enrolled");
            return;
        }
    }
    w->last_rx = co_now();
    w->last_seen_ms = co_wall_ms();
    switch (m->cmd) {
    case DCV_CMD_HEARTBEAT: HANDLE(heartbeat, dcv_proto_heartbeat, on_heartbeat); break;
    case DCV_CMD_ACCEPT: HANDLE(accept, dcv_proto_accept, on_accept); break;
    case DCV_CMD_REJECT: HANDLE(reject, dcv_proto_failure, on_reject); break;
    case DCV_CMD_FAIL: HANDLE(fail, dcv_proto_failure, on_fail); break;
    case DCV_CMD_PROGRESS: HANDLE(progress, dcv_proto_progress, on_progress); break;
    case DCV_CMD_DONE: HANDLE(done, dcv_proto_done, on_done); break;
    case DCV_CMD_DISCONNECT:
        worker_lost(c, w, "worker sent DISCONNECT");
        break;
    default:
        snprintf(err, sizeof err, "unexpected %s from a worker",
                 dcv_proto_cmd_name(DCV_PLANE_CONTROL, m->cmd) ? dcv_proto_cmd_name(DCV_PLANE_CONTROL, m->cmd) : "command");
        send_disconnect(c, from, err);
        break;
    }
}

typedef void (*co_msg_fn)(struct dcv_coord *c, const struct dcv_tx_peer *from,
                          const struct dcv_proto_msg *m);

/* Receive what a socket has (a bounded batch, so one busy plane cannot
 * starve the others; the loop calls again while messages remain). Dropped
 * messages are logged; on the control plane the sender is told DISCONNECT
 * so a confused worker starts again with HELLO. */
static void drain_socket(struct dcv_coord *c, struct dcv_sock *s, const char *plane,
                         co_msg_fn handle)
{
    struct dcv_tx_peer from;
    struct dcv_proto_msg m;
    char err[512];
    int r;

    for (int i = 0; i < 256; i++) {
        memset(&from, 0, sizeof from);
        r = dcv_sock_recv(s, &from, &m, err, sizeof err);
        if (r == -EAGAIN)
            break;
        if (r == -EPROTO) {
            char hex[80];
            dcv_peer_hex(&from, hex, sizeof hex);
            dcv_log(s == c->ctl ? DCV_LOG_WARN : DCV_LOG_DEBUG, CO_LOG,
                    "%s message from %s dropped: %s", plane, hex[0] ? hex : "?", err);
            if (s == c->ctl && from.len)
                send_disconnect(c, &from, err);
            continue;
        }
        if (r < 0) {
            dcv_log(DCV_LOG_ERROR, CO_LOG, "%s socket: %s", plane, err);
            break;
        }
        handle(c, &from, &m);
    }
}

static void on_ctl_sock(struct dcv_sock *s, void *arg)
{
    drain_socket(arg, s, "control", on_control);
}

/* ---- dispatch ------------------------------------------------------------------ */

/* Apply every key of a flat profile object with dcv_profile_set(). */
int co_profile_parse(const char *profile_json, struct dcv_profile *p, char *err, size_t errlen)
{
    json_object *o = profile_json ? json_tokener_parse(profile_json) : NULL;
    int r = 0;

    dcv_profile_defaults(p);
    if (!o || !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return dcv_err(err, errlen, -EINVAL, "profile: expected a JSON object");
    }
    json_object_object_foreach(o, key, val)
    {
        char buf[320];
        switch (json_object_get_type(val)) {
        case json_type_string: copy_str(buf, sizeof buf, json_object_get_string(val)); break;
        case json_type_int: snprintf(buf, sizeof buf, "%" PRId64, json_object_get_int64(val)); break;
        case json_type_double: snprintf(buf, sizeof buf, "%.17g", json_object_get_double(val)); break;
        case json_type_boolean: copy_str(buf, sizeof buf, json_object_get_boolean(val) ? "true" : "false"); break;
        default:
            r = dcv_err(err, errlen, -EINVAL, "profile.%s: expected a string, number or boolean", key);
            goto out;
        }
        if ((r = dcv_profile_set(p, key, buf, err, errlen)) < 0) {
            if (r == -ENOENT)
                dcv_errf(err, errlen, "profile.%s: not a profile option", key);
            r = -EINVAL;
            goto out;
        }
    }
    dcv_profile_resolve(p);
    r = dcv_profile_check(p, err, errlen);
out:
    json_object_put(o);
    return r;
}

struct qjob {
    char id[DCV_PROTO_JOB_ID];
    int attempt;
    int64_t queued_ms; /* wall ms it was (re)queued: the store's, so durable */
    char *profile, *input;
};

struct queued_ud {
    struct qjob *v;
    size_t n, cap;
};

static int collect_queued(const struct dcv_job *j, void *ud)
{
    struct queued_ud *q = ud;
    struct qjob *x;
    if (q->n == q->cap)
        return 1;
    x = &q->v[q->n];
    copy_str(x->id, sizeof x->id, j->id);
    x->attempt = j->attempt;
    /* A queued job's row changes only when it is (re)queued. */
    x->queued_ms = j->updated_ms;
    x->profile = strdup(j->profile_json ? j->profile_json : "{}");
    x->input = strdup(j->input_json ? j->input_json : "{}");
    if (!x->profile || !x->input) {
        free(x->profile);
        free(x->input);
        return 1;
    }
    q->n++;
    return 0;
}

static void fail_queued(struct dcv_coord *c, const struct qjob *q, const char *why)
{
    dcv_log(DCV_LOG_WARN, CO_LOG, "job %s cannot run: %s", q->id, why);
    apply_ev(c, q->id, DCV_EV_FAIL_PERMANENT, q->attempt, "refused by the coordinator", NULL, NULL,
             why, NULL);
}

/* The device the scheduler chose, as JOB.placement and the history note. */
struct co_place {
    const struct dcv_sched_device *dev;
    int codec;    /* index into dev->caps->codecs */
    int fallback; /* software because no GPU session was free */
    const char *gpu_detail; /* the full GPUs, for a fallback's note */
};

static int assign(struct dcv_coord *c, const struct qjob *q, const struct co_input *in,
                  struct co_worker *w, const struct dcv_sched_worker *view,
                  const struct co_place *pl, char *skey, size_t skeylen)
{
    const struct dcv_sched_device *dev = pl->dev;
    const struct dcv_device_caps *caps = dev->caps;
    const struct dcv_codec_caps *cc = &caps->codecs[pl->codec];
    struct dcv_proto_job *m;
    struct co_job *j;
    char note[DCV_SCHED_DETAIL_MAX + 300];
    int by_path = in->kind != DCV_SUBMIT_URL && worker_reads_path(w, in->path), r;

    skey[0] = '\0';
    if (pl->fallback)
        snprintf(note, sizeof note, "assigned to %s: fallback to %s (%.*s): no GPU session free (%s)",
                 w->id, dev->plugin, (int)strnlen(cc->encoder, sizeof cc->encoder), cc->encoder,
                 pl->gpu_detail && *pl->gpu_detail ? pl->gpu_detail : "every GPU full");
    else
        snprintf(note, sizeof note, "assigned to %s: %.*s on %.*s", w->id,
                 (int)strnlen(cc->encoder, sizeof cc->encoder), cc->encoder,
                 (int)strnlen(caps->device_id, sizeof caps->device_id), caps->device_id);
    if (apply_ev(c, q->id, DCV_EV_ASSIGN, q->attempt, note, w->id, w->session, NULL, NULL) < 0)
        return -EAGAIN;
    if (!(j = job_add(c, q->id)) || !(m = calloc(1, sizeof *m))) {
        /* Keep the store consistent: the worker never hears of it. */
        apply_ev(c, q->id, DCV_EV_REQUEUE_BUSY, q->attempt, "coordinator out of memory", NULL,
                 w->session, NULL, NULL);
        if (j)
            co_job_release(c, q->id, DCV_CODE_INTERNAL, "out of memory");
        return -ENOMEM;
    }
    {
        struct co_job *next = j->next;
        memset(j, 0, sizeof *j);
        j->next = next;
    }
    copy_str(j->id, sizeof j->id, q->id);
    copy_str(j->worker, sizeof j->worker, w->id);
    copy_str(j->session, sizeof j->session, w->session);
    j->attempt = q->attempt;
    j->assigned_at = co_now();
    job_place(j, view, dev);
    copy_str(skey, skeylen, j->skey);

    /* Where the session was counted is where the job must encode. */
    m->has_placement = 1;
    copy_str(m->placement.plugin, sizeof m->placement.plugin, dev->plugin);
    snprintf(m->placement.device_id, sizeof m->placement.device_id, "%.*s",
             (int)strnlen(caps->device_id, sizeof caps->device_id), caps->device_id);
    snprintf(m->placement.codec, sizeof m->placement.codec, "%.*s",
             (int)strnlen(cc->codec, sizeof cc->codec), cc->codec);
    snprintf(m->placement.encoder, sizeof m->placement.encoder, "%.*s",
             (int)strnlen(cc->encoder, sizeof cc->encoder), cc->encoder);
    m->placement.hw = j->hw;
    m->placement.fallback = pl->fallback;

    copy_str(m->fence.job_id, sizeof m->fence.job_id, q->id);
    m->fence.attempt = q->attempt;
    copy_str(m->fence.session, sizeof m->fence.session, w->session);
    const char *m_mode_name = "xfer";
    if (in->kind == DCV_SUBMIT_URL) {
        const char *allowed[DCV_STRLIST_MAX];
        for (unsigned i = 0; i < c->set->url_protocols.n; i++)
            allowed[i] = c->set->url_protocols.v[i];
        m->input.kind = DCV_INPUT_URL;
        copy_str(m->input.url, sizeof m->input.url, in->path);
        if (dcv_url_whitelist(allowed, c->set->url_protocols.n, m->input.protocols,
                              sizeof m->input.protocols) < 0)
            m->input.protocols[0] = '\0'; /* cannot happen with 16-byte names; JOB fails */
        m_mode_name = "url";
    } else if (by_path) {
        m->input.kind = DCV_INPUT_PATH;
        copy_str(m->input.path, sizeof m->input.path, in->path);
    } else {
        int64_t room = w->has_tel ? w->tel.disk_free - c->set->disk_reserve : INT64_MAX;
        m->input.kind = DCV_INPUT_XFER;
        m->input.blob.xfer_id = co_random_id();
        m->input.blob.size = in->size;
        copy_str(m->input.blob.sha256, sizeof m->input.blob.sha256, in->sha);
        m->input.mode = c->set->stream == DCV_STREAM_ALWAYS ||
                                (c->set->stream == DCV_STREAM_AUTO && room < in->size)
                            ? DCV_FETCH_STREAM
                            : DCV_FETCH_COPY;
        m_mode_name = m->input.mode == DCV_FETCH_STREAM ? "xfer stream" : "xfer copy";
        j->in_xfer = m->input.blob.xfer_id;
        j->in_size = in->size;
        copy_str(j->in_path, sizeof j->in_path, in->path);
        copy_str(j->in_sha, sizeof j->in_sha, in->sha);
    }
    copy_str(m->input.name, sizeof m->input.name, in->name);
    copy_str(m->profile, sizeof m->profile, q->profile);
    r = SEND_MSG(c, c->ctl, &w->peer, DCV_CMD_JOB, job, m);
    free(m);
    if (r < 0 && r != -EHOSTUNREACH) {
        /* What we cannot even encode will never run anywhere. */
        apply_ev(c, q->id, DCV_EV_FAIL_PERMANENT, q->attempt, "cannot build JOB", NULL, w->session,
                 c->enc_err[0] ? c->enc_err : "cannot build the JOB message", NULL);
        co_job_release(c, q->id, DCV_CODE_INTERNAL, "cannot build JOB");
        return r;
    }
    /* -EHOSTUNREACH: it reconnects (HELLO reconciles) or its liveness ends. */
    dcv_log(DCV_LOG_INFO, CO_LOG, "job %s attempt %d -> worker %s (input %s%s): %s/%.32s on %s%s",
            q->id, q->attempt, w->id, by_path ? "path " : m_mode_name, by_path ? in->path : "",
            dev->plugin, cc->encoder, j->place_dev,
            pl->fallback ? ", fallback: no GPU session free" : "");
    return 0;
}

/* When the first job still in its retry back-off is due: the tick
 * dispatches then (queued jobs otherwise wait for an event to move). */
static void note_backoff(struct dcv_coord *c)
{
    char err[256];
    int64_t when = 0;
    int r = dcv_store_next_due(c->store, co_wall_ms(), &when, err, sizeof err);
    if (r < 0)
        dcv_log(DCV_LOG_ERROR, CO_LOG, "dispatch: %s", err);
    c->backoff_at = r == 1 ? when : 0;
}

static int eligible(const struct co_worker *w)
{
    return w->online && w->peer.len;
}

/* ---- GPU sessions across the cluster ---------------------------------------------- */

/* The session table: our running jobs per key, other software's sessions
 * from NVML telemetry, and the limits held after an -EBUSY. */
struct co_sess {
    struct dcv_sched_session *s;
    size_t n, cap;
    struct dcv_sched_gpu_obs *obs;
    char (*txt)[DCV_SCHED_KEY_MAX]; /* two per observation: key, phys */
};

static void sessions_free(struct co_sess *t)
{
    free(t->s);
    free(t->obs);
    free(t->txt);
    memset(t, 0, sizeof *t);
}

static struct dcv_sched_session *sessions_slot(struct co_sess *t, const char *key)
{
    size_t k;
    for (k = 0; k < t->n && strcmp(t->s[k].key, key) != 0; k++)
        ;
    if (k == t->n) {
        if (t->n == t->cap)
            return NULL;
        memset(&t->s[k], 0, sizeof t->s[k]);
        t->s[k].key = key;
        t->n++;
    }
    return &t->s[k];
}

/* exclude: a job id not to count (the one a device just refused), or NULL.
 * extra: room for keys the caller adds later. Sorted on return. */
static int sessions_build(struct dcv_coord *c, const char *exclude, size_t extra,
                          struct co_sess *t)
{
    size_t nj = 0, ng = 0, no = 0;
    memset(t, 0, sizeof *t);
    for (struct co_job *j = c->jobs; j; j = j->next)
        nj++;
    for (struct co_worker *w = c->workers; w; w = w->next)
        if (w->online && w->has_tel)
            ng += w->tel.n_gpus < DCV_PROTO_MAX_GPUS ? w->tel.n_gpus : DCV_PROTO_MAX_GPUS;
    t->cap = nj + ng + c->n_holds + extra + 1;
    t->s = calloc(t->cap, sizeof *t->s);
    t->obs = calloc(ng + 1, sizeof *t->obs);
    t->txt = calloc(2 * ng + 1, sizeof *t->txt);
    if (!t->s || !t->obs || !t->txt) {
        sessions_free(t);
        return -ENOMEM;
    }
    for (struct co_job *j = c->jobs; j; j = j->next) {
        struct dcv_sched_session *x;
        if (!j->skey[0] || (exclude && strcmp(j->id, exclude) == 0))
            continue;
        if ((x = sessions_slot(t, j->skey)))
            x->used++;
    }
    /* Sessions other software holds: NVML counts every process's, ours
     * included, per physical GPU. */
    for (struct co_worker *w = c->workers; w; w = w->next) {
        size_t n;
        if (!w->online || !w->has_tel)
            continue;
        n = w->tel.n_gpus < DCV_PROTO_MAX_GPUS ? w->tel.n_gpus : DCV_PROTO_MAX_GPUS;
        for (size_t g = 0; g < n; g++) {
            const struct dcv_proto_gpu *gp = &w->tel.gpus[g];
            struct dcv_sched_worker view = {0};
            struct dcv_sched_device dv = {0};
            size_t k;
            uint32_t ours = 0;
            if (gp->enc_sessions < 0 || !gp->id[0])
                continue;
            for (k = 0; k < w->n_devices; k++) {
                const struct dcv_device_caps *cp = &w->devices[k].caps;
                if ((cp->flags & DCV_CAP_HARDWARE) &&
                    strncmp(cp->device_id, gp->id, sizeof cp->device_id) == 0)
                    break;
            }
            if (k == w->n_devices)
                continue; /* a GPU no encoder plugin of this worker uses */
            view.id = w->id;
            view.host = w->host;
            dv.plugin = w->devices[k].plugin;
            dv.caps = &w->devices[k].caps;
            if (dcv_sched_session_key(&view, &dv, t->txt[2 * no], sizeof t->txt[0]) != 0)
                continue;
            snprintf(t->txt[2 * no + 1], sizeof t->txt[0], "%s/%s", w->host, gp->id);
            for (struct co_job *j = c->jobs; j; j = j->next)
                if (j->phys[0] && strcmp(j->phys, t->txt[2 * no + 1]) == 0 &&
                    !(exclude && strcmp(j->id, exclude) == 0))
                    ours++;
            t->obs[no].key = t->txt[2 * no];
            t->obs[no].phys = t->txt[2 * no + 1];
            t->obs[no].enc_sessions = gp->enc_sessions;
            t->obs[no].ours = ours;
            t->obs[no].at = (int64_t)w->tel_at;
            no++;
        }
    }
    (void)dcv_sched_add_external(t->s, &t->n, t->cap, t->obs, no);
    for (size_t i = 0; i < c->n_holds; i++) {
        struct dcv_sched_session *x = sessions_slot(t, c->holds[i].key);
        if (x) {
            x->limit = c->holds[i].limit;
            x->hold = true;
        }
    }
    dcv_sched_sessions_sort(t->s, t->n);
    return 0;
}

/* A job with a hardware placement came back busy (-EBUSY at open): the
 * device has fewer sessions than we thought. Count it full at what is in
 * use there now, without this job, for queue.busy_hold_s. 1 when held. */
static int hold_after_busy(struct dcv_coord *c, const char *job_id, const char *skey,
                           const char *dev)
{
    struct co_sess t;
    uint32_t used = 0;
    if (sessions_build(c, job_id, 0, &t) < 0)
        return 0;
    for (size_t i = 0; i < t.n; i++)
        if (strcmp(t.s[i].key, skey) == 0)
            used = t.s[i].used;
    sessions_free(&t);
    if (hold_set(c, skey, used, co_now() + (uint64_t)c->set->busy_hold_s * 1000u) < 0)
        return 0;
    dcv_log(DCV_LOG_WARN, CO_LOG, "%s refused a session with %u in use: limit %u for %d s (key %s)",
            dev, used, used, c->set->busy_hold_s, skey);
    return 1;
}

/* ---- job size hints ------------------------------------------------------------------- */

#define CO_HINTS_MAX 1024

/* duration (s) * width * height of a local input, from its header only
 * (the worker probes it properly); 0 when unknown. Only container formats
 * that open no further files are read: the coordinator must not follow a
 * playlist an uploader wrote. */
static double probe_size_hint(const char *path)
{
    AVFormatContext *fc = NULL;
    AVDictionary *o = NULL;
    double hint = 0;
    int vi;

    av_dict_set(&o, "protocol_whitelist", "file", 0);
    av_dict_set(&o, "format_whitelist",
                "matroska,mov,mp4,mpegts,avi,flv,mpeg,mxf,ogg,asf,ivf,nut,yuv4mpegpipe", 0);
    if (avformat_open_input(&fc, path, NULL, &o) < 0) {
        av_dict_free(&o);
        return 0;
    }
    av_dict_free(&o);
    vi = av_find_best_stream(fc, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    if (vi >= 0 && fc->duration > 0) {
        const AVCodecParameters *par = fc->streams[vi]->codecpar;
        if (par->width > 0 && par->height > 0)
            hint = (double)fc->duration / AV_TIME_BASE * par->width * par->height;
    }
    avformat_close_input(&fc);
    return hint;
}

static double size_hint(struct dcv_coord *c, const struct co_input *ci, const struct stat *st)
{
    struct co_hint *h, **pp, *old = NULL;
    int64_t mt;
    if (ci->kind == DCV_SUBMIT_URL)
        return 0;
    mt = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
    for (h = c->hints; h; h = h->next)
        if (h->size == (int64_t)st->st_size && h->mtime_ns == mt && strcmp(h->path, ci->path) == 0) {
            h->used = co_now();
            return h->hint;
        }
    if (c->n_hints >= CO_HINTS_MAX) {
        for (h = c->hints; h; h = h->next)
            if (!old || h->used < old->used)
                old = h;
        for (pp = &c->hints; *pp; pp = &(*pp)->next)
            if (*pp == old) {
                *pp = old->next;
                free(old);
                c->n_hints--;
                break;
            }
    }
    if (!(h = calloc(1, sizeof *h)))
        return 0;
    copy_str(h->path, sizeof h->path, ci->path);
    h->size = st->st_size;
    h->mtime_ns = mt;
    h->hint = probe_size_hint(ci->path);
    h->used = co_now();
    h->next = c->hints;
    c->hints = h;
    c->n_hints++;
    return h->hint;
}

/* ---- dispatch ---------------------------------------------------------------------- */

/* What a job whose GPUs are all full does (queue.gpu_policy, gpu-policy). */
static int gpu_policy_of(const struct dcv_coord *c, const struct dcv_profile *p, int *wait_s)
{
    int pol = p->gpu_policy >= 0 ? p->gpu_policy : (int)c->set->gpu_policy;
    *wait_s = p->gpu_wait_s >= 0 ? (int)p->gpu_wait_s : c->set->gpu_wait_s;
    /* Only "auto" may run in software; a job that asked for hardware (or
     * a named encoder) waits instead of falling back. */
    if (pol == DCV_GPU_FALLBACK && p->encoder[0] && strcmp(p->encoder, "auto") != 0)
        pol = DCV_GPU_QUEUE;
    return pol;
}

static void fail_gpu(struct dcv_coord *c, const struct qjob *q, const char *why)
{
    dcv_log(DCV_LOG_WARN, CO_LOG, "job %s failed: %s", q->id, why);
    apply_ev(c, q->id, DCV_EV_FAIL_PERMANENT, q->attempt, "GPU-exhausted policy", NULL, NULL, why,
             NULL);
}

static void dispatch(struct dcv_coord *c)
{
    struct dcv_sched_worker *W = NULL, *WJ = NULL;
    struct dcv_sched_device *D = NULL;
    struct dcv_sched_bench *B = NULL;
    char (*K)[DCV_SCHED_KEY_MAX] = NULL;
    struct co_worker **ws = NULL;
    struct co_sess t = { 0 };
    struct queued_ud q = { 0 };
    size_t nw = 0, ndev = 0, di = 0, i;
    uint64_t now = co_now();
    int64_t wall = co_wall_ms();
    char err[512];
    int any = 0;

    note_backoff(c);
    c->gpu_wait_at = 0;
    (void)hold_expire(c, now);
    for (struct co_worker *w = c->workers; w; w = w->next)
        if (eligible(w)) {
            nw++;
            ndev += w->n_devices;
        }
    if (!nw)
        return;
    W = calloc(nw, sizeof *W);
    WJ = calloc(nw, sizeof *WJ);
    ws = calloc(nw, sizeof *ws);
    D = calloc(ndev + 1, sizeof *D);
    B = calloc(ndev * DCV_MAX_CODECS + 1, sizeof *B);
    K = calloc(ndev + 1, sizeof *K);
    q.cap = DISPATCH_BATCH;
    q.v = calloc(q.cap, sizeof *q.v);
    if (!W || !WJ || !ws || !D || !B || !K || !q.v) {
        dcv_log(DCV_LOG_ERROR, CO_LOG, "dispatch: out of memory");
        goto out;
    }
    i = 0;
    for (struct co_worker *w = c->workers; w; w = w->next) {
        struct dcv_sched_worker *v;
        if (!eligible(w))
            continue;
        v = &W[i];
        ws[i++] = w;
        v->id = w->id;
        v->host = w->host;
        v->healthy = true;
        v->draining = w->admin_drain || (w->has_tel && w->tel.draining);
        v->busy = (w->has_tel && w->tel.busy) || now < w->busy_until;
        v->slots_total = (uint32_t)w->slots;
        v->cpu_slots = (uint32_t)w->max_cpu_jobs;
        v->gpu_slots = (uint32_t)w->max_gpu_jobs;
        for (struct co_job *j = c->jobs; j; j = j->next)
            if (strcmp(j->worker, w->id) == 0) {
                v->slots_used++;
                if (j->hw)
                    v->gpu_used++;
                else
                    v->cpu_used++;
            }
        if (w->has_tel) {
            /* CPU pressure says how long runnable work waits, which a load
             * average of I/O-blocked tasks does not; it is absent on old
             * kernels and in some containers. */
            v->load = w->tel.has_psi ? w->tel.psi.cpu_some / 100.0
                                     : w->tel.load1 / (double)(w->tel.ncpu > 0 ? w->tel.ncpu : 1);
            v->mem_used = w->tel.mem_total > 0
                              ? 1.0 - (double)w->tel.mem_avail / (double)w->tel.mem_total
                              : 0;
        }
        v->devices = &D[di];
        v->n_devices = w->n_devices;
        for (size_t k = 0; k < w->n_devices; k++, di++) {
            const struct dcv_proto_device *pd = &w->devices[k];
            size_t nb = pd->n_bench < DCV_MAX_CODECS ? pd->n_bench : DCV_MAX_CODECS;
            D[di].plugin = pd->plugin;
            D[di].caps = &pd->caps;
            D[di].bench_fps = pd->bench_fps > 0 ? pd->bench_fps : 0;
            D[di].bench = &B[di * DCV_MAX_CODECS];
            D[di].n_bench = nb;
            for (size_t b = 0; b < nb; b++) {
                B[di * DCV_MAX_CODECS + b].codec = pd->bench[b].codec;
                B[di * DCV_MAX_CODECS + b].fps = pd->bench[b].fps;
            }
            /* Keys once per pass, not once per job and device. */
            if (dcv_sched_session_key(v, &D[di], K[di], sizeof K[di]) < 0)
                K[di][0] = '\0';
            D[di].key = K[di];
        }
        if (!v->draining && !v->busy && v->slots_used < v->slots_total)
            any = 1;
    }
    if (!any)
        goto out; /* nobody can take anything: do not even read the queue */
    if (sessions_build(c, NULL, DISPATCH_BATCH, &t) < 0) {
        dcv_log(DCV_LOG_ERROR, CO_LOG, "dispatch: out of memory");
        goto out;
    }
    if (dcv_store_list_due(c->store, wall, (int)q.cap, collect_queued, &q, err, sizeof err) < 0) {
        dcv_log(DCV_LOG_ERROR, CO_LOG, "dispatch: %s", err);
        goto out;
    }
    for (size_t n = 0; n < q.n; n++) {
        struct qjob *x = &q.v[n];
        struct dcv_profile prof;
        struct dcv_sched_job sj;
        struct dcv_sched_input in;
        struct dcv_sched_result res;
        struct co_input ci;
        struct co_place pl;
        struct stat st;
        char why[1024], skey[DCV_SCHED_KEY_MAX], msg[DCV_SCHED_DETAIL_MAX + 300];
        int hashing = 0, r, pol, wait_s;

        if (co_profile_parse(x->profile, &prof, err, sizeof err) < 0) {
            fail_queued(c, x, err);
            continue;
        }
        if (co_input_parse(c, x->input, &ci, err, sizeof err) < 0) {
            fail_queued(c, x, err);
            continue;
        }
        if (ci.kind != DCV_SUBMIT_URL && (stat(ci.path, &st) < 0 || !S_ISREG(st.st_mode))) {
            snprintf(err, sizeof err, "input %.300s is gone: %s", ci.name[0] ? ci.name : ci.path,
                     strerror(errno ? errno : ENOENT));
            fail_queued(c, x, err);
            continue;
        }
        if (ci.size < 0 && ci.kind != DCV_SUBMIT_URL)
            ci.size = st.st_size;
        memcpy(WJ, W, nw * sizeof *W);
        for (i = 0; i < nw; i++) {
            struct co_worker *w = ws[i];
            /* a URL is opened by the worker itself: nothing to serve */
            if (WJ[i].busy || WJ[i].draining || WJ[i].slots_used >= WJ[i].slots_total ||
                ci.kind == DCV_SUBMIT_URL || worker_reads_path(w, ci.path))
                continue;
            /* Served over the data plane: its digest must be known. */
            if (!ci.sha[0] && !hashing) {
                r = co_hash_get(c, ci.path, ci.size, ci.sha);
                if (r < 0) {
                    snprintf(err, sizeof err, "input %.300s: %s", ci.path,
                             r == -ESTALE ? "changed since it was submitted" : strerror(-r));
                    fail_queued(c, x, err);
                    goto next_job;
                }
                hashing = r == 0;
            }
            if (hashing)
                WJ[i].busy = true;
            /* Copy or stream is chosen from the free disk the worker
             * reports: until its first telemetry (one heartbeat after
             * HELLO, which dispatches again) that is unknown. */
            if (c->set->stream != DCV_STREAM_ALWAYS && !w->has_tel)
                WJ[i].busy = true;
            if (c->set->stream == DCV_STREAM_NEVER && w->has_tel &&
                w->tel.disk_free - c->set->disk_reserve < ci.size)
                WJ[i].busy = true; /* no room for a copy, and streaming is off */
        }
        memset(&sj, 0, sizeof sj);
        sj.codec = prof.codec;
        sj.bit_depth = prof.bit_depth;
        sj.encoder = prof.encoder;
        if (c->set->strategy != DCV_CONF_ROUND_ROBIN && ci.kind != DCV_SUBMIT_URL)
            sj.size_hint = size_hint(c, &ci, &st);
        memset(&in, 0, sizeof in);
        in.workers = WJ;
        in.n_workers = nw;
        in.sessions = t.s;
        in.n_sessions = t.n;
        in.strategy = (enum dcv_sched_strategy)c->set->strategy;
        r = dcv_sched_pick_worker(&in, &sj, &c->cursor, &res, why, sizeof why);
        if (r < 0 && r != -EAGAIN) {
            dcv_log(DCV_LOG_WARN, CO_LOG, "job %s: scheduler: %s", x->id, why);
            continue;
        }
        pol = gpu_policy_of(c, &prof, &wait_s);
        memset(&pl, 0, sizeof pl);
        if (res.gpu_exhausted && (r == -EAGAIN || !res.hw)) {
            /* Every GPU the job could use is full: its policy decides
             * whether a software placement (encoder auto) stands. */
            if (r == 0 && pol == DCV_GPU_FALLBACK) {
                pl.fallback = 1;
                pl.gpu_detail = res.gpu_detail;
            } else if (pol == DCV_GPU_REJECT) {
                snprintf(msg, sizeof msg,
                         "busy: no GPU encoder session free for this %s job (%s) and its "
                         "gpu-policy is reject",
                         prof.codec, res.gpu_detail);
                fail_gpu(c, x, msg);
                continue;
            } else {
                int64_t due = x->queued_ms + (int64_t)wait_s * 1000;
                if (wait_s > 0 && wall >= due) {
                    snprintf(msg, sizeof msg,
                             "timeout: no GPU encoder session became free within %d s (%s)",
                             wait_s, res.gpu_detail);
                    fail_gpu(c, x, msg);
                    continue;
                }
                if (wait_s > 0 && (!c->gpu_wait_at || due < c->gpu_wait_at))
                    c->gpu_wait_at = due;
                dcv_log(DCV_LOG_DEBUG, CO_LOG, "job %s waits for a GPU session (%s)%s", x->id,
                        res.gpu_detail, wait_s > 0 ? "" : ", without a time limit");
                continue;
            }
        }
        if (r == -EAGAIN) {
            dcv_log(DCV_LOG_DEBUG, CO_LOG, "job %s waits: %s%s", x->id, why,
                    hashing ? " (input digest being computed)" : "");
            continue;
        }
        if (res.worker < 0)
            continue;
        pl.dev = &WJ[res.worker].devices[res.device];
        pl.codec = res.codec;
        if (pl.fallback)
            dcv_log(DCV_LOG_INFO, CO_LOG, "job %s: fallback to %s: no GPU session free (%s)", x->id,
                    pl.dev->plugin, res.gpu_detail);
        if (assign(c, x, &ci, ws[res.worker], &WJ[res.worker], &pl, skey, sizeof skey) == 0) {
            struct co_job *cj = co_job_find(c, x->id);
            W[res.worker].slots_used++;
            if (res.hw)
                W[res.worker].gpu_used++;
            else
                W[res.worker].cpu_used++;
            if (skey[0] && cj) {
                struct dcv_sched_session *e = sessions_slot(&t, cj->skey);
                if (e) {
                    e->used++;
                    dcv_sched_sessions_sort(t.s, t.n);
                }
            }
        }
    next_job:;
    }
out:
    for (size_t n = 0; n < q.n; n++) {
        free(q.v[n].profile);
        free(q.v[n].input);
    }
    free(q.v);
    sessions_free(&t);
    free(K);
    free(B);
    free(D);
    free(ws);
    free(WJ);
    free(W);
}

/* ---- data plane: map transfers to blob files ------------------------------------- */

static struct co_rx *rx_new(struct dcv_coord *c, int purpose, const char *final_path,
                            const struct dcv_proto_xfer_open *o)
{
    struct co_rx *x = calloc(1, sizeof *x);
    if (!x)
        return NULL;
    x->purpose = purpose;
    copy_str(x->final_path, sizeof x->final_path, final_path);
    x->xfer_id = o->blob.xfer_id;
    x->size = o->blob.size;
    copy_str(x->sha, sizeof x->sha, o->blob.sha256);
    copy_str(x->job_id, sizeof x->job_id, o->fence.job_id);
    x->attempt = (int)o->fence.attempt;
    x->next = c->rxs;
    if (c->rxs)
        c->rxs->prev = x;
    c->rxs = x;
    return x;
}

static void rx_free(struct dcv_coord *c, struct co_rx *x)
{
    if (x->prev)
        x->prev->next = x->next;
    else
        c->rxs = x->next;
    if (x->next)
        x->next->prev = x->prev;
    free(x);
}

/* Free space left for the job store after a received file is whole: the
 * WAL and its checkpoints need a little room to record the outcome. */
#define BLOB_DISK_MARGIN ((int64_t)256 * 1024)

/* Bytes an unprivileged writer may still put on fd's / path's filesystem; -1 unknown. */
static int64_t free_bytes(int fd)
{
    struct statvfs sv;
    return fstatvfs(fd, &sv) == 0 ? (int64_t)sv.f_bavail * (int64_t)sv.f_frsize : -1;
}

static int64_t free_bytes_at(const char *path)
{
    struct statvfs sv;
    return statvfs(path, &sv) == 0 ? (int64_t)sv.f_bavail * (int64_t)sv.f_frsize : -1;
}

static int refuse(int *code, int what, char *msg, size_t msglen, const char *text)
{
    *code = what;
    copy_str(msg, msglen, text);
    return what == DCV_CODE_STALE ? -ESTALE : -EINVAL;
}

/* A restarted coordinator has the job in its store, assigned to exactly
 * this attempt and session, but the worker has not said HELLO (re-attach)
 * yet: the peer should ask again shortly, not give the attempt up. */
static int awaiting_reattach(struct dcv_coord *c, const struct dcv_proto_fence *f)
{
    struct dcv_job job;
    char err[256];
    int yes = 0;

    if (co_job_find(c, f->job_id) || dcv_store_get(c->store, f->job_id, &job, err, sizeof err) < 0)
        return 0;
    yes = (job.state == DCV_JOB_ASSIGNED || job.state == DCV_JOB_RUNNING) &&
          job.attempt == f->attempt && job.session && strcmp(job.session, f->session) == 0;
    dcv_job_clear(&job);
    return yes;
}

/* Fill a re-attached job's input from its stored description (see
 * CO_XFER_ADOPT): the path and size from the store, the digest from the
 * store or else the one the JOB carried (the FETCH repeats it; the copy
 * is checked against it end to end). */
static int adopt_input(struct dcv_coord *c, struct co_job *j, const struct dcv_proto_xfer_open *o,
                       char *err, size_t errlen)
{
    struct dcv_job job;
    struct co_input in;
    struct stat st;
    int r;

    if ((r = dcv_store_get(c->store, j->id, &job, err, errlen)) < 0)
        return r;
    r = co_input_parse(c, job.input_json, &in, err, errlen);
    dcv_job_clear(&job);
    if (r < 0)
        return r;
    if (stat(in.path, &st) < 0)
        return dcv_err(err, errlen, -errno, "input %s: %s", in.path, strerror(errno));
    j->in_xfer = o->blob.xfer_id;
    j->in_size = in.size >= 0 ? in.size : st.st_size;
    copy_str(j->in_path, sizeof j->in_path, in.path);
    copy_str(j->in_sha, sizeof j->in_sha, in.sha[0] ? in.sha : o->blob.sha256);
    dcv_log(DCV_LOG_INFO, CO_LOG, "job %s: input xfer %" PRId64 " adopted after the restart",
            j->id, o->blob.xfer_id);
    return 0;
}

/* The job a data-plane transfer of purpose input/output belongs to (*jp),
 * when its fence names the current attempt and session and the
 * connection's identity (`user`, "" without authentication) is the worker
 * holding it: 0. Else refuse()'s value with the refusal in *code/msg (busy
 * while a restarted coordinator waits for the re-attach). `what` names the
 * act in the log. */
static int job_xfer_holder(struct dcv_coord *c, const struct dcv_proto_xfer_open *o,
                           const char *user, const char *what, struct co_job **jp, int *code,
                           char *msg, size_t msglen)
{
    struct co_job *j = co_job_find(c, o->fence.job_id);

    if (!j && awaiting_reattach(c, &o->fence))
        return refuse(code, DCV_CODE_BUSY, msg, msglen,
                      "coordinator restarted: the worker has not re-attached the job yet");
    if (!j || j->attempt != o->fence.attempt || strcmp(j->session, o->fence.session) != 0)
        return refuse(code, DCV_CODE_STALE, msg, msglen,
                      "not the job's current attempt and session");
    if (user[0] && strcmp(user, j->worker) != 0) {
        dcv_log(DCV_LOG_WARN, CO_LOG, "job %s: %s by %s, but worker %s holds the attempt: "
                "refused", j->id, what, user, j->worker);
        return refuse(code, DCV_CODE_PROTOCOL, msg, msglen,
                      "permission denied: another worker holds this attempt");
    }
    *jp = j;
    return 0;
}

static int xs_offer(void *ud, const struct dcv_tx_peer *peer, const struct dcv_proto_xfer_open *o,
                    struct dcv_xsrv_file *f, int *code, char *msg, size_t msglen)
{
    struct dcv_coord *c = ud;
    char path[PATH_MAX], err[512], rsha[DCV_PROTO_SHA], file[32];
    struct co_job *j = NULL;
    struct co_rx *x;
    int64_t rsize, uid;
    int r;
    const char *user = dcv_sock_user(c->data, &uid);
    (void)peer;

    if (o->purpose == DCV_PURPOSE_UPLOAD &&
        !(dcv_auth_role(dcv_net_auth(c->net), user, uid) & (DCV_AUTH_SUBMITTER | DCV_AUTH_OPERATOR))) {
        dcv_log(DCV_LOG_WARN, CO_LOG, "upload refused: %s is not a submitter or operator", user);
        return refuse(code, DCV_CODE_PROTOCOL, msg, msglen,
                      "permission denied: uploads are for submitters and operators");
    }
    if (o->purpose == DCV_PURPOSE_UPLOAD) {
        if (o->fence.job_id[0])
            return refuse(code, DCV_CODE_PROTOCOL, msg, msglen, "uploads carry no fence");
        if (dcv_blobs_upload_path(c->blobs, o->blob.xfer_id, path, sizeof path) < 0)
            return refuse(code, DCV_CODE_INTERNAL, msg, msglen, "path too long");
        if (dcv_blobs_read_record(path, &rsize, rsha) == 0 &&
            (rsize != o->blob.size || strcmp(rsha, o->blob.sha256) != 0))
            return refuse(code, DCV_CODE_PROTOCOL, msg, msglen,
                          "this xfer_id already holds another file: pick a new one");
    } else if (o->purpose == DCV_PURPOSE_OUTPUT) {
        if ((r = job_xfer_holder(c, o, user, "output offered", &j, code, msg, msglen)) < 0)
            return r;
        if (j->out_state == 1)
            return refuse(code, DCV_CODE_PROTOCOL, msg, msglen,
                          "an output transfer of this attempt is in progress");
        snprintf(file, sizeof file, "out-%d", j->attempt);
        if (dcv_blobs_job_path(c->blobs, j->id, file, 1, path, sizeof path, err, sizeof err) < 0)
            return refuse(code, DCV_CODE_IO, msg, msglen, err);
    } else {
        return refuse(code, DCV_CODE_PROTOCOL, msg, msglen, "OFFER is for uploads and outputs");
    }
    if ((r = dcv_blobs_open_part(path, o->blob.size, o->blob.sha256, &f->fd, &f->durable, err,
                                 sizeof err)) < 0) {
        if (r == -ENOSPC || r == -EDQUOT)
            dcv_blobs_discard_part(path);
        return refuse(code, r == -ENOSPC || r == -EDQUOT ? DCV_CODE_NOSPACE : DCV_CODE_IO, msg,
                      msglen, err);
    }
    /* Refuse up front what cannot fit, rather than fill the disk the job
     * store shares and fail at the last chunk: the sender hears `nospace`
     * at once, and nothing is left behind. */
    if ((rsize = free_bytes(f->fd)) >= 0 && rsize - BLOB_DISK_MARGIN < o->blob.size - f->durable) {
        snprintf(err, sizeof err, "coordinator disk full: %" PRId64 " more bytes needed, %" PRId64
                 " free", o->blob.size - f->durable, rsize);
        close(f->fd);
        f->fd = -1;
        if (f->durable == 0)
            dcv_blobs_discard_part(path);
        dcv_log(DCV_LOG_WARN, CO_LOG, "%s xfer %" PRId64 " refused: %s",
                o->purpose == DCV_PURPOSE_UPLOAD ? "upload" : "output", o->blob.xfer_id, err);
        return refuse(code, DCV_CODE_NOSPACE, msg, msglen, err);
    }
    if (!(x = rx_new(c, o->purpose, path, o))) {
        close(f->fd);
        f->fd = -1;
        return refuse(code, DCV_CODE_INTERNAL, msg, msglen, "out of memory");
    }
    f->size = o->blob.size;
    copy_str(f->sha256, sizeof f->sha256, o->blob.sha256);
    f->user = x;
    if (j) {
        j->out_state = 1;
        j->out_xfer = o->blob.xfer_id;
        j->out_size = o->blob.size;
        copy_str(j->out_sha, sizeof j->out_sha, o->blob.sha256);
    }
    /* A resume is worth a line: it says how much did not travel again. */
    dcv_log(f->durable > 0 ? DCV_LOG_INFO : DCV_LOG_DEBUG, CO_LOG,
            "receiving %s xfer %" PRId64 " (%" PRId64 " bytes, %" PRId64 " kept)",
            o->purpose == DCV_PURPOSE_UPLOAD ? "upload" : "output", o->blob.xfer_id,
            o->blob.size, f->durable);
    return 0;
}

static void xs_received(void *ud, const struct dcv_proto_xfer_open *o, void *user, int ok,
                        const char *reason)
{
    struct dcv_coord *c = ud;
    struct co_rx *x = user;
    struct co_job *j = NULL;
    char err[512];
    (void)o;

    if (!x)
        return;
    if (x->purpose == DCV_PURPOSE_OUTPUT) {
        j = co_job_find(c, x->job_id);
        if (j && j->attempt != x->attempt)
            j = NULL;
    }
    if (ok && dcv_blobs_commit_part(x->final_path, x->size, x->sha, err, sizeof err) < 0) {
        dcv_log(DCV_LOG_ERROR, CO_LOG, "xfer %" PRId64 ": %s", x->xfer_id, err);
        ok = 0;
    }
    if (ok)
        dcv_log(DCV_LOG_INFO, CO_LOG, "%s xfer %" PRId64 " committed (%" PRId64 " bytes)",
                x->purpose == DCV_PURPOSE_UPLOAD ? "upload" : "output", x->xfer_id, x->size);
    else
        dcv_log(DCV_LOG_INFO, CO_LOG, "%s xfer %" PRId64 " ended: %s",
                x->purpose == DCV_PURPOSE_UPLOAD ? "upload" : "output", x->xfer_id,
                reason ? reason : "failed");
    /* A failed receive keeps its part: the sender may resume it. Not when
     * the rest cannot fit on the disk any more (it filled up under us):
     * then the part only holds space other transfers and the job store
     * need, and a resume would fail the same way. */
    if (!ok) {
        char part[PATH_MAX + 8];
        struct stat st;
        int64_t avail;
        snprintf(part, sizeof part, "%s.part", x->final_path);
        if (stat(part, &st) == 0 && (avail = free_bytes_at(part)) >= 0 &&
            avail - BLOB_DISK_MARGIN < x->size - st.st_size) {
            dcv_log(DCV_LOG_WARN, CO_LOG, "xfer %" PRId64 ": disk full, part of %lld bytes removed",
                    x->xfer_id, (long long)st.st_size);
            dcv_blobs_discard_part(x->final_path);
        }
    }
    if (j && j->out_xfer == x->xfer_id)
        j->out_state = ok ? 2 : 0;
    rx_free(c, x);
}

static int xs_fetch(void *ud, const struct dcv_tx_peer *peer, const struct dcv_proto_xfer_open *o,
                    struct dcv_xsrv_file *f, int *code, char *msg, size_t msglen)
{
    struct dcv_coord *c = ud;
    const char *path = NULL, *sha = NULL;
    int64_t size = -1, uid;
    struct stat st;
    const char *user = dcv_sock_user(c->data, &uid);
    (void)peer;

    if (o->purpose == DCV_PURPOSE_INPUT) {
        struct co_job *j = NULL;
        char err[512];
        int r = job_xfer_holder(c, o, user, "input fetched", &j, code, msg, msglen);
        if (r < 0)
            return r;
        if (j->in_xfer == CO_XFER_ADOPT && o->blob.xfer_id > 0 &&
            adopt_input(c, j, o, err, sizeof err) < 0)
            return refuse(code, DCV_CODE_IO, msg, msglen, err);
        if (!j->in_xfer || j->in_xfer != o->blob.xfer_id)
            return refuse(code, DCV_CODE_PROTOCOL, msg, msglen,
                          "xfer_id is not this attempt's input");
        path = j->in_path;
        size = j->in_size;
        sha = j->in_sha;
    } else if (o->purpose == DCV_PURPOSE_DOWNLOAD) {
        struct co_download *d;
        if (o->fence.job_id[0])
            return refuse(code, DCV_CODE_PROTOCOL, msg, msglen, "downloads carry no fence");
        if (!(dcv_auth_role(dcv_net_auth(c->net), user, uid) &
              (DCV_AUTH_SUBMITTER | DCV_AUTH_OPERATOR))) {
            dcv_log(DCV_LOG_WARN, CO_LOG, "download refused: %s is not a submitter or operator",
                    user);
            return refuse(code, DCV_CODE_PROTOCOL, msg, msglen,
                          "permission denied: downloads are for submitters and operators");
        }
        for (d = c->downloads; d && d->xfer_id != o->blob.xfer_id; d = d->next)
            ;
        if (!d)
            return refuse(code, DCV_CODE_PROTOCOL, msg, msglen,
                          "unknown download xfer_id: ask `get` for one");
        d->expires = co_now() + CO_DOWNLOAD_TTL_MS;
        path = d->path;
        size = d->size;
        sha = d->sha;
    } else {
        return refuse(code, DCV_CODE_PROTOCOL, msg, msglen, "FETCH is for inputs and downloads");
    }
    if ((f->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return refuse(code, DCV_CODE_INPUT, msg, msglen, strerror(errno));
    if (fstat(f->fd, &st) < 0 || (size >= 0 && st.st_size != size)) {
        close(f->fd);
        f->fd = -1;
        return refuse(code, DCV_CODE_INPUT, msg, msglen, "the file changed since it was registered");
    }
    f->size = st.st_size;
    copy_str(f->sha256, sizeof f->sha256, sha);
    f->user = NULL;
    return 0;
}

static void on_data(struct dcv_coord *c, const struct dcv_tx_peer *from,
                    const struct dcv_proto_msg *m)
{
    dcv_xsrv_input(c->xsrv, from, m, co_now());
}

static void on_data_sock(struct dcv_sock *s, void *arg)
{
    struct dcv_coord *c = arg;
    drain_socket(c, s, "data", on_data);
    dcv_xsrv_pump(c->xsrv, co_now());
    arm_pump(c);
}

static void on_adm_sock(struct dcv_sock *s, void *arg)
{
    drain_socket(arg, s, "admin", co_admin_input);
}

/* ---- garbage collection of abandoned parts ------------------------------------------ */

static int gc_upload_busy(void *ud, int64_t xfer_id)
{
    struct dcv_coord *c = ud;
    for (struct co_rx *x = c->rxs; x; x = x->next)
        if (x->xfer_id == xfer_id && x->purpose == DCV_PURPOSE_UPLOAD)
            return 1;
    return 0;
}

/* An output part is kept while its attempt may still send the rest: the
 * job is held on exactly that attempt (a re-attached worker resumes it
 * after a coordinator restart). */
static int gc_output_keep(void *ud, const char *job_id, int attempt)
{
    struct dcv_coord *c = ud;
    struct dcv_job job;
    char err[256];
    int keep;

    for (struct co_rx *x = c->rxs; x; x = x->next)
        if (x->purpose == DCV_PURPOSE_OUTPUT && x->attempt == attempt &&
            strcmp(x->job_id, job_id) == 0)
            return 1;
    if (dcv_store_get(c->store, job_id, &job, err, sizeof err) < 0)
        return 1; /* unknown or unreadable: not ours to judge */
    keep = dcv_job_state_is_active(job.state) && job.attempt == attempt;
    dcv_job_clear(&job);
    return keep;
}

/* Remove parts nobody will finish (blobs.h, dcv_blobs_gc). */
static void gc_sweep(struct dcv_coord *c, const char *when)
{
    struct dcv_blobs_gc_ops ops = { gc_upload_busy, gc_output_keep, c };
    unsigned n = 0;
    int64_t bytes = 0;
    char err[512];

    c->gc_last = co_now();
    if (dcv_blobs_gc(c->blobs, c->set->part_max_age_s, &ops, &n, &bytes, err, sizeof err) < 0)
        dcv_log(DCV_LOG_WARN, CO_LOG, "garbage collection: %s", err);
    else if (n)
        dcv_log(DCV_LOG_INFO, CO_LOG, "garbage collection (%s): removed %u abandoned part file(s), "
                "%" PRId64 " bytes", when, n, bytes);
}

/* Sweep often enough that a part outlives its age limit by at most half
 * of it, and at least every 10 minutes. */
static uint64_t gc_period_ms(const struct dcv_coord *c)
{
    uint64_t p = (uint64_t)c->set->part_max_age_s * 500u;
    return p < 1000 ? 1000 : p > 600000 ? 600000 : p;
}

/* ---- the periodic tick: liveness, heartbeats, leases, restart grace ---------------- */

#define RESTART_GRACE_EXTRA_MS 2000

static void restart_grace(struct dcv_coord *c)
{
    struct active_ud a = { 0 };
    char err[512];

    if (dcv_store_list_active(c->store, NULL, collect_active, &a, err, sizeof err) < 0) {
        dcv_log(DCV_LOG_ERROR, CO_LOG, "restart grace: %s", err);
        return;
    }
    for (size_t i = 0; i < a.n; i++) {
        if (co_job_find(c, a.v[i].id))
            continue;
        dcv_log(DCV_LOG_WARN, CO_LOG, "job %s: worker %s did not come back after the restart",
                a.v[i].id, a.v[i].worker);
        apply_ev(c, a.v[i].id, DCV_EV_WORKER_LOST, a.v[i].attempt,
                 "worker did not come back after a coordinator restart", NULL, NULL, "worker lost",
                 NULL);
    }
    if (a.n)
        co_dispatch_soon(c);
    free(a.v);
}

static void tick_cb(struct dcv_loop *loop, uint64_t id, void *arg)
{
    struct dcv_coord *c = arg;
    uint64_t now = co_now();
    (void)loop;
    (void)id;

    for (struct co_worker *w = c->workers; w; w = w->next) {
        if (!w->online)
            continue;
        if (w->busy_until && now >= w->busy_until) {
            w->busy_until = 0; /* its pause after a busy answer is over */
            co_dispatch_soon(c);
        }
        if (now - w->last_rx > c->dead_ms) {
            char why[128];
            snprintf(why, sizeof why, "silent for %" PRIu64 " ms", now - w->last_rx);
            worker_lost(c, w, why);
            continue;
        }
        if (w->peer.len && now - w->last_hb_tx >= c->hb_ms) {
            w->last_hb_tx = now;
            (void)co_send(c, c->ctl, &w->peer, DCV_CMD_HEARTBEAT, "{}", 2);
        }
    }
    /* A JOB nobody ACCEPTed within two liveness windows: that worker lost it. */
    for (struct co_job *j = c->jobs, *next; j; j = next) {
        next = j->next;
        if (!j->accepted && now - j->assigned_at > 2 * c->dead_ms) {
            char jid[DCV_PROTO_JOB_ID], worker[DCV_PROTO_ID], session[DCV_PROTO_ID];
            int attempt = j->attempt;
            copy_str(jid, sizeof jid, j->id);
            copy_str(worker, sizeof worker, j->worker);
            copy_str(session, sizeof session, j->session);
            dcv_log(DCV_LOG_WARN, CO_LOG, "job %s: worker %s did not accept attempt %d in time", jid,
                    worker, attempt);
            apply_ev(c, jid, DCV_EV_WORKER_LOST, attempt, "not accepted in time", NULL, session,
                     "worker did not accept the job in time", NULL);
            co_send_cancel(c, worker, jid, attempt, session, "not accepted in time");
            co_job_release(c, jid, DCV_CODE_STALE, "attempt expired");
            co_dispatch_soon(c);
            next = c->jobs; /* the list changed */
        }
    }
    /* After a restart, workers first have to notice the old coordinator is
     * gone (up to one liveness window after its last message), then
     * reconnect (first HELLO at once, the next after ~1 s): a grace of one
     * window requeued jobs whose workers were seconds away from re-attaching
     * them, throwing away their encode. Workers in a long back-off still
     * miss it; their jobs are requeued, which costs time, never a job. */
    if (!c->grace_done && now - c->started_at >= 2 * c->dead_ms + RESTART_GRACE_EXTRA_MS) {
        c->grace_done = 1;
        restart_grace(c);
    }
    if (c->backoff_at && co_wall_ms() >= c->backoff_at) {
        c->backoff_at = 0; /* a retry's back-off is over: dispatch sets the next */
        co_dispatch_soon(c);
    }
    /* A job waiting for a GPU session times out even when nothing else
     * moves; a lowered session limit ends. */
    if (c->gpu_wait_at && co_wall_ms() >= c->gpu_wait_at) {
        c->gpu_wait_at = 0;
        co_dispatch_soon(c);
    }
    if (hold_expire(c, now))
        co_dispatch_soon(c);
    if (now - c->gc_last >= gc_period_ms(c))
        gc_sweep(c, "periodic");
    for (struct co_download **pp = &c->downloads, *d; (d = *pp);) {
        if (now > d->expires) {
            *pp = d->next;
            free(d);
        } else {
            pp = &d->next;
        }
    }
    flush(c);
    arm_flush(c);
    if (dcv_xsrv_deadline(c->xsrv) <= now) {
        dcv_xsrv_pump(c->xsrv, now);
        arm_pump(c);
    }
}

/* ---- lifetime --------------------------------------------------------------------- */

/* An ipc endpoint's socket file left by a dead coordinator would make the
 * bind fail: remove it, but only when nobody answers on it. */
static int clear_stale_ipc(const char *endpoint, char *err, size_t errlen)
{
    struct sockaddr_un sa;
    const char *path;
    struct stat st;
    int fd, r;

    if (strncmp(endpoint, "ipc://", 6) != 0)
        return 0;
    path = endpoint + 6;
    if (lstat(path, &st) < 0)
        return 0;
    if (!S_ISSOCK(st.st_mode))
        return dcv_err(err, errlen, -EEXIST, "%s exists and is not a socket", path);
    if (strlen(path) >= sizeof sa.sun_path)
        return 0; /* the transport will say the path is too long */
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
        return 0;
    r = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    close(fd);
    if (r == 0)
        return dcv_err(err, errlen, -EADDRINUSE, "%s: another process is listening on it", endpoint);
    if (unlink(path) == 0)
        dcv_log(DCV_LOG_INFO, CO_LOG, "removed stale socket %s", path);
    return 0;
}

static int bind_router(struct dcv_coord *c, enum dcv_proto_plane plane, const char *endpoint,
                       struct dcv_sock **out, char *bound, size_t boundlen, dcv_sock_cb cb,
                       const char *what, char *err, size_t errlen)
{
    struct dcv_sock_opts o;
    char e[512];
    int r;

    if ((r = clear_stale_ipc(endpoint, e, sizeof e)) < 0)
        return dcv_err(err, errlen, r, "%s endpoint: %s", what, e);
    memset(&o, 0, sizeof o);
    o.plane = plane;
    o.role = DCV_TX_BIND_ROUTER;
    o.endpoint = endpoint;
    /* Control: let the goodbye DISCONNECTs of dcv_coord_free() leave. */
    if (plane == DCV_PLANE_CONTROL)
        o.linger_ms = 500;
    /* Data messages: the default limit (64 MiB + 4 KiB) is the protocol's
     * largest chunk; a peer's OFFER picks its own chunk_max, not ours. */
    if ((r = dcv_sock_open(c->net, &o, out, e, sizeof e)) < 0)
        return dcv_err(err, errlen, r, "%s endpoint %s: %s", what, endpoint, e);
    if (dcv_sock_endpoint(*out, bound, boundlen) < 0)
        copy_str(bound, boundlen, endpoint);
    /* The state dir is 0700 too; this is belt and braces. An admin socket
     * that ipc groups may use must be connectable by them: its ZAP uid/gid
     * check (core/auth.c) decides, and the directory says who may try. */
    if (strncmp(bound, "ipc://", 6) == 0)
        (void)chmod(bound + 6, plane == DCV_PLANE_ADMIN && dcv_net_auth(c->net) &&
                                       (c->set->sec_ipc_operator_group[0] ||
                                        c->set->sec_ipc_submitter_group[0])
                                   ? 0666 : 0600);
    if ((r = dcv_sock_attach(*out, c->loop, cb, c, e, sizeof e)) < 0)
        return dcv_err(err, errlen, r, "%s endpoint: %s", what, e);
    dcv_log(DCV_LOG_INFO, CO_LOG, "%s endpoint bound: %s", what, bound);
    return 0;
}

int dcv_coord_new(struct dcv_loop *loop, struct dcv_net *net, struct dcv_conf *conf,
                  struct dcv_coord **out, char *err, size_t errlen)
{
    static const struct dcv_xsrv_cbs cbs = {
        .on_offer = xs_offer,
        .on_fetch = xs_fetch,
        .on_received = xs_received,
    };
    struct dcv_xsrv_params xp;
    struct dcv_coord *c;
    char e[512];
    uint64_t tick;
    int r;

    *out = NULL;
    if (!loop || !net || !conf)
        return dcv_err(err, errlen, -EINVAL, "coordinator: loop, net and conf are required");
    if (!(c = calloc(1, sizeof *c)))
        return dcv_err(err, errlen, -ENOMEM, "coordinator: out of memory");
    c->loop = loop;
    c->net = net;
    c->conf = conf;
    c->set = dcv_conf_settings(conf);
    c->hb_ms = (uint64_t)c->set->heartbeat_ms;
    c->dead_ms = c->hb_ms * (uint64_t)c->set->liveness;
    hex_random(c->epoch, 16);

    if (mkdir(c->set->state_dir, 0700) < 0 && errno != EEXIST) {
        r = dcv_err(err, errlen, -errno, "state_dir %s: %s", c->set->state_dir, strerror(errno));
        goto fail;
    }
    if (!realpath(c->set->state_dir, c->state_dir)) {
        r = dcv_err(err, errlen, -errno, "state_dir %s: %s", c->set->state_dir, strerror(errno));
        goto fail;
    }
    if ((r = dcv_store_open(c->state_dir, &c->store, e, sizeof e)) < 0) {
        dcv_errf(err, errlen, "%s", e);
        goto fail;
    }
    if ((r = dcv_blobs_open(c->state_dir, &c->blobs, e, sizeof e)) < 0) {
        dcv_errf(err, errlen, "%s", e);
        goto fail;
    }
    dcv_store_set_backoff(c->store, c->set->retry_backoff_ms, c->set->retry_backoff_max_ms);
    /* Orphans of the previous run: parts of attempts that ended while we
     * were down, crash leftovers, uploads abandoned long ago. */
    gc_sweep(c, "start-up");
    if ((r = bind_router(c, DCV_PLANE_CONTROL, c->set->bind, &c->ctl, c->ep_ctl, sizeof c->ep_ctl,
                         on_ctl_sock, "control", err, errlen)) < 0 ||
        (r = bind_router(c, DCV_PLANE_DATA, c->set->data_bind, &c->data, c->ep_data,
                         sizeof c->ep_data, on_data_sock, "data", err, errlen)) < 0 ||
        (r = bind_router(c, DCV_PLANE_ADMIN, c->set->admin, &c->adm, c->ep_adm, sizeof c->ep_adm,
                         on_adm_sock, "admin", err, errlen)) < 0)
        goto fail;
    memset(&xp, 0, sizeof xp);
    xp.chunk_max = (uint32_t)c->set->chunk_size;
    xp.credit_chunks = (uint32_t)c->set->credit_chunks;
    xp.stall_ms = (uint32_t)c->dead_ms;
    xp.max_retries = 3;
    xp.idle_ms = (uint32_t)c->dead_ms;
    if ((r = dcv_xsrv_new(c->data, &xp, &cbs, c, &c->xsrv, e, sizeof e)) < 0) {
        dcv_errf(err, errlen, "data-plane server: %s", e);
        goto fail;
    }
    c->started_at = co_now();
    tick = c->hb_ms / 4;
    tick = tick < 20 ? 20 : tick > 500 ? 500 : tick;
    if ((r = dcv_loop_add_timer(loop, tick, tick, tick_cb, c, &c->tick_timer, e, sizeof e)) < 0) {
        dcv_errf(err, errlen, "coordinator timer: %s", e);
        goto fail;
    }
    dcv_log(DCV_LOG_INFO, CO_LOG, "coordinator up: epoch %s, state %s, heartbeat %" PRIu64
            " ms x %d", c->epoch, c->state_dir, c->hb_ms, c->set->liveness);
    co_dispatch_soon(c);
    *out = c;
    return 0;
fail:
    dcv_coord_free(&c);
    return r;
}

static void unlink_ipc(const char *ep)
{
    if (strncmp(ep, "ipc://", 6) == 0)
        unlink(ep + 6);
}

void dcv_coord_free(struct dcv_coord **cp)
{
    struct dcv_coord *c = cp ? *cp : NULL;
    char err[256];

    if (!c)
        return;
    /* Best effort goodbye: workers reconnect to the next coordinator at once. */
    if (c->ctl)
        for (struct co_worker *w = c->workers; w; w = w->next)
            if (w->online && w->peer.len &&
                dcv_sock_send_json(c->ctl, &w->peer, DCV_CMD_DISCONNECT,
                                   "{\"reason\":\"coordinator shutting down\"}", err,
                                   sizeof err) < 0)
                dcv_log(DCV_LOG_DEBUG, CO_LOG, "goodbye to %s: %s", w->id, err);
    if (c->tick_timer)
        dcv_loop_cancel_timer(c->loop, c->tick_timer);
    if (c->pump_timer)
        dcv_loop_cancel_timer(c->loop, c->pump_timer);
    if (c->dispatch_timer)
        dcv_loop_cancel_timer(c->loop, c->dispatch_timer);
    if (c->flush_timer)
        dcv_loop_cancel_timer(c->loop, c->flush_timer);
    if (c->hash_timer)
        dcv_loop_cancel_timer(c->loop, c->hash_timer);
    dcv_xsrv_free(&c->xsrv);
    while (c->rxs)
        rx_free(c, c->rxs);
    dcv_sock_close(&c->ctl);
    dcv_sock_close(&c->data);
    dcv_sock_close(&c->adm);
    unlink_ipc(c->ep_ctl);
    unlink_ipc(c->ep_data);
    unlink_ipc(c->ep_adm);
    if (c->store)
        dcv_store_close(c->store);
    dcv_blobs_free(&c->blobs);
    while (c->workers) {
        struct co_worker *w = c->workers;
        c->workers = w->next;
        free(w->paths);
        free(w);
    }
    while (c->jobs) {
        struct co_job *j = c->jobs;
        c->jobs = j->next;
        free(j);
    }
    while (c->downloads) {
        struct co_download *d = c->downloads;
        c->downloads = d->next;
        free(d);
    }
    while (c->hashes) {
        struct co_hash *h = c->hashes;
        c->hashes = h->next;
        if (h->fd >= 0)
            close(h->fd);
        dcv_sha256_free(&h->h);
        free(h);
    }
    while (c->out_head) {
        struct co_out *o = c->out_head;
        c->out_head = o->next;
        free(o->body);
        free(o);
    }
    while (c->hints) {
        struct co_hint *h = c->hints;
        c->hints = h->next;
        free(h);
    }
    free(c->holds);
    free(c->enc_buf);
    free(c);
    *cp = NULL;
}

const char *dcv_coord_control_endpoint(const struct dcv_coord *c)
{
    return c->ep_ctl;
}

const char *dcv_coord_data_endpoint(const struct dcv_coord *c)
{
    return c->ep_data;
}

const char *dcv_coord_admin_endpoint(const struct dcv_coord *c)
{
    return c->ep_adm;
}

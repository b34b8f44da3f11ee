/*
 * Hashing inputs on shared storage, a slice per loop turn (inputhash.h).
 */
#include "coordinator/inputhash.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coordinator/attempts.h"
#include "log.h"
#include "loop.h"
#include "xfer/chunk.h"

#define HASH_SLICE (8u << 20)    /* bytes hashed per loop turn */
#define HASH_KEEP 256            /* finished digests remembered */

static void hash_cb(struct dcv_loop *loop, uint64_t id, void *arg);

static void arm_hash(struct dcv_coord *c)
{
    char err[256];
    if (c->hash.timer)
        return;
    for (struct co_hash *h = c->hash.list; h; h = h->next)
        if (h->state == 0) {
            if (dcv_loop_add_timer(c->loop, 1, 0, hash_cb, c, &c->hash.timer, err, sizeof err) < 0)
                c->hash.timer = 0;
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

    c->hash.timer = 0;
    for (struct co_hash *h = c->hash.list; h; h = h->next) {
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
    for (h = c->hash.list; h; h = h->next) {
        if (strcmp(h->path, path) == 0 && h->size == st.st_size && h->mtime_ns == mt) {
            h->used = co_now();
            if (h->state == 1)
                memcpy(sha, h->sha, DCV_PROTO_SHA);
            return h->state == 1 ? 1 : h->state;
        }
    }
    /* Forget the least recently used finished digests beyond the cap. */
    for (h = c->hash.list; h; h = h->next) {
        n++;
        if (h->state != 0 && (!oldest || h->used < oldest->used))
            oldest = h;
    }
    if (n >= HASH_KEEP && oldest) {
        for (pp = &c->hash.list; *pp; pp = &(*pp)->next)
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
    h->next = c->hash.list;
    c->hash.list = h;
    arm_hash(c);
    return 0;
}

void co_hash_free(struct dcv_coord *c)
{
    while (c->hash.list) {
        struct co_hash *h = c->hash.list;
        c->hash.list = h->next;
        if (h->fd >= 0)
            close(h->fd);
        dcv_sha256_free(&h->h);
        free(h);
    }
}

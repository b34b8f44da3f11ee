/* Blob storage: temp names, fsync, rename; see blobs.h. */
#include "coordinator/blobs.h"
#include "errbuf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct dcv_blobs {
    char root[PATH_MAX];
};

static int mkdir_0700(const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (mkdir(path, 0700) == 0)
        return 0;
    if (errno != EEXIST)
        return dcv_err(err, errlen, -errno, "blob storage: mkdir %s: %s", path, strerror(errno));
    if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
        return dcv_err(err, errlen, -ENOTDIR, "blob storage: %s is not a directory", path);
    return 0;
}

int dcv_blobs_open(const char *state_dir, struct dcv_blobs **out, char *err, size_t errlen)
{
    struct dcv_blobs *b;
    char p[PATH_MAX + 16];
    int r;

    *out = NULL;
    if (!(b = calloc(1, sizeof *b)))
        return dcv_err(err, errlen, -ENOMEM, "blob storage: out of memory");
    if ((size_t)snprintf(b->root, sizeof b->root, "%s/blobs", state_dir) >= sizeof b->root - 64) {
        free(b);
        return dcv_err(err, errlen, -ENAMETOOLONG, "blob storage: state_dir too long");
    }
    if ((r = mkdir_0700(b->root, err, errlen)) < 0)
        goto fail;
    snprintf(p, sizeof p, "%s/uploads", b->root);
    if ((r = mkdir_0700(p, err, errlen)) < 0)
        goto fail;
    snprintf(p, sizeof p, "%s/jobs", b->root);
    if ((r = mkdir_0700(p, err, errlen)) < 0)
        goto fail;
    *out = b;
    return 0;
fail:
    free(b);
    return r;
}

void dcv_blobs_free(struct dcv_blobs **b)
{
    if (b && *b) {
        free(*b);
        *b = NULL;
    }
}

int dcv_blobs_upload_path(const struct dcv_blobs *b, int64_t xfer_id, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s/uploads/%" PRId64, b->root, xfer_id);
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int job_id_ok(const char *id)
{
    size_t n = 0;
    for (; id[n]; n++)
        if (!((id[n] >= '0' && id[n] <= '9') || (id[n] >= 'a' && id[n] <= 'f')))
            return 0;
    return n == 32;
}

int dcv_blobs_job_path(const struct dcv_blobs *b, const char *job_id, const char *file,
                       int create, char *buf, size_t len, char *err, size_t errlen)
{
    int n, r;

    /* Ids reach here from the wire: the hex check is what keeps a path out. */
    if (!job_id || !job_id_ok(job_id) || !file || strchr(file, '/') || !*file || file[0] == '.')
        return dcv_err(err, errlen, -EINVAL, "blob storage: bad job id or file name");
    n = snprintf(buf, len, "%s/jobs/%s", b->root, job_id);
    if (n < 0 || (size_t)n >= len)
        return dcv_err(err, errlen, -ENAMETOOLONG, "blob storage: path too long");
    if (create && (r = mkdir_0700(buf, err, errlen)) < 0)
        return r;
    n = snprintf(buf, len, "%s/jobs/%s/%s", b->root, job_id, file);
    if (n < 0 || (size_t)n >= len)
        return dcv_err(err, errlen, -ENAMETOOLONG, "blob storage: path too long");
    return 0;
}

/* "<path><suffix>" into buf. */
static int suffixed(char *buf, size_t len, const char *path, const char *suffix)
{
    int n = snprintf(buf, len, "%s%s", path, suffix);
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int read_rec(const char *rec_path, int64_t *size, char sha[65])
{
    char line[160], hex[80];
    long long sz;
    FILE *f = fopen(rec_path, "re");
    int ok;

    if (!f)
        return -ENOENT;
    ok = fgets(line, sizeof line, f) != NULL && sscanf(line, "%79s %lld", hex, &sz) == 2 &&
         strlen(hex) == 64 && sz >= 0;
    fclose(f);
    if (!ok)
        return -EBADMSG;
    memcpy(sha, hex, 65);
    *size = sz;
    return 0;
}

/* Write the record through a temporary file, so it is whole or absent. */
static int write_rec(const char *rec_path, int64_t size, const char *sha, char *err, size_t errlen)
{
    char tmp[PATH_MAX + 8], line[160];
    int fd, n;

    if (suffixed(tmp, sizeof tmp, rec_path, ".tmp") < 0)
        return dcv_err(err, errlen, -ENAMETOOLONG, "blob storage: path too long");
    n = snprintf(line, sizeof line, "%s %" PRId64 "\n", sha, size);
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
        return dcv_err(err, errlen, -errno, "blob storage: %s: %s", tmp, strerror(errno));
    if (write(fd, line, (size_t)n) != n || fsync(fd) < 0) {
        int e = errno ? errno : EIO;
        close(fd);
        unlink(tmp);
        return dcv_err(err, errlen, -e, "blob storage: write %s: %s", tmp, strerror(e));
    }
    close(fd);
    if (rename(tmp, rec_path) < 0) {
        int e = errno;
        unlink(tmp);
        return dcv_err(err, errlen, -e, "blob storage: rename %s: %s", tmp, strerror(e));
    }
    return 0;
}

static void fsync_parent(const char *path)
{
    char dir[PATH_MAX];
    char *slash;
    int fd;

    snprintf(dir, sizeof dir, "%s", path);
    if (!(slash = strrchr(dir, '/')))
        return;
    *slash = '\0';
    if ((fd = open(dir[0] ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

int dcv_blobs_open_part(const char *final_path, int64_t size, const char *sha256, int *fd,
                        int64_t *durable, char *err, size_t errlen)
{
    char part[PATH_MAX + 16], rec[PATH_MAX + 32], rsha[65];
    int64_t rsize = -1;
    struct stat st;
    int same, r;

    *fd = -1;
    *durable = 0;
    if (suffixed(part, sizeof part, final_path, ".part") < 0 ||
        suffixed(rec, sizeof rec, final_path, ".part.sha256") < 0)
        return dcv_err(err, errlen, -ENAMETOOLONG, "blob storage: path too long");
    same = read_rec(rec, &rsize, rsha) == 0 && rsize == size && strcmp(rsha, sha256) == 0;
    if (!same) {
        /* Another file (or none) was meant here: start from zero. */
        unlink(part);
        if ((r = write_rec(rec, size, sha256, err, errlen)) < 0)
            return r;
    }
    if ((*fd = open(part, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
        return dcv_err(err, errlen, -errno, "blob storage: %s: %s", part, strerror(errno));
    if (fstat(*fd, &st) < 0) {
        r = -errno;
        close(*fd);
        *fd = -1;
        return dcv_err(err, errlen, r, "blob storage: stat %s: %s", part, strerror(-r));
    }
    if (st.st_size > size) {
        /* Longer than the file it should become: not a prefix of it. */
        if (ftruncate(*fd, 0) < 0) {
            r = -errno;
            close(*fd);
            *fd = -1;
            return dcv_err(err, errlen, r, "blob storage: truncate %s: %s", part, strerror(-r));
        }
        st.st_size = 0;
    }
    *durable = st.st_size;
    return 0;
}

int dcv_blobs_commit_part(const char *final_path, int64_t size, const char *sha256, char *err,
                          size_t errlen)
{
    char part[PATH_MAX + 16], prec[PATH_MAX + 32], rec[PATH_MAX + 16];
    struct stat st;
    int r;

    if (suffixed(part, sizeof part, final_path, ".part") < 0 ||
        suffixed(prec, sizeof prec, final_path, ".part.sha256") < 0 ||
        suffixed(rec, sizeof rec, final_path, ".sha256") < 0)
        return dcv_err(err, errlen, -ENAMETOOLONG, "blob storage: path too long");
    if (stat(part, &st) < 0)
        return dcv_err(err, errlen, -errno, "blob storage: %s: %s", part, strerror(errno));
    if (st.st_size != size)
        return dcv_err(err, errlen, -EIO, "blob storage: %s holds %lld bytes, expected %lld", part,
                       (long long)st.st_size, (long long)size);
    /* Record first: a crash between the two leaves a record without its
     * file, which read_record() treats as absent. */
    if ((r = write_rec(rec, size, sha256, err, errlen)) < 0)
        return r;
    if (rename(part, final_path) < 0)
        return dcv_err(err, errlen, -errno, "blob storage: rename %s: %s", part, strerror(errno));
    unlink(prec);
    fsync_parent(final_path);
    return 0;
}

void dcv_blobs_discard_part(const char *final_path)
{
    char p[PATH_MAX + 32];
    if (suffixed(p, sizeof p, final_path, ".part") == 0)
        unlink(p);
    if (suffixed(p, sizeof p, final_path, ".part.sha256") == 0)
        unlink(p);
}

int dcv_blobs_read_record(const char *final_path, int64_t *size, char sha256[65])
{
    char rec[PATH_MAX + 16];
    struct stat st;

    if (suffixed(rec, sizeof rec, final_path, ".sha256") < 0)
        return -ENAMETOOLONG;
    if (read_rec(rec, size, sha256) < 0)
        return -ENOENT;
    if (stat(final_path, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size != *size)
        return -ENOENT;
    return 0;
}

/* ---- garbage collection -------------------------------------------------- */

struct gc_run {
    const struct dcv_blobs_gc_ops *ops;
    int64_t max_age_s, now_s;
    unsigned removed;
    int64_t bytes;
};

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static void gc_unlink(struct gc_run *g, int dfd, const char *name)
{
    struct stat st;
    int64_t size = fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 ? st.st_size : 0;
    if (unlinkat(dfd, name, 0) == 0) {
        g->removed++;
        g->bytes += size;
    }
}

/* "<stem>.part" and "<stem>.part.sha256" in dfd, both. */
static void gc_part(struct gc_run *g, int dfd, const char *stem)
{
    char p[NAME_MAX + 16];
    snprintf(p, sizeof p, "%s.part", stem);
    gc_unlink(g, dfd, p);
    snprintf(p, sizeof p, "%s.part.sha256", stem);
    gc_unlink(g, dfd, p);
}

/* The part's stem ("123" of "123.part" / "123.part.sha256"), or 0. */
static int part_stem(const char *name, char *stem, size_t len)
{
    size_t n = strlen(name), cut;
    if (ends_with(name, ".part"))
        cut = n - 5;
    else if (ends_with(name, ".part.sha256"))
        cut = n - 12;
    else
        return 0;
    if (cut == 0 || cut >= len)
        return 0;
    memcpy(stem, name, cut);
    stem[cut] = '\0';
    return 1;
}

static void gc_uploads(struct gc_run *g, int dfd)
{
    DIR *d = fdopendir(dfd);
    struct dirent *e;
    char stem[NAME_MAX + 1];

    if (!d) {
        close(dfd);
        return;
    }
    while ((e = readdir(d))) {
        struct stat st;
        char *end;
        long long id;

        if (ends_with(e->d_name, ".tmp")) {
            gc_unlink(g, dfd, e->d_name);
            continue;
        }
        if (!part_stem(e->d_name, stem, sizeof stem))
            continue;
        errno = 0;
        id = strtoll(stem, &end, 10);
        if (errno || *end || id <= 0 || (g->ops->upload_busy && g->ops->upload_busy(g->ops->ud, id)))
            continue;
        /* The part's own mtime says when a sender last wrote; a record alone
         * (its part never written, or removed) goes by the record's. */
        if (ends_with(e->d_name, ".part.sha256")) {
            char p[NAME_MAX + 8];
            snprintf(p, sizeof p, "%s.part", stem);
            if (fstatat(dfd, p, &st, 0) == 0)
                continue; /* judged with its part */
        }
        if (fstatat(dfd, e->d_name, &st, 0) < 0 || g->now_s - (int64_t)st.st_mtime < g->max_age_s)
            continue;
        gc_part(g, dfd, stem);
    }
    closedir(d);
}

static void gc_job_dir(struct gc_run *g, int dfd, const char *job_id)
{
    DIR *d = fdopendir(dfd);
    struct dirent *e;
    char stem[NAME_MAX + 1];

    if (!d) {
        close(dfd);
        return;
    }
    while ((e = readdir(d))) {
        char *end;
        long n;

        if (ends_with(e->d_name, ".tmp")) {
            gc_unlink(g, dfd, e->d_name);
            continue;
        }
        if (!part_stem(e->d_name, stem, sizeof stem) || strncmp(stem, "out-", 4) != 0)
            continue;
        errno = 0;
        n = strtol(stem + 4, &end, 10);
        if (errno || *end || n < 1 || n > INT_MAX)
            continue;
        if (g->ops->output_keep && g->ops->output_keep(g->ops->ud, job_id, (int)n))
            continue;
        gc_part(g, dfd, stem);
    }
    closedir(d);
}

/*
 * dir_fn(ud, dfd, job_id) for uploads/ (job_id NULL), then for each
 * jobs/<job_id>/; dfd is the callee's (fdopendir takes it). With prune, a
 * job directory left empty goes (an output offer makes it again).
 */
typedef void (*dir_fn)(void *ud, int dfd, const char *job_id);

static int each_dir(const struct dcv_blobs *b, dir_fn fn, void *ud, int prune, char *err,
                    size_t errlen)
{
    char p[PATH_MAX + 16];
    struct dirent *e;
    DIR *jobs;
    int fd;

    snprintf(p, sizeof p, "%s/uploads", b->root);
    if ((fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return dcv_err(err, errlen, -errno, "blob storage: %s: %s", p, strerror(errno));
    fn(ud, fd, NULL);
    snprintf(p, sizeof p, "%s/jobs", b->root);
    if (!(jobs = opendir(p)))
        return dcv_err(err, errlen, -errno, "blob storage: %s: %s", p, strerror(errno));
    while ((e = readdir(jobs))) {
        if (!job_id_ok(e->d_name))
            continue;
        if ((fd = openat(dirfd(jobs), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
            continue;
        fn(ud, fd, e->d_name);
        if (prune)
            (void)unlinkat(dirfd(jobs), e->d_name, AT_REMOVEDIR); /* only when empty */
    }
    closedir(jobs);
    return 0;
}

static void gc_dir(void *ud, int dfd, const char *job_id)
{
    if (job_id)
        gc_job_dir(ud, dfd, job_id);
    else
        gc_uploads(ud, dfd);
}

int dcv_blobs_gc(const struct dcv_blobs *b, int64_t max_age_s, const struct dcv_blobs_gc_ops *ops,
                 unsigned *removed, int64_t *bytes, char *err, size_t errlen)
{
    struct gc_run g = { .ops = ops, .max_age_s = max_age_s, .now_s = (int64_t)time(NULL) };
    int r = each_dir(b, gc_dir, &g, 0, err, errlen);

    if (r < 0)
        return r;
    if (removed)
        *removed = g.removed;
    if (bytes)
        *bytes = g.bytes;
    return 0;
}

/* ---- committed files: removal, usage, the orphan sweep -------------------- */

int dcv_blobs_remove(const char *final_path, int64_t *bytes)
{
    char rec[PATH_MAX + 16];
    struct stat st;
    int r = 0;

    if (suffixed(rec, sizeof rec, final_path, ".sha256") < 0)
        return -ENAMETOOLONG;
    /* The file before its record: a record left alone reads as absent
     * (dcv_blobs_read_record) and the sweep takes it. */
    if (stat(final_path, &st) == 0 && unlink(final_path) == 0) {
        if (bytes)
            *bytes += st.st_size;
    } else if (errno != ENOENT) {
        r = -errno;
    }
    if (unlink(rec) < 0 && errno != ENOENT && r == 0)
        r = -errno;
    if (r == 0)
        fsync_parent(final_path);
    return r;
}

/*
 * Every regular file under uploads/ (job_id NULL) and jobs/<job_id>/, with
 * its stat; fn returns non-zero to unlink it. Job directories left empty go.
 */
typedef int (*walk_fn)(void *ud, const char *job_id, int dfd, const char *name,
                       const struct stat *st);

static void walk_dir(int dfd, const char *job_id, walk_fn fn, void *ud)
{
    DIR *d = fdopendir(dfd);
    struct dirent *e;
    struct stat st;

    if (!d) {
        close(dfd);
        return;
    }
    while ((e = readdir(d)))
        if (e->d_name[0] != '.' && fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISREG(st.st_mode) && fn(ud, job_id, dirfd(d), e->d_name, &st))
            (void)unlinkat(dirfd(d), e->d_name, 0);
    closedir(d);
}

struct walk_ctx {
    walk_fn fn;
    void *ud;
};

static void walk_one(void *ud, int dfd, const char *job_id)
{
    struct walk_ctx *w = ud;
    walk_dir(dfd, job_id, w->fn, w->ud);
}

static int walk(const struct dcv_blobs *b, walk_fn fn, void *ud, char *err, size_t errlen)
{
    struct walk_ctx w = { fn, ud };
    return each_dir(b, walk_one, &w, 1, err, errlen);
}

/* A committed file's name: not a part, a record or a temporary. */
static int committed_name(const char *name)
{
    return !ends_with(name, ".part") && !ends_with(name, ".sha256") && !ends_with(name, ".tmp");
}

static int usage_one(void *ud, const char *job_id, int dfd, const char *name, const struct stat *st)
{
    struct dcv_blobs_usage *u = ud;
    (void)dfd;
    if (ends_with(name, ".part")) {
        u->parts++;
        u->part_bytes += st->st_size;
    } else if (committed_name(name)) {
        *(job_id ? &u->outputs : &u->inputs) += 1;
        *(job_id ? &u->output_bytes : &u->input_bytes) += st->st_size;
    }
    return 0;
}

int dcv_blobs_usage(const struct dcv_blobs *b, struct dcv_blobs_usage *u, char *err, size_t errlen)
{
    memset(u, 0, sizeof *u);
    return walk(b, usage_one, u, err, errlen);
}

struct job_bytes {
    const char *job_id;
    int64_t bytes;
};

static int job_bytes_one(void *ud, const char *job_id, int dfd, const char *name,
                         const struct stat *st)
{
    struct job_bytes *j = ud;
    (void)dfd;
    if (job_id && strcmp(job_id, j->job_id) == 0 && !ends_with(name, ".sha256"))
        j->bytes += st->st_size;
    return 0;
}

int64_t dcv_blobs_job_bytes(const struct dcv_blobs *b, const char *job_id)
{
    struct job_bytes j = { job_id, 0 };
    char p[PATH_MAX + 64];
    int fd;

    if (!job_id_ok(job_id))
        return 0;
    snprintf(p, sizeof p, "%s/jobs/%s", b->root, job_id);
    if ((fd = open(p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) >= 0)
        walk_dir(fd, job_id, job_bytes_one, &j);
    return j.bytes;
}

static int remove_all(void *ud, const char *job_id, int dfd, const char *name, const struct stat *st)
{
    int64_t *bytes = ud;
    (void)job_id;
    (void)dfd;
    if (!ends_with(name, ".sha256")) /* what the files hold, as usage counts */
        *bytes += st->st_size;
    return 1;
}

int dcv_blobs_remove_job(const struct dcv_blobs *b, const char *job_id, int64_t *bytes)
{
    char p[PATH_MAX + 64];
    int64_t n = 0;
    int fd;

    if (!job_id_ok(job_id))
        return -EINVAL;
    snprintf(p, sizeof p, "%s/jobs/%s", b->root, job_id);
    if ((fd = open(p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
        return errno == ENOENT ? 0 : -errno;
    walk_dir(fd, job_id, remove_all, &n);
    if (rmdir(p) < 0 && errno != ENOENT)
        return -errno;
    if (bytes)
        *bytes += n;
    return 0;
}

struct sweep_run {
    const struct dcv_blobs_sweep_ops *ops;
    unsigned removed;
    int64_t bytes;
};

static int sweep_one(void *ud, const char *job_id, int dfd, const char *name, const struct stat *st)
{
    struct sweep_run *s = ud;
    char file[NAME_MAX + 1];
    struct stat fs;
    size_t n = strlen(name);
    int drop;

    if (ends_with(name, ".sha256") && !ends_with(name, ".part.sha256")) {
        /* A record whose file is gone (removal or commit cut short). */
        memcpy(file, name, n - 7);
        file[n - 7] = '\0';
        drop = fstatat(dfd, file, &fs, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT;
    } else if (committed_name(name)) {
        drop = s->ops->drop(s->ops->ud, job_id, name, (int64_t)st->st_mtime);
    } else {
        return 0; /* parts: dcv_blobs_gc's */
    }
    if (drop) {
        s->removed++;
        s->bytes += st->st_size;
        if (committed_name(name)) {
            /* its record goes with it */
            char rec[NAME_MAX + 16];
            snprintf(rec, sizeof rec, "%s.sha256", name);
            (void)unlinkat(dfd, rec, 0);
        }
    }
    return drop;
}

int dcv_blobs_sweep(const struct dcv_blobs *b, const struct dcv_blobs_sweep_ops *ops,
                    unsigned *removed, int64_t *bytes, char *err, size_t errlen)
{
    struct sweep_run s = { ops, 0, 0 };
    int r = walk(b, sweep_one, &s, err, errlen);
    *removed = s.removed;
    *bytes = s.bytes;
    return r;
}

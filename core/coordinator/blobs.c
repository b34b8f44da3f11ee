/* Blob storage: temp names, fsync, rename; see blobs.h. */
#include "coordinator/blobs.h"
#include "errbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

const char *dcv_blobs_root(const struct dcv_blobs *b)
{
    return b->root;
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

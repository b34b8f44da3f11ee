/*
 * Is a path input the file the coordinator recorded (inputcheck.h)?
 */
#include "worker/inputcheck.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "errbuf.h"
#include "xfer/chunk.h"

/* "2024-05-01 12:00:00 UTC", or "unknown" for 0. */
static void fmt_mtime(char *out, size_t len, int64_t s)
{
    struct tm tm;
    time_t t = (time_t)s;

    if (s <= 0 || !gmtime_r(&t, &tm) || !strftime(out, len, "%Y-%m-%d %H:%M:%S UTC", &tm))
        snprintf(out, len, "unknown");
}

static void fmt_size(char *out, size_t len, int64_t size)
{
    if (size < 0)
        snprintf(out, len, "size unknown");
    else
        snprintf(out, len, "%" PRId64 " bytes", size);
}

static int file_sha256(int fd, volatile sig_atomic_t *cancel, char hex[2 * DCV_SHA256_LEN + 1])
{
    static unsigned char buf[1 << 20];
    struct dcv_sha256 *h = NULL;
    uint8_t d[DCV_SHA256_LEN];
    int r = 0;

    if (dcv_sha256_new(&h) < 0)
        return -ENOMEM;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (cancel && *cancel) {
            r = -ECANCELED;
            break;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            r = -errno;
            break;
        }
        if (n == 0)
            break;
        dcv_sha256_update(h, buf, (size_t)n);
    }
    if (r == 0) {
        dcv_sha256_final(h, d);
        dcv_sha256_hex(d, hex);
    }
    dcv_sha256_free(&h);
    return r;
}

int dcv_input_check(const char *local, const struct dcv_input_expect *want,
                    volatile sig_atomic_t *cancel, char *err, size_t errlen)
{
    char here_m[40], there_m[40], here_s[40], there_s[40], hex[2 * DCV_SHA256_LEN + 1];
    const char *there = want->coord_path && want->coord_path[0] ? want->coord_path : "?";
    struct stat st;
    int fd, r;

    if (want->size < 0 && want->mtime <= 0 && !(want->sha256 && want->sha256[0]))
        return 0; /* an older coordinator: nothing recorded to compare */
    /* One open for the metadata and the digest: the file a rename swaps in
     * between cannot pass half the check. */
    if ((fd = open(local, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) < 0) {
        r = -errno;
        if (fd >= 0)
            close(fd);
        return dcv_err(err, errlen, r, "input %s: %s", local, strerror(-r));
    }
    fmt_mtime(here_m, sizeof here_m, (int64_t)st.st_mtim.tv_sec);
    fmt_mtime(there_m, sizeof there_m, want->mtime);
    fmt_size(here_s, sizeof here_s, (int64_t)st.st_size);
    fmt_size(there_s, sizeof there_s, want->size);
    if ((want->size >= 0 && (int64_t)st.st_size != want->size) ||
        (want->mtime > 0 && (int64_t)st.st_mtim.tv_sec != want->mtime)) {
        close(fd);
        return dcv_err(err, errlen, -ESTALE,
                       "input on this worker (%s, %s, mtime %s) differs from the coordinator's "
                       "(%s, %s, mtime %s): a stale or different mount, or the file changed "
                       "after it was submitted",
                       local, here_s, here_m, there, there_s, there_m);
    }
    if (!want->sha256 || !want->sha256[0]) {
        close(fd);
        return 0;
    }
    r = file_sha256(fd, cancel, hex);
    close(fd);
    if (r == -ECANCELED)
        return dcv_err(err, errlen, r, "cancelled while checking the input's sha256");
    if (r < 0)
        return dcv_err(err, errlen, r, "input %s: %s", local, strerror(-r));
    if (strcmp(hex, want->sha256) != 0)
        return dcv_err(err, errlen, -ESTALE,
                       "input on this worker (%s, %s, mtime %s, sha256 %.12s...) differs from the "
                       "coordinator's (%s, sha256 %.12s...): a stale or different mount",
                       local, here_s, here_m, hex, there, want->sha256);
    return 0;
}

#include "rand.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "errbuf.h"

int dcv_random_bytes(void *buf, size_t n, char *err, size_t errlen)
{
    unsigned char *p = buf;
    size_t got = 0;

    while (got < n) {
        ssize_t r = getrandom(p + got, n - got, 0);
        if (r < 0) {
            int e = errno;
            if (e == EINTR)
                continue;
            return dcv_err(err, errlen, -e, "getrandom: %s", strerror(e));
        }
        got += (size_t)r;
    }
    return 0;
}

int dcv_random_hex(char *out, size_t nbytes, char *err, size_t errlen)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char b[64];
    size_t done = 0;
    int r;

    out[0] = '\0';
    /* in slices, so the caller's length is the only limit */
    while (done < nbytes) {
        size_t n = nbytes - done < sizeof b ? nbytes - done : sizeof b;
        if ((r = dcv_random_bytes(b, n, err, errlen)) < 0) {
            out[0] = '\0';
            return r;
        }
        for (size_t i = 0; i < n; i++) {
            out[2 * (done + i)] = hex[b[i] >> 4];
            out[2 * (done + i) + 1] = hex[b[i] & 15];
        }
        done += n;
    }
    out[2 * nbytes] = '\0';
    return 0;
}

int dcv_random_id53(int64_t *out, char *err, size_t errlen)
{
    uint64_t v = 0;
    int r;

    *out = 0;
    while (v == 0) {
        if ((r = dcv_random_bytes(&v, sizeof v, err, errlen)) < 0)
            return r;
        v &= ((uint64_t)1 << 53) - 1;
    }
    *out = (int64_t)v;
    return 0;
}

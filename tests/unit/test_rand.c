/*
 * core/rand.c: ids are complete and in range, interrupted and short reads
 * are resumed, and when the kernel gives no random bytes every call fails
 * with the reason instead of handing out guessable (clock) bits.
 *
 * The test defines getrandom() itself, so rand.c's calls land here: each
 * call is passed to the kernel (the syscall) unless a failure is injected.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "rand.h"
#include "tap.h"

static int fail_errno;  /* every call fails with this errno */
static int eintr_left;  /* this many calls fail with EINTR first */
static int zeros_left;  /* this many calls return all-zero bytes */
static size_t short_max; /* a call returns at most this many bytes */
static int calls;

ssize_t getrandom(void *buf, size_t n, unsigned int flags)
{
    calls++;
    if (eintr_left > 0) {
        eintr_left--;
        errno = EINTR;
        return -1;
    }
    if (fail_errno) {
        errno = fail_errno;
        return -1;
    }
    if (short_max && n > short_max)
        n = short_max;
    if (zeros_left > 0) {
        zeros_left--;
        memset(buf, 0, n);
        return (ssize_t)n;
    }
    return syscall(SYS_getrandom, buf, n, flags);
}

static void reset(void)
{
    fail_errno = eintr_left = zeros_left = calls = 0;
    short_max = 0;
}

static int all_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

static void test_hex(void)
{
    char out[401], again[401], err[128];

    reset();
    memset(out, 'x', sizeof out);
    TAP_IS_INT(dcv_random_hex(out, 16, err, sizeof err), 0, "hex: 16 bytes");
    TAP_IS_INT(strlen(out), 32, "hex: 16 bytes are 32 digits and a NUL");
    TAP_OK(all_hex(out, 32), "hex: lowercase hex digits only");

    /* more than one internal slice */
    TAP_IS_INT(dcv_random_hex(out, 200, err, sizeof err), 0, "hex: 200 bytes");
    TAP_IS_INT(strlen(out), 400, "hex: 200 bytes are 400 digits");
    TAP_OK(all_hex(out, 400), "hex: 200 bytes, all digits");
    TAP_IS_INT(dcv_random_hex(again, 200, err, sizeof err), 0, "hex: again");
    TAP_OK(strcmp(out, again) != 0, "hex: two draws differ");

    TAP_IS_INT(dcv_random_hex(out, 0, err, sizeof err), 0, "hex: 0 bytes");
    TAP_IS_STR(out, "", "hex: 0 bytes is the empty string");

    reset();
    eintr_left = 3;
    short_max = 5;
    TAP_IS_INT(dcv_random_hex(out, 40, err, sizeof err), 0,
               "hex: interrupted and short reads are resumed");
    TAP_IS_INT(strlen(out), 80, "hex: ... and the id is complete");
    TAP_OK(all_hex(out, 80), "hex: ... and all digits");
    TAP_IS_INT(calls, 3 + 8, "hex: 3 interrupted calls, then 8 reads of 5 bytes");
}

static void test_id53(void)
{
    enum { N = 2000 };
    static int64_t ids[N];
    char err[128];
    int ok = 1, distinct = 1;
    int64_t id, any_high = 0;

    reset();
    for (int i = 0; i < N; i++) {
        if (dcv_random_id53(&ids[i], err, sizeof err) < 0 || ids[i] < 1 ||
            ids[i] >= ((int64_t)1 << 53))
            ok = 0;
        any_high |= ids[i] >> 40;
    }
    TAP_OK(ok, "id53: %d ids, each in 1 .. 2^53 - 1", N);
    TAP_OK(any_high != 0, "id53: the high bits are used");
    for (int i = 0; i < N && distinct; i++)
        for (int j = i + 1; j < N; j++)
            if (ids[i] == ids[j]) {
                distinct = 0;
                break;
            }
    TAP_OK(distinct, "id53: %d ids, no two equal", N);

    /* 0 is not an id: a draw of zero bits is drawn again */
    reset();
    zeros_left = 1;
    TAP_IS_INT(dcv_random_id53(&id, err, sizeof err), 0, "id53: a zero draw");
    TAP_OK(id >= 1, "id53: ... is drawn again, never 0");
    TAP_IS_INT(calls, 2, "id53: ... in a second call");
}

/* The policy: no random bytes, no id. */
static void test_fail(void)
{
    char out[65], err[128];
    unsigned char b[8] = {0};
    int64_t id = 7;

    reset();
    fail_errno = ENOSYS;
    strcpy(out, "stale");
    err[0] = '\0';
    TAP_IS_INT(dcv_random_hex(out, 32, err, sizeof err), -ENOSYS,
               "fail: hex returns the kernel's errno");
    TAP_IS_STR(out, "", "fail: hex leaves no digits (no clock bits)");
    TAP_HAS_STR(err, "getrandom", "fail: hex says what failed");

    err[0] = '\0';
    TAP_IS_INT(dcv_random_id53(&id, err, sizeof err), -ENOSYS, "fail: id53 returns the errno");
    TAP_IS_INT(id, 0, "fail: id53 gives no id");
    TAP_HAS_STR(err, "getrandom", "fail: id53 says what failed");

    fail_errno = EAGAIN;
    TAP_IS_INT(dcv_random_bytes(b, sizeof b, NULL, 0), -EAGAIN,
               "fail: bytes fails too, and a NULL error buffer is fine");

    /* an interrupted call is not a failure, a failing one after it is */
    reset();
    eintr_left = 1;
    fail_errno = EIO;
    TAP_IS_INT(dcv_random_id53(&id, err, sizeof err), -EIO, "fail: EINTR, then EIO");
    TAP_IS_INT(calls, 2, "fail: ... after one retry");
}

int main(void)
{
    test_hex();
    test_id53();
    test_fail();
    return tap_done();
}

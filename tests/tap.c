#include "tap.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_n, tap_failed;

int tap_ok(int cond, const char *fmt, ...)
{
    va_list ap;
    tap_n++;
    if (!cond)
        tap_failed++;
    printf("%sok %d - ", cond ? "" : "not ", tap_n);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
    return cond;
}

void tap_diag(const char *fmt, ...)
{
    va_list ap;
    printf("# ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

void tap_skip(const char *why, const char *name)
{
    tap_n++;
    printf("ok %d - %s # SKIP %s\n", tap_n, name, why);
    fflush(stdout);
}

void tap_bail(const char *fmt, ...)
{
    va_list ap;
    printf("Bail out! ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
    exit(1);
}

int tap_done(void)
{
    printf("1..%d\n", tap_n);
    fflush(stdout);
    return tap_failed ? 1 : 0;
}

char *tap_mkdtemp(char *buf, size_t size, const char *tag)
{
    const char *base = getenv("TMPDIR");

    snprintf(buf, size, "%s/dcv-%s-XXXXXX", base && *base ? base : "/tmp", tag);
    if (!mkdtemp(buf))
        tap_bail("mkdtemp %s: %s", buf, strerror(errno));
    return buf;
}

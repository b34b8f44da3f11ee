#include "errbuf.h"

#include <stdarg.h>
#include <stdio.h>

static void verr(char *err, size_t errlen, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
static void verr(char *err, size_t errlen, const char *fmt, va_list ap)
{
    if (err && errlen)
        vsnprintf(err, errlen, fmt, ap);
}

void dcv_errf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verr(err, errlen, fmt, ap);
    va_end(ap);
}

int dcv_err(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verr(err, errlen, fmt, ap);
    va_end(ap);
    return rc;
}

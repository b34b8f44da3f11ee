/*
 * The project's error convention in one place: functions return 0 or a
 * negative errno and write the human-readable reason into a caller buffer
 * (which may be NULL or empty when the caller does not want it).
 */
#ifndef DCV_ERRBUF_H
#define DCV_ERRBUF_H

#include <stddef.h>
#include "distconv/plugin.h" /* DCV_PRINTF */

/* Format the reason into err[errlen]. */
void dcv_errf(char *err, size_t errlen, const char *fmt, ...) DCV_PRINTF(3, 4);
/* The same, returning rc, for `return dcv_err(err, errlen, -EINVAL, "...")`. */
int dcv_err(char *err, size_t errlen, int rc, const char *fmt, ...) DCV_PRINTF(4, 5);

#endif

/*
 * Random ids from the kernel (getrandom(2)): job ids, session epochs,
 * transfer ids. One policy for every caller: when the kernel cannot give
 * random bytes the call fails. It never falls back to clock or pid bits,
 * since an id an outsider can guess (an epoch, a download id) is worse
 * than a refused request.
 */
#ifndef DCV_RAND_H
#define DCV_RAND_H

#include <stddef.h>
#include <stdint.h>

/* Fill buf[n] with random bytes. Blocks only until the kernel's pool is
 * first initialised at boot. 0, or a negative errno and the reason. */
int dcv_random_bytes(void *buf, size_t n, char *err, size_t errlen);

/* nbytes random bytes as 2 * nbytes lowercase hex digits and a NUL, so
 * out must hold 2 * nbytes + 1. On failure out is the empty string. */
int dcv_random_hex(char *out, size_t nbytes, char *err, size_t errlen);

/* A random id in 1 .. 2^53 - 1, which any JSON reader holds exactly. On
 * failure *out is 0. */
int dcv_random_id53(int64_t *out, char *err, size_t errlen);

#endif

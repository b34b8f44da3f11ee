/*
 * Every JSON body decoder directly, without the framing: the input is the
 * message name on the first line ("HELLO", "REQUEST", ...), then the body.
 * Seeds are readable text; the fuzzer spends its time inside the JSON rules
 * (types, ranges, UTF-8, nesting, cross-field checks) and the round trip.
 */
#include "fuzz.h"

#include <string.h>

int fz_one(const uint8_t *data, size_t len)
{
    const uint8_t *nl = memchr(data, '\n', len < 16 ? len : 16);
    char name[16];
    size_t n;

    if (!nl)
        return 0;
    n = (size_t)(nl - data);
    memcpy(name, data, n);
    name[n] = '\0';
    return fz_json(name, nl + 1, len - n - 1) == 1;
}

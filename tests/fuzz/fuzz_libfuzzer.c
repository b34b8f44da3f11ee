/* libFuzzer entry point for a harness (configure --enable-fuzzers). */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    (void)fz_one(data, len);
    return 0;
}

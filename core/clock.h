/*
 * The monotonic clock every module measures time with (timeouts, rates,
 * progress). Wall-clock times for records (the job store) are not this.
 */
#ifndef DCV_CLOCK_H
#define DCV_CLOCK_H

#include <stdint.h>

uint64_t dcv_mono_ns(void);
int64_t dcv_mono_ms(void);

#endif

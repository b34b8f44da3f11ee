/*
 * NVIDIA GPU figures through NVML (libnvidia-ml), loaded with dlopen() at
 * run time: the daemon has no link dependency on the driver, and a machine
 * without it simply reports no GPUs.
 *
 * The library is opened once and never dlclose()d: a driver library may
 * have started threads that would run unmapped code. nvmlShutdown() is
 * called on close, the mapping stays until the process exits.
 *
 * Every figure NVML cannot give (not supported by this GPU, e.g. encoder
 * statistics on a GPU without NVENC, or any error) is DCV_NVML_UNKNOWN (-1);
 * a GPU whose UUID cannot be read is left out (its id is how the
 * coordinator matches it to an encoder device).
 */
#ifndef DCV_NVML_H
#define DCV_NVML_H

#include <stddef.h>
#include <stdint.h>

#define DCV_NVML_UNKNOWN (-1)
#define DCV_NVML_MAX_GPUS 16

struct dcv_nvml;

struct dcv_nvml_gpu {
    char id[96];          /* UUID as NVML spells it: "GPU-8f2c...-..." */
    char name[96];        /* "NVIDIA GeForce RTX 4070", "" unknown */
    char pci[32];         /* "0000:01:00.0" (4-digit domain, lower case), "" unknown */
    double util_pct;      /* GPU (SM) utilisation 0..100 */
    double enc_pct, dec_pct;
    int64_t mem_total, mem_used; /* bytes */
    double temp_c;
    double power_w;
    int64_t enc_sessions; /* encoder sessions of every process on this GPU */
};

/* Open `library` (a dlopen name or path; NULL or "" = NVML off: -ENOENT with
 * "disabled") and initialise NVML. On failure *out is NULL and why says what
 * an operator can act on ("libnvidia-ml.so.1: cannot open shared object
 * file...", "nvmlInit_v2: Driver Not Loaded"): -ENOENT library missing or
 * off, -ENOSYS a required symbol missing, -EIO init failed. */
int dcv_nvml_open(struct dcv_nvml **out, const char *library, char *why, size_t whylen);

/* Query every GPU now; fills at most max entries, returns how many. */
size_t dcv_nvml_sample(struct dcv_nvml *n, struct dcv_nvml_gpu *gpus, size_t max);

/* nvmlShutdown(); the library stays mapped (see above). Sets *n to NULL;
 * NULL and *n NULL are fine. */
void dcv_nvml_close(struct dcv_nvml **n);

#endif

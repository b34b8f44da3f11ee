/*
 * A stand-in libnvidia-ml for tests (never installed): the NVML subset the
 * worker's core/worker/nvml.c resolves, with the same symbol names and C
 * signatures, so tests exercise the real dlopen/dlsym/query path.
 *
 * The GPUs are read AT EACH CALL from the file named by DCV_FAKE_NVML_FILE,
 * one GPU per line of `key=value` words (a test may rewrite the file while
 * a worker runs):
 *   uuid=GPU-... name=Fake_RTX_4070 pci=00000000:01:00.0 util=12 enc=30
 *   dec=0 mem_total=8589934592 mem_used=1073741824 temp=61 power_mw=75000
 *   sessions=2
 * (sessions_list=2 instead: only nvmlDeviceGetEncoderSessions reports them,
 * like a driver without the statistics call). '_' in name reads as a space. A key left out makes its call return
 * NVML_ERROR_NOT_SUPPORTED (3), like a GPU without that counter; the word
 * "nouuid" makes nvmlDeviceGetUUID fail. Without DCV_FAKE_NVML_FILE,
 * nvmlInit_v2 fails with NVML_ERROR_DRIVER_NOT_LOADED (9).
 *
 * Values and layouts follow NVIDIA's documented API (see nvml.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FN __attribute__((visibility("default")))

enum {
    OK = 0,
    ERR_UNINITIALIZED = 1,
    ERR_INVALID_ARGUMENT = 2,
    ERR_NOT_SUPPORTED = 3,
    ERR_INSUFFICIENT_SIZE = 7,
    ERR_DRIVER_NOT_LOADED = 9,
    ERR_NOT_FOUND = 6,
    ERR_UNKNOWN = 999,
};

typedef struct nvmlDevice_st *nvmlDevice_t;
typedef struct {
    unsigned long long total, free, used;
} nvmlMemory_t;
typedef struct {
    unsigned int gpu, memory;
} nvmlUtilization_t;
typedef struct {
    char busIdLegacy[16];
    unsigned int domain, bus, device, pciDeviceId, pciSubSystemId;
    char busId[32];
} nvmlPciInfo_t;

/* The exported API (prototypes, as -Wmissing-prototypes wants them). */
FN int nvmlInit_v2(void);
FN int nvmlShutdown(void);
FN const char *nvmlErrorString(int r);
FN int nvmlDeviceGetCount_v2(unsigned int *count);
FN int nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device);
FN int nvmlDeviceGetUUID(nvmlDevice_t d, char *uuid, unsigned int len);
FN int nvmlDeviceGetName(nvmlDevice_t d, char *name, unsigned int len);
FN int nvmlDeviceGetPciInfo_v3(nvmlDevice_t d, nvmlPciInfo_t *pci);
FN int nvmlDeviceGetUtilizationRates(nvmlDevice_t d, nvmlUtilization_t *u);
FN int nvmlDeviceGetEncoderUtilization(nvmlDevice_t d, unsigned int *u, unsigned int *period);
FN int nvmlDeviceGetDecoderUtilization(nvmlDevice_t d, unsigned int *u, unsigned int *period);
FN int nvmlDeviceGetMemoryInfo(nvmlDevice_t d, nvmlMemory_t *m);
FN int nvmlDeviceGetTemperature(nvmlDevice_t d, int sensor, unsigned int *temp);
FN int nvmlDeviceGetPowerUsage(nvmlDevice_t d, unsigned int *mw);
FN int nvmlDeviceGetEncoderStats(nvmlDevice_t d, unsigned int *sessions, unsigned int *fps,
                                 unsigned int *latency);
FN int nvmlDeviceGetEncoderSessions(nvmlDevice_t d, unsigned int *count, void *infos);

static int inits;

/* The value of `key` on line `idx` (0-based) into out[len]; 0 found. */
static int lookup(unsigned int idx, const char *key, char *out, size_t len)
{
    const char *path = getenv("DCV_FAKE_NVML_FILE");
    FILE *f = path ? fopen(path, "r") : NULL;
    char line[1024];
    unsigned int n = 0;
    int found = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '\n' || line[0] == '#')
            continue;
        if (n++ != idx)
            continue;
        for (char *w = strtok(line, " \t\n"); w; w = strtok(NULL, " \t\n")) {
            size_t kl = strlen(key);
            if (strncmp(w, key, kl) == 0 && (w[kl] == '=' || w[kl] == '\0')) {
                snprintf(out, len, "%s", w[kl] == '=' ? w + kl + 1 : "");
                found = 0;
                break;
            }
        }
        break;
    }
    fclose(f);
    return found;
}

static unsigned int count_lines(void)
{
    const char *path = getenv("DCV_FAKE_NVML_FILE");
    FILE *f = path ? fopen(path, "r") : NULL;
    char line[1024];
    unsigned int n = 0;
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        if (line[0] != '\n' && line[0] != '#')
            n++;
    fclose(f);
    return n;
}

static int dev_index(nvmlDevice_t d, unsigned int *idx)
{
    unsigned long v = (unsigned long)(void *)d;
    if (!inits)
        return ERR_UNINITIALIZED;
    if (v == 0 || v > count_lines())
        return ERR_INVALID_ARGUMENT;
    *idx = (unsigned int)(v - 1);
    return OK;
}

static int number(nvmlDevice_t d, const char *key, unsigned long long *out)
{
    unsigned int idx;
    char buf[64], *end;
    int r = dev_index(d, &idx);
    if (r != OK)
        return r;
    if (lookup(idx, key, buf, sizeof buf) < 0)
        return ERR_NOT_SUPPORTED;
    *out = strtoull(buf, &end, 10);
    return end == buf || *end ? ERR_UNKNOWN : OK;
}

FN int nvmlInit_v2(void)
{
    if (!getenv("DCV_FAKE_NVML_FILE"))
        return ERR_DRIVER_NOT_LOADED;
    inits++;
    return OK;
}

FN int nvmlShutdown(void)
{
    if (!inits)
        return ERR_UNINITIALIZED;
    inits--;
    return OK;
}

FN const char *nvmlErrorString(int r)
{
    switch (r) {
    case OK: return "Success";
    case ERR_UNINITIALIZED: return "Uninitialized";
    case ERR_INVALID_ARGUMENT: return "Invalid Argument";
    case ERR_NOT_SUPPORTED: return "Not Supported";
    case ERR_INSUFFICIENT_SIZE: return "Insufficient Size";
    case ERR_DRIVER_NOT_LOADED: return "Driver Not Loaded";
    default: return "Unknown Error";
    }
}

FN int nvmlDeviceGetCount_v2(unsigned int *count)
{
    if (!inits)
        return ERR_UNINITIALIZED;
    *count = count_lines();
    return OK;
}

FN int nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device)
{
    if (!inits)
        return ERR_UNINITIALIZED;
    if (index >= count_lines())
        return ERR_INVALID_ARGUMENT;
    *device = (nvmlDevice_t)(void *)(unsigned long)(index + 1);
    return OK;
}

static int text(nvmlDevice_t d, const char *key, char *out, unsigned int len)
{
    unsigned int idx;
    char buf[256];
    int r = dev_index(d, &idx);
    if (r != OK)
        return r;
    if (lookup(idx, "nouuid", buf, sizeof buf) == 0 && strcmp(key, "uuid") == 0)
        return ERR_UNKNOWN;
    if (lookup(idx, key, buf, sizeof buf) < 0)
        return ERR_NOT_SUPPORTED;
    if (strlen(buf) + 1 > len)
        return ERR_INSUFFICIENT_SIZE;
    for (char *p = buf; *p; p++)
        if (*p == '_' && strcmp(key, "name") == 0)
            *p = ' ';
    memcpy(out, buf, strlen(buf) + 1);
    return OK;
}

FN int nvmlDeviceGetUUID(nvmlDevice_t d, char *uuid, unsigned int len)
{
    return text(d, "uuid", uuid, len);
}

FN int nvmlDeviceGetName(nvmlDevice_t d, char *name, unsigned int len)
{
    return text(d, "name", name, len);
}

FN int nvmlDeviceGetPciInfo_v3(nvmlDevice_t d, nvmlPciInfo_t *pci)
{
    memset(pci, 0, sizeof *pci);
    return text(d, "pci", pci->busId, sizeof pci->busId);
}

FN int nvmlDeviceGetUtilizationRates(nvmlDevice_t d, nvmlUtilization_t *u)
{
    unsigned long long v;
    int r = number(d, "util", &v);
    if (r == OK) {
        u->gpu = (unsigned int)v;
        u->memory = 0;
    }
    return r;
}

static int util(nvmlDevice_t d, const char *key, unsigned int *u, unsigned int *period)
{
    unsigned long long v;
    int r = number(d, key, &v);
    if (r == OK) {
        *u = (unsigned int)v;
        *period = 167000;
    }
    return r;
}

FN int nvmlDeviceGetEncoderUtilization(nvmlDevice_t d, unsigned int *u, unsigned int *period)
{
    return util(d, "enc", u, period);
}

FN int nvmlDeviceGetDecoderUtilization(nvmlDevice_t d, unsigned int *u, unsigned int *period)
{
    return util(d, "dec", u, period);
}

FN int nvmlDeviceGetMemoryInfo(nvmlDevice_t d, nvmlMemory_t *m)
{
    unsigned long long total, used;
    int r = number(d, "mem_total", &total);
    if (r == OK)
        r = number(d, "mem_used", &used);
    if (r == OK) {
        m->total = total;
        m->used = used;
        m->free = total > used ? total - used : 0;
    }
    return r;
}

FN int nvmlDeviceGetTemperature(nvmlDevice_t d, int sensor, unsigned int *temp)
{
    unsigned long long v;
    if (sensor != 0)
        return ERR_INVALID_ARGUMENT;
    int r = number(d, "temp", &v);
    if (r == OK)
        *temp = (unsigned int)v;
    return r;
}

FN int nvmlDeviceGetPowerUsage(nvmlDevice_t d, unsigned int *mw)
{
    unsigned long long v;
    int r = number(d, "power_mw", &v);
    if (r == OK)
        *mw = (unsigned int)v;
    return r;
}

FN int nvmlDeviceGetEncoderStats(nvmlDevice_t d, unsigned int *sessions, unsigned int *fps,
                                 unsigned int *latency)
{
    unsigned long long v;
    int r = number(d, "sessions", &v);
    if (r == OK) {
        *sessions = (unsigned int)v;
        *fps = v ? 60 : 0;
        *latency = v ? 1000 : 0;
    }
    return r;
}

/* Only the count query (*count 0, NULL list) the worker makes; "sessions_list=N"
 * stands for a driver whose statistics call is missing. */
FN int nvmlDeviceGetEncoderSessions(nvmlDevice_t d, unsigned int *count, void *infos)
{
    unsigned long long v;
    int r = number(d, "sessions_list", &v);
    if (r != OK)
        return r;
    if (infos && *count < v) {
        *count = (unsigned int)v;
        return ERR_INSUFFICIENT_SIZE;
    }
    if (infos)
        return ERR_NOT_SUPPORTED; /* the session records are not faked */
    *count = (unsigned int)v;
    return OK;
}

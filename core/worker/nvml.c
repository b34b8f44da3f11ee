#include "worker/nvml.h"

#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errbuf.h"

/* The few NVML declarations used here, written from NVIDIA's documented API
 * (NVML API Reference): numeric values and layouts are part of its ABI. */
typedef int nvml_return;            /* nvmlReturn_t */
typedef struct nvml_device *nvml_device; /* nvmlDevice_t: an opaque handle */
#define NVML_OK 0                   /* NVML_SUCCESS */
#define NVML_TEMPERATURE_GPU 0      /* nvmlTemperatureSensors_t */
#define NVML_UUID_LEN 96            /* NVML_DEVICE_UUID_V2_BUFFER_SIZE */
#define NVML_NAME_LEN 96            /* NVML_DEVICE_NAME_V2_BUFFER_SIZE */

struct nvml_memory {                /* nvmlMemory_t */
    unsigned long long total, free, used;
};
struct nvml_utilization {           /* nvmlUtilization_t */
    unsigned int gpu, memory;
};
struct nvml_pci_info {              /* nvmlPciInfo_t (nvmlDeviceGetPciInfo_v3) */
    char bus_id_legacy[16];
    unsigned int domain, bus, device, pci_device_id, pci_subsystem_id;
    char bus_id[32];
};

struct dcv_nvml {
    nvml_return (*shutdown)(void);
    const char *(*error_string)(nvml_return);
    nvml_return (*get_count)(unsigned int *);
    nvml_return (*get_handle)(unsigned int, nvml_device *);
    nvml_return (*get_uuid)(nvml_device, char *, unsigned int);
    /* optional: a missing one leaves its figure unknown */
    nvml_return (*get_name)(nvml_device, char *, unsigned int);
    nvml_return (*get_pci)(nvml_device, struct nvml_pci_info *);
    nvml_return (*get_util)(nvml_device, struct nvml_utilization *);
    nvml_return (*get_enc_util)(nvml_device, unsigned int *, unsigned int *);
    nvml_return (*get_dec_util)(nvml_device, unsigned int *, unsigned int *);
    nvml_return (*get_memory)(nvml_device, struct nvml_memory *);
    nvml_return (*get_temp)(nvml_device, int, unsigned int *);
    nvml_return (*get_power)(nvml_device, unsigned int *);
    nvml_return (*get_enc_stats)(nvml_device, unsigned int *, unsigned int *, unsigned int *);
    nvml_return (*get_enc_sessions)(nvml_device, unsigned int *, void *);
};

/* POSIX lets a data pointer hold a function address from dlsym (and glibc
 * guarantees it); the copy through memcpy keeps ISO C pedantry quiet. */
static void sym(void *lib, const char *name, void *fnp)
{
    void *p = dlsym(lib, name);
    memcpy(fnp, &p, sizeof p);
}

static const char *errstr(const struct dcv_nvml *n, nvml_return r)
{
    const char *s = n->error_string ? n->error_string(r) : NULL;
    return s ? s : "unknown NVML error";
}

int dcv_nvml_open(struct dcv_nvml **out, const char *library, char *why, size_t whylen)
{
    *out = NULL;
    if (!library || !*library)
        return dcv_err(why, whylen, -ENOENT, "NVML disabled (telemetry.nvml_library is \"\")");
    void *lib = dlopen(library, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        const char *e = dlerror();
        return dcv_err(why, whylen, -ENOENT, "%s", e ? e : library);
    }
    struct dcv_nvml *n = calloc(1, sizeof *n);
    if (!n)
        return dcv_err(why, whylen, -ENOMEM, "out of memory");
    nvml_return (*init)(void) = NULL;
    sym(lib, "nvmlInit_v2", &init);
    sym(lib, "nvmlShutdown", &n->shutdown);
    sym(lib, "nvmlErrorString", &n->error_string);
    sym(lib, "nvmlDeviceGetCount_v2", &n->get_count);
    sym(lib, "nvmlDeviceGetHandleByIndex_v2", &n->get_handle);
    sym(lib, "nvmlDeviceGetUUID", &n->get_uuid);
    sym(lib, "nvmlDeviceGetName", &n->get_name);
    sym(lib, "nvmlDeviceGetPciInfo_v3", &n->get_pci);
    sym(lib, "nvmlDeviceGetUtilizationRates", &n->get_util);
    sym(lib, "nvmlDeviceGetEncoderUtilization", &n->get_enc_util);
    sym(lib, "nvmlDeviceGetDecoderUtilization", &n->get_dec_util);
    sym(lib, "nvmlDeviceGetMemoryInfo", &n->get_memory);
    sym(lib, "nvmlDeviceGetTemperature", &n->get_temp);
    sym(lib, "nvmlDeviceGetPowerUsage", &n->get_power);
    sym(lib, "nvmlDeviceGetEncoderStats", &n->get_enc_stats);
    sym(lib, "nvmlDeviceGetEncoderSessions", &n->get_enc_sessions);
    const char *missing = !init ? "nvmlInit_v2" : !n->shutdown ? "nvmlShutdown"
                        : !n->get_count ? "nvmlDeviceGetCount_v2"
                        : !n->get_handle ? "nvmlDeviceGetHandleByIndex_v2"
                        : !n->get_uuid ? "nvmlDeviceGetUUID" : NULL;
    if (missing) {
        free(n);
        /* Not dlclose()d: whatever its constructors started stays valid. */
        return dcv_err(why, whylen, -ENOSYS, "%s has no %s (NVML too old?)", library, missing);
    }
    nvml_return r = init();
    if (r != NVML_OK) {
        int e = dcv_err(why, whylen, -EIO, "%s: nvmlInit_v2 failed: %s (error %d)", library,
                        errstr(n, r), r);
        free(n);
        return e;
    }
    *out = n;
    return 0;
}

void dcv_nvml_close(struct dcv_nvml **np)
{
    struct dcv_nvml *n = np ? *np : NULL;

    if (!n)
        return;
    n->shutdown();
    free(n);
    *np = NULL;
}

/* NVML strings into a protocol text field: printable ASCII, trimmed. */
static void copy_text(char *dst, size_t len, const char *src)
{
    size_t o = 0;
    for (; *src && o + 1 < len; src++)
        dst[o++] = isprint((unsigned char)*src) ? *src : '?';
    while (o && dst[o - 1] == ' ')
        o--;
    dst[o] = '\0';
}

/* "00000000:01:00.0" -> "0000:01:00.0": the form sysfs, lspci and the VA-API
 * plugin use, so a GPU has one spelling across plugins. */
static void norm_pci(char *dst, size_t len, const char *bus_id)
{
    char tmp[32];
    copy_text(tmp, sizeof tmp, bus_id);
    for (char *p = tmp; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    const char *s = tmp;
    const char *colon = strchr(s, ':');
    if (colon && colon - s == 8 && strncmp(s, "0000", 4) == 0)
        s += 4;
    snprintf(dst, len, "%s", s);
}

static double pct(unsigned int v)
{
    return v <= 100 ? (double)v : DCV_NVML_UNKNOWN;
}

size_t dcv_nvml_sample(struct dcv_nvml *n, struct dcv_nvml_gpu *gpus, size_t max)
{
    unsigned int count = 0;
    if (!n || n->get_count(&count) != NVML_OK)
        return 0;
    size_t k = 0;
    for (unsigned int i = 0; i < count && k < max; i++) {
        nvml_device d = NULL;
        char text[NVML_UUID_LEN > NVML_NAME_LEN ? NVML_UUID_LEN : NVML_NAME_LEN];
        if (n->get_handle(i, &d) != NVML_OK)
            continue;
        memset(text, 0, sizeof text);
        if (n->get_uuid(d, text, NVML_UUID_LEN) != NVML_OK)
            continue;
        text[sizeof text - 1] = '\0';
        struct dcv_nvml_gpu *g = &gpus[k];
        *g = (struct dcv_nvml_gpu){
            .util_pct = DCV_NVML_UNKNOWN, .enc_pct = DCV_NVML_UNKNOWN,
            .dec_pct = DCV_NVML_UNKNOWN, .mem_total = DCV_NVML_UNKNOWN,
            .mem_used = DCV_NVML_UNKNOWN, .temp_c = DCV_NVML_UNKNOWN,
            .power_w = DCV_NVML_UNKNOWN, .enc_sessions = DCV_NVML_UNKNOWN,
        };
        copy_text(g->id, sizeof g->id, text);
        if (!g->id[0])
            continue;
        memset(text, 0, sizeof text);
        if (n->get_name && n->get_name(d, text, NVML_NAME_LEN) == NVML_OK) {
            text[sizeof text - 1] = '\0';
            copy_text(g->name, sizeof g->name, text);
        }
        struct nvml_pci_info pci;
        memset(&pci, 0, sizeof pci);
        if (n->get_pci && n->get_pci(d, &pci) == NVML_OK) {
            pci.bus_id[sizeof pci.bus_id - 1] = '\0';
            norm_pci(g->pci, sizeof g->pci, pci.bus_id);
        }
        struct nvml_utilization u;
        if (n->get_util && n->get_util(d, &u) == NVML_OK)
            g->util_pct = pct(u.gpu);
        unsigned int v = 0, period = 0;
        if (n->get_enc_util && n->get_enc_util(d, &v, &period) == NVML_OK)
            g->enc_pct = pct(v);
        if (n->get_dec_util && n->get_dec_util(d, &v, &period) == NVML_OK)
            g->dec_pct = pct(v);
        struct nvml_memory m;
        if (n->get_memory && n->get_memory(d, &m) == NVML_OK && m.used <= m.total &&
            m.total <= (unsigned long long)INT64_MAX) {
            g->mem_total = (int64_t)m.total;
            g->mem_used = (int64_t)m.used;
        }
        if (n->get_temp && n->get_temp(d, NVML_TEMPERATURE_GPU, &v) == NVML_OK && v <= 200)
            g->temp_c = v;
        if (n->get_power && n->get_power(d, &v) == NVML_OK)
            g->power_w = v / 1000.0; /* NVML reports milliwatts */
        /* Sessions: the statistics call where the driver has it, else the
         * session list queried for its length (*count 0, NULL list). */
        unsigned int fps = 0, latency = 0;
        if (n->get_enc_stats && n->get_enc_stats(d, &v, &fps, &latency) == NVML_OK)
            g->enc_sessions = v;
        else if (n->get_enc_sessions && (v = 0, n->get_enc_sessions(d, &v, NULL) == NVML_OK))
            g->enc_sessions = v;
        k++;
    }
    return k;
}

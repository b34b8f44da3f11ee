/*
 * What the purpose-built test plugin (testplug.c) records about the host
 * services it was given, so test_loader can check them through the
 * plugin's context pointer (the plugin exports no other symbol).
 */
#ifndef DCV_TESTPLUG_H
#define DCV_TESTPLUG_H

#include <stdint.h>

#define TP_CTX_MAGIC 0x54504358u /* "TPCX" */

struct tp_ctx {
    uint32_t magic;
    uint32_t host_struct_size;
    uint32_t host_abi_minor;
    int host_ctx_set;        /* host->host_ctx != NULL */
    int cfg_nonnull;         /* the cfg handle was not NULL */
    int answer_rc;           /* cfg_get_int("answer") */
    int64_t answer;
    int greeting_rc;         /* cfg_get_str("greeting") */
    char greeting[64];
    int absent_rc;           /* cfg_get_int("no-such-key"): expect -ENOENT */
    uint64_t now1, now2;     /* two now_ns() readings */
    int sessions;            /* currently open */
};

#endif

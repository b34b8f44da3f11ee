/*
 * Data-plane wire codec and checksums. See chunk.h for the layouts.
 */
#include "xfer/chunk.h"
#include "errbuf.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavutil/mem.h>
#include <openssl/evp.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>
#define DCV_CRC_HW 1
#endif


static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_le32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t get_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

int dcv_xfer_chunk_encode(const struct dcv_xfer_chunk *c, uint8_t *buf, size_t buflen,
                          char *err, size_t errlen)
{
    if (!c || !buf || buflen < DCV_XFER_CHUNK_HDR_LEN)
        return dcv_err(err, errlen, -EINVAL, "chunk header: buffer of %zu bytes, need %d", buflen,
                    DCV_XFER_CHUNK_HDR_LEN);
    if (c->flags & ~DCV_XFER_FLAG_LAST)
        return dcv_err(err, errlen, -EINVAL, "chunk header: flags 0x%" PRIx32 " has unknown bits",
                    c->flags);
    put_le64(buf, c->xfer_id);
    put_le64(buf + 8, c->offset);
    put_le32(buf + 16, c->len);
    put_le32(buf + 20, c->flags);
    put_le32(buf + 24, c->crc32c);
    put_le32(buf + 28, 0);
    return 0;
}

int dcv_xfer_chunk_decode(const void *buf, size_t len, uint32_t chunk_max,
                          struct dcv_xfer_chunk *out, char *err, size_t errlen)
{
    const uint8_t *p = buf;
    struct dcv_xfer_chunk c;

    if (chunk_max == 0 || chunk_max > DCV_XFER_CHUNK_MAX_LIMIT)
        return dcv_err(err, errlen, -EINVAL, "chunk_max %" PRIu32 " out of range 1..%u", chunk_max,
                    DCV_XFER_CHUNK_MAX_LIMIT);
    if (!p || len != DCV_XFER_CHUNK_HDR_LEN)
        return dcv_err(err, errlen, -EPROTO, "chunk header: %zu bytes, expected %d", p ? len : 0,
                    DCV_XFER_CHUNK_HDR_LEN);
    c.xfer_id = get_le64(p);
    c.offset = get_le64(p + 8);
    c.len = get_le32(p + 16);
    c.flags = get_le32(p + 20);
    c.crc32c = get_le32(p + 24);
    uint32_t reserved = get_le32(p + 28);
    if (reserved != 0)
        return dcv_err(err, errlen, -EPROTO, "chunk header: reserved is 0x%" PRIx32 ", must be 0",
                    reserved);
    if (c.flags & ~DCV_XFER_FLAG_LAST)
        return dcv_err(err, errlen, -EPROTO, "chunk header: flags 0x%" PRIx32 " has unknown bits",
                    c.flags);
    if (c.len > chunk_max)
        return dcv_err(err, errlen, -EPROTO, "chunk header: len %" PRIu32 " exceeds chunk_max %" PRIu32,
                    c.len, chunk_max);
    if (c.offset > UINT64_MAX - c.len)
        return dcv_err(err, errlen, -EPROTO,
                    "chunk header: offset %" PRIu64 " + len %" PRIu32 " overflows", c.offset,
                    c.len);
    if (out)
        *out = c;
    return 0;
}

int dcv_xfer_credit_encode(const struct dcv_xfer_credit *c, uint8_t *buf, size_t buflen,
                           char *err, size_t errlen)
{
    if (!c || !buf || buflen < DCV_XFER_CREDIT_LEN)
        return dcv_err(err, errlen, -EINVAL, "credit: buffer of %zu bytes, need %d", buflen,
                    DCV_XFER_CREDIT_LEN);
    put_le64(buf, c->xfer_id);
    put_le64(buf + 8, c->offset);
    put_le32(buf + 16, c->chunks);
    put_le32(buf + 20, 0);
    return 0;
}

int dcv_xfer_credit_decode(const void *buf, size_t len, struct dcv_xfer_credit *out,
                           char *err, size_t errlen)
{
    const uint8_t *p = buf;
    struct dcv_xfer_credit c;

    if (!p || len != DCV_XFER_CREDIT_LEN)
        return dcv_err(err, errlen, -EPROTO, "credit: %zu bytes, expected %d", p ? len : 0,
                    DCV_XFER_CREDIT_LEN);
    c.xfer_id = get_le64(p);
    c.offset = get_le64(p + 8);
    c.chunks = get_le32(p + 16);
    uint32_t reserved = get_le32(p + 20);
    if (reserved != 0)
        return dcv_err(err, errlen, -EPROTO, "credit: reserved is 0x%" PRIx32 ", must be 0",
                    reserved);
    if (c.chunks == 0)
        return dcv_err(err, errlen, -EPROTO, "credit: chunks is 0, must be > 0");
    if (out)
        *out = c;
    return 0;
}

/* ---- crc32c ------------------------------------------------------------ */

/* Slicing-by-8 tables: a byte-at-a-time table loop would cost more CPU
 * than the 1 GiB transfer benchmark can spare on machines without SSE4.2. */
static uint32_t crc_tab[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;
#ifdef DCV_CRC_HW
static int crc_hw;
#endif

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
        crc_tab[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            crc_tab[t][i] = (crc_tab[t - 1][i] >> 8) ^ crc_tab[0][crc_tab[t - 1][i] & 0xff];
#ifdef DCV_CRC_HW
    __builtin_cpu_init();
    crc_hw = __builtin_cpu_supports("sse4.2");
#endif
}

static uint32_t crc_sw(uint32_t c, const uint8_t *p, size_t len)
{
    while (len && ((uintptr_t)p & 7)) {
        c = (c >> 8) ^ crc_tab[0][(c ^ *p++) & 0xff];
        len--;
    }
    while (len >= 8) {
        /* explicit little-endian assembly keeps this correct on any host */
        uint32_t lo = c ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                           (uint32_t)p[3] << 24);
        c = crc_tab[7][lo & 0xff] ^ crc_tab[6][(lo >> 8) & 0xff] ^ crc_tab[5][(lo >> 16) & 0xff] ^
            crc_tab[4][lo >> 24] ^ crc_tab[3][p[4]] ^ crc_tab[2][p[5]] ^ crc_tab[1][p[6]] ^
            crc_tab[0][p[7]];
        p += 8;
        len -= 8;
    }
    while (len--)
        c = (c >> 8) ^ crc_tab[0][(c ^ *p++) & 0xff];
    return c;
}

#ifdef DCV_CRC_HW
__attribute__((target("sse4.2"))) static uint32_t crc_hw32(uint32_t c, const uint8_t *p,
                                                           size_t len)
{
    uint64_t c64 = c;
    while (len >= 8) {
        uint64_t v;
        memcpy(&v, p, 8); /* unaligned-safe; the crc32 instruction is little-endian */
        c64 = _mm_crc32_u64(c64, v);
        p += 8;
        len -= 8;
    }
    c = (uint32_t)c64;
    while (len--)
        c = _mm_crc32_u8(c, *p++);
    return c;
}
#endif

uint32_t dcv_crc32c(uint32_t crc, const void *data, size_t len)
{
    const uint8_t *p = data;
    uint32_t c = ~crc;

    pthread_once(&crc_once, crc_init);
    if (!p || !len)
        return crc;
#ifdef DCV_CRC_HW
    if (crc_hw)
        return ~crc_hw32(c, p, len);
#endif
    return ~crc_sw(c, p, len);
}

uint32_t dcv_crc32c_portable(uint32_t crc, const void *data, size_t len)
{
    pthread_once(&crc_once, crc_init);
    if (!data || !len)
        return crc;
    return ~crc_sw(~crc, data, len);
}

/* ---- sha256 ------------------------------------------------------------ */

/* SHA-256 through OpenSSL's libcrypto: every byte of the data plane is hashed
 * on both sides, and libcrypto uses the CPU's SHA extensions where they
 * exist (several times faster than libavutil's portable C, which made the
 * hash the transfer bottleneck at about 240 MB/s). */
struct dcv_sha256 {
    EVP_MD_CTX *ctx;
};

int dcv_sha256_new(struct dcv_sha256 **out)
{
    struct dcv_sha256 *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->ctx = EVP_MD_CTX_new();
    if (!s->ctx || EVP_DigestInit_ex(s->ctx, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(s->ctx);
        free(s);
        return -ENOMEM;
    }
    *out = s;
    return 0;
}

void dcv_sha256_update(struct dcv_sha256 *s, const void *data, size_t len)
{
    if (s && data && len)
        EVP_DigestUpdate(s->ctx, data, len);
}

void dcv_sha256_final(struct dcv_sha256 *s, uint8_t digest[DCV_SHA256_LEN])
{
    unsigned n = 0;
    EVP_DigestFinal_ex(s->ctx, digest, &n);
    EVP_DigestInit_ex(s->ctx, EVP_sha256(), NULL);
}

void dcv_sha256_free(struct dcv_sha256 **s)
{
    if (!s || !*s)
        return;
    EVP_MD_CTX_free((*s)->ctx);
    free(*s);
    *s = NULL;
}

void dcv_sha256_hex(const uint8_t digest[DCV_SHA256_LEN], char out[2 * DCV_SHA256_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < DCV_SHA256_LEN; i++) {
        out[2 * i] = hex[digest[i] >> 4];
        out[2 * i + 1] = hex[digest[i] & 15];
    }
    out[2 * DCV_SHA256_LEN] = '\0';
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

int dcv_sha256_parse_hex(const char *s, uint8_t digest[DCV_SHA256_LEN], char *err,
                         size_t errlen)
{
    if (!s)
        return dcv_err(err, errlen, -EINVAL, "sha256: missing");
    size_t n = strlen(s);
    if (n != 2 * DCV_SHA256_LEN)
        return dcv_err(err, errlen, -EINVAL, "sha256: %zu characters, expected %d hex digits", n,
                    2 * DCV_SHA256_LEN);
    uint8_t d[DCV_SHA256_LEN];
    for (int i = 0; i < DCV_SHA256_LEN; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return dcv_err(err, errlen, -EINVAL, "sha256: not a hex digit at position %d",
                        hi < 0 ? 2 * i : 2 * i + 1);
        d[i] = (uint8_t)(hi << 4 | lo);
    }
    memcpy(digest, d, sizeof(d));
    return 0;
}

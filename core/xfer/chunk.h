/*
 * Data-plane wire codec: the binary CHUNK header and CREDIT body, plus the
 * two checksums the data plane uses (crc32c per chunk, sha256 per file).
 *
 * Both messages are fixed-size little-endian records, encoded and decoded
 * byte by byte so the layout never depends on the host's endianness or
 * struct padding. Decoding treats its input as hostile: every field is
 * checked and a failure names the field.
 *
 *   CHUNK header (32 bytes):  xfer_id u64 | offset u64 | len u32 | flags u32 |
 *                             crc32c u32 | reserved u32 (= 0)
 *   CREDIT body  (24 bytes):  xfer_id u64 | offset u64 | chunks u32 |
 *                             reserved u32 (= 0)
 */
#ifndef DCV_XFER_CHUNK_H
#define DCV_XFER_CHUNK_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h" /* DCV_XFER_CHUNK_HDR_LEN, DCV_XFER_CREDIT_LEN, DCV_XFER_CHUNK_MAX_LIMIT */

#define DCV_XFER_FLAG_LAST 0x1u

struct dcv_xfer_chunk {
    uint64_t xfer_id;
    uint64_t offset; /* byte offset of the payload in the file */
    uint32_t len;    /* payload length, <= chunk_max */
    uint32_t flags;  /* DCV_XFER_FLAG_LAST only */
    uint32_t crc32c; /* crc32c of the payload */
};

struct dcv_xfer_credit {
    uint64_t xfer_id;
    uint64_t offset; /* first byte the grant covers */
    uint32_t chunks; /* number of chunks granted from offset */
};

/* Encode into buf (at least DCV_XFER_CHUNK_HDR_LEN bytes). -EINVAL for a
 * short buffer or flags other than LAST. */
int dcv_xfer_chunk_encode(const struct dcv_xfer_chunk *c, uint8_t *buf, size_t buflen,
                          char *err, size_t errlen);
/* Decode untrusted bytes: exactly DCV_XFER_CHUNK_HDR_LEN long, reserved 0,
 * no unknown flag, len <= chunk_max, offset + len must not overflow.
 * -EPROTO (bad message) or -EINVAL (chunk_max out of range). */
int dcv_xfer_chunk_decode(const void *buf, size_t len, uint32_t chunk_max,
                          struct dcv_xfer_chunk *out, char *err, size_t errlen);

/* Encode into buf (at least DCV_XFER_CREDIT_LEN bytes); -EINVAL when short. */
int dcv_xfer_credit_encode(const struct dcv_xfer_credit *c, uint8_t *buf, size_t buflen,
                           char *err, size_t errlen);
/* Decode untrusted bytes: exactly DCV_XFER_CREDIT_LEN long, reserved 0,
 * chunks > 0. -EPROTO otherwise. (Offsets are judged by the sender, which
 * knows the file size and chunk size.) */
int dcv_xfer_credit_decode(const void *buf, size_t len, struct dcv_xfer_credit *out,
                           char *err, size_t errlen);

/* CRC-32C (Castagnoli). Pass 0 to start; pass the previous result to
 * continue over more data. Thread-safe. */
uint32_t dcv_crc32c(uint32_t crc, const void *data, size_t len);
/* The table implementation dcv_crc32c falls back to without SSE4.2;
 * exposed so tests can check both paths agree. */
uint32_t dcv_crc32c_portable(uint32_t crc, const void *data, size_t len);

/* Incremental SHA-256 (libavutil's implementation). */
#define DCV_SHA256_LEN 32
struct dcv_sha256;
int dcv_sha256_new(struct dcv_sha256 **out); /* 0 or -ENOMEM */
void dcv_sha256_update(struct dcv_sha256 *s, const void *data, size_t len);
/* Writes the digest and restarts the context for a new message. */
void dcv_sha256_final(struct dcv_sha256 *s, uint8_t digest[DCV_SHA256_LEN]);
void dcv_sha256_free(struct dcv_sha256 **s);
/* Lower-case hex, NUL-terminated (65 bytes). */
void dcv_sha256_hex(const uint8_t digest[DCV_SHA256_LEN], char out[2 * DCV_SHA256_LEN + 1]);
/* Parse exactly 64 hex digits (either case); -EINVAL otherwise. */
int dcv_sha256_parse_hex(const char *s, uint8_t digest[DCV_SHA256_LEN], char *err,
                         size_t errlen);

#endif

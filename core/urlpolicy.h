/*
 * URL inputs: which protocols a submitter may name, and what FFmpeg may
 * open on the worker's behalf (DESIGN §8, docs/operations.md "distconvctl").
 *
 * The coordinator's `inputs.url_protocols` list is the policy. A submitted
 * URL must be `scheme://...` with a scheme on that list; protocols that read
 * the worker's own files or wrap other URLs (file, concat, subfile, pipe,
 * ...) can never be listed. The job process opens the URL with FFmpeg's
 * `protocol_whitelist` set to the listed protocols plus the transports they
 * need (https -> tls, tcp), so a playlist cannot reach further than the
 * submitter could (an HLS playlist naming file:///etc/shadow fails), and
 * `protocol_blacklist` naming the denied ones as a second lock.
 */
#ifndef DCV_URLPOLICY_H
#define DCV_URLPOLICY_H

#include <stddef.h>

#define DCV_URL_MAX 4096 /* bytes, NUL included */

/* 1 when `proto` (lower case) may never be allowed: it reads local files,
 * or wraps another URL and so escapes the list. */
int dcv_url_protocol_denied(const char *proto);

/* The comma-separated FFmpeg protocol_blacklist of those. */
const char *dcv_url_denied_list(void);

/* Check `url` against the allowed protocols (n names, lower case). 0, or
 * -EINVAL (malformed: no scheme://, control characters or spaces, too long)
 * / -EPERM (scheme not allowed) with the reason in err. */
int dcv_url_check(const char *url, const char *const *allowed, size_t n, char *err,
                  size_t errlen);

/* The protocol_whitelist for the allowed names: each one plus the lower
 * protocols it is built on. 0, or -ENOSPC. */
int dcv_url_whitelist(const char *const *allowed, size_t n, char *out, size_t outlen);

/* A file name for the job, from the URL's last path element ("clip.mkv"
 * for http://h/a/clip.mkv?x=1), else "url-input". Never contains '/'. */
void dcv_url_name(const char *url, char *out, size_t outlen);

#endif

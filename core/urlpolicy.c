/* URL input policy (urlpolicy.h). Pure string work: no FFmpeg, no I/O. */
#include "urlpolicy.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "errbuf.h"

/* Never openable from a submitted URL, nor nested in one: they read the
 * worker's files or sockets, write somewhere, or wrap another URL. */
static const char *const blacklist[] = {
    "file", "pipe", "fd", "unix", "concat", "concatf", "subfile", "data",
    "cache", "async", "tee", "md5",
};
#define BLACKLIST_STR "file,pipe,fd,unix,concat,concatf,subfile,data,cache,async,tee,md5"

/* Also refused as the scheme a submitter names (and as a list entry), but
 * needed nested: HLS opens keyed segments as crypto+http(s)://. */
static const char *const wrappers[] = {"crypto", "hls"};

/* What each protocol is built on (FFmpeg opens these nested). */
static const struct {
    const char *proto;
    const char *deps;
} deps[] = {
    {"http", "tcp,crypto"},
    {"https", "tls,tcp,crypto"},
    {"rtmp", "tcp"},
    {"rtmps", "tls,tcp"},
    {"rtmpt", "http,tcp"},
    {"rtmpts", "https,tls,tcp"},
    {"rtsp", "rtp,udp,tcp"},
    {"rtsps", "rtp,udp,tcp,tls"},
    {"rtp", "udp"},
    {"srtp", "rtp,udp"},
    {"ftp", "tcp"},
    {"mmsh", "http,tcp"},
    {"mmst", "tcp"},
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

int dcv_url_protocol_denied(const char *proto)
{
    for (size_t i = 0; i < N(blacklist); i++)
        if (strcmp(proto, blacklist[i]) == 0)
            return 1;
    for (size_t i = 0; i < N(wrappers); i++)
        if (strcmp(proto, wrappers[i]) == 0)
            return 1;
    return 0;
}

const char *dcv_url_denied_list(void)
{
    return BLACKLIST_STR;
}

int dcv_url_check(const char *url, const char *const *allowed, size_t n, char *err,
                  size_t errlen)
{
    char scheme[32];
    size_t len = strlen(url), k = 0;

    if (len == 0 || len >= DCV_URL_MAX)
        return dcv_err(err, errlen, -EINVAL, "URL is empty or longer than %d bytes",
                       DCV_URL_MAX - 1);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)url[i] <= ' ' || url[i] == 0x7f)
            return dcv_err(err, errlen, -EINVAL,
                           "URL contains a space or control character at byte %zu (encode it)", i);
    /* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) (RFC 3986 3.1) */
    while (k < len && k < sizeof scheme - 1 &&
           (isalpha((unsigned char)url[k]) ||
            (k > 0 && (isdigit((unsigned char)url[k]) || strchr("+-.", url[k])))))
        scheme[k] = (char)tolower((unsigned char)url[k]), k++;
    scheme[k] = '\0';
    if (k == 0 || strncmp(url + k, "://", 3) != 0)
        return dcv_err(err, errlen, -EINVAL, "\"%.80s\" is not a URL of the form scheme://...",
                       url);
    if (!url[k + 3])
        return dcv_err(err, errlen, -EINVAL, "URL %.80s names no host or path", url);
    if (dcv_url_protocol_denied(scheme))
        return dcv_err(err, errlen, -EPERM,
                       "URL protocol \"%s\" is never allowed for inputs (it reads the worker's "
                       "files or wraps another URL)", scheme);
    for (size_t i = 0; i < n; i++)
        if (strcmp(scheme, allowed[i]) == 0)
            return 0;
    char list[256] = "";
    size_t used = 0;
    for (size_t i = 0; i < n && used < sizeof list; i++)
        used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "",
                                 allowed[i]);
    return dcv_err(err, errlen, -EPERM, "URL protocol \"%s\" is not allowed (inputs.url_protocols: "
                   "%s)", scheme, n ? list : "none");
}

/* Append `name` to the comma list unless it is there already. */
static int add_name(char *out, size_t outlen, size_t *used, const char *name, size_t nlen)
{
    const char *p = out;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == nlen && strncmp(p, name, nlen) == 0)
            return 0;
        p += l + (e ? 1 : 0);
    }
    if (*used + nlen + 2 > outlen)
        return -ENOSPC;
    if (*used)
        out[(*used)++] = ',';
    memcpy(out + *used, name, nlen);
    *used += nlen;
    out[*used] = '\0';
    return 0;
}

int dcv_url_whitelist(const char *const *allowed, size_t n, char *out, size_t outlen)
{
    size_t used = 0;

    if (!outlen)
        return -ENOSPC;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (dcv_url_protocol_denied(allowed[i]))
            continue;
        if (add_name(out, outlen, &used, allowed[i], strlen(allowed[i])) < 0)
            return -ENOSPC;
        for (size_t d = 0; d < N(deps); d++) {
            if (strcmp(deps[d].proto, allowed[i]) != 0)
                continue;
            for (const char *p = deps[d].deps; *p;) {
                const char *e = strchr(p, ',');
                size_t l = e ? (size_t)(e - p) : strlen(p);
                if (add_name(out, outlen, &used, p, l) < 0)
                    return -ENOSPC;
                p += l + (e ? 1 : 0);
            }
        }
    }
    return 0;
}

void dcv_url_name(const char *url, char *out, size_t outlen)
{
    const char *p = strstr(url, "://"), *end, *base;
    size_t l;

    if (!outlen)
        return;
    p = p ? p + 3 : url;
    end = p + strcspn(p, "?#");
    base = end;
    while (base > p && base[-1] != '/')
        base--;
    l = (size_t)(end - base);
    if (base == p || l == 0 || (l == 1 && *base == '.') || (l == 2 && strncmp(base, "..", 2) == 0)) {
        snprintf(out, outlen, "url-input");
        return;
    }
    if (l >= outlen)
        l = outlen - 1;
    for (size_t i = 0; i < l; i++) {
        unsigned char ch = (unsigned char)base[i];
        out[i] = ch < ' ' || ch == 0x7f || ch == '\\' ? '_' : (char)ch;
    }
    out[l] = '\0';
}

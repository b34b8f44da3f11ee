/*
 * The HTTP plane's listening address (httpaddr.h). In libdcvbase, without
 * libmicrohttpd: the configuration checks it too.
 */
#include "http/httpaddr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "errbuf.h"

int dcv_http_bind_parse(const char *bind, struct sockaddr_storage *ss, socklen_t *len,
                        int *loopback, char *err, size_t errlen)
{
    char host[64];
    const char *colon;
    char *end;
    unsigned long port;
    size_t hl;

    memset(ss, 0, sizeof *ss);
    *loopback = 0;
    if (!bind || !*bind)
        return dcv_err(err, errlen, -EINVAL, "empty address");
    if (bind[0] == '[') {
        const char *close = strchr(bind, ']');
        if (!close || close[1] != ':')
            return dcv_err(err, errlen, -EINVAL, "'%s': expected [IPV6]:PORT", bind);
        hl = (size_t)(close - bind - 1);
        colon = close + 1;
        if (hl >= sizeof host)
            return dcv_err(err, errlen, -EINVAL, "'%s': address too long", bind);
        memcpy(host, bind + 1, hl);
    } else {
        colon = strrchr(bind, ':');
        if (!colon)
            return dcv_err(err, errlen, -EINVAL, "'%s': expected HOST:PORT, e.g. 127.0.0.1:7480",
                           bind);
        hl = (size_t)(colon - bind);
        if (hl >= sizeof host)
            return dcv_err(err, errlen, -EINVAL, "'%s': address too long", bind);
        memcpy(host, bind, hl);
    }
    host[hl] = '\0';
    errno = 0;
    port = strtoul(colon + 1, &end, 10);
    if (!colon[1] || *end || errno || port > 65535)
        return dcv_err(err, errlen, -EINVAL, "'%s': the port must be 0..65535", bind);
    if (bind[0] == '[') {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
            return dcv_err(err, errlen, -EINVAL, "'%s': not an IPv6 address", bind);
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        *loopback = IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
        *len = sizeof *a;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)ss;
        /* Names are not resolved: what is bound must be what the file says. */
        if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
            return dcv_err(err, errlen, -EINVAL,
                           "'%s': not an IPv4 address (names are not resolved; [::1]:PORT for "
                           "IPv6)",
                           bind);
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        *loopback = (ntohl(a->sin_addr.s_addr) >> 24) == 127;
        *len = sizeof *a;
    }
    return 0;
}

int dcv_http_bind_local(const char *key, const char *bind, const char *example, int *off,
                        char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    int loopback, r;

    *off = !bind || !*bind || strcmp(bind, "off") == 0;
    if (*off)
        return 0;
    if ((r = dcv_http_bind_parse(bind, &ss, &sl, &loopback, err, errlen)) < 0)
        return r;
    /* A listener without authentication (a worker's /metrics:
     * docs/operations.md "A worker's own /metrics"). */
    if (!loopback)
        return dcv_err(err, errlen, -EPERM,
                       "%s %s is not a loopback address: this listener serves without "
                       "authentication and listens only on 127.0.0.0/8 or [::1]; set %s = "
                       "\"%s\" (or \"off\")",
                       key, bind, key, example);
    return 0;
}

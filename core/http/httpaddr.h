/*
 * httpaddr.c: the HTTP plane's listening address, "HOST:PORT".
 */
#ifndef DCV_HTTPADDR_H
#define DCV_HTTPADDR_H

#include <stddef.h>
#include <sys/socket.h>

/* Parse "HOST:PORT" (an IPv4 dotted quad, or [IPv6]; names are not
 * resolved) into *ss; *loopback says whether it is 127.0.0.0/8 or ::1.
 * 0, or -EINVAL with the reason. */
int dcv_http_bind_parse(const char *bind, struct sockaddr_storage *ss, socklen_t *len,
                        int *loopback, char *err, size_t errlen);

/* The rule of a listener without authentication (a worker's /metrics): key's value bind ("" or
 * "off": no server, *off = 1) must parse and be a loopback address.
 * 0, -EINVAL (not an address) or -EPERM, with the reason naming key and
 * suggesting `example` ("127.0.0.1:7480"). */
int dcv_http_bind_local(const char *key, const char *bind, const char *example, int *off,
                        char *err, size_t errlen);

#endif

/*
 * The dashboard's files (web/), compiled into the daemon by
 * core/http/gen-assets.sh: nothing is read from disk or fetched from
 * elsewhere at run time, and a lookup is an exact match in that table, so
 * no request path (../, %2e%2e, //) can name anything but those files.
 */
#ifndef DCV_ASSETS_H
#define DCV_ASSETS_H

#include <stddef.h>

struct dcv_http_req;
struct dcv_http_reply;

struct dcv_asset {
    const char *path;         /* "/" (web/index.html), "/assets/app.js" */
    const char *content_type; /* "text/javascript; charset=utf-8" */
    const char *etag;         /* "\"CRC-LEN\"" of the bytes, made by the build */
    const unsigned char *bytes;
    size_t len;
};

/* The file served at path, exactly: 0, or -ENOENT. */
int dcv_assets_find(const char *path, const struct dcv_asset **out);

/* 1 when an If-None-Match value (a list of entity tags, "a", W/"b", or
 * "*") names etag, else 0. */
int dcv_etag_match(const char *if_none_match, const char *etag);

/* A route handler (core/http/httpd.h) for "/" and the "/assets/" files:
 * the file with its ETag, "Cache-Control: no-cache" (a browser revalidates
 * and gets 304 while the build is the same) and a Content-Security-Policy
 * that lets the page load and run only these files; 404 for any other
 * path. */
void dcv_assets_serve(void *ud, const struct dcv_http_req *rq, struct dcv_http_reply *out);

#endif

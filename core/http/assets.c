/*
 * The dashboard's compiled-in files (assets.h).
 */
#include "http/assets.h"

#include <errno.h>
#include <string.h>

#include "http/httpd.h"

/* core/http/assets_data.c, generated from web/ by gen-assets.sh. */
extern const struct dcv_asset dcv_assets_table[];
extern const size_t dcv_assets_count;

int dcv_assets_find(const char *path, const struct dcv_asset **out)
{
    for (size_t i = 0; i < dcv_assets_count; i++)
        if (strcmp(dcv_assets_table[i].path, path) == 0) {
            *out = &dcv_assets_table[i];
            return 0;
        }
    *out = NULL;
    return -ENOENT;
}

int dcv_etag_match(const char *list, const char *etag)
{
    size_t n = strlen(etag);

    for (const char *s = list; *s;) {
        while (*s == ' ' || *s == '\t' || *s == ',')
            s++;
        if (*s == '*')
            return 1;
        if (s[0] == 'W' && s[1] == '/')
            s += 2;
        if (strncmp(s, etag, n) == 0 && (s[n] == '\0' || s[n] == ',' || s[n] == ' ' || s[n] == '\t'))
            return 1;
        while (*s && *s != ',')
            s++;
    }
    return 0;
}

/* The page loads only its own files and runs no inline code: a string
 * that slipped into the DOM unescaped would still run nothing. */
#define CSP                                                                           \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " \
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

void dcv_assets_serve(void *ud, const struct dcv_http_req *rq, struct dcv_http_reply *out)
{
    const struct dcv_asset *a;
    const char *inm;

    (void)ud;
    if (dcv_assets_find(rq->path, &a) < 0) {
        dcv_http_error(out, 404, "no such page");
        return;
    }
    out->content_type = a->content_type;
    if (dcv_http_add_header(out, "ETag", "%s", a->etag) < 0 ||
        dcv_http_add_header(out, "Cache-Control", "no-cache") < 0 ||
        dcv_http_add_header(out, "Content-Security-Policy", CSP) < 0) {
        dcv_http_error(out, 500, "reply headers do not fit");
        return;
    }
    if ((inm = dcv_http_header(rq, "If-None-Match")) && dcv_etag_match(inm, a->etag)) {
        out->status = 304;
        return;
    }
    out->static_body = a->bytes;
    out->len = a->len;
    out->status = 200;
}

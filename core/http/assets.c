/*
 * The dashboard's compiled-in files (assets.h).
 */
#include "http/assets.h"

#include <errno.h>
#include <stdlib.h>
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

/* If-None-Match holds etag: a list of entity tags ("a", W/"b") or "*". */
static int etag_listed(const char *list, const char *etag)
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

static void not_found(struct dcv_http_reply *out)
{
    static const char msg[] = "{\"error\":\"no such page\"}\n";

    out->status = 404;
    out->content_type = "application/json";
    if ((out->body = malloc(sizeof msg)) != NULL) {
        memcpy(out->body, msg, sizeof msg);
        out->len = sizeof msg - 1;
    }
}

void dcv_assets_serve(void *ud, const struct dcv_http_req *rq, struct dcv_http_reply *out)
{
    const struct dcv_asset *a;
    const char *inm;

    (void)ud;
    if (dcv_assets_find(rq->path, &a) < 0) {
        not_found(out);
        return;
    }
    out->etag = a->etag;
    out->cache_control = "no-cache";
    out->content_type = a->content_type;
    if ((inm = dcv_http_header(rq, "If-None-Match")) && etag_listed(inm, a->etag)) {
        out->status = 304;
        return;
    }
    if (!(out->body = malloc(a->len ? a->len : 1))) {
        out->status = 503;
        out->content_type = "application/json";
        return;
    }
    memcpy(out->body, a->bytes, a->len);
    out->len = a->len;
    out->status = 200;
}

/*
 * The dashboard's compiled-in files (core/http/assets.h): the table holds
 * exactly web/'s files at their paths with types and ETags, a lookup is
 * exact (no path but those names finds anything), and If-None-Match lists
 * are read as RFC 9110 writes them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/assets.h"
#include "tap.h"

static const struct {
    const char *path, *type, *file;
} files[] = {
    {"/", "text/html; charset=utf-8", "index.html"},
    {"/assets/app.js", "text/javascript; charset=utf-8", "app.js"},
    {"/assets/app.css", "text/css; charset=utf-8", "app.css"},
    {"/assets/favicon.svg", "image/svg+xml", "favicon.svg"},
};

/* The bytes compiled in are the file's in web/. */
static int same_as_file(const struct dcv_asset *a, const char *name)
{
    char path[4096], buf[65536];
    const char *src = getenv("DCV_TOP_SRCDIR");
    size_t off = 0, n;
    FILE *f;
    int same = 1;

    snprintf(path, sizeof path, "%s/web/%s", src ? src : ".", name);
    if (!(f = fopen(path, "rb")))
        return 0;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        if (off + n > a->len || memcmp(a->bytes + off, buf, n) != 0)
            same = 0;
        off += n;
    }
    fclose(f);
    return same && off == a->len;
}

int main(void)
{
    const struct dcv_asset *a;
    static const char *hostile[] = {
        "", "/index.html", "/assets/", "/assets", "/assets/app.js/", "/assets/../assets/app.js",
        "/assets//app.js", "/assets/./app.js", "/assets/APP.JS", "/assets/app.js.map",
        "/assets/%2e%2e/metrics", "/../web/app.js", "/web/app.js", "assets/app.js", "//",
    };

    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        int r = dcv_assets_find(files[i].path, &a);
        TAP_OK(r == 0 && a && strcmp(a->path, files[i].path) == 0 &&
                   strcmp(a->content_type, files[i].type) == 0,
               "%s: found, %s", files[i].path, files[i].type);
        TAP_OK(r == 0 && a->len > 0 && same_as_file(a, files[i].file),
               "%s: the bytes of web/%s", files[i].path, files[i].file);
        TAP_OK(r == 0 && a->etag[0] == '"' && a->etag[strlen(a->etag) - 1] == '"' &&
                   strlen(a->etag) > 4,
               "%s: a quoted ETag (%s)", files[i].path, r == 0 ? a->etag : "-");
    }
    for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
        a = (const struct dcv_asset *)1;
        TAP_OK(dcv_assets_find(hostile[i], &a) == -ENOENT && a == NULL, "\"%s\": not found",
               hostile[i]);
    }

    TAP_OK(dcv_etag_match("\"12-34\"", "\"12-34\""), "If-None-Match: the tag itself");
    TAP_OK(dcv_etag_match("\"a\", \"12-34\"", "\"12-34\""), "a list naming it");
    TAP_OK(dcv_etag_match("\"a\",W/\"12-34\"", "\"12-34\""), "a weak tag naming it (W/)");
    TAP_OK(dcv_etag_match("*", "\"12-34\""), "*");
    TAP_OK(!dcv_etag_match("\"12-345\"", "\"12-34\""), "a longer tag does not match");
    TAP_OK(!dcv_etag_match("\"12-3\"", "\"12-34\""), "a shorter tag does not match");
    TAP_OK(!dcv_etag_match("12-34", "\"12-34\""), "an unquoted value does not match");
    TAP_OK(!dcv_etag_match("", "\"12-34\""), "an empty header does not match");
    TAP_OK(!dcv_etag_match("\"a\", \"b\"", "\"12-34\""), "a list of others does not match");
    return tap_done();
}

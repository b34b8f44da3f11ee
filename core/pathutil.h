/*
 * Path prefixes matched by whole components: "/srv/media" (or
 * "/srv/media/") covers "/srv/media" and "/srv/media/a.mkv", never
 * "/srv/media2". One rule for every place that asks whether a path lies
 * under a root: the coordinator (which worker reads a path, the submit
 * roots) and the worker (its path_map and local prefixes). Plain string
 * work: no file system access, so a caller resolves links first where
 * that matters (realpath).
 */
#ifndef DCV_PATHUTIL_H
#define DCV_PATHUTIL_H

#include <stddef.h>

/* How much of path the first plen bytes of prefix cover (trailing '/'
 * ignored): that length, 1 for the root "/", or 0 when path is not the
 * prefix or under it (an empty prefix covers nothing). The longest of
 * several prefixes wins where a caller maps one root onto another. */
size_t dcv_path_prefix_len(const char *path, const char *prefix, size_t plen);

/* 1 when path is prefix or lies under it, else 0. */
int dcv_path_under(const char *path, const char *prefix);

#endif

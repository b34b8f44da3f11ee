#include "pathutil.h"

#include <string.h>

size_t dcv_path_prefix_len(const char *path, const char *prefix, size_t plen)
{
    while (plen > 1 && prefix[plen - 1] == '/')
        plen--;
    if (strncmp(path, prefix, plen) != 0)
        return 0;
    if (plen == 1 && prefix[0] == '/')
        return 1;
    return path[plen] == '/' || path[plen] == '\0' ? plen : 0;
}

int dcv_path_under(const char *path, const char *prefix)
{
    return dcv_path_prefix_len(path, prefix, strlen(prefix)) != 0;
}

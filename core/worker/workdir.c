/*
 * Job scratch directories: see workdir.h. nftw() keeps no user pointer, so
 * the callbacks report through file-scope state; the worker and its job
 * processes are single-threaded.
 */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "worker/workdir.h"

static const char *rm_comp = "worker";
static int64_t du_total;

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if ((flag == FTW_DP ? rmdir(path) : unlink(path)) != 0 && errno != ENOENT)
        dcv_log(DCV_LOG_WARN, rm_comp, "cannot remove %s: %s", path, strerror(errno));
    return 0;
}

void dcv_workdir_remove(const char *dir, const char *comp)
{
    struct stat st;
    if (lstat(dir, &st) != 0)
        return;
    rm_comp = comp ? comp : "worker";
    /* FTW_DEPTH: contents before their directory; FTW_PHYS: links removed, never followed. */
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int du_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)path;
    (void)ftw;
    if (flag == FTW_F || flag == FTW_SL)
        du_total += (int64_t)st->st_blocks * 512;
    return 0;
}

int64_t dcv_workdir_usage(const char *dir)
{
    du_total = 0;
    nftw(dir, du_entry, 16, FTW_PHYS);
    return du_total;
}

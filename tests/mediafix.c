/* Generated-media fixtures for the C tests (see mediafix.h). */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "mediafix.h"
#include "tap.h"

static char dir[PATH_MAX];

static const char *env_or(const char *name, const char *def)
{
    const char *v = getenv(name);
    return v && *v ? v : def;
}

void mf_init(const char *tag)
{
    tap_mkdtemp(dir, sizeof dir, tag);
}

void mf_cleanup(void)
{
    if (!dir[0])
        return;
    if (getenv("DCV_KEEP_TMP"))
        tap_diag("kept %s", dir);
    else
        mf_sh("rm -rf '%s'", dir);
}

const char *mf_dir(void)
{
    return dir;
}

const char *mf_ffmpeg(void)
{
    return env_or("DCV_FFMPEG", "ffmpeg");
}

const char *mf_ffprobe(void)
{
    return env_or("DCV_FFPROBE", "ffprobe");
}

const char *mf_path(const char *name)
{
    static char paths[8][PATH_MAX + 64];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, sizeof paths[0], "%s/%s", dir, name);
    return p;
}

int mf_sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    int r;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    r = system(cmd);
    if (r != 0)
        tap_diag("command failed (%d): %s", r, cmd);
    return r;
}

void mf_make_clip(const char *out, const char *args)
{
    if (mf_sh("cd '%s' && '%s' -nostdin -hide_banner -v error -y %s '%s'", dir, mf_ffmpeg(), args,
              out) != 0)
        tap_bail("cannot generate test clip %s", out);
}

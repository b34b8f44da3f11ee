/*
 * distconvd.conf parsing (core/config.c over libconfig): the input is the
 * file's text. Loaded through a memfd so no file is written per run. A
 * refusal must name the file (operations.md: "FILE:LINE: ..."); an
 * accepted file must walk (what --check-config prints) without trouble.
 *
 * Inputs that mention "include" are skipped: @include would read other
 * files (a fuzzer finds "/dev/zero" soon enough), which is libconfig's
 * business, not ours. The DISTCONV_* environment is cleared so only the
 * text decides, and plugin_conf_dir points nowhere so no drop-in of the
 * machine is read.
 */
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"

extern char **environ;

/*
 * libconfig 1.5 (Debian 12): its parser has no destructor for string
 * tokens, so a syntax error right after a string ('bind = "a""b";', or a
 * file ending inside a string) leaks what the scanner allocated for it.
 * Reproduced with plain config_read_file() + config_destroy(), without
 * distconv; found by this harness. Compiled into the binary so both the
 * libFuzzer run and the ASan `make check` see it. Our config code
 * allocates nothing under the scanner.
 */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libconfig_yylex\nleak:strbuf_append\n";
}

static int fd = -1;
static char path[64];

static void setup(void)
{
    char *names[256];
    size_t n = 0;

    for (char **e = environ; *e && n < 256; e++)
        if (strncmp(*e, "DISTCONV_", 9) == 0) {
            const char *eq = strchr(*e, '=');
            if (eq && (names[n] = strndup(*e, (size_t)(eq - *e))))
                n++;
        }
    for (size_t i = 0; i < n; i++) {
        unsetenv(names[i]);
        free(names[i]);
    }
    setenv("DISTCONV_PLUGIN_CONF_DIR", "/nonexistent/distconv-fuzz", 1);
    if ((fd = memfd_create("distconvd.conf", 0)) < 0)
        fz_fail("memfd_create failed");
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
}

static void walk(const char *key, enum dcv_conf_kind kind, const char *text,
                 const struct dcv_strlist *list, void *ud)
{
    size_t n = strlen(key) + (text ? strlen(text) : 0);
    (void)kind;
    if (list) {
        if (list->n > DCV_STRLIST_MAX)
            fz_fail("config: list %s has %u entries", key, list->n);
        for (unsigned i = 0; i < list->n; i++)
            n += strnlen(list->v[i], DCV_STRLIST_LEN);
    }
    *(size_t *)ud += n;
}

int fz_one(const uint8_t *data, size_t len)
{
    struct dcv_conf *conf = NULL;
    char err[1024] = "";
    size_t total = 0;

    if (fd < 0)
        setup();
    if (len > 65536 || memmem(data, len, "include", 7))
        return 0;
    if (ftruncate(fd, 0) < 0 || (len && pwrite(fd, data, len, 0) != (ssize_t)len))
        fz_fail("cannot write the memfd");
    if (dcv_conf_load(&conf, path, 1, err, sizeof err) < 0) {
        if (!strstr(err, path))
            fz_fail("config refused without naming the file: \"%s\"", err);
        return 0;
    }
    dcv_conf_walk(conf, walk, &total);
    dcv_conf_free(&conf);
    return 1;
}

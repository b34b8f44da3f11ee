/*
 * dcv-probe-tool: what `distconvd --probe` prints, without the daemon, so
 * shell tests (tests/integration/oot-plugin.sh) depend only on the loader.
 *
 *   dcv-probe-tool [--json] [--timeout MS] [--config FILE]
 *
 * Without --config it reads the daemon's default file if present, like
 * distconvd; DISTCONV_* variables apply either way. Exit status 0 when the
 * report was produced (whatever the plugins' statuses), 1 otherwise.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "probe.h"

int main(int argc, char **argv)
{
    const char *config = NULL;
    unsigned timeout_ms = 10000;
    int json = 0, rc;
    struct dcv_conf *conf = NULL;
    char err[1024] = "", *report = NULL, *text = NULL;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
            char *end;
            unsigned long v = strtoul(argv[++i], &end, 10);
            if (*end || v == 0 || v > 600000) {
                fprintf(stderr, "%s: --timeout: milliseconds from 1 to 600000\n", argv[0]);
                return 1;
            }
            timeout_ms = (unsigned)v;
        } else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            config = argv[++i];
        } else {
            fprintf(stderr, "usage: %s [--json] [--timeout MS] [--config FILE]\n", argv[0]);
            return 1;
        }
    }
    rc = dcv_conf_load(&conf, config, config != NULL, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "%s: %s\n", argv[0], err);
        return 1;
    }
    const struct dcv_settings *s = dcv_conf_settings(conf);
    dcv_log_setup(s->log_level, s->log_format, s->log_target, "dcv-probe-tool");
    rc = dcv_probe_all(conf, timeout_ms, &report, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "%s: %s\n", argv[0], err);
        dcv_conf_free(&conf);
        return 1;
    }
    if (json) {
        puts(report);
    } else if ((rc = dcv_probe_format_text(report, &text)) == 0) {
        fputs(text, stdout);
    } else {
        fprintf(stderr, "%s: cannot render the report: %s\n", argv[0], strerror(-rc));
    }
    free(text);
    free(report);
    dcv_conf_free(&conf);
    return rc < 0 || fflush(stdout) != 0 ? 1 : 0;
}

/*
 * distconvctl's storage commands: `rm` and `purge` of ended jobs, `info`
 * (with the coordinator's blob usage and retention settings) and what
 * `status` says about a job's removed blobs. See docs/operations.md
 * "Blob retention".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "ui.h"

int ctl_parse_when(const char *s, int64_t now_ms, int64_t *ms)
{
    char why[256];
    int64_t secs;
    struct tm tm;
    const char *end;

    if (dcv_duration_parse(s, &secs, why, sizeof why) == 0 && secs > 0) {
        *ms = now_ms - secs * 1000;
        return 0;
    }
    memset(&tm, 0, sizeof tm);
    if (!(end = strptime(s, "%Y-%m-%d", &tm)))
        return -1;
    if (*end == 'T' || *end == ' ') {
        const char *t = strptime(end + 1, "%H:%M:%S", &tm);
        if (!t && !(t = strptime(end + 1, "%H:%M", &tm)))
            return -1;
        end = t;
    }
    if (strcmp(end, "Z") == 0) {
        *ms = (int64_t)timegm(&tm) * 1000;
        return 0;
    }
    if (*end)
        return -1;
    tm.tm_isdst = -1;
    *ms = (int64_t)mktime(&tm) * 1000;
    return 0;
}

void show_blob_facts(json_object *job)
{
    static const struct { const char *key, *what; } facts[] = {
        { "downloaded_ms", "output downloaded at" },
        { "output_removed_ms", "output removed (retention) at" },
        { "input_removed_ms", "input removed (retention) at" },
    };
    char t[32], buf[96];

    for (size_t i = 0; i < sizeof facts / sizeof facts[0]; i++)
        if (dcv_json_int(job, facts[i].key, 0) > 0) {
            dcv_fmt_time(t, sizeof t, dcv_json_int(job, facts[i].key, 0));
            snprintf(buf, sizeof buf, "%s %s", facts[i].what, t);
            show_kv("blobs", buf);
        }
}

int cmd_rm(struct ctl *c)
{
    int worst = EXIT_OK;

    for (int i = 0; i < c->o->nargs && !g_cancel; i++) {
        struct dcv_proto_args a;
        json_object *body;
        char *raw, sz[32];
        int rc;

        ctl_args_init(&a);
        if ((rc = ctl_resolve_job(c, c->o->args[i], a.job_id)) == EXIT_OK &&
            (rc = ctl_call(c, DCV_VERB_RM, &a, NULL, &body, &raw)) == EXIT_OK) {
            if (c->o->json)
                ctl_print_raw(raw);
            else if (!c->o->quiet) {
                dcv_fmt_bytes(sz, sizeof sz, dcv_json_int(body, "bytes", 0));
                printf("job %s removed (%s freed)\n", a.job_id, sz);
            }
            json_object_put(body);
            free(raw);
        }
        if (rc != EXIT_OK && worst == EXIT_OK)
            worst = rc;
    }
    return g_cancel ? EXIT_INTERRUPTED : worst;
}

int cmd_purge(struct ctl *c)
{
    struct dcv_proto_args a;
    json_object *body, *jobs, *skipped;
    char *raw, sz[32];
    int rc;

    ctl_args_init(&a);
    if (ctl_parse_when(c->o->done_before, dcv_now_unix_ms(), &a.before_ms) < 0 || a.before_ms <= 0)
        return ctl_usage_error("--done-before: expected a duration such as 7d or 12h (ended "
                               "longer ago than that) or a date YYYY-MM-DD[THH:MM[:SS]][Z], "
                               "got '%s'", c->o->done_before);
    a.dry_run = c->o->dry_run;
    if ((rc = ctl_call(c, DCV_VERB_PURGE, &a, NULL, &body, &raw)) != EXIT_OK)
        return rc;
    if (c->o->json) {
        ctl_print_raw(raw);
    } else {
        jobs = dcv_json_get(body, "jobs", json_type_array);
        if (a.dry_run && jobs && json_object_array_length(jobs)) {
            static const char *const h[] = {"ID", "STATE", "ENDED", "SIZE", "NAME"};
            struct dcv_table t;
            if (dcv_table_init(&t, 5, h, 1u << 3) == 0) {
                for (size_t i = 0; i < json_object_array_length(jobs); i++) {
                    json_object *j = json_object_array_get_idx(jobs, i);
                    char ended[32];
                    const char *row[5] = {dcv_json_str(j, "job_id", "?"), dcv_json_str(j, "state", "?"), ended,
                                          sz, dcv_json_str(j, "name", "")};
                    dcv_fmt_time(ended, sizeof ended, dcv_json_int(j, "ended_ms", 0));
                    dcv_fmt_bytes(sz, sizeof sz, dcv_json_int(j, "bytes", 0));
                    dcv_table_add(&t, row);
                }
                dcv_table_print(&t, stdout);
                dcv_table_free(&t);
            }
        }
        skipped = dcv_json_get(body, "skipped", json_type_array);
        for (size_t i = 0; skipped && i < json_object_array_length(skipped); i++)
            ctl_errorf("not removed: %s", dcv_json_str(json_object_array_get_idx(skipped, i), "error", "?"));
        dcv_fmt_bytes(sz, sizeof sz, dcv_json_int(body, "bytes", 0));
        if (!c->o->quiet || !a.dry_run)
            printf("%s %lld job(s), %s%s\n", a.dry_run ? "would remove" : "removed",
                   (long long)dcv_json_int(body, "count", 0), sz, a.dry_run ? "" : " freed");
        if (skipped && json_object_array_length(skipped))
            rc = EXIT_FAILED;
    }
    json_object_put(body);
    free(raw);
    return rc;
}

static void show_usage(json_object *st, const char *key, const char *label)
{
    json_object *o = dcv_json_get(st, key, json_type_object);
    char sz[32], buf[96];
    if (!o)
        return;
    dcv_fmt_bytes(sz, sizeof sz, dcv_json_int(o, "bytes", 0));
    snprintf(buf, sizeof buf, "%lld file(s), %s", (long long)dcv_json_int(o, "count", 0), sz);
    show_kv(label, buf);
}

int cmd_info(struct ctl *c)
{
    struct dcv_proto_args a;
    json_object *b, *st, *fs;
    char *raw, buf[512], f1[32], f2[32];
    int rc;

    ctl_args_init(&a);
    if ((rc = ctl_call(c, DCV_VERB_INFO, &a, NULL, &b, &raw)) != EXIT_OK)
        return rc;
    if (c->o->json)
        ctl_print_raw(raw);
    else {
        show_kv("admin", c->endpoint);
        show_kv("data", dcv_json_str(b, "data_endpoint", "-"));
        show_kv("version", dcv_json_str(b, "version", "-"));
        show_kv("epoch", dcv_json_str(b, "coordinator_epoch", "-"));
        if (dcv_json_str(b, "http_url", NULL))
            show_kv("http", dcv_json_str(b, "http_url", ""));
        if ((st = dcv_json_get(b, "storage", json_type_object))) {
            show_usage(st, "inputs", "inputs");
            show_usage(st, "outputs", "outputs");
            show_usage(st, "parts", "partial");
            snprintf(buf, sizeof buf, "inputs %s after their last job ended; outputs %s after "
                     "the job ended%s", dcv_json_str(st, "keep_inputs", "?"), dcv_json_str(st, "keep_outputs", "?"),
                     dcv_json_bool(st, "keep_outputs_until_downloaded")
                         ? " and the first download (never before it)" : "");
            show_kv("retention", buf);
            if ((fs = dcv_json_get(st, "filesystem", json_type_object))) {
                dcv_fmt_bytes(f1, sizeof f1, dcv_json_int(fs, "free_bytes", -1));
                dcv_fmt_bytes(f2, sizeof f2, dcv_json_int(fs, "size_bytes", -1));
                snprintf(buf, sizeof buf, "%s free of %s (%s)", f1, f2, dcv_json_str(fs, "path", "?"));
                show_kv("disk", buf);
            }
        }
    }
    json_object_put(b);
    free(raw);
    return EXIT_OK;
}

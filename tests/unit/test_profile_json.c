/*
 * The profile's two shared formats: the option table both programs build
 * their command lines from (dcv_profile_option) and the job messages'
 * profile object (dcv_profile_from_json).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profile.h"
#include "profile_json.h"
#include "tap.h"

static void test_options(void)
{
    /* distconvd --transcode took these before the table was shared. */
    static const char *const transcode[] = {
        "codec", "encoder", "crf", "qp", "bitrate", "preset", "max-height", "bit-depth", "gop",
        "audio", "audio-bitrate", "subtitles", "container", "start", "duration", "threads",
    };
    static const char *const jobs_only[] = {
        "skip-if-target-met", "keep-original-if-larger", "verify-tolerance", "gpu-policy",
        "gpu-wait",
    };
    struct dcv_profile p;
    const char *name;
    unsigned flags, seen_t = 0, seen_j = 0;
    size_t i, bad_flag = 0, unknown = 0;

    dcv_profile_defaults(&p);
    for (i = 0; (name = dcv_profile_option(i, &flags)); i++) {
        char err[256];
        if (dcv_profile_set(&p, name, NULL, err, sizeof err) == -ENOENT)
            unknown++;
        if (!!(flags & DCV_PROFILE_OPT_BOOL) != dcv_profile_opt_is_flag(name))
            bad_flag++;
        for (size_t k = 0; k < sizeof transcode / sizeof transcode[0]; k++)
            if (!strcmp(name, transcode[k]) && !(flags & DCV_PROFILE_OPT_JOB))
                seen_t |= 1u << k;
        for (size_t k = 0; k < sizeof jobs_only / sizeof jobs_only[0]; k++)
            if (!strcmp(name, jobs_only[k]) && (flags & DCV_PROFILE_OPT_JOB))
                seen_j |= 1u << k;
    }
    TAP_OK(i >= 21 && i <= DCV_PROFILE_OPTS_MAX, "the table has every option (%zu), within the "
           "callers' table size", i);
    TAP_IS_INT((int)unknown, 0, "dcv_profile_set knows every name in the table");
    TAP_IS_INT((int)bad_flag, 0, "the boolean flag marks exactly the boolean options");
    TAP_IS_INT((int)seen_t, (1 << 16) - 1, "the 16 options of --transcode, none jobs-only");
    TAP_IS_INT((int)seen_j, (1 << 5) - 1, "library rules and GPU sessions are jobs-only");
    TAP_OK(dcv_profile_option(i, NULL) == NULL && dcv_profile_option(i + 100, &flags) == NULL,
           "NULL past the last option");
}

static void test_from_json(void)
{
    struct dcv_profile p;
    char err[512];
    int r;

    r = dcv_profile_from_json(&p, "{\"codec\":\"hevc\",\"crf\":24.5,\"gop\":48,"
                                  "\"skip-if-target-met\":true}", err, sizeof err);
    TAP_IS_INT(r, 0, "strings, numbers and booleans apply");
    TAP_IS_STR(p.codec, "hevc", "codec from a string");
    TAP_OK(p.quality == 24.5 && p.gop == 48 && p.skip_if_target_met == 1,
           "crf from a double, gop from an integer, a boolean rule");

    r = dcv_profile_from_json(&p, "{}", err, sizeof err);
    TAP_OK(r == 0 && p.quality == 23, "an empty object: defaults, resolved (h264 crf 23)");

    r = dcv_profile_from_json(&p, "[]", err, sizeof err);
    TAP_IS_INT(r, -EBADMSG, "an array is not a profile");
    TAP_HAS_STR(err, "expected a JSON object", "... and says so");
    TAP_IS_INT(dcv_profile_from_json(&p, NULL, err, sizeof err), -EBADMSG, "NULL is not either");
    TAP_IS_INT(dcv_profile_from_json(&p, "{\"crf\":", err, sizeof err), -EBADMSG,
               "truncated JSON is not either");

    r = dcv_profile_from_json(&p, "{\"codec\":\"h264\",\"nope\":1}", err, sizeof err);
    TAP_IS_INT(r, -ENOENT, "an unknown key");
    TAP_IS_STR(err, "profile.nope: not a profile option", "... is named");

    r = dcv_profile_from_json(&p, "{\"crf\":[23]}", err, sizeof err);
    TAP_IS_INT(r, -EINVAL, "a value that is not a scalar");
    TAP_IS_STR(err, "profile.crf: expected a string, number or boolean", "... is named");

    r = dcv_profile_from_json(&p, "{\"crf\":\"2O\"}", err, sizeof err);
    TAP_IS_INT(r, -EINVAL, "a value dcv_profile_set refuses");
    TAP_HAS_STR(err, "--crf: expected", "... with its message");
}

/* docs/protocol.md section 3.8 is the profile object's whole list (a worker
 * is written from it): every option the table knows is a row there, and
 * every row is an option. The first cell of a row names one key or several
 * separated by ", ". */
static void test_protocol_doc(void)
{
    const char *top = getenv("DCV_TOP_SRCDIR");
    char path[4096], line[2048], doc_keys[4096] = ",";
    int in = 0, missing = 0, extra = 0;
    unsigned flags;
    FILE *f;

    snprintf(path, sizeof path, "%s/docs/protocol.md", top ? top : "..");
    if (!(f = fopen(path, "r"))) {
        tap_ok(0, "cannot read %s", path);
        return;
    }
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "### ", 4) == 0 || strncmp(line, "## ", 3) == 0)
            in = strstr(line, "The profile object") != NULL;
        if (!in || strncmp(line, "| ", 2) != 0 || strncmp(line, "| key |", 7) == 0)
            continue;
        char *end = strstr(line + 2, " |");
        if (!end)
            continue;
        *end = '\0';
        for (char *k = strtok(line + 2, ", "); k; k = strtok(NULL, ", ")) {
            if (strspn(k, "-") == strlen(k))
                continue;
            int known = 0;
            for (size_t i = 0; dcv_profile_option(i, NULL); i++)
                known |= strcmp(dcv_profile_option(i, NULL), k) == 0;
            if (!known && !extra++)
                tap_diag("protocol.md 3.8 names '%s', which is no profile option", k);
            strncat(doc_keys, k, sizeof doc_keys - strlen(doc_keys) - 2);
            strcat(doc_keys, ",");
        }
    }
    fclose(f);
    for (size_t i = 0; dcv_profile_option(i, &flags); i++) {
        char want[64];
        snprintf(want, sizeof want, ",%s,", dcv_profile_option(i, NULL));
        if (!strstr(doc_keys, want) && !missing++)
            tap_diag("option '%s' is not in protocol.md 3.8", dcv_profile_option(i, NULL));
    }
    TAP_OK(doc_keys[1] != '\0', "protocol.md has the profile object table");
    TAP_IS_INT(missing, 0, "every profile option is documented in protocol.md 3.8");
    TAP_IS_INT(extra, 0, "protocol.md 3.8 documents no option that does not exist");
}

int main(void)
{
    test_options();
    test_from_json();
    test_protocol_doc();
    return tap_done();
}

/*
 * A main() for a fuzz harness without libFuzzer (fuzz.h): the TAP test
 * tests/fuzz/test_fuzz_<name> that every build runs in `make check`.
 *
 *   test_fuzz_<name>            run the seed corpus, then mutations
 *   test_fuzz_<name> FILE...    run these inputs once (reproduce a crash
 *                               that a libFuzzer run saved, with gcc)
 *
 * Seeds are the files of tests/fuzz/corpus/<name>: one ending in .hex holds the
 * input as hex digits (whitespace and '#' comments ignored), any other
 * file is the input itself. A seed named ok-* must be accepted and one
 * named bad-* refused, so the corpus doubles as a table of cases.
 *
 * Mutations are pseudo-random but deterministic (a fixed seed per
 * harness): DCV_FUZZ_ITERS of them (default 20000) so a failure in CI
 * reproduces locally with the same build. Each takes one to four edits of
 * a seed: bit flips, interesting bytes, deletions, duplications, splices
 * with another seed, JSON and UTF-8 tokens that decoders get wrong (huge
 * numbers, NUL escapes, surrogates, overlong forms, deep nesting).
 */
#include "fuzz.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"

#ifndef FZ_NAME
#error "compile with -DFZ_NAME=\"name\""
#endif

#define FZ_MAX_INPUT (256u * 1024u + 64u)
#define MAX_SEEDS 256

struct seed {
    char name[128];
    uint8_t *data;
    size_t len;
};

static struct seed seeds[MAX_SEEDS];
static size_t n_seeds;

/* What is running now, for the failure report. */
static const uint8_t *cur_data;
static size_t cur_len;
static char cur_what[192];

static void dump_current(void)
{
    char path[256];
    FILE *f;

    fprintf(stderr, "# the last input run (%s), %zu bytes:\n#", cur_what, cur_len);
    for (size_t i = 0; i < cur_len && i < 4096; i++)
        fprintf(stderr, "%s%02x", i && i % 32 == 0 ? "\n#" : "", cur_data[i]);
    fputc('\n', stderr);
    /* The whole input, for `test_fuzz_<name> FILE` or a libFuzzer run. */
    snprintf(path, sizeof path, "fuzz-crash-%s.bin", FZ_NAME);
    if ((f = fopen(path, "wb"))) {
        fwrite(cur_data, 1, cur_len, f);
        fclose(f);
        fprintf(stderr, "# saved as %s (in the test's working directory)\n", path);
    }
    fflush(stderr);
}

/* Sanitizer reports end the process before fz_fail could: ask the
 * runtime to call us first (weak: absent in a plain build). */
void __sanitizer_set_death_callback(void (*cb)(void)) __attribute__((weak));

static uint64_t rng_state;

static uint64_t rnd(void)
{
    /* xorshift64*: small, fast, and the same on every platform */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

static size_t below(size_t n)
{
    return n ? (size_t)(rnd() % n) : 0;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Read a seed or input file; .hex files are decoded. NULL on error. */
static uint8_t *read_input(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = malloc(FZ_MAX_INPUT);
    size_t n = 0;

    if (!f || !buf) {
        if (f)
            fclose(f);
        free(buf);
        return NULL;
    }
    n = fread(buf, 1, FZ_MAX_INPUT, f);
    fclose(f);
    size_t pl = strlen(path);
    if (pl > 4 && strcmp(path + pl - 4, ".hex") == 0) {
        size_t o = 0;
        int hi = -1, comment = 0;
        for (size_t i = 0; i < n; i++) {
            int c = buf[i], v;
            if (c == '#')
                comment = 1;
            if (c == '\n')
                comment = 0;
            if (comment || (v = hexval(c)) < 0)
                continue;
            if (hi < 0) {
                hi = v;
            } else {
                buf[o++] = (uint8_t)(hi << 4 | v);
                hi = -1;
            }
        }
        n = o;
    }
    *len = n;
    return buf;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct seed *)a)->name, ((const struct seed *)b)->name);
}

static void load_seeds(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;

    if (!d)
        tap_bail("cannot open the seed corpus %s: %s", dir, strerror(errno));
    while ((e = readdir(d)) && n_seeds < MAX_SEEDS) {
        char path[4096];
        struct seed *s = &seeds[n_seeds];
        if (e->d_name[0] == '.' || strlen(e->d_name) >= sizeof s->name)
            continue;
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= sizeof path)
            continue;
        if (!(s->data = read_input(path, &s->len)))
            tap_bail("cannot read seed %s", path);
        snprintf(s->name, sizeof s->name, "%.*s", (int)sizeof s->name - 1, e->d_name);
        n_seeds++;
    }
    closedir(d);
    qsort(seeds, n_seeds, sizeof seeds[0], by_name);
}

static int run(const uint8_t *data, size_t len, const char *what)
{
    cur_data = data;
    cur_len = len;
    snprintf(cur_what, sizeof cur_what, "%.*s", (int)sizeof cur_what - 1, what);
    return fz_one(data, len);
}

static const char *const tokens[] = {
    "null", "true", "false", "0", "-0", "-1", "1.5", "1e308", "1e999", "-1e999", "4096",
    "9007199254740992", "9007199254740993", "18446744073709551616", "2147483648",
    "-9223372036854775808", "0.000001", "NaN", "Infinity",
    "\"\"", "\"a\"", "\"\\u0000\"", "\\u0000", "\\ud800", "\\udfff", "\\ud83d\\ude00", "\\u00e9",
    "\xc0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xff", "\xe2\x82", "\x01", "\x7f", "\t",
    "[[[[[[[[[[[[[[[[[[[[", "{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":",
    "]]]]]]]]]]", "}}}}}}}}}}", "{}", "[]", ",", ":", "\"x\":1,", ",\"y\":[]",
    "/..", "../", "/", "tcp://", "://", "upload", "input", "output", "download", "path", "xfer",
    "submit", "status", "ok", "busy", "stale", "\"job_id\":", "\"attempt\":", "\"session\":",
    "\"xfer_id\":", "\"size\":", "\"sha256\":", "\"profile\":", "\"args\":",
    "0123456789abcdef0123456789abcdef",
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
};
static const uint8_t interesting[] = {0x00, 0x01, 0x7f, 0x80, 0xff, '"', '{', '}', '[', ']',
                                      ',', ':', '\\', '0', '9', '-', 'e', '.', ' ', '\n'};

/* One edit of buf (len in, out), never past FZ_MAX_INPUT. */
static size_t mutate(uint8_t *buf, size_t len)
{
    size_t a, b, n;

    switch (rnd() % 9) {
    case 0: /* flip a bit */
        if (len)
            buf[below(len)] ^= (uint8_t)(1u << below(8));
        return len;
    case 1: /* random byte */
        if (len)
            buf[below(len)] = (uint8_t)rnd();
        return len;
    case 2: /* interesting byte */
        if (len)
            buf[below(len)] = interesting[below(sizeof interesting)];
        return len;
    case 3: /* delete a range */
        if (!len)
            return 0;
        a = below(len);
        n = 1 + below(len - a < 16 ? len - a : 16);
        memmove(buf + a, buf + a + n, len - a - n);
        return len - n;
    case 4: /* duplicate a range */
        if (!len)
            return 0;
        a = below(len);
        n = 1 + below(len - a);
        if (len + n > FZ_MAX_INPUT)
            return len;
        {
            static uint8_t tmp[FZ_MAX_INPUT];
            memcpy(tmp, buf + a, n); /* the range may straddle the insertion point */
            b = below(len + 1);
            memmove(buf + b + n, buf + b, len - b);
            memcpy(buf + b, tmp, n);
        }
        return len + n;
    case 5: { /* insert or overwrite with a token */
        const char *t = tokens[below(sizeof tokens / sizeof tokens[0])];
        n = strlen(t);
        if (len + n > FZ_MAX_INPUT)
            return len;
        b = below(len + 1);
        if (rnd() & 1) {
            memmove(buf + b + n, buf + b, len - b);
            memcpy(buf + b, t, n);
            return len + n;
        }
        if (b + n > len)
            n = len - b;
        memcpy(buf + b, t, n);
        return len;
    }
    case 6: { /* splice: our prefix, another seed's suffix */
        const struct seed *o = &seeds[below(n_seeds)];
        a = below(len + 1);
        b = below(o->len + 1);
        n = o->len - b;
        if (a + n > FZ_MAX_INPUT)
            n = FZ_MAX_INPUT - a;
        memcpy(buf + a, o->data + b, n);
        return a + n;
    }
    case 7: /* truncate */
        return below(len + 1);
    default: /* a digit run becomes a boundary number */
        for (a = below(len + 1); a < len && !(buf[a] >= '0' && buf[a] <= '9'); a++)
            ;
        if (a >= len)
            return len;
        for (b = a; b < len && buf[b] >= '0' && buf[b] <= '9'; b++)
            ;
        {
            static const char *const nums[] = {"0", "1", "4095", "65536", "1000", "1001",
                                               "9007199254740992", "9007199254740993",
                                               "99999999999999999999", "4294967296"};
            const char *t = nums[below(sizeof nums / sizeof nums[0])];
            n = strlen(t);
            if (len - (b - a) + n > FZ_MAX_INPUT)
                return len;
            memmove(buf + a + n, buf + b, len - b);
            memcpy(buf + a, t, n);
            return len - (b - a) + n;
        }
    }
}

int main(int argc, char **argv)
{
    const char *src = getenv("DCV_TOP_SRCDIR");
    const char *it = getenv("DCV_FUZZ_ITERS");
    long iters = it ? strtol(it, NULL, 10) : 20000;
    char dir[4096];
    uint8_t *buf;
    long accepted = 0;

    fz_fail_hook = dump_current;
    if (__sanitizer_set_death_callback)
        __sanitizer_set_death_callback(dump_current);

    if (argc > 1) { /* reproduce */
        for (int i = 1; i < argc; i++) {
            size_t len;
            uint8_t *d = read_input(argv[i], &len);
            if (!d)
                tap_bail("cannot read %s", argv[i]);
            int r = run(d, len, argv[i]);
            tap_ok(1, "%s: %zu bytes, %s", argv[i], len, r ? "accepted" : "refused");
            free(d);
        }
        return tap_done();
    }

    snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus/%s", src ? src : ".", FZ_NAME);
    load_seeds(dir);
    if (!tap_ok(n_seeds > 0, "%s: %zu seeds in %s", FZ_NAME, n_seeds, dir))
        return tap_done();
    for (size_t i = 0; i < n_seeds; i++) {
        int r = run(seeds[i].data, seeds[i].len, seeds[i].name);
        if (strncmp(seeds[i].name, "ok-", 3) == 0)
            tap_ok(r == 1, "seed %s is accepted", seeds[i].name);
        else if (strncmp(seeds[i].name, "bad-", 4) == 0)
            tap_ok(r == 0, "seed %s is refused", seeds[i].name);
        else
            tap_ok(1, "seed %s runs (%s)", seeds[i].name, r ? "accepted" : "refused");
    }

    if (!(buf = malloc(FZ_MAX_INPUT)))
        tap_bail("out of memory");
    rng_state = 0x9E3779B97F4A7C15ULL;
    for (const char *p = FZ_NAME; *p; p++)
        rng_state = (rng_state ^ (uint8_t)*p) * 0x100000001B3ULL;
    for (long i = 0; i < iters; i++) {
        const struct seed *s = &seeds[below(n_seeds)];
        size_t len = s->len;
        char what[192];
        memcpy(buf, s->data, len);
        for (int k = 0, edits = 1 + (int)below(4); k < edits; k++)
            len = mutate(buf, len);
        snprintf(what, sizeof what, "mutation %ld of seed %.127s", i, s->name);
        accepted += run(buf, len, what);
    }
    free(buf);
    tap_ok(1, "%ld mutations ran without a crash or a broken property", iters);
    /* A mutator that never produces a valid message tests only the first
     * check of each decoder. */
    if (!tap_ok(iters == 0 || accepted > 0, "%ld of them were accepted", accepted))
        tap_diag("no mutation was accepted: the seeds or the mutator need a look");
    for (size_t i = 0; i < n_seeds; i++)
        free(seeds[i].data);
    return tap_done();
}

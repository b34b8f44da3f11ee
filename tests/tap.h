/*
 * Minimal TAP producer for the C tests. Each check prints "ok N - name" or
 * "not ok N - name" with a diagnostic; tap_done() prints the plan and
 * returns the exit status (0 when every check passed).
 */
#ifndef DCV_TAP_H
#define DCV_TAP_H

#include <stdarg.h>
#include <stddef.h>

int tap_ok(int cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tap_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void tap_skip(const char *why, const char *name);
int tap_done(void);
/* Abort the whole test with "Bail out!" (setup failed). */
void tap_bail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* A private directory $TMPDIR/dcv-<tag>-XXXXXX (TMPDIR unset or empty:
 * /tmp) made with mkdtemp into buf; bails out on failure. Returns buf. */
char *tap_mkdtemp(char *buf, size_t size, const char *tag);

#define TAP_OK(cond, ...) tap_ok(!!(cond), __VA_ARGS__)
#define TAP_IS_INT(got, want, name)                                                  \
    do {                                                                             \
        long long got_ = (long long)(got), want_ = (long long)(want);                \
        if (!tap_ok(got_ == want_, "%s", name))                                      \
            tap_diag("  got %lld, expected %lld (%s:%d)", got_, want_, __FILE__, __LINE__); \
    } while (0)
#define TAP_IS_STR(got, want, name)                                                  \
    do {                                                                             \
        const char *got_ = (got), *want_ = (want);                                   \
        int eq_ = got_ && want_ ? strcmp(got_, want_) == 0 : got_ == want_;          \
        if (!tap_ok(eq_, "%s", name))                                                \
            tap_diag("  got '%s', expected '%s' (%s:%d)", got_ ? got_ : "(null)",   \
                     want_ ? want_ : "(null)", __FILE__, __LINE__);                 \
    } while (0)
/* substring check, for error messages */
#define TAP_HAS_STR(hay, needle, name)                                               \
    do {                                                                             \
        const char *hay_ = (hay), *needle_ = (needle);                               \
        if (!tap_ok(hay_ && strstr(hay_, needle_) != NULL, "%s", name))              \
            tap_diag("  '%s' does not contain '%s' (%s:%d)", hay_ ? hay_ : "(null)", \
                     needle_, __FILE__, __LINE__);                                   \
    } while (0)

#endif

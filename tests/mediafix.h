/*
 * Generated-media fixtures for the C tests: one private temporary directory
 * per test program, paths in it, shell commands, and clips made by the
 * ffmpeg CLI from lavfi sources (DCV_FFMPEG / DCV_FFPROBE name other
 * binaries). Shared so every media test makes its fixtures the same way.
 */
#ifndef DCV_TESTS_MEDIAFIX_H
#define DCV_TESTS_MEDIAFIX_H

/* Make $TMPDIR/dcv-<tag>-XXXXXX (TAP bail-out on failure). */
void mf_init(const char *tag);

/* Remove the directory, unless DCV_KEEP_TMP is set (then say where it is). */
void mf_cleanup(void);

const char *mf_dir(void);
const char *mf_ffmpeg(void);
const char *mf_ffprobe(void);

/* mf_dir()/name; a ring of 8 buffers, so up to 8 may be used at once. */
const char *mf_path(const char *name);

/* system() of a formatted command; a failure is reported with tap_diag. */
int mf_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ffmpeg with the common quiet flags, in mf_dir(): `args` then the output
 * `out` (relative to mf_dir() or absolute). TAP bail-out on failure. */
void mf_make_clip(const char *out, const char *args);

#endif

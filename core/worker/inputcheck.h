/*
 * The job process's check that a path input (JOB.input kind path, read
 * through this worker's path map) is the file the coordinator recorded at
 * submit: a stale or different mount must fail the attempt, not encode
 * another file under the same name (docs/protocol.md §3.4).
 */
#ifndef DCV_WORKER_INPUTCHECK_H
#define DCV_WORKER_INPUTCHECK_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

/* What the coordinator recorded; unknown parts are not checked. */
struct dcv_input_expect {
    const char *coord_path; /* its path on the coordinator, for the message */
    int64_t size;           /* bytes; -1 unknown */
    int64_t mtime;          /* seconds since the epoch; 0 unknown */
    const char *sha256;     /* 64 lower-case hex; NULL or "" unknown */
};

/*
 * Compare the file at `local` with `want`: size and modification time to
 * the second (network filesystems keep sub-second parts differently), then,
 * when both match and a digest is known, its SHA-256 (the whole file is
 * read; *cancel, when set, stops it).
 * 0: the same file, or nothing recorded to compare. -ESTALE: it differs,
 * err names both paths with their sizes and mtimes. -ECANCELED, or
 * another -errno with the reason in err (the file cannot be read).
 */
int dcv_input_check(const char *local, const struct dcv_input_expect *want,
                    volatile sig_atomic_t *cancel, char *err, size_t errlen);

#endif

/*
 * Who may talk to this distconv process (docs/security.md): key files, the
 * allow-lists of enrolled workers and admins, roles, and the policy the
 * transport's ZAP handler asks about every new connection.
 *
 * Identity model. A peer's identity is the ZAP user id its connection got:
 *   - CURVE: NAME of the allow-list file NAME.pub holding its public key
 *     (workers.d: role worker; admins.d: role operator unless the file
 *     says `role = submitter` or `role = viewer`). The coordinator's own key is always
 *     enrolled as the coordinator's `name` with every role (a standalone
 *     daemon's local worker, a CLI run with the coordinator's key).
 *   - token mode (PLAIN): the user name the peer sent, once its password
 *     equals the shared token; every such peer is worker + operator.
 *   - ipc admin socket (NULL mechanism): "unix:LOGIN" (or "unix:UID") from
 *     the peer's SO_PEERCRED uid: root and the daemon's own uid are
 *     operators, members of ipc_operator_group / ipc_submitter_group
 *     operators / submitters, everybody else is refused.
 * A message without a user id came over a socket that authenticates
 * nobody (security.mode = none, or an ipc control/data socket guarded by
 * file permissions): dcv_auth_role() trusts it fully.
 *
 * Threading: dcv_auth_authorize() runs on the transport's security thread
 * while the daemon's loop thread reloads and looks up; the allow-list is
 * swapped under a mutex, so a reload is atomic for every reader.
 */
#ifndef DCV_AUTH_H
#define DCV_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "distconv/plugin.h"

struct dcv_settings;

/* Roles, a bit mask. */
#define DCV_AUTH_WORKER 1
#define DCV_AUTH_SUBMITTER 2
#define DCV_AUTH_OPERATOR 4
#define DCV_AUTH_VIEWER 8 /* reads everything, changes nothing (perm.h) */
#define DCV_AUTH_ALL (DCV_AUTH_WORKER | DCV_AUTH_SUBMITTER | DCV_AUTH_OPERATOR | DCV_AUTH_VIEWER)
/* The roles a person (not a worker) may have: admins.d, API tokens. */
#define DCV_AUTH_PEOPLE (DCV_AUTH_VIEWER | DCV_AUTH_SUBMITTER | DCV_AUTH_OPERATOR)

/* ZAP domains, one per plane: a key enrolled only in admins.d must not
 * speak on the worker control plane and vice versa. */
#define DCV_AUTH_DOMAIN_CONTROL "dcv-control"
#define DCV_AUTH_DOMAIN_DATA "dcv-data"
#define DCV_AUTH_DOMAIN_ADMIN "dcv-admin"

#define DCV_AUTH_NAME_MAX 64 /* bytes of an allow-list NAME, NUL included */

/* The highest role of a mask, for messages: "operator", "submitter",
 * "viewer", "worker", or "nobody". */
const char *dcv_auth_role_name(int roles);
/* "worker", "viewer", "submitter", "operator" -> its bit; 0 otherwise. */
int dcv_auth_role_parse(const char *name);

/* Default file under the configuration directory (the directory of the
 * default distconvd.conf, /etc/distconv for a distribution): "keys/x.key"
 * -> "/etc/distconv/keys/x.key". -ENAMETOOLONG when out is too small. */
int dcv_auth_default_path(const char *leaf, char *out, size_t len);

/*
 * Read a key file: the first line that is neither empty nor a comment
 * ('#') holds a 40-character Z85 key. secret != 0 additionally refuses a
 * file that group or others may access (ssh's rule: a readable secret key
 * is a leaked one). Errors name the file (and line): "FILE:3: expected a
 * 40-character Z85 key".
 */
int dcv_auth_read_key(const char *path, int secret, char out[DCV_TX_KEY_LEN + 1], char *err,
                      size_t errlen);
/* The shared token of token mode: first non-comment line, 16..255 bytes
 * without blanks; same permission rule as a secret key. */
int dcv_auth_read_token(const char *path, char *out, size_t outlen, char *err, size_t errlen);
/* Write NAME.key (0600, exclusive create) and NAME.pub (0644) into dir. */
int dcv_auth_write_keys(const char *dir, const char *name, const char *pub, const char *sec,
                        char *err, size_t errlen);
/* A valid allow-list / user NAME: 1..63 of [A-Za-z0-9._-], not starting
 * with '.' or '-'. */
int dcv_auth_valid_name(const char *name);

/* ---- allow-lists ---------------------------------------------------------- */

struct dcv_allow_entry {
    char name[DCV_AUTH_NAME_MAX];
    char key[DCV_TX_KEY_LEN + 1];
    int roles;
};

struct dcv_allow {
    size_t n;
    struct dcv_allow_entry *v;
};

/*
 * Parse one NAME.pub file: its key, and an optional `role = worker |
 * submitter | operator` line. default_role is the directory's (worker for
 * workers.d, operator for admins.d); allowed is the mask of roles a line may
 * name there. Errors: "FILE:LINE: ...".
 */
int dcv_allow_parse_file(const char *path, int default_role, int allowed,
                         struct dcv_allow_entry *out, char *err, size_t errlen);
/*
 * Build the allow-list from the two directories. A bad or duplicate file
 * is logged (file:line) and skipped; a directory that does not exist is
 * empty (logged). A directory that exists but cannot be read fails the
 * whole load: -errno with the reason, so a reload keeps the old list.
 */
int dcv_allow_load(const char *workers_dir, const char *admins_dir, struct dcv_allow **out,
                   char *err, size_t errlen);
void dcv_allow_free(struct dcv_allow **a);

/* ---- the policy ------------------------------------------------------------ */

struct dcv_auth;

/* mode: the value of security.mode (enum dcv_sec_mode in config.h).
 * own_key: the coordinator's public key ("" none) enrolled as own_name. */
int dcv_auth_new(const struct dcv_settings *s, const char *own_name, const char *own_key,
                 struct dcv_auth **out, char *err, size_t errlen);
void dcv_auth_free(struct dcv_auth **a);

/* SIGHUP: read the allow-lists (and the token) again and swap them in.
 * On failure the old ones stay and err says why. */
int dcv_auth_reload(struct dcv_auth *a, char *err, size_t errlen);
/* Entries in the current list, for logs. */
size_t dcv_auth_count(struct dcv_auth *a);

/* The transport's authorize callback (struct dcv_tx_config.authorize);
 * auth_ctx is the struct dcv_auth. 200 admit, 400 refuse, 500 error. */
int dcv_auth_authorize(void *auth_ctx, const struct dcv_tx_auth_req *req, char *user_id,
                       size_t user_id_len, char *reason, size_t reason_len);

/* The roles a message's user id has now (after reloads): 0 when it is no
 * longer enrolled; DCV_AUTH_ALL for "" (see above). peer_uid: the ipc
 * peer's uid for "unix:" ids (-1 unknown). a may be NULL: no policy, full
 * trust (security.mode = none). */
int dcv_auth_role(struct dcv_auth *a, const char *user_id, int64_t peer_uid);

#endif

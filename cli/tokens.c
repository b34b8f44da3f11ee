/*
 * distconvctl token create|list|revoke: the HTTP API's tokens (docs/api.md
 * "Authentication"). The coordinator makes the secret and keeps only its
 * hash, so `create` is the one time anyone sees it: it goes to stdout
 * alone (for `T=$(distconvctl -q token create ...)`), the advice to stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "ctl.h"
#include "ui.h"

static int token_create(struct ctl *c, struct dcv_proto_args *a)
{
    json_object *body;
    char *raw;
    int rc;

    if (!c->o->key_name || !c->o->role)
        return ctl_usage_error("token create: --name NAME and --role viewer|submitter|operator "
                               "are required");
    snprintf(a->token_name, sizeof a->token_name, "%s", c->o->key_name);
    a->role = !strcmp(c->o->role, "viewer") ? DCV_ROLE_VIEWER
              : !strcmp(c->o->role, "submitter") ? DCV_ROLE_SUBMITTER
                                                 : DCV_ROLE_OPERATOR;
    if ((rc = ctl_call(c, DCV_VERB_TOKEN_CREATE, a, NULL, &body, &raw)) != EXIT_OK)
        return rc;
    if (c->o->json) {
        ctl_print_raw(raw);
    } else {
        printf("%s\n", dcv_json_str(body, "token", ""));
        if (!c->o->quiet)
            fprintf(stderr,
                    "%s: token %s (%s) created; keep it now, it is not shown again.\n"
                    "%s: use it as `Authorization: Bearer TOKEN` or log in to the dashboard "
                    "with it.\n",
                    PROG, a->token_name, c->o->role, PROG);
    }
    json_object_put(body);
    free(raw);
    return EXIT_OK;
}

static int token_list(struct ctl *c, struct dcv_proto_args *a)
{
    static const char *const h[] = {"NAME", "ROLE", "CREATED", "BY", "LAST USED"};
    json_object *body, *arr;
    struct dcv_table t;
    char *raw;
    int rc;

    if ((rc = ctl_call(c, DCV_VERB_TOKEN_LIST, a, NULL, &body, &raw)) != EXIT_OK)
        return rc;
    if (c->o->json) {
        ctl_print_raw(raw);
    } else if ((arr = dcv_json_get(body, "tokens", json_type_array)) &&
               json_object_array_length(arr) && dcv_table_init(&t, 5, h, 0) == 0) {
        for (size_t i = 0; i < json_object_array_length(arr); i++) {
            json_object *e = json_object_array_get_idx(arr, i);
            char created[32], used[32];
            const char *row[5] = {dcv_json_str(e, "name", "?"), dcv_json_str(e, "role", "?"),
                                  created, dcv_json_str(e, "created_by", ""), used};
            dcv_fmt_time(created, sizeof created, dcv_json_int(e, "created_ms", 0));
            if (dcv_json_int(e, "last_used_ms", 0) > 0)
                dcv_fmt_time(used, sizeof used, dcv_json_int(e, "last_used_ms", 0));
            else
                snprintf(used, sizeof used, "never");
            dcv_table_add(&t, row);
        }
        dcv_table_print(&t, stdout);
        dcv_table_free(&t);
    } else if (!c->o->quiet) {
        printf("no API tokens: make one with `%s token create --name NAME --role ROLE`\n", PROG);
    }
    json_object_put(body);
    free(raw);
    return EXIT_OK;
}

static int token_revoke(struct ctl *c, struct dcv_proto_args *a)
{
    const char *name = c->o->nargs == 2 ? c->o->args[1] : c->o->key_name;
    json_object *body;
    char *raw;
    int rc;

    if (!name)
        return ctl_usage_error("token revoke: missing NAME");
    if (!dcv_auth_valid_name(name))
        return ctl_usage_error("token revoke: '%s' is not a token name", name);
    snprintf(a->token_name, sizeof a->token_name, "%s", name);
    if ((rc = ctl_call(c, DCV_VERB_TOKEN_REVOKE, a, NULL, &body, &raw)) != EXIT_OK)
        return rc;
    if (c->o->json)
        ctl_print_raw(raw);
    else if (!c->o->quiet)
        printf("token %s revoked\n", name);
    json_object_put(body);
    free(raw);
    return EXIT_OK;
}

int cmd_token(struct ctl *c)
{
    struct dcv_proto_args a;
    const char *sub = c->o->arg;

    ctl_args_init(&a);
    if (strcmp(sub, "revoke") != 0 && c->o->nargs > 1)
        return ctl_usage_error("token %s: unexpected argument '%s'", sub, c->o->args[1]);
    if (strcmp(sub, "create") == 0)
        return token_create(c, &a);
    if (strcmp(sub, "list") == 0)
        return token_list(c, &a);
    if (strcmp(sub, "revoke") == 0)
        return token_revoke(c, &a);
    return ctl_usage_error("token: expected create, list or revoke, got '%s'", sub);
}

/*
 * The permission table (docs/api.md "Roles and the permission table"):
 * what each role may do, for the zmq admin plane's verbs and the HTTP
 * plane's routes alike. Both name an action of this table instead of a
 * role mask of their own, so one change here changes both planes; an HTTP
 * route without an action does not start (httpd.c checks its table).
 */
#ifndef DCV_PERM_H
#define DCV_PERM_H

enum dcv_action {
    DCV_ACT_NONE = 0,         /* no entry: refused (a route must name one) */
    DCV_ACT_PUBLIC,           /* the dashboard's files, whoami, login, logout */
    DCV_ACT_INFO,             /* info, the cluster summary */
    DCV_ACT_JOBS_READ,        /* status, jobs (a submitter: its own) */
    DCV_ACT_JOBS_SUBMIT,      /* submit */
    DCV_ACT_JOBS_CONTROL,     /* cancel, retry (a submitter: its own) */
    DCV_ACT_JOBS_DOWNLOAD,    /* get (a submitter: its own) */
    DCV_ACT_WORKERS_READ,     /* workers, worker */
    DCV_ACT_WORKERS_CONTROL,  /* drain, undrain */
    DCV_ACT_STORAGE,          /* rm, purge */
    DCV_ACT_TOKENS,           /* token create, list, revoke */
    DCV_ACT_METRICS,          /* /metrics */
    DCV_ACT_EVENTS,           /* the event stream (a submitter: its own jobs) */
    DCV_ACT_COUNT
};

/* "jobs.read", ...; NULL out of range. */
const char *dcv_perm_name(enum dcv_action a);
/* The DCV_AUTH_* roles that may do a (0 for DCV_ACT_NONE). */
int dcv_perm_roles(enum dcv_action a);
/* 1 when someone with roles may do a. */
int dcv_perm_allows(int roles, enum dcv_action a);
/* 1 when roles reach only their own jobs for a: a submitter that is not
 * also an operator (or, for reading, a viewer). */
int dcv_perm_own_only(int roles, enum dcv_action a);

#endif

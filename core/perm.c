/* The permission table (perm.h). */
#include "perm.h"
#include "auth.h"

#define V DCV_AUTH_VIEWER
#define S DCV_AUTH_SUBMITTER
#define O DCV_AUTH_OPERATOR

static const struct {
    const char *name;
    int roles;
} table[DCV_ACT_COUNT] = {
    [DCV_ACT_NONE] = {"none", 0},
    [DCV_ACT_PUBLIC] = {"public", V | S | O},
    [DCV_ACT_INFO] = {"info", V | S | O},
    [DCV_ACT_JOBS_READ] = {"jobs.read", V | S | O},
    [DCV_ACT_JOBS_SUBMIT] = {"jobs.submit", S | O},
    [DCV_ACT_JOBS_CONTROL] = {"jobs.control", S | O},
    [DCV_ACT_JOBS_DOWNLOAD] = {"jobs.download", S | O},
    [DCV_ACT_WORKERS_READ] = {"workers.read", V | O},
    [DCV_ACT_WORKERS_CONTROL] = {"workers.control", O},
    [DCV_ACT_STORAGE] = {"storage", O},
    [DCV_ACT_TOKENS] = {"tokens", O},
    [DCV_ACT_METRICS] = {"metrics", V | O},
    [DCV_ACT_EVENTS] = {"events", V | S | O},
};

const char *dcv_perm_name(enum dcv_action a)
{
    return (unsigned)a < DCV_ACT_COUNT ? table[a].name : 0;
}

int dcv_perm_roles(enum dcv_action a)
{
    return (unsigned)a < DCV_ACT_COUNT ? table[a].roles : 0;
}

int dcv_perm_allows(int roles, enum dcv_action a)
{
    return a == DCV_ACT_PUBLIC || (roles & dcv_perm_roles(a)) != 0;
}

int dcv_perm_own_only(int roles, enum dcv_action a)
{
    int all = O;
    /* Reading (jobs, events) is a viewer's whole business: all jobs. */
    if (a == DCV_ACT_JOBS_READ || a == DCV_ACT_EVENTS)
        all |= V;
    return (roles & S) && !(roles & all);
}

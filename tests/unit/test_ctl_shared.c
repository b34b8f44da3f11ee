/*
 * What distconvctl takes from the core instead of keeping its own copy:
 * the data endpoint as a client reaches it (net.c) and the job state
 * names the admin plane uses (jobstate.c).
 */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "coordinator/jobstate.h"
#include "net.h"
#include "tap.h"

static void test_endpoint(void)
{
    char out[64];

    TAP_IS_INT(dcv_endpoint_for_peer("tcp://*:7401", "ipc:///run/distconv/admin.sock", out,
                                     sizeof out), 0, "wildcard over ipc");
    TAP_IS_STR(out, "tcp://127.0.0.1:7401", "... is this machine");
    dcv_endpoint_for_peer("tcp://0.0.0.0:7401", "ipc:///a.sock", out, sizeof out);
    TAP_IS_STR(out, "tcp://127.0.0.1:7401", "0.0.0.0 over ipc is this machine too");
    dcv_endpoint_for_peer("tcp://10.0.0.5:7401", "ipc:///a.sock", out, sizeof out);
    TAP_IS_STR(out, "tcp://10.0.0.5:7401", "a named host over ipc is kept");
    dcv_endpoint_for_peer("tcp://*:7401", "tcp://coord.lan:7400", out, sizeof out);
    TAP_IS_STR(out, "tcp://coord.lan:7401", "over tcp the wildcard is the admin host");
    TAP_IS_INT(dcv_endpoint_for_peer("tcp://*:7401", "ipc:///a.sock", out, 12), -ENOSPC,
               "too small over ipc");
}

static void test_state_names(void)
{
    enum dcv_job_state s;
    int ok = 1;

    for (int i = 0; i < DCV_JOB_STATE_COUNT; i++) {
        const char *wire = dcv_job_state_wire_name((enum dcv_job_state)i);
        const char *stored = dcv_job_state_name((enum dcv_job_state)i);
        if (!wire || !stored || strcasecmp(wire, stored) != 0 || strcmp(wire, stored) == 0 ||
            dcv_job_state_wire_parse(wire, &s) < 0 || (int)s != i ||
            wire != dcv_job_state_wire_names[i])
            ok = 0;
    }
    TAP_OK(ok, "each state has a stored and a wire spelling, and the wire one parses back");
    TAP_IS_STR(dcv_job_state_wire_name(DCV_JOB_CANCELLED), "cancelled", "wire: lower case");
    TAP_IS_INT(dcv_job_state_wire_parse("RUNNING", &s), -EINVAL,
               "the wire parse takes the wire spelling only");
    TAP_IS_INT(dcv_job_state_wire_parse(NULL, &s), -EINVAL, "NULL is no state");
    TAP_OK(dcv_job_state_wire_name(DCV_JOB_STATE_COUNT) == NULL, "NULL out of range");
}

int main(void)
{
    test_endpoint();
    test_state_names();
    return tap_done();
}

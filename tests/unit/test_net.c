/*
 * core/net: sockets through the real transport-zmq plugin, framing and
 * parsing on the way, malformed frame sets dropped with a reason.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"
#include "tap.h"

static struct dcv_sock *open_sock(struct dcv_net *net, enum dcv_proto_plane plane, int role,
                                  const char *ep)
{
    struct dcv_sock_opts o = { 0 };
    struct dcv_sock *s = NULL;
    char err[512];
    o.plane = plane;
    o.role = role;
    o.endpoint = ep;
    if (dcv_sock_open(net, &o, &s, err, sizeof err) < 0)
        tap_bail("open %s: %s", ep, err);
    return s;
}

/* Receive with a deadline: the DEALER connects asynchronously. */
static int recv_wait(struct dcv_sock *s, struct dcv_tx_peer *from, struct dcv_proto_msg *m,
                     char *err, size_t errlen)
{
    for (int i = 0; i < 50; i++) {
        int r = dcv_sock_recv(s, from, m, err, errlen);
        if (r != -EAGAIN)
            return r;
        dcv_sock_wait(s, 100);
    }
    return -ETIMEDOUT;
}

static int send_wait(struct dcv_sock *s, const struct dcv_tx_peer *to, int cmd, const char *json)
{
    char err[512];
    for (int i = 0; i < 50; i++) {
        int r = dcv_sock_send_json(s, to, cmd, json, err, sizeof err);
        if (r != -EAGAIN)
            return r;
        dcv_sock_wait(s, 100);
    }
    return -ETIMEDOUT;
}

int main(void)
{
    const char *pdir = getenv("DISTCONV_PLUGIN_DIR");
    struct dcv_net *net = NULL;
    struct dcv_sock *router, *dealer;
    struct dcv_tx_peer peer, from;
    struct dcv_proto_msg m;
    char err[512], ep[256], out[256];
    int r;

    if (!pdir)
        tap_bail("DISTCONV_PLUGIN_DIR is not set (run through make check)");
    r = dcv_net_open("/nonexistent", "zmq", NULL, &net, err, sizeof err);
    TAP_OK(r < 0 && strstr(err, "/nonexistent/transport-zmq.so"), "missing plugin named: %s", err);
    r = dcv_net_open(pdir, "zmq", NULL, &net, err, sizeof err);
    TAP_IS_INT(r, 0, "transport-zmq loads");
    if (r)
        tap_bail("%s", err);

    router = open_sock(net, DCV_PLANE_CONTROL, DCV_TX_BIND_ROUTER, "tcp://127.0.0.1:*");
    TAP_IS_INT(dcv_sock_endpoint(router, ep, sizeof ep), 0, "endpoint");
    TAP_OK(strncmp(ep, "tcp://127.0.0.1:", 16) == 0 && strcmp(ep + 16, "*") != 0,
           "ephemeral port resolved: %s", ep);
    dealer = open_sock(net, DCV_PLANE_CONTROL, DCV_TX_CONNECT_DEALER, ep);

    TAP_IS_INT(send_wait(dealer, NULL, DCV_CMD_DISCONNECT, "{\"reason\":\"bye\"}"), 0,
               "dealer sends");
    r = recv_wait(router, &peer, &m, err, sizeof err);
    TAP_IS_INT(r, 0, "router receives");
    TAP_IS_INT(m.cmd, DCV_CMD_DISCONNECT, "command parsed");
    TAP_OK(m.body_len == 16 && memcmp(m.body, "{\"reason\":\"bye\"}", 16) == 0, "body intact");
    TAP_OK(peer.len > 0, "peer id present");

    TAP_IS_INT(send_wait(router, &peer, DCV_CMD_HEARTBEAT, "{}"), 0, "router answers the peer");
    r = recv_wait(dealer, &from, &m, err, sizeof err);
    TAP_IS_INT(r, 0, "dealer receives");
    TAP_IS_INT(m.cmd, DCV_CMD_HEARTBEAT, "heartbeat");
    TAP_IS_INT(from.len, 0, "no peer id on a dealer");

    /* A data-plane command on the control plane is refused before sending. */
    r = dcv_sock_send_json(dealer, NULL, DCV_CMD_OFFER, "{}", err, sizeof err);
    TAP_IS_INT(r, -EINVAL, "foreign command refused");

    /* A data socket speaking to a control ROUTER: the frames say DCVD1, the
     * receiver drops the message with a reason and goes on. */
    {
        struct dcv_sock *wrong = open_sock(net, DCV_PLANE_ADMIN, DCV_TX_CONNECT_DEALER, ep);
        TAP_IS_INT(send_wait(wrong, NULL, DCV_CMD_REQUEST, "{}"), 0, "admin frames sent");
        r = recv_wait(router, &peer, &m, err, sizeof err);
        TAP_IS_INT(r, -EPROTO, "wrong signature dropped");
        TAP_OK(strstr(err, "signature") != NULL, "reason names the signature: %s", err);
        TAP_OK(peer.len > 0, "sender known for a DISCONNECT");
        TAP_IS_INT(dcv_sock_recv(router, &peer, &m, err, sizeof err), -EAGAIN, "nothing else");
        dcv_sock_close(&wrong);
    }

    TAP_IS_INT(dcv_endpoint_for_peer("tcp://*:7401", "tcp://coord.lan:7400", out, sizeof out), 0,
               "wildcard host");
    TAP_IS_STR(out, "tcp://coord.lan:7401", "wildcard replaced by the host used");
    dcv_endpoint_for_peer("tcp://0.0.0.0:9", "tcp://[::1]:7400", out, sizeof out);
    TAP_IS_STR(out, "tcp://[::1]:9", "0.0.0.0 replaced, IPv6 host kept");
    dcv_endpoint_for_peer("tcp://10.0.0.5:7401", "tcp://coord:7400", out, sizeof out);
    TAP_IS_STR(out, "tcp://10.0.0.5:7401", "explicit host kept");
    dcv_endpoint_for_peer("ipc:///run/d.sock", "ipc:///run/c.sock", out, sizeof out);
    TAP_IS_STR(out, "ipc:///run/d.sock", "ipc kept");
    TAP_IS_INT(dcv_endpoint_for_peer("tcp://*:7401", "tcp://h:1", out, 8), -ENOSPC, "too small");

    dcv_sock_close(&dealer);
    dcv_sock_close(&router);
    TAP_OK(router == NULL && dealer == NULL, "close clears the handles");
    dcv_net_close(&net);
    return tap_done();
}

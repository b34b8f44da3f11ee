# net: sockets through the transport plugin (dlopen'ed; the core never links
# libzmq), with the protocol's framing and frame-set checks on every message.

noinst_LTLIBRARIES += core/libdcvnet.la
core_libdcvnet_la_SOURCES = core/net.c core/net.h
core_libdcvnet_la_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS) $(AV_CFLAGS)
core_libdcvnet_la_LIBADD = core/libdcvproto.la core/libdcvloop.la core/libdcvplug.la \
	core/libdcvbase.la

if ENABLE_TRANSPORT_ZMQ
check_PROGRAMS += tests/unit/test_net
TESTS += tests/unit/test_net
tests_unit_test_net_SOURCES = tests/unit/test_net.c
tests_unit_test_net_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS) $(AV_CFLAGS)
tests_unit_test_net_LDADD = core/libdcvnet.la core/libdcvproto.la core/libdcvloop.la \
	core/libdcvplug.la core/libdcvbase.la tests/libtap.la $(JSONC_LIBS) $(AV_LIBS) $(LIBS) -lm
endif

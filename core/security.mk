# security (issue 4 items 9-10; docs/security.md): key files, allow-lists,
# roles and the ZAP policy (core/auth.c). It sits in libdcvnet: the net
# layer loads this process's keys and hands the policy to the transport.
core_libdcvnet_la_SOURCES += core/auth.c core/auth.h

check_PROGRAMS += tests/unit/test_auth
TESTS += tests/unit/test_auth
tests_unit_test_auth_SOURCES = tests/unit/test_auth.c
tests_unit_test_auth_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS) $(AV_CFLAGS)
tests_unit_test_auth_LDADD = core/libdcvnet.la core/libdcvproto.la core/libdcvloop.la \
	core/libdcvplug.la core/libdcvbase.la tests/libtap.la $(JSONC_LIBS) $(AV_LIBS) $(LIBS) -lm

# Real daemons over CURVE / token / ipc: refusals and their log lines.
if ENABLE_TRANSPORT_ZMQ
TESTS += tests/integration/security.sh
endif
EXTRA_DIST += tests/integration/security.sh

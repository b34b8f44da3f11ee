# proto: the wire protocol codec (docs/protocol.md): frame sets and the
# validated JSON bodies of every control, data and admin message. I/O-free.
# Uses caps_json (libdcvplug) for HELLO's devices.

noinst_LTLIBRARIES += core/libdcvproto.la
core_libdcvproto_la_SOURCES = core/proto.c core/proto.h core/proto_int.h \
	core/proto_fields.c core/proto_msgs.c
core_libdcvproto_la_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS) $(AV_CFLAGS)
core_libdcvproto_la_LIBADD = $(JSONC_LIBS) -lm

check_PROGRAMS += tests/unit/test_proto
TESTS += tests/unit/test_proto
tests_unit_test_proto_SOURCES = tests/unit/test_proto.c tests/unit/test_proto_attempt.c
tests_unit_test_proto_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS) $(AV_CFLAGS)
tests_unit_test_proto_LDADD = core/libdcvproto.la core/libdcvplug.la core/libdcvbase.la \
	tests/libtap.la $(JSONC_LIBS) $(AV_LIBS) $(LIBS) -lm

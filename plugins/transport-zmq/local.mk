# transport-zmq: the only object that links libzmq (the core and the CLI
# never do). Built when configure found libzmq >= 4.3.

if ENABLE_TRANSPORT_ZMQ
plugin_LTLIBRARIES += plugins/transport-zmq/transport-zmq.la
plugins_transport_zmq_transport_zmq_la_SOURCES = plugins/transport-zmq/transport-zmq.c \
	plugins/transport-zmq/zsec.c plugins/transport-zmq/transport_zmq_int.h
plugins_transport_zmq_transport_zmq_la_CFLAGS = $(DCV_PLUGIN_CC) $(ZMQ_CFLAGS)
plugins_transport_zmq_transport_zmq_la_LDFLAGS = $(DCV_PLUGIN_LINK)
plugins_transport_zmq_transport_zmq_la_LIBADD = $(ZMQ_LIBS)

check_PROGRAMS += tests/unit/test_transport
TESTS += tests/unit/test_transport
tests_unit_test_transport_SOURCES = tests/unit/test_transport.c
tests_unit_test_transport_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS) $(AV_CFLAGS)
tests_unit_test_transport_LDADD = tests/libtap.la core/libdcvplug.la core/libdcvbase.la \
	$(JSONC_LIBS) $(AV_LIBS) $(LIBS)
endif

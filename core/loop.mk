# loop: the daemons' single-threaded event loop (DESIGN §2): fd watchers,
# CLOCK_MONOTONIC timers, signals through a signalfd, and transports with
# the edge-triggered events()-before-poll rule of plugin.h. Uses errbuf
# (libdcvbase); the test also loads the real transport-zmq when staged.

noinst_LTLIBRARIES += core/libdcvloop.la
core_libdcvloop_la_SOURCES = core/loop.c core/loop.h

check_PROGRAMS += tests/unit/test_loop
TESTS += tests/unit/test_loop
tests_unit_test_loop_SOURCES = tests/unit/test_loop.c
tests_unit_test_loop_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS) $(AV_CFLAGS)
tests_unit_test_loop_LDADD = core/libdcvloop.la core/libdcvplug.la core/libdcvbase.la \
	tests/libtap.la $(JSONC_LIBS) $(AV_LIBS) $(LIBS)

# Faults against real daemons (issue 4 items 1-3, 5 and disk full), the retry
# back-off computation. (bench/soak ships with bench/, in EXTRA_DIST already.)
# Owner: the faults area.

check_PROGRAMS += tests/unit/test_backoff
TESTS += tests/unit/test_backoff
tests_unit_test_backoff_SOURCES = tests/unit/test_backoff.c
tests_unit_test_backoff_CFLAGS = $(AM_CFLAGS) $(SQLITE_CFLAGS)
tests_unit_test_backoff_LDADD = core/coordinator/libdcvstore.la core/libdcvbase.la tests/libtap.la $(SQLITE_LIBS)

TESTS += tests/integration/faults-worker.sh tests/integration/faults-upload.sh \
	tests/integration/diskfull.sh
EXTRA_DIST += tests/integration/faults-worker.sh tests/integration/faults-upload.sh \
	tests/integration/diskfull.sh

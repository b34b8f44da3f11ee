# coordinator job store: job state machine + SQLite store (core/coordinator/libdcvstore.la)
# see tests/local.mk for conventions

noinst_LTLIBRARIES += core/coordinator/libdcvstore.la
core_coordinator_libdcvstore_la_SOURCES = core/coordinator/jobstate.c core/coordinator/jobstate.h \
	core/coordinator/store.c core/coordinator/store.h core/coordinator/store_int.h \
	core/coordinator/store_jobs.c core/coordinator/store_apply.c \
	core/coordinator/store_retention.c core/coordinator/store_retention.h \
	core/coordinator/store_tokens.c core/coordinator/store_tokens.h
core_coordinator_libdcvstore_la_CFLAGS = $(AM_CFLAGS) $(SQLITE_CFLAGS)
core_coordinator_libdcvstore_la_LIBADD = core/libdcvbase.la $(SQLITE_LIBS)

check_PROGRAMS += tests/unit/test_jobstate tests/unit/test_store
TESTS += tests/unit/test_jobstate tests/unit/test_store

tests_unit_test_jobstate_SOURCES = tests/unit/test_jobstate.c
tests_unit_test_jobstate_CFLAGS = $(AM_CFLAGS)
tests_unit_test_jobstate_LDADD = core/coordinator/libdcvstore.la core/libdcvbase.la tests/libtap.la $(SQLITE_LIBS)

tests_unit_test_store_SOURCES = tests/unit/test_store.c
tests_unit_test_store_CFLAGS = $(AM_CFLAGS) $(SQLITE_CFLAGS)
tests_unit_test_store_LDADD = core/coordinator/libdcvstore.la core/libdcvbase.la tests/libtap.la $(SQLITE_LIBS)

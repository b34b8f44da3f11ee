# see tests/local.mk for conventions
# scheduler: a pure placement function (core/coordinator/libdcvsched.la)

noinst_LTLIBRARIES += core/coordinator/libdcvsched.la
core_coordinator_libdcvsched_la_SOURCES = core/coordinator/scheduler.c \
	core/coordinator/scheduler.h

check_PROGRAMS += tests/unit/test_scheduler
TESTS += tests/unit/test_scheduler
tests_unit_test_scheduler_SOURCES = tests/unit/test_scheduler.c
tests_unit_test_scheduler_LDADD = core/coordinator/libdcvsched.la tests/libtap.la

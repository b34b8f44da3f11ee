# runner: job child processes for the worker (own process group, niced,
# rlimited, PDEATHSIG, TERM-then-KILL cancel), driven by the caller's poll
# loop. See tests/local.mk for the test conventions.

noinst_LTLIBRARIES += core/worker/libdcvrunner.la
core_worker_libdcvrunner_la_SOURCES = core/worker/runner.c core/worker/runner.h
core_worker_libdcvrunner_la_CFLAGS = $(AM_CFLAGS)
core_worker_libdcvrunner_la_LIBADD = core/libdcvbase.la

check_PROGRAMS += tests/unit/test_runner
TESTS += tests/unit/test_runner
tests_unit_test_runner_SOURCES = tests/unit/test_runner.c
tests_unit_test_runner_CFLAGS = $(AM_CFLAGS)
tests_unit_test_runner_LDADD = core/worker/libdcvrunner.la core/libdcvbase.la tests/libtap.la

# Test harness. Every test speaks TAP (C programs through tests/tap.h, shell
# scripts through tests/lib.sh), so the suite counts individual checks.
#
# Conventions for test fragments (tests/unit/*.mk, tests/integration/*.mk):
#   check_PROGRAMS += tests/unit/test_x ; TESTS += tests/unit/test_x
#   link tests/libtap.la plus the core library under test;
#   shell tests: TESTS += tests/integration/x.sh (and EXTRA_DIST += it).
# Tests find the build through the environment set below; they generate
# their own media into a fresh temp dir and remove it.

check_LTLIBRARIES += tests/libtap.la
tests_libtap_la_SOURCES = tests/tap.c tests/tap.h tests/mediafix.c tests/mediafix.h

TEST_EXTENSIONS = .sh
LOG_DRIVER = env AM_TAP_AWK='$(AWK)' $(SHELL) $(top_srcdir)/build-aux/tap-driver.sh
SH_LOG_DRIVER = $(LOG_DRIVER)
SH_LOG_COMPILER = $(SHELL)
AM_TESTS_ENVIRONMENT = \
	DCV_TOP_SRCDIR='$(abs_top_srcdir)'; export DCV_TOP_SRCDIR; \
	DCV_TOP_BUILDDIR='$(abs_top_builddir)'; export DCV_TOP_BUILDDIR; \
	DISTCONV_PLUGIN_DIR='$(abs_top_builddir)/stage/plugins'; export DISTCONV_PLUGIN_DIR; \
	DCV_FFMPEG='$(FFMPEG)'; export DCV_FFMPEG; \
	DCV_FFPROBE='$(FFPROBE)'; export DCV_FFPROBE; \
	DCV_SANITIZERS='$(enable_sanitizers)'; export DCV_SANITIZERS; \
	DISTCONV_HTTP_BIND=$${DISTCONV_HTTP_BIND:-off}; export DISTCONV_HTTP_BIND; \
	ASAN_OPTIONS='detect_leaks=1:abort_on_error=1:detect_odr_violation=0'; export ASAN_OPTIONS; \
	UBSAN_OPTIONS='print_stacktrace=1:halt_on_error=1'; export UBSAN_OPTIONS; \
	LSAN_OPTIONS='suppressions=$(abs_top_srcdir)/tests/lsan.supp:print_suppressions=0'; export LSAN_OPTIONS;

check_SCRIPTS += stage-plugins

EXTRA_DIST += tests/lib.sh tests/valgrind-flags.sh tests/lsan.supp build-aux/tap-driver.sh

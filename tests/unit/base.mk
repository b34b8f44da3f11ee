# owned by the area's author; see tests/local.mk for conventions
# base: config, logging and encode profile (core/libdcvbase.la)

check_PROGRAMS += tests/unit/test_config tests/unit/test_log tests/unit/test_profile
TESTS += tests/unit/test_config tests/unit/test_log tests/unit/test_profile
BASE_TEST_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests

tests_unit_test_config_SOURCES = tests/unit/test_config.c
tests_unit_test_config_CPPFLAGS = $(BASE_TEST_CPPFLAGS)
tests_unit_test_config_CFLAGS = $(AM_CFLAGS)
tests_unit_test_config_LDADD = core/libdcvbase.la tests/libtap.la

tests_unit_test_log_SOURCES = tests/unit/test_log.c
tests_unit_test_log_CPPFLAGS = $(BASE_TEST_CPPFLAGS)
tests_unit_test_log_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS) $(AV_CFLAGS) -pthread
tests_unit_test_log_LDADD = core/libdcvbase.la tests/libtap.la $(JSONC_LIBS) $(AV_LIBS) -lpthread

tests_unit_test_profile_SOURCES = tests/unit/test_profile.c
tests_unit_test_profile_CPPFLAGS = $(BASE_TEST_CPPFLAGS)
tests_unit_test_profile_CFLAGS = $(AM_CFLAGS)
tests_unit_test_profile_LDADD = core/libdcvbase.la tests/libtap.la

check_PROGRAMS += tests/unit/test_urlpolicy
TESTS += tests/unit/test_urlpolicy
tests_unit_test_urlpolicy_SOURCES = tests/unit/test_urlpolicy.c
tests_unit_test_urlpolicy_CPPFLAGS = $(BASE_TEST_CPPFLAGS)
tests_unit_test_urlpolicy_CFLAGS = $(AM_CFLAGS)
tests_unit_test_urlpolicy_LDADD = core/libdcvbase.la tests/libtap.la

check_PROGRAMS += tests/unit/test_profile_json
TESTS += tests/unit/test_profile_json
tests_unit_test_profile_json_SOURCES = tests/unit/test_profile_json.c
tests_unit_test_profile_json_CPPFLAGS = $(BASE_TEST_CPPFLAGS)
tests_unit_test_profile_json_CFLAGS = $(AM_CFLAGS)
tests_unit_test_profile_json_LDADD = core/libdcvbase.la tests/libtap.la
# rand: random ids, and failing (never clock bits) when the kernel gives none
check_PROGRAMS += tests/unit/test_rand
TESTS += tests/unit/test_rand
tests_unit_test_rand_SOURCES = tests/unit/test_rand.c
tests_unit_test_rand_CPPFLAGS = $(BASE_TEST_CPPFLAGS)
tests_unit_test_rand_CFLAGS = $(AM_CFLAGS)
tests_unit_test_rand_LDADD = core/libdcvbase.la tests/libtap.la
# pathutil: path prefixes matched by whole components
check_PROGRAMS += tests/unit/test_pathutil
TESTS += tests/unit/test_pathutil
tests_unit_test_pathutil_SOURCES = tests/unit/test_pathutil.c
tests_unit_test_pathutil_CPPFLAGS = $(BASE_TEST_CPPFLAGS)
tests_unit_test_pathutil_CFLAGS = $(AM_CFLAGS)
tests_unit_test_pathutil_LDADD = core/libdcvbase.la tests/libtap.la

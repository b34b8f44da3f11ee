# Encoder plugins: the shared mapping library's unit tests, and the built
# plugins loaded with dlopen() from the staged plugin directory.

check_PROGRAMS += tests/unit/test_encmap
TESTS += tests/unit/test_encmap
tests_unit_test_encmap_SOURCES = tests/unit/test_encmap.c
tests_unit_test_encmap_CFLAGS = $(AM_CFLAGS) $(AVCODEC_CFLAGS) -I$(top_srcdir)/tests \
	-I$(top_srcdir)/plugins/common
tests_unit_test_encmap_LDADD = tests/libtap.la plugins/common/libdcvenc.la $(AVCODEC_LIBS)

check_PROGRAMS += tests/unit/test_encplugins
TESTS += tests/unit/test_encplugins
tests_unit_test_encplugins_SOURCES = tests/unit/test_encplugins.c
tests_unit_test_encplugins_CFLAGS = $(AM_CFLAGS) $(AVCODEC_CFLAGS) -I$(top_srcdir)/tests
tests_unit_test_encplugins_LDADD = tests/libtap.la $(AVCODEC_LIBS) $(LIBS)

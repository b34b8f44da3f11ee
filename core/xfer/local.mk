# xfer: data-plane wire codec (CHUNK/CREDIT, crc32c, sha256) and the
# transport-independent credit/resume state machines. See tests/local.mk
# for the test conventions.

noinst_LTLIBRARIES += core/xfer/libdcvxfer.la
core_xfer_libdcvxfer_la_SOURCES = core/xfer/chunk.c core/xfer/chunk.h \
	core/xfer/window.c core/xfer/window.h
core_xfer_libdcvxfer_la_CFLAGS = $(AM_CFLAGS) $(AV_CFLAGS) $(CRYPTO_CFLAGS)
core_xfer_libdcvxfer_la_LIBADD = core/libdcvbase.la $(AV_LIBS) $(CRYPTO_LIBS)

check_PROGRAMS += tests/unit/test_xfer
TESTS += tests/unit/test_xfer
tests_unit_test_xfer_SOURCES = tests/unit/test_xfer.c
tests_unit_test_xfer_CFLAGS = $(AM_CFLAGS)
tests_unit_test_xfer_LDADD = core/xfer/libdcvxfer.la tests/libtap.la $(AV_LIBS) $(CRYPTO_LIBS)

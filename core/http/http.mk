# The daemons' HTTP server (core/http/httpd.h): libmicrohttpd on the loop,
# and the Prometheus text format's shared pieces (core/http/promtext.h).
noinst_LTLIBRARIES += core/http/libdcvhttp.la
core_http_libdcvhttp_la_SOURCES = core/http/httpd.c core/http/httpd.h \
	core/http/promtext.c core/http/promtext.h
core_http_libdcvhttp_la_CFLAGS = $(AM_CFLAGS) $(MHD_CFLAGS)
core_http_libdcvhttp_la_LIBADD = $(MHD_LIBS)

check_PROGRAMS += tests/unit/test_httpd
TESTS += tests/unit/test_httpd
tests_unit_test_httpd_SOURCES = tests/unit/test_httpd.c
tests_unit_test_httpd_CFLAGS = $(AM_CFLAGS) $(MHD_CFLAGS)
tests_unit_test_httpd_LDADD = core/http/libdcvhttp.la core/libdcvloop.la core/libdcvplug.la \
	core/libdcvbase.la tests/libtap.la $(MHD_LIBS) $(JSONC_LIBS) $(AV_LIBS) $(LIBS) -lpthread

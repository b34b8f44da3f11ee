# The daemons' HTTP server (core/http/httpd.h): libmicrohttpd on the loop,
# and the Prometheus text format's shared pieces (core/http/promtext.h).
noinst_LTLIBRARIES += core/http/libdcvhttp.la
core_http_libdcvhttp_la_SOURCES = core/http/httpd.c core/http/httpd.h \
	core/http/promtext.c core/http/promtext.h
core_http_libdcvhttp_la_CFLAGS = $(AM_CFLAGS) $(MHD_CFLAGS)
core_http_libdcvhttp_la_LIBADD = $(MHD_LIBS)

# The dashboard (core/http/assets.h): web/'s files compiled in.
DCV_WEB_FILES = index.html app.js app.css favicon.svg
DCV_WEB_SRC = $(srcdir)/web/index.html $(srcdir)/web/app.js $(srcdir)/web/app.css \
	$(srcdir)/web/favicon.svg
EXTRA_DIST += core/http/gen-assets.sh web/index.html web/app.js web/app.css web/favicon.svg
core_http_libdcvhttp_la_SOURCES += core/http/assets.c core/http/assets.h
nodist_core_http_libdcvhttp_la_SOURCES = core/http/assets_data.c
BUILT_SOURCES = core/http/assets_data.c
CLEANFILES += core/http/assets_data.c
core/http/assets_data.c: $(srcdir)/core/http/gen-assets.sh $(DCV_WEB_SRC)
	@$(MKDIR_P) core/http
	$(AM_V_GEN)$(SHELL) $(srcdir)/core/http/gen-assets.sh $(srcdir)/web $(DCV_WEB_FILES) >$@.tmp && mv $@.tmp $@

check_PROGRAMS += tests/unit/test_assets
TESTS += tests/unit/test_assets
tests_unit_test_assets_SOURCES = tests/unit/test_assets.c
tests_unit_test_assets_CFLAGS = $(AM_CFLAGS)
tests_unit_test_assets_LDADD = core/http/libdcvhttp.la core/libdcvloop.la core/libdcvbase.la \
	tests/libtap.la $(JSONC_LIBS) $(LIBS)

check_PROGRAMS += tests/unit/test_httpd
TESTS += tests/unit/test_httpd
tests_unit_test_httpd_SOURCES = tests/unit/test_httpd.c
tests_unit_test_httpd_CFLAGS = $(AM_CFLAGS) $(MHD_CFLAGS)
tests_unit_test_httpd_LDADD = core/http/libdcvhttp.la core/libdcvloop.la core/libdcvplug.la \
	core/libdcvbase.la tests/libtap.la $(MHD_LIBS) $(JSONC_LIBS) $(AV_LIBS) $(LIBS) -lpthread

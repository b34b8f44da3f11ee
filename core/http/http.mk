# The daemons' HTTP server (core/http/httpd.h): libmicrohttpd on the loop,
# and the Prometheus text format's shared pieces (core/http/promtext.h).
noinst_LTLIBRARIES += core/http/libdcvhttp.la
core_http_libdcvhttp_la_SOURCES = core/http/httpd.c core/http/httpd.h \
	core/http/promtext.c core/http/promtext.h
core_http_libdcvhttp_la_CFLAGS = $(AM_CFLAGS) $(MHD_CFLAGS)
core_http_libdcvhttp_la_LIBADD = $(MHD_LIBS)

# The daemons' HTTP server (core/http/httpd.h): libmicrohttpd on the loop.
noinst_LTLIBRARIES += core/http/libdcvhttp.la
core_http_libdcvhttp_la_SOURCES = core/http/httpd.c core/http/httpd.h
core_http_libdcvhttp_la_CFLAGS = $(AM_CFLAGS) $(MHD_CFLAGS)
core_http_libdcvhttp_la_LIBADD = $(MHD_LIBS)

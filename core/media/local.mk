# media: encoder selection/session wrapper and the transcode pipeline
noinst_LTLIBRARIES += core/media/libdcvmedia.la
core_media_libdcvmedia_la_SOURCES = core/media/encoder.c core/media/encoder.h \
	core/media/pipeline.c core/media/pipeline.h
core_media_libdcvmedia_la_CFLAGS = $(AM_CFLAGS) $(AV_CFLAGS)
core_media_libdcvmedia_la_LIBADD = core/libdcvplug.la core/libdcvbase.la $(AV_LIBS)

# media: encoder selection/session wrapper and the transcode pipeline
# (pipeline.c drives input.c, video.c, audio.c and output.c, which all use
# tc.c's error/progress helpers; tc.h is their internal shared header, not
# installed)
noinst_LTLIBRARIES += core/media/libdcvmedia.la
core_media_libdcvmedia_la_SOURCES = core/media/encoder.c core/media/encoder.h \
	core/media/pipeline.c core/media/pipeline.h core/media/tc.c core/media/tc.h \
	core/media/input.c core/media/video.c core/media/audio.c core/media/output.c \
	core/media/inpolicy.c core/media/inpolicy.h core/media/interlace.c \
	core/media/look.c \
	core/media/idet.c core/media/idet.h
core_media_libdcvmedia_la_CFLAGS = $(AM_CFLAGS) $(AV_CFLAGS)
core_media_libdcvmedia_la_LIBADD = core/libdcvplug.la core/libdcvbase.la $(AV_LIBS)

# Encoder plugins. Each links only FFmpeg (libavcodec, libavutil), libc/libdl
# and libdcvenc, the plugins' private PIC convenience library; nothing of
# the daemon. DCV_PLUGIN_CC hides every symbol, DCV_PLUGIN_LINK exports
# dcv_plugin_query_v1 alone.

DCVENC_CFLAGS = $(DCV_PLUGIN_CC) $(AVCODEC_CFLAGS) -I$(top_srcdir)/plugins/common
DCVENC_LIBADD = plugins/common/libdcvenc.la $(AVCODEC_LIBS)

# Automake wants each plugin's variables spelled out (no loops in a
# non-recursive Makefile.am); what they share is in the two variables above.

noinst_LTLIBRARIES += plugins/common/libdcvenc.la
plugins_common_libdcvenc_la_SOURCES = \
	plugins/common/encutil.c plugins/common/encutil.h \
	plugins/common/encmap.c plugins/common/encmap.h \
	plugins/common/families.c \
	plugins/common/enccaps.c plugins/common/enccaps.h \
	plugins/common/encsession.c plugins/common/encsession.h \
	plugins/common/encplugin.c plugins/common/encplugin.h \
	plugins/common/hwprobe.c plugins/common/hwprobe.h
plugins_common_libdcvenc_la_CFLAGS = $(DCVENC_CFLAGS)
plugins_common_libdcvenc_la_LIBADD = $(AVCODEC_LIBS) -lm

if ENABLE_X264
plugin_LTLIBRARIES += plugins/enc-x264/enc-x264.la
plugins_enc_x264_enc_x264_la_SOURCES = plugins/enc-x264/enc-x264.c
plugins_enc_x264_enc_x264_la_CFLAGS = $(DCVENC_CFLAGS)
plugins_enc_x264_enc_x264_la_LDFLAGS = $(DCV_PLUGIN_LINK)
plugins_enc_x264_enc_x264_la_LIBADD = $(DCVENC_LIBADD)
endif

if ENABLE_X265
plugin_LTLIBRARIES += plugins/enc-x265/enc-x265.la
plugins_enc_x265_enc_x265_la_SOURCES = plugins/enc-x265/enc-x265.c
plugins_enc_x265_enc_x265_la_CFLAGS = $(DCVENC_CFLAGS)
plugins_enc_x265_enc_x265_la_LDFLAGS = $(DCV_PLUGIN_LINK)
plugins_enc_x265_enc_x265_la_LIBADD = $(DCVENC_LIBADD)
endif

if ENABLE_NVENC
plugin_LTLIBRARIES += plugins/enc-nvenc/enc-nvenc.la
plugins_enc_nvenc_enc_nvenc_la_SOURCES = plugins/enc-nvenc/enc-nvenc.c
plugins_enc_nvenc_enc_nvenc_la_CFLAGS = $(DCVENC_CFLAGS)
plugins_enc_nvenc_enc_nvenc_la_LDFLAGS = $(DCV_PLUGIN_LINK)
plugins_enc_nvenc_enc_nvenc_la_LIBADD = $(DCVENC_LIBADD)
endif

if ENABLE_VAAPI
plugin_LTLIBRARIES += plugins/enc-vaapi/enc-vaapi.la
plugins_enc_vaapi_enc_vaapi_la_SOURCES = plugins/enc-vaapi/enc-vaapi.c
plugins_enc_vaapi_enc_vaapi_la_CFLAGS = $(DCVENC_CFLAGS)
plugins_enc_vaapi_enc_vaapi_la_LDFLAGS = $(DCV_PLUGIN_LINK)
plugins_enc_vaapi_enc_vaapi_la_LIBADD = $(DCVENC_LIBADD)
endif

if ENABLE_QSV
plugin_LTLIBRARIES += plugins/enc-qsv/enc-qsv.la
plugins_enc_qsv_enc_qsv_la_SOURCES = plugins/enc-qsv/enc-qsv.c
plugins_enc_qsv_enc_qsv_la_CFLAGS = $(DCVENC_CFLAGS)
plugins_enc_qsv_enc_qsv_la_LDFLAGS = $(DCV_PLUGIN_LINK)
plugins_enc_qsv_enc_qsv_la_LIBADD = $(DCVENC_LIBADD)
endif

if ENABLE_VTB
plugin_LTLIBRARIES += plugins/enc-vtb/enc-vtb.la
plugins_enc_vtb_enc_vtb_la_SOURCES = plugins/enc-vtb/enc-vtb.c
plugins_enc_vtb_enc_vtb_la_CFLAGS = $(DCVENC_CFLAGS)
plugins_enc_vtb_enc_vtb_la_LDFLAGS = $(DCV_PLUGIN_LINK)
plugins_enc_vtb_enc_vtb_la_LIBADD = $(DCVENC_LIBADD)
endif

# owned by the area's author; see tests/local.mk for conventions
dist_pkgsysconf_DATA = etc/distconvd.conf

# The drop-in directory ships with a README so packages and admins find the
# format next to the files (the daemon reads only *.conf there).
pluginsddir = $(pkgsysconfdir)/plugins.d
dist_pluginsd_DATA = etc/plugins.d/README

dist_pkgsysconf_DATA = etc/distconvd.conf

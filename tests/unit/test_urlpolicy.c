/* URL input policy (core/urlpolicy.h): which URLs a submitter may name and
 * the protocol_whitelist the worker opens them with. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tap.h"
#include "urlpolicy.h"

static const char *const web[] = {"http", "https"};

static void refused(const char *url, int want, const char *text)
{
    char err[512] = "";
    int r = dcv_url_check(url, web, 2, err, sizeof err);
    TAP_IS_INT(r, want, url);
    TAP_HAS_STR(err, text, "  the reason says so");
}

int main(void)
{
    char err[512], wl[256], name[64];
    const char *const iptv[] = {"https", "rtmp", "srt", "udp"};

    TAP_IS_INT(dcv_url_check("http://127.0.0.1:8080/a/clip.mkv", web, 2, err, sizeof err), 0,
               "http allowed");
    TAP_IS_INT(dcv_url_check("HTTPS://example.invalid/x.m3u8?token=1", web, 2, err, sizeof err),
               0, "the scheme is case-insensitive");
    refused("file:///etc/shadow", -EPERM, "never allowed");
    refused("FILE:///etc/shadow", -EPERM, "never allowed");
    refused("concat://a|b", -EPERM, "never allowed");
    refused("subfile://x", -EPERM, "never allowed");
    refused("crypto+http://x/y", -EPERM, "not allowed");
    refused("hls://x/y", -EPERM, "never allowed");
    refused("ftp://127.0.0.1/x.mkv", -EPERM, "not allowed (inputs.url_protocols: http, https)");
    refused("concat:/a.mkv|/b.mkv", -EINVAL, "not a URL of the form scheme://");
    refused("/srv/media/a.mkv", -EINVAL, "not a URL");
    refused("http://", -EINVAL, "names no host");
    refused("http://a b/c", -EINVAL, "space or control character at byte 8");
    refused("http://a\n/c", -EINVAL, "control character");
    refused("", -EINVAL, "empty");
    {
        static char big[DCV_URL_MAX + 8];
        memset(big, 'a', sizeof big - 1);
        memcpy(big, "http://", 7);
        refused(big, -EINVAL, "longer than");
    }
    TAP_IS_INT(dcv_url_check("rtmp://h/live", NULL, 0, err, sizeof err), -EPERM,
               "an empty list allows nothing");
    TAP_HAS_STR(err, "inputs.url_protocols: none", "  and says the list is empty");

    TAP_OK(dcv_url_protocol_denied("file") && dcv_url_protocol_denied("pipe") &&
               dcv_url_protocol_denied("concatf") && dcv_url_protocol_denied("unix") &&
               dcv_url_protocol_denied("crypto") && !dcv_url_protocol_denied("https"),
           "the deny list");
    TAP_IS_INT(dcv_url_whitelist(web, 2, wl, sizeof wl), 0, "whitelist for http, https");
    TAP_IS_STR(wl, "http,tcp,crypto,https,tls", "  each protocol with what it is built on, once");
    TAP_IS_INT(dcv_url_whitelist(iptv, 4, wl, sizeof wl), 0, "whitelist for an IPTV list");
    TAP_IS_STR(wl, "https,tls,tcp,crypto,rtmp,srt,udp", "  rtmp needs tcp (already there)");
    {
        const char *const sneaky[] = {"http", "file"};
        TAP_IS_INT(dcv_url_whitelist(sneaky, 2, wl, sizeof wl), 0, "a denied entry ...");
        TAP_IS_STR(wl, "http,tcp,crypto", "  ... never reaches the whitelist");
    }
    TAP_IS_INT(dcv_url_whitelist(web, 2, wl, 8), -ENOSPC, "too small a buffer: -ENOSPC");
    TAP_OK(strstr(dcv_url_denied_list(), "file") && !strstr(dcv_url_denied_list(), "crypto"),
           "blacklist: file yes, crypto no (HLS needs it nested)");

    dcv_url_name("http://h/a/b/clip.mkv?x=1#t", name, sizeof name);
    TAP_IS_STR(name, "clip.mkv", "name: last path element without query");
    dcv_url_name("https://h", name, sizeof name);
    TAP_IS_STR(name, "url-input", "name: none in the URL");
    dcv_url_name("https://h/dir/", name, sizeof name);
    TAP_IS_STR(name, "url-input", "name: a directory");
    dcv_url_name("https://h/..", name, sizeof name);
    TAP_IS_STR(name, "url-input", "name: never ..");
    dcv_url_name("https://h/a\\b", name, sizeof name);
    TAP_IS_STR(name, "a_b", "name: a backslash is replaced");
    return tap_done();
}

/*
 * core/pathutil.c: a prefix covers a path by whole components only, the
 * root covers every absolute path, trailing slashes do not matter, and the
 * length says which of two prefixes is the longer match.
 */
#include "pathutil.h"
#include "tap.h"

int main(void)
{
    TAP_OK(dcv_path_under("/srv/media", "/srv/media"), "a prefix covers itself");
    TAP_OK(dcv_path_under("/srv/media/a.mkv", "/srv/media"), "and what lies under it");
    TAP_OK(dcv_path_under("/srv/media/a/b.mkv", "/srv/media/"), "trailing '/' on the prefix ignored");
    TAP_OK(dcv_path_under("/srv/media/a", "/srv/media//"), "several trailing '/' ignored");
    TAP_OK(!dcv_path_under("/srv/media2/a.mkv", "/srv/media"), "a longer name is not under it");
    TAP_OK(!dcv_path_under("/srv", "/srv/media"), "a parent is not under its child");
    TAP_OK(!dcv_path_under("/other/a.mkv", "/srv"), "an unrelated path is not under it");
    TAP_OK(dcv_path_under("/a.mkv", "/") && dcv_path_under("/srv/x", "//"),
           "the root covers every absolute path");
    TAP_OK(!dcv_path_under("rel/a.mkv", "/"), "the root does not cover a relative path");
    TAP_OK(!dcv_path_under("/srv/a", ""), "an empty prefix covers nothing");

    TAP_IS_INT((int)dcv_path_prefix_len("/srv/media/a", "/srv/media/", 11), 10,
               "length: the prefix without its trailing '/'");
    TAP_IS_INT((int)dcv_path_prefix_len("/srv/media/a", "/srv=/mnt", 4), 4,
               "length: only the first plen bytes are the prefix (path_map's 'coord=local')");
    TAP_IS_INT((int)dcv_path_prefix_len("/srv/a", "/", 1), 1, "length: the root gives 1");
    TAP_IS_INT((int)dcv_path_prefix_len("/srvx/a", "/srv", 4), 0, "length: 0 for no match");
    TAP_OK(dcv_path_prefix_len("/srv/media/a", "/srv/media", 10) >
               dcv_path_prefix_len("/srv/media/a", "/srv", 4),
           "the longer of two covering prefixes has the longer length");
    return tap_done();
}

/*
 * The control plane as a receiver sees it: a frame set (fuzz.h: 2-byte length
 * + bytes per frame) checked by dcv_proto_parse(DCV_PLANE_CONTROL), rebuilt
 * with dcv_proto_frames(), and its body decoded by the command's decoder.
 */
#include "fuzz.h"

int fz_one(const uint8_t *data, size_t len)
{
    return fz_frames(DCV_PLANE_CONTROL, data, len);
}

#ifndef FOVEA_IMAGE_SHIM_H
#define FOVEA_IMAGE_SHIM_H
#include <stddef.h>
#include <stdint.h>

/* Decoders that never exit(): libjpeg/libpng errors longjmp back and become a return code.
   On success (0) *out holds width*height*3 RGB bytes (malloc'd; free with fovea_free), converted
   the way Pillow's Image.open(...).convert("RGB") does.
   Return codes: 0 ok, -1 decode error (message in msg), -2 over the pixel limit (checked from the
   header before any pixel is decoded; width/height are set). */
int fovea_decode_jpeg(const uint8_t *data, size_t len, uint64_t max_pixels,
                      uint8_t **out, int *width, int *height, char *msg, size_t msglen);
int fovea_decode_png(const uint8_t *data, size_t len, uint64_t max_pixels,
                     uint8_t **out, int *width, int *height, char *msg, size_t msglen);
/* Encodes RGB (channels 3) or gray (1) 8-bit pixels as PNG; returns 0 and a malloc'd buffer. */
int fovea_encode_png(const uint8_t *pixels, int width, int height, int channels,
                     uint8_t **out, size_t *outlen, char *msg, size_t msglen);
void fovea_free(void *p);
#endif

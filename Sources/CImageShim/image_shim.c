#include "image_shim.h"
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>
#include <jerror.h>
#include <png.h>

void fovea_free(void *p) { free(p); }

static void set_msg(char *msg, size_t msglen, const char *text) {
    if (msg && msglen) { snprintf(msg, msglen, "%s", text); }
}

/* ---------------- JPEG ---------------- */
struct jerr { struct jpeg_error_mgr pub; jmp_buf jb; int eof_warning; };
static void jpeg_on_error(j_common_ptr c) { longjmp(((struct jerr *)c->err)->jb, 1); }
static void jpeg_on_message(j_common_ptr c, int level) {
    struct jerr *e = (struct jerr *)c->err;
    if (level < 0) {
        e->pub.num_warnings++;
        if (e->pub.msg_code == JWRN_JPEG_EOF) e->eof_warning = 1;   /* the file ends inside the image */
    }
}

/* Pillow's MULDIV255 */
static inline int muldiv255(int a, int b) { int t = a * b + 128; return (t + (t >> 8)) >> 8; }
static inline uint8_t clip8(int v) { return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v); }

int fovea_decode_jpeg(const uint8_t *data, size_t len, uint64_t max_pixels,
                      uint8_t **out, int *width, int *height, char *msg, size_t msglen) {
    struct jpeg_decompress_struct ci;
    struct jerr em;
    uint8_t *volatile rgb = NULL;
    uint8_t *volatile row = NULL;
    memset(&ci, 0, sizeof ci);
    memset(&em, 0, sizeof em);
    ci.err = jpeg_std_error(&em.pub);
    em.pub.error_exit = jpeg_on_error;
    em.pub.emit_message = jpeg_on_message;
    *out = NULL;
    if (setjmp(em.jb)) {
        char buf[JMSG_LENGTH_MAX];
        (*ci.err->format_message)((j_common_ptr)&ci, buf);
        set_msg(msg, msglen, buf);
        jpeg_destroy_decompress(&ci);
        free(rgb);
        free(row);
        return -1;
    }
    jpeg_create_decompress(&ci);
    jpeg_mem_src(&ci, data, (unsigned long)len);
    jpeg_read_header(&ci, TRUE);
    *width = (int)ci.image_width;
    *height = (int)ci.image_height;
    uint64_t px = (uint64_t)(ci.image_width ? ci.image_width : 1) * (uint64_t)(ci.image_height ? ci.image_height : 1);
    if (max_pixels && px > max_pixels) { jpeg_destroy_decompress(&ci); return -2; }
    int comps = ci.num_components;
    if (comps == 1) ci.out_color_space = JCS_GRAYSCALE;
    else if (comps == 3) ci.out_color_space = JCS_RGB;
    else if (comps == 4) ci.out_color_space = JCS_CMYK;
    else { set_msg(msg, msglen, "unsupported JPEG component count"); jpeg_destroy_decompress(&ci); return -1; }
    jpeg_start_decompress(&ci);
    int w = (int)ci.output_width, h = (int)ci.output_height, oc = ci.output_components;
    rgb = (uint8_t *)malloc((size_t)w * h * 3);
    row = (uint8_t *)malloc((size_t)w * oc);
    if (!rgb || !row) { set_msg(msg, msglen, "out of memory"); jpeg_destroy_decompress(&ci); free(rgb); free(row); return -1; }
    while (ci.output_scanline < ci.output_height) {
        int y = (int)ci.output_scanline;
        JSAMPROW rp = row;
        jpeg_read_scanlines(&ci, &rp, 1);
        uint8_t *dst = rgb + (size_t)y * w * 3;
        if (oc == 1) {
            for (int x = 0; x < w; x++) { dst[3 * x] = dst[3 * x + 1] = dst[3 * x + 2] = row[x]; }
        } else if (oc == 3) {
            memcpy(dst, row, (size_t)w * 3);
        } else {
            /* Pillow reads 4-channel JPEGs as Adobe-inverted CMYK ("CMYK;I"), then cmyk2rgb */
            for (int x = 0; x < w; x++) {
                int c = 255 - row[4 * x], m = 255 - row[4 * x + 1], yy = 255 - row[4 * x + 2], k = 255 - row[4 * x + 3];
                int nk = 255 - k;
                dst[3 * x] = clip8(nk - muldiv255(c, nk));
                dst[3 * x + 1] = clip8(nk - muldiv255(m, nk));
                dst[3 * x + 2] = clip8(nk - muldiv255(yy, nk));
            }
        }
    }
    if (em.eof_warning) {
        set_msg(msg, msglen, "image file is truncated (premature end of JPEG data)");
        jpeg_destroy_decompress(&ci);
        free(rgb); free(row);
        return -1;
    }
    jpeg_finish_decompress(&ci);
    jpeg_destroy_decompress(&ci);
    free(row);
    *out = rgb;
    return 0;
}

/* ---------------- PNG ---------------- */
struct png_src { const uint8_t *data; size_t len, pos; };
struct png_err { jmp_buf jb; char text[200]; };
static void png_read_mem(png_structp p, png_bytep dst, png_size_t n) {
    struct png_src *s = (struct png_src *)png_get_io_ptr(p);
    if (s->pos + n > s->len) png_error(p, "image file is truncated");
    memcpy(dst, s->data + s->pos, n);
    s->pos += n;
}
static void png_on_error(png_structp p, png_const_charp text) {
    struct png_err *e = (struct png_err *)png_get_error_ptr(p);
    snprintf(e->text, sizeof e->text, "%s", text);
    longjmp(e->jb, 1);
}
static void png_on_warning(png_structp p, png_const_charp text) { (void)p; (void)text; }

int fovea_decode_png(const uint8_t *data, size_t len, uint64_t max_pixels,
                     uint8_t **out, int *width, int *height, char *msg, size_t msglen) {
    struct png_src src = { data, len, 0 };
    struct png_err perr;
    memset(&perr, 0, sizeof perr);
    png_structp p = png_create_read_struct(PNG_LIBPNG_VER_STRING, &perr, png_on_error, png_on_warning);
    png_infop info = p ? png_create_info_struct(p) : NULL;
    uint8_t *volatile raw = NULL;
    uint8_t *volatile rgb = NULL;
    png_bytep *volatile rows = NULL;
    *out = NULL;
    if (!p || !info) { set_msg(msg, msglen, "out of memory"); png_destroy_read_struct(&p, &info, NULL); return -1; }
    if (setjmp(perr.jb)) {
        set_msg(msg, msglen, perr.text);
        png_destroy_read_struct(&p, &info, NULL);
        free(raw); free(rgb); free(rows);
        return -1;
    }
    png_set_read_fn(p, &src, png_read_mem);
    png_set_user_limits(p, 0x7fffffff, 0x7fffffff);
    png_read_info(p, info);
    png_uint_32 w = png_get_image_width(p, info), h = png_get_image_height(p, info);
    *width = (int)w; *height = (int)h;
    uint64_t px = (uint64_t)(w ? w : 1) * (uint64_t)(h ? h : 1);
    if (max_pixels && px > max_pixels) { png_destroy_read_struct(&p, &info, NULL); return -2; }
    int depth = png_get_bit_depth(p, info), ctype = png_get_color_type(p, info);
    /* Pillow's rules (no gamma, no tRNS, alpha dropped): we only unpack sub-byte samples to one byte
       each and do every conversion ourselves. */
    if (depth < 8) png_set_packing(p);
    png_set_interlace_handling(p);
    png_read_update_info(p, info);
    size_t rowbytes = png_get_rowbytes(p, info);
    raw = (uint8_t *)malloc(rowbytes * h);
    rows = (png_bytep *)malloc(sizeof(png_bytep) * h);
    rgb = (uint8_t *)malloc((size_t)w * h * 3);
    if (!raw || !rows || !rgb) png_error(p, "out of memory");
    for (png_uint_32 y = 0; y < h; y++) rows[y] = raw + y * rowbytes;
    png_read_image(p, rows);
    png_colorp pal = NULL; int npal = 0;
    if (ctype == PNG_COLOR_TYPE_PALETTE) png_get_PLTE(p, info, &pal, &npal);
    int chans = ctype == PNG_COLOR_TYPE_GRAY ? 1 : ctype == PNG_COLOR_TYPE_GRAY_ALPHA ? 2
              : ctype == PNG_COLOR_TYPE_RGB ? 3 : ctype == PNG_COLOR_TYPE_RGB_ALPHA ? 4 : 1;
    int bps = depth == 16 ? 2 : 1;
    for (png_uint_32 y = 0; y < h; y++) {
        const uint8_t *r = rows[y];
        uint8_t *d = rgb + (size_t)y * w * 3;
        for (png_uint_32 x = 0; x < w; x++) {
            const uint8_t *s = r + (size_t)x * chans * bps;
            uint8_t R, G, B;
            if (ctype == PNG_COLOR_TYPE_PALETTE) {
                int i = s[0];
                if (i < npal) { R = pal[i].red; G = pal[i].green; B = pal[i].blue; } else { R = G = B = 0; }
            } else if (ctype == PNG_COLOR_TYPE_GRAY) {
                if (depth == 16) { int v = (s[0] << 8) | s[1]; R = G = B = (uint8_t)(v > 255 ? 255 : v); }  /* I;16: clip */
                else if (depth == 8) { R = G = B = s[0]; }
                else { int maxv = (1 << depth) - 1; R = G = B = (uint8_t)(s[0] * (255 / maxv)); }          /* x255, x85, x17 */
            } else {
                /* gray+alpha, RGB, RGBA: 16-bit samples keep their high byte; alpha is dropped */
                if (ctype == PNG_COLOR_TYPE_GRAY_ALPHA) { R = G = B = s[0]; }
                else { R = s[0]; G = s[bps]; B = s[2 * bps]; }
            }
            d[3 * x] = R; d[3 * x + 1] = G; d[3 * x + 2] = B;
        }
    }
    png_read_end(p, NULL);
    png_destroy_read_struct(&p, &info, NULL);
    free(raw); free(rows);
    *out = rgb;
    return 0;
}

/* ---------------- PNG encode ---------------- */
struct png_dst { uint8_t *data; size_t len, cap; };
static void png_write_mem(png_structp p, png_bytep src, png_size_t n) {
    struct png_dst *d = (struct png_dst *)png_get_io_ptr(p);
    if (d->len + n > d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 65536;
        while (cap < d->len + n) cap *= 2;
        uint8_t *nd = (uint8_t *)realloc(d->data, cap);
        if (!nd) png_error(p, "out of memory");
        d->data = nd; d->cap = cap;
    }
    memcpy(d->data + d->len, src, n);
    d->len += n;
}
static void png_flush_mem(png_structp p) { (void)p; }

int fovea_encode_png(const uint8_t *pixels, int width, int height, int channels,
                     uint8_t **out, size_t *outlen, char *msg, size_t msglen) {
    struct png_err perr;
    memset(&perr, 0, sizeof perr);
    struct png_dst dst = { NULL, 0, 0 };
    png_structp p = png_create_write_struct(PNG_LIBPNG_VER_STRING, &perr, png_on_error, png_on_warning);
    png_infop info = p ? png_create_info_struct(p) : NULL;
    *out = NULL;
    if (!p || !info) { set_msg(msg, msglen, "out of memory"); png_destroy_write_struct(&p, &info); return -1; }
    if (setjmp(perr.jb)) {
        set_msg(msg, msglen, perr.text);
        png_destroy_write_struct(&p, &info);
        free(dst.data);
        return -1;
    }
    png_set_write_fn(p, &dst, png_write_mem, png_flush_mem);
    png_set_IHDR(p, info, (png_uint_32)width, (png_uint_32)height, 8,
                 channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(p, info);
    for (int y = 0; y < height; y++) png_write_row(p, (png_const_bytep)(pixels + (size_t)y * width * channels));
    png_write_end(p, info);
    png_destroy_write_struct(&p, &info);
    *out = dst.data;
    *outlen = dst.len;
    return 0;
}

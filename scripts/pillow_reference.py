#!/usr/bin/env python3
"""Pillow (+ numpy) reference for Fovea's image tests.

    python3 scripts/pillow_reference.py corpus DIR [SAMPLES_DIR]

Writes into DIR: synthetic images in every mode the decoders handle (PNG gray 1/2/4/8/16-bit, palette
with tRNS, LA, RGB16, RGBA, interlaced; JPEG baseline/progressive/gray/CMYK; BMP 1/4/8/24/32-bit, 565),
odd sizes (1x1, 7x3000, 3000x7, 4000x3000, vertical-first 300x1000), the samples, and for each good
image `<file>.rgb.npy` (Image.open().convert("RGB") as uint8 HxWx3), `<file>.crop.npy` (after
Resize(256) + CenterCrop(224), uint8) and `<file>.tensor.npy` (AutoML's normalised [1,3,224,224]).
Bad files (truncated, empty, text, a PNG claiming 60000x60000) go to DIR/bad/. manifest.json lists all."""
import io, json, os, shutil, struct, sys, zlib
import numpy as np
from PIL import Image

MEAN = np.array([0.485, 0.456, 0.406], np.float32); STD = np.array([0.229, 0.224, 0.225], np.float32)

def automl(im, resize=256, crop=224):
    w, h = im.size
    short, long_ = (w, h) if w <= h else (h, w)
    nl = int(resize * long_ / short)
    nw, nh = (resize, nl) if w <= h else (nl, resize)
    if (nw, nh) != (w, h):
        im = im.resize((nw, nh), Image.BILINEAR)
    w, h = im.size
    if w < crop or h < crop:
        pw, ph = max(0, crop - w), max(0, crop - h)
        canvas = Image.new("RGB", (w + pw, h + ph)); canvas.paste(im, (pw // 2, ph // 2)); im = canvas; w, h = im.size
    l = int(round((w - crop) / 2.0)); t = int(round((h - crop) / 2.0))
    c = im.crop((l, t, l + crop, t + crop))
    a = np.asarray(c, dtype=np.float32) / np.float32(255.0)
    a = (a - MEAN) / STD
    return np.asarray(c, dtype=np.uint8), np.ascontiguousarray(a.transpose(2, 0, 1)[None]).astype(np.float32)

def corpus(out, samples):
    os.makedirs(os.path.join(out, "bad"), exist_ok=True)
    rng = np.random.default_rng(7)
    good = []
    def smooth(w, h):
        y, x = np.mgrid[0:h, 0:w]
        r = (127 + 120 * np.sin(x / max(w, 1) * 7 + y / max(h, 1) * 3)).astype(np.uint8)
        g = (127 + 120 * np.cos(y / max(h, 1) * 5)).astype(np.uint8)
        b = ((x * 3 + y * 5) % 256).astype(np.uint8)
        return np.stack([r, g, b], -1)
    def save(name, im, **kw):
        p = os.path.join(out, name); im.save(p, **kw); good.append(name)
    base = Image.fromarray(smooth(451, 300))
    noise = Image.fromarray(rng.integers(0, 256, (97, 131, 3), dtype=np.uint8))
    save("rgb.png", base)
    save("noise.png", noise)
    save("gray8.png", base.convert("L"))
    for bits in (1, 2, 4):
        arr = (np.asarray(base.convert("L")) >> (8 - bits)).astype(np.uint8)
        raw_png(os.path.join(out, f"gray{bits}.png"), arr, bits, 0); good.append(f"gray{bits}.png")
    g16 = (np.asarray(base.convert("L")).astype(np.uint16) * 3)  # values up to 765: clipping matters
    raw_png(os.path.join(out, "gray16.png"), g16, 16, 0); good.append("gray16.png")
    rgb16 = (np.asarray(base).astype(np.uint16) * 257 + 3)
    raw_png(os.path.join(out, "rgb16.png"), rgb16, 16, 2); good.append("rgb16.png")
    rgba = base.convert("RGBA"); a = np.asarray(rgba).copy(); a[..., 3] = 37; save("rgba.png", Image.fromarray(a))
    la = base.convert("LA"); save("la.png", la)
    pal = base.convert("P", palette=Image.ADAPTIVE, colors=50); save("palette.png", pal, transparency=3)
    raw_png(os.path.join(out, "interlaced.png"), np.asarray(base), 8, 2, interlace=True); good.append("interlaced.png")
    save("baseline.jpg", base, quality=90)
    save("progressive.jpg", base, quality=85, progressive=True)
    save("gray.jpg", base.convert("L"), quality=90)
    save("cmyk.jpg", base.convert("CMYK"), quality=90)
    save("bmp24.bmp", base)
    save("bmp8.bmp", base.convert("P", palette=Image.ADAPTIVE, colors=200))
    save("bmp_gray.bmp", base.convert("L"))
    save("bmp1.bmp", base.convert("1"))
    save("bmp32.bmp", base.convert("RGBA"))
    for (w, h) in [(1, 1), (7, 3000), (3000, 7), (4000, 3000), (300, 1000), (224, 224), (256, 100)]:
        save(f"size_{w}x{h}.png", Image.fromarray(smooth(w, h)))
    for f in sorted(os.listdir(samples)) if samples else []:
        shutil.copy(os.path.join(samples, f), os.path.join(out, f)); good.append(f)
    for name in good:
        im = Image.open(os.path.join(out, name)).convert("RGB")
        np.save(os.path.join(out, name + ".rgb.npy"), np.asarray(im, dtype=np.uint8))
        crop, t = automl(im)
        np.save(os.path.join(out, name + ".crop.npy"), crop)
        np.save(os.path.join(out, name + ".tensor.npy"), t)
    # bad files
    jb = open(os.path.join(out, "baseline.jpg"), "rb").read(); pb = open(os.path.join(out, "rgb.png"), "rb").read()
    bad = {"truncated.jpg": jb[: len(jb) // 2], "truncated.png": pb[: len(pb) // 2], "empty.jpg": b"",
           "text.jpg": b"this is a text file, not an image\n", "header_only.jpg": jb[:200],
           "huge.png": png_header_only(60000, 60000)}
    for n, b in bad.items():
        open(os.path.join(out, "bad", n), "wb").write(b)
    json.dump({"good": good, "bad": sorted(bad)}, open(os.path.join(out, "manifest.json"), "w"), indent=1)

def chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)

def raw_png(path, arr, bits, ctype, interlace=False):
    """Writes a PNG by hand (Pillow cannot write 1/2/4-bit gray or 16-bit RGB as such)."""
    h, w = arr.shape[:2]
    ch = {0: 1, 2: 3}[ctype]
    def row_bytes(r):
        if bits == 16:
            return r.astype(">u2").tobytes()
        if bits == 8:
            return r.astype(np.uint8).tobytes()
        vals = r.reshape(-1).astype(np.uint8); per = 8 // bits; out = bytearray()
        for i in range(0, len(vals), per):
            b = 0
            for j in range(per):
                v = vals[i + j] if i + j < len(vals) else 0
                b |= int(v) << (8 - bits * (j + 1))
            out.append(b)
        return bytes(out)
    if not interlace:
        raw = b"".join(b"\x00" + row_bytes(arr[y]) for y in range(h))
    else:  # Adam7
        raw = b""
        for (x0, y0, dx, dy) in [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]:
            sub = arr[y0::dy, x0::dx]
            if sub.shape[0] == 0 or sub.shape[1] == 0: continue
            raw += b"".join(b"\x00" + row_bytes(sub[y]) for y in range(sub.shape[0]))
    ihdr = struct.pack(">IIBBBBB", w, h, bits, ctype, 0, 0, 1 if interlace else 0)
    open(path, "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))

def png_header_only(w, h):
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 100)) + chunk(b"IEND", b"")

if __name__ == "__main__":
    if sys.argv[1] == "corpus":
        corpus(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)

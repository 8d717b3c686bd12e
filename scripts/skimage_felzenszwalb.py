#!/usr/bin/env python3
"""Reference segmentation for the Felzenszwalb tests: reads an HxWx3 float32 .npy (XRAI's [-1, 1] image) and
writes scikit-image's felzenszwalb labels (sigma 0.8, min_size 150) at XRAI's six scales as <out>/labels_<scale>.npy
(int64)."""
import os
import sys

import numpy as np
from skimage.segmentation import felzenszwalb

img = np.load(sys.argv[1])
os.makedirs(sys.argv[2], exist_ok=True)
for scale in (50, 100, 150, 250, 500, 1200):
    seg = felzenszwalb(img, scale=scale, sigma=0.8, min_size=150)
    np.save(os.path.join(sys.argv[2], f"labels_{scale}.npy"), seg.astype(np.int64))

#!/usr/bin/env bash
# Installs everything Fovea needs on a fresh Debian machine; idempotent (skips what is present).
#   apt: OpenBLAS, libjpeg, libpng, zlib (build), wrk (server benchmark)
#   pip: numpy, onnx, onnxruntime, pillow, scikit-image (fixtures, reference outputs, benchmark anchors),
#        scikit-learn (batch metrics reference), kubernetes-validate (the exported Job manifest is checked offline),
#        opencv-python-headless + simplification (AutoML's YOLO letterbox and polygon references), pycocotools (mAP)
set -euo pipefail
need_apt=()
for p in libopenblas-dev libjpeg-dev libpng-dev zlib1g-dev pkg-config wrk; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need_apt+=("$p")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "bootstrap: apt-get install ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
PY=${PYTHON:-python3}
if ! $PY -c "import numpy, onnx, onnxruntime, PIL, skimage, sklearn, kubernetes_validate, cv2, simplification, pycocotools" 2>/dev/null; then
  echo "bootstrap: pip install numpy onnx onnxruntime pillow scikit-image scikit-learn kubernetes-validate opencv-python-headless simplification pycocotools"
  $PY -m pip install -q --disable-pip-version-check numpy "onnx==1.23.2" onnxruntime "pillow==13.0.0" "scikit-image==0.26.0" \
    "scikit-learn==1.9.1" "kubernetes-validate==1.37.0" "opencv-python-headless==5.1.0.95" "simplification==2.0.0" \
    "pycocotools==2.0.11"
fi
echo "bootstrap: ok"

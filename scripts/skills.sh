#!/usr/bin/env bash
# Installs the native tools the Vision skills run (Debian packages): Tesseract with English and Portuguese data and
# poppler's pdfinfo/pdftoppm for Vision_OCR; OpenCV's Haar cascades for Vision_ObjectDetection and the shared
# libraries that OpenCvSharp's native runtime (libOpenCvSharpExtern.so, built with GTK highgui) links against;
# and OpenCV's sample pictures (opencv-doc), which the detection tests read. Idempotent: installs only what is missing.
set -euo pipefail

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

log() { echo "[skills] $*"; }

packages=(
  tesseract-ocr tesseract-ocr-eng tesseract-ocr-por poppler-utils
  opencv-data opencv-doc
  libgtk-3-0 libharfbuzz0b libfreetype6 libdrm2 libatomic1
)
need=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || need+=("$package")
done

if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${need[@]}"
fi

# A half-installed machine fails here, not in the middle of a test run.
tesseract --list-langs 2>/dev/null | grep -qx eng && tesseract --list-langs 2>/dev/null | grep -qx por \
  || { echo "[skills] tesseract lacks the eng or por data" >&2; exit 1; }
command -v pdftoppm >/dev/null && command -v pdfinfo >/dev/null || { echo "[skills] pdftoppm/pdfinfo missing" >&2; exit 1; }
[ -f /usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml ] || { echo "[skills] OpenCV cascades missing" >&2; exit 1; }
log "$(tesseract --version 2>&1 | head -1), poppler $(pdftoppm -v 2>&1 | head -1 | awk '{print $3}'), OpenCV cascades in /usr/share/opencv4/haarcascades"

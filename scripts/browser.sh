#!/usr/bin/env bash
# Installs Debian's Chromium for the browser tests (Playwright drives it; nothing is downloaded from Playwright's CDN).
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if [ ! -x /usr/bin/chromium ]; then
  echo "[browser] installing chromium"
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi
echo "[browser] $(/usr/bin/chromium --version 2>/dev/null | head -1)"

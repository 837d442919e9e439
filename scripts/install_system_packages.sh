#!/usr/bin/env bash
# Installs the Debian packages the test suite drives, from Debian's own repositories.
set -euo pipefail
packages=(chromium kcat)
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
if ! $sudo apt-get install -y -q --no-install-recommends "${packages[@]}" >/dev/null 2>&1; then
  $sudo apt-get update -q >/dev/null
  $sudo apt-get install -y -q --no-install-recommends "${packages[@]}" >/dev/null
fi

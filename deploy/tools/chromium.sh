#!/usr/bin/env bash
# Debian's chromium for the report's browser test (tests/report/test_browser.py drives it with Playwright and
# never downloads a browser). Installs it with apt-get when missing; run as root (CI) or with sudo.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  echo "chromium: $(command -v chromium)"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "chromium is missing: run this script as root (apt-get install chromium)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core
echo "chromium: $(command -v chromium)"

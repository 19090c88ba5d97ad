#!/usr/bin/env bash
# Prometheus and promtool for the rule tests and the scrape test (tests/ops/), from Debian's `prometheus` package.
#
#   deploy/tools/prometheus.sh           install when missing (apt-get; root or sudo), then print both versions
#   deploy/tools/prometheus.sh check     exit 1 when either is missing, install nothing
#
# The package also installs a systemd unit; it is never started here (the tests run their own server on loopback,
# with a configuration and a data directory of their own).
set -euo pipefail

missing() { ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; }

if [ "${1:-}" = check ]; then
  if missing; then echo "prometheus or promtool missing: run deploy/tools/prometheus.sh" >&2; exit 1; fi
  exit 0
fi

if missing; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  # --no-install-recommends: the server and promtool, not the node exporter or the web console libraries.
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  # Debian's post-install starts the packaged service where systemd runs; the tests need none of it.
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    $sudo systemctl disable --now prometheus >/dev/null 2>&1 || true
  fi
fi
prometheus --version 2>&1 | head -1
promtool --version 2>&1 | head -1

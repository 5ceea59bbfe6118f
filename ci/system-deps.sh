#!/usr/bin/env bash
# Installs the Debian packages the test suite needs, once. Safe to run repeatedly.
set -euo pipefail
packages=()
need() { command -v "$1" >/dev/null 2>&1 || packages+=("$2"); }
# (filled as tests need them)
if [ ${#packages[@]} -gt 0 ]; then
  echo "ci: installing ${packages[*]}" >&2
  sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi

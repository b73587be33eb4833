#!/usr/bin/env bash
# The test command (README): installs what the tests need, then runs every check CI runs.
# Real chronyd and gpsd are part of the clock tests; they are installed here when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v chronyd >/dev/null 2>&1 || need+=(chrony)
command -v gpsd >/dev/null 2>&1 || need+=(gpsd)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]} (needed by the clock tests)"
  if [ "$(id -u)" -eq 0 ]; then sudo=(); else sudo=(sudo); fi
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y --no-install-recommends "${need[@]}"
fi
# Debian starts the daemons it installs; the tests run their own on private ports.
if command -v systemctl >/dev/null 2>&1; then
  systemctl stop gpsd.socket gpsd chrony >/dev/null 2>&1 || true
fi

export COFFRE_REQUIRE_DAEMONS=1
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked

#!/usr/bin/env bash
# The whole ccgpu test suite, from a fresh clone on a fresh machine: installs the system packages the tests
# need (idempotent), builds once (the test profile) and runs every test of every crate, then builds and
# lints each shipped binary's production configuration on its own and proves it holds no simulation
# (ci/production.sh). CI runs exactly this (see .ci/run).
#
# Test data is found in ../shared/testdata (CCGPU_TESTDATA overrides); under CI=true missing data fails
# instead of skipping. Outside CI a test without its data skips, and the last line says how many did.
set -uo pipefail
cd "$(dirname "$0")/.."
./ci/system-deps.sh || exit 1

skip_log=$(mktemp "${TMPDIR:-/tmp}/ccgpu-skipped.XXXXXX")
trap 'rm -f "$skip_log"' EXIT
export CCGPU_SKIP_LOG="$skip_log"

status=0
cargo test --workspace --locked --no-fail-fast "$@" || status=1
./ci/production.sh || status=1

skipped=$(sort -u "$skip_log" | wc -l)
if [ "$skipped" -gt 0 ]; then
  echo "ci: $skipped tests SKIPPED for lack of their data or tools (first: $(head -1 "$skip_log")); put ccgpu's shared test data beside this checkout as ../shared or set CCGPU_TESTDATA=<dir>/testdata, and run ./ci/system-deps.sh as root"
else
  echo "ci: every test ran (none skipped)"
fi
exit "$status"

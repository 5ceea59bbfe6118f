#!/usr/bin/env bash
# The whole ccgpu test suite, from a fresh clone on a fresh machine: installs the system packages the tests
# need (idempotent), then builds once (the test profile) and runs every test of every crate.
# CI runs exactly this (see .ci/run). Test data is found in ../shared/testdata (CCGPU_TESTDATA overrides);
# under CI=true missing data fails instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."
./ci/system-deps.sh
cargo test --workspace --locked --no-fail-fast "$@"

#!/usr/bin/env bash
# The shipped binaries, each built and linted on its own (Cargo unifies features within one build,
# and the workspace test build turns the simulation on everywhere through the CLI's `demo` feature), and
# proof that none of them contains simulation code:
#   1. `cargo tree` of the configuration: no workspace crate with its `sim` feature, no `rcgen` (the
#      simulated PKIs' certificate generator);
#   2. clippy on the configuration with warnings as errors;
#   3. a build, and no symbol from any `sim` module (or a `Sim*` type) in the binary.
# Any finding fails. Usage: ci/production.sh [--release]
set -euo pipefail
cd "$(dirname "$0")/.."
profile_flag=()
profile_dir=debug
if [ "${1:-}" = "--release" ]; then profile_flag=(--release); profile_dir=release; fi

# package | flags | binaries
configs=(
  "ccgpu|--no-default-features|ccgpu"
  "ccgpu-host-shim||ccgpu-kubelet-plugin ccgpu-node"
  "ccgpu-guest-agent||ccgpu-guest-agent"
  "ccgpu-verifier||ccgpu-verifier"
)

fail=0
for config in "${configs[@]}"; do
  IFS='|' read -r package flags bins <<<"$config"
  read -r -a flag_args <<<"$flags"
  echo "ci: production configuration: $package ${flags:-(default features)}" >&2
  tree=$(cargo tree --locked -p "$package" "${flag_args[@]}" -e normal -f '{p} [{f}]' --prefix none)
  leaks=$(grep -E '^(ccgpu[a-z-]*) v.*\[([^]]*,)?sim(,[^]]*)?\]$|^rcgen ' <<<"$tree" | sort -u || true)
  if [ -n "$leaks" ]; then
    echo "ci: FAIL: simulation in the production build of $package:" >&2
    echo "$leaks" | sed 's/^/ci:   /' >&2
    fail=1
  fi
  cargo clippy --locked -q -p "$package" "${flag_args[@]}" --bins "${profile_flag[@]}" -- -D warnings
  cargo build --locked -q -p "$package" "${flag_args[@]}" --bins "${profile_flag[@]}"
  for bin in $bins; do
    symbols=$(nm -C --defined-only "target/$profile_dir/$bin" | grep -E '(^|[^a-z_])ccgpu_[a-z_]+::sim::|::Sim[A-Z][A-Za-z]+' | head -5 || true)
    if [ -n "$symbols" ]; then
      echo "ci: FAIL: simulated code linked into $bin:" >&2
      echo "$symbols" | sed 's/^/ci:   /' >&2
      fail=1
    fi
  done
done
[ "$fail" -eq 0 ] && echo "ci: production builds hold no simulation (ccgpu, ccgpu-kubelet-plugin, ccgpu-node, ccgpu-guest-agent)" >&2
exit "$fail"

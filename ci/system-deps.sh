#!/usr/bin/env bash
# Installs the Debian packages the test suite needs, once. Safe to run repeatedly.
set -euo pipefail
packages=()
need() { command -v "$1" >/dev/null 2>&1 || packages+=("$2"); }
# (filled as tests need them)
# host node layer: the real-kernel VM test (host-shim/tests/vm_real_kernel.rs) boots Debian's kernel under
# QEMU with a busybox initramfs; it downloads the kernel package itself (apt-get download, cached in target/).
need qemu-system-x86_64 qemu-system-x86
dpkg -s busybox-static >/dev/null 2>&1 || packages+=(busybox-static)
need cpio cpio
need objcopy binutils
# ... and its 6.12 guest (host-shim/tests/vm_real_kernel_iommufd.rs) rebuilds that kernel's VFIO stack with
# iommufd from Debian's source package (host-shim/tests/vm_kernel/debian-6.12-iommufd.sh): the kernel's
# own compiler (gcc-12), make, xz for the source tarball and the .ko.xz modules.
need gcc-12 gcc-12
need make make
need xz xz-utils
# Building: the `ear` crate's `cmw` dependency has a build-dependency on reqwest (native-tls), which links
# OpenSSL through pkg-config. The machine image has both; a leaner one would not.
need pkg-config pkg-config
dpkg -s libssl-dev >/dev/null 2>&1 || packages+=(libssl-dev)
if [ ${#packages[@]} -gt 0 ]; then
  echo "ci: installing ${packages[*]}" >&2
  sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi

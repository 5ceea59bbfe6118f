#!/usr/bin/env bash
# Prepares the 6.12 guest of the real-kernel VM test (host-shim/tests/vm_real_kernel_iommufd.rs) in the
# directory given as $1: Debian bookworm's Linux 6.12 kernel, with its VFIO stack rebuilt from Debian's
# own source of that same kernel version with CONFIG_IOMMUFD and CONFIG_VFIO_DEVICE_CDEV turned on.
#
# Why the rebuild: Debian builds every kernel it ships (bookworm's 6.12, trixie's 6.12, sid's 7.x) with
# "# CONFIG_IOMMUFD is not set", so no Debian kernel has /dev/iommu or /dev/vfio/devices/vfioN. Those live
# entirely in modules (iommufd.ko and vfio.ko's device_cdev.c), so we compile iommufd, vfio, vfio-pci-core
# and vfio-pci out of tree against that kernel's headers; everything else (the IOMMU core, intel-iommu,
# e1000e, irqbypass) is Debian's. Lib's interval_tree span iterator, which iommufd needs and Debian's
# kernel does not build, is compiled into iommufd.ko.
#
# Output, in $1: vmlinuz, modules/*.ko (uncompressed, debug info stripped) and load-order (one module
# name a line). Everything is fetched with apt-get download; needs dpkg-deb, xz, make, gcc-12.
set -euo pipefail
out=$1
work=$out.partial
rm -rf "$work"
mkdir -p "$work/download" "$work/modules"
cd "$work/download"

# The newest bookworm 6.12 image, and the source, headers and kbuild of exactly its version.
image=$(apt-cache search --names-only '^linux-image-6\.12\.[0-9]+\+deb12-amd64-unsigned$' | cut -d' ' -f1 | sort -V | tail -1)
if [ -z "$image" ]; then
  apt-get update -qq
  image=$(apt-cache search --names-only '^linux-image-6\.12\.[0-9]+\+deb12-amd64-unsigned$' | cut -d' ' -f1 | sort -V | tail -1)
fi
[ -n "$image" ] || { echo "apt knows no linux-image-6.12.*+deb12-amd64-unsigned" >&2; exit 1; }
abi=${image#linux-image-}; abi=${abi%-amd64-unsigned}
version=$(apt-cache show --no-all-versions "$image" | sed -n 's/^Version: //p' | head -1)
apt-get download -qq -o APT::Sandbox::User=root "$image" "linux-source-6.12=$version" \
  "linux-headers-$abi-amd64=$version" "linux-headers-$abi-common=$version" "linux-kbuild-$abi=$version"

# The kernel: vmlinuz, the config check, and the Debian modules we load as they are.
dpkg-deb -x linux-image-*.deb image
config=$(echo image/boot/config-*)
grep -q '^CONFIG_VFIO_PCI=m' "$config" || { echo "$config: vfio-pci is not a module" >&2; exit 1; }
grep -q '^CONFIG_IOMMU_API=y' "$config" || { echo "$config: no IOMMU API" >&2; exit 1; }
cp image/boot/vmlinuz-* "$work/vmlinuz"
kmod=$(echo image/lib/modules/*/kernel)
xz -dc "$kmod/drivers/net/ethernet/intel/e1000e/e1000e.ko.xz" > "$work/modules/e1000e.ko"
xz -dc "$kmod/virt/lib/irqbypass.ko.xz" > "$work/modules/irqbypass.ko"

# The headers, made relocatable: the arch directory's Makefile names the common one by absolute path.
for deb in linux-headers-*.deb linux-kbuild-*.deb; do dpkg-deb -x "$deb" headers; done
kdir=$PWD/headers/usr/src/linux-headers-$abi-amd64
echo "include $PWD/headers/usr/src/linux-headers-$abi-common/Makefile" > "$kdir/Makefile"

# The VFIO and iommufd sources of the same version.
dpkg-deb --fsys-tarfile linux-source-6.12_*.deb | tar -x ./usr/src/linux-source-6.12.tar.xz
src=linux-source-6.12
tar -xJf usr/src/linux-source-6.12.tar.xz "$src/drivers/vfio" "$src/drivers/iommu/iommufd" \
  "$src/drivers/iommu/iommu-priv.h" "$src/lib/interval_tree.c"
rm -rf usr
mod=$PWD/mod
mkdir -p "$mod/vfio/pci" "$mod/iommufd"
cp "$src"/drivers/vfio/*.[ch] "$mod/vfio/"
cp "$src"/drivers/vfio/pci/*.[ch] "$mod/vfio/pci/"
cp "$src"/drivers/iommu/iommufd/*.[ch] "$mod/iommufd/"
cp "$src/drivers/iommu/iommu-priv.h" "$mod/"
# The span iterator: the block of lib/interval_tree.c under CONFIG_INTERVAL_TREE_SPAN_ITER, unexported.
{
  sed -n '1,/^#ifdef CONFIG_INTERVAL_TREE_SPAN_ITER/p' "$src/lib/interval_tree.c" | grep -E '^#(include|define)'
  sed -n '/^#ifdef CONFIG_INTERVAL_TREE_SPAN_ITER/,/^#endif/p' "$src/lib/interval_tree.c" | sed '1d;$d' | grep -v EXPORT_SYMBOL
} > "$mod/iommufd/span_iter.c"
cat > "$mod/Kbuild" <<'KBUILD'
ccflags-y += -DCONFIG_IOMMUFD_MODULE=1 -DCONFIG_VFIO_DEVICE_CDEV=1 -I$(src)
obj-m += iommufd.o vfio.o vfio-pci-core.o vfio-pci.o
iommufd-y := iommufd/device.o iommufd/fault.o iommufd/hw_pagetable.o iommufd/io_pagetable.o iommufd/ioas.o \
	iommufd/main.o iommufd/pages.o iommufd/vfio_compat.o iommufd/span_iter.o
vfio-y := vfio/vfio_main.o vfio/device_cdev.o vfio/group.o vfio/iommufd.o vfio/container.o vfio/virqfd.o
vfio-pci-core-y := vfio/pci/vfio_pci_core.o vfio/pci/vfio_pci_intrs.o vfio/pci/vfio_pci_rdwr.o vfio/pci/vfio_pci_config.o
vfio-pci-y := vfio/pci/vfio_pci.o vfio/pci/vfio_pci_igd.o
KBUILD
# No BTF for these modules (that needs pahole); the kernel's own gcc (CONFIG_CC_VERSION_TEXT).
make -s -C "$kdir" M="$mod" CC=gcc-12 CONFIG_DEBUG_INFO_BTF_MODULES= -j"$(nproc)" modules
for m in iommufd vfio vfio-pci-core vfio-pci; do
  strip --strip-debug -o "$work/modules/$m.ko" "$mod/$m.ko"
done
printf '%s\n' e1000e irqbypass iommufd vfio vfio-pci-core vfio-pci > "$work/load-order"
cd /
rm -rf "$work/download"
rm -rf "$out"
mv "$work" "$out"

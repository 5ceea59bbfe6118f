//! [`KernelVfio`]: the VFIO and iommufd ioctls, against device nodes under a `/dev` root given as a path.
//!
//! This is the only module of the crate allowed `unsafe` code: each block is one `ioctl(2)` on a file
//! descriptor we own, with a pointer to a properly sized, initialised `#[repr(C)]` struct from
//! `vfio-bindings` or from [`iommufd`] (or an integer argument) that lives across the call, or the
//! `mmap(2)`/`munmap(2)` of the one anonymous page the iommufd proof maps for DMA, and (in `bar`) of one
//! page of a BAR's sysfs resource file for a single read-only register load. Trusts the kernel's
//! VFIO and iommufd ABIs.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io;
use std::mem::{offset_of, size_of};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use ccgpu_pci::{IommuGroup, PciAddress};
use vfio_bindings::bindings::vfio::{
    VFIO_API_VERSION, VFIO_BASE, VFIO_GROUP_FLAGS_VIABLE, VFIO_TYPE, VFIO_TYPE1v2_IOMMU, vfio_device_attach_iommufd_pt,
    vfio_device_bind_iommufd, vfio_device_detach_iommufd_pt, vfio_device_info, vfio_group_status,
};

use super::{IommufdProof, VfioAccess, VfioError, VfioProof};

mod bar;
mod iommufd;

pub use bar::read_bar_u32;

use iommufd::{DmaPage, IoasAlloc, IoasMap, IoasUnmap, IommuDestroy};

/// `_IO(VFIO_TYPE, VFIO_BASE + n)`: VFIO's ioctls carry no size or direction bits.
const fn vfio_io(n: u32) -> libc::Ioctl {
    ((VFIO_TYPE as libc::Ioctl) << 8) | (VFIO_BASE + n) as libc::Ioctl
}

const VFIO_GET_API_VERSION: libc::Ioctl = vfio_io(0);
const VFIO_CHECK_EXTENSION: libc::Ioctl = vfio_io(1);
const VFIO_SET_IOMMU: libc::Ioctl = vfio_io(2);
const VFIO_GROUP_GET_STATUS: libc::Ioctl = vfio_io(3);
const VFIO_GROUP_SET_CONTAINER: libc::Ioctl = vfio_io(4);
const VFIO_GROUP_GET_DEVICE_FD: libc::Ioctl = vfio_io(6);
const VFIO_DEVICE_GET_INFO: libc::Ioctl = vfio_io(7);
const VFIO_DEVICE_BIND_IOMMUFD: libc::Ioctl = vfio_io(18);
const VFIO_DEVICE_ATTACH_IOMMUFD_PT: libc::Ioctl = vfio_io(19);
const VFIO_DEVICE_DETACH_IOMMUFD_PT: libc::Ioctl = vfio_io(20);

/// Real VFIO access.
#[derive(Debug, Clone)]
pub struct KernelVfio {
    dev_root: PathBuf,
}

impl KernelVfio {
    /// VFIO through the device nodes under `dev_root` (normally `/dev`).
    pub fn new(dev_root: impl Into<PathBuf>) -> Self {
        Self { dev_root: dev_root.into() }
    }
}

fn open_rw(device: PciAddress, path: &Path) -> Result<File, VfioError> {
    OpenOptions::new().read(true).write(true).open(path).map_err(|source| VfioError::Open {
        device,
        path: path.to_owned(),
        source,
    })
}

fn ioctl_err(device: PciAddress, path: &Path, ioctl: &'static str) -> VfioError {
    VfioError::Ioctl { device, path: path.to_owned(), ioctl, source: io::Error::last_os_error() }
}

fn argsz<T>() -> u32 {
    u32::try_from(size_of::<T>()).unwrap_or_else(|_| unreachable!("VFIO structs are tiny"))
}

fn device_info(device: PciAddress, fd: &OwnedFd, path: &Path) -> Result<VfioProof, VfioError> {
    let mut info = vfio_device_info { argsz: argsz::<vfio_device_info>(), ..Default::default() };
    // SAFETY: `fd` is an open VFIO device fd; `info` is a valid, writable vfio_device_info whose argsz
    // tells the kernel how much it may write, and it outlives the call.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), VFIO_DEVICE_GET_INFO, &raw mut info) };
    if rc < 0 {
        return Err(ioctl_err(device, path, "VFIO_DEVICE_GET_INFO"));
    }
    Ok(VfioProof { flags: info.flags, num_regions: info.num_regions, num_irqs: info.num_irqs, iommufd: None })
}

impl VfioAccess for KernelVfio {
    fn open_group(&self, group: IommuGroup, device: PciAddress) -> Result<VfioProof, VfioError> {
        let container_path = self.dev_root.join("vfio/vfio");
        let container = open_rw(device, &container_path)?;
        // SAFETY: integer-only ioctl on a container fd we own.
        let version = unsafe { libc::ioctl(container.as_raw_fd(), VFIO_GET_API_VERSION) };
        if i64::from(version) != i64::from(VFIO_API_VERSION) {
            return Err(VfioError::ApiVersion {
                path: container_path,
                found: i64::from(version),
                expected: VFIO_API_VERSION,
            });
        }
        // SAFETY: integer-only ioctl on a container fd we own.
        let type1v2 = unsafe { libc::ioctl(container.as_raw_fd(), VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) };
        if type1v2 <= 0 {
            return Err(ioctl_err(device, &container_path, "VFIO_CHECK_EXTENSION(TYPE1v2)"));
        }

        let group_path = self.dev_root.join("vfio").join(group.to_string());
        let group_file = open_rw(device, &group_path)?;
        let mut status = vfio_group_status { argsz: argsz::<vfio_group_status>(), flags: 0 };
        // SAFETY: `status` is a valid, writable vfio_group_status that outlives the call on our group fd.
        let rc = unsafe { libc::ioctl(group_file.as_raw_fd(), VFIO_GROUP_GET_STATUS, &raw mut status) };
        if rc < 0 {
            return Err(ioctl_err(device, &group_path, "VFIO_GROUP_GET_STATUS"));
        }
        if status.flags & VFIO_GROUP_FLAGS_VIABLE == 0 {
            return Err(VfioError::NotViable { group, device });
        }
        let container_fd: libc::c_int = container.as_raw_fd();
        // SAFETY: the kernel reads one int (the container fd, open for the whole call) from the pointer.
        let rc = unsafe { libc::ioctl(group_file.as_raw_fd(), VFIO_GROUP_SET_CONTAINER, &raw const container_fd) };
        if rc < 0 {
            return Err(ioctl_err(device, &group_path, "VFIO_GROUP_SET_CONTAINER"));
        }
        // SAFETY: integer-only ioctl on a container fd we own, now holding our group.
        let rc = unsafe { libc::ioctl(container.as_raw_fd(), VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU) };
        if rc < 0 {
            return Err(ioctl_err(device, &container_path, "VFIO_SET_IOMMU(TYPE1v2)"));
        }
        let name = CString::new(device.to_string()).unwrap_or_else(|_| unreachable!("addresses have no NUL"));
        // SAFETY: `name` is a NUL-terminated string that outlives the call; the kernel only reads it.
        let fd = unsafe { libc::ioctl(group_file.as_raw_fd(), VFIO_GROUP_GET_DEVICE_FD, name.as_ptr()) };
        if fd < 0 {
            return Err(ioctl_err(device, &group_path, "VFIO_GROUP_GET_DEVICE_FD"));
        }
        // SAFETY: the kernel just returned `fd` as a new descriptor that nothing else owns.
        let device_fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let proof = device_info(device, &device_fd, &group_path)?;
        // Closing releases the device, then the group, then the container, leaving them to the VMM.
        drop(device_fd);
        drop(group_file);
        drop(container);
        Ok(proof)
    }

    /// The hand-over QEMU performs for a confidential guest, done once and undone: bind the cdev to
    /// `/dev/iommu`, allocate an IOAS, attach the device to it (the kernel creates the hardware page
    /// table), map one page for DMA, unmap it, detach, destroy the IOAS. Closing the descriptors then
    /// unbinds the device, leaving it to the VMM.
    fn open_cdev(&self, cdev: &str, device: PciAddress) -> Result<VfioProof, VfioError> {
        let cdev_path = self.dev_root.join("vfio/devices").join(cdev);
        let device_file: OwnedFd = open_rw(device, &cdev_path)?.into();
        let iommu_path = self.dev_root.join("iommu");
        let iommu: OwnedFd = open_rw(device, &iommu_path)?.into();
        let mut bind = vfio_device_bind_iommufd {
            // The original (6.6) layout ends after out_devid; every kernel accepts that size.
            argsz: u32::try_from(offset_of!(vfio_device_bind_iommufd, token_uuid_ptr))
                .unwrap_or_else(|_| unreachable!("a small offset")),
            flags: 0,
            iommufd: iommu.as_raw_fd(),
            out_devid: 0,
            token_uuid_ptr: 0,
        };
        // SAFETY: `bind` is a valid, writable vfio_device_bind_iommufd (argsz covers the fields we set)
        // that outlives the call; both fds are open and ours.
        let rc = unsafe { libc::ioctl(device_file.as_raw_fd(), VFIO_DEVICE_BIND_IOMMUFD, &raw mut bind) };
        if rc < 0 {
            return Err(ioctl_err(device, &cdev_path, "VFIO_DEVICE_BIND_IOMMUFD"));
        }
        let mut proof = device_info(device, &device_file, &cdev_path)?;

        let mut alloc = IoasAlloc { size: argsz::<IoasAlloc>(), flags: 0, out_ioas_id: 0 };
        // SAFETY: `alloc` is a valid, writable IoasAlloc whose size field is its size; it
        // outlives the call on our iommufd.
        let rc = unsafe { libc::ioctl(iommu.as_raw_fd(), iommufd::IOMMU_IOAS_ALLOC, &raw mut alloc) };
        if rc < 0 {
            return Err(ioctl_err(device, &iommu_path, "IOMMU_IOAS_ALLOC"));
        }
        let ioas_id = alloc.out_ioas_id;

        let mut attach = vfio_device_attach_iommufd_pt {
            // The 6.6 layout ends after pt_id (pasid came in 6.13); every kernel accepts that size.
            argsz: u32::try_from(offset_of!(vfio_device_attach_iommufd_pt, pasid))
                .unwrap_or_else(|_| unreachable!("a small offset")),
            flags: 0,
            pt_id: ioas_id,
            pasid: 0,
        };
        // SAFETY: `attach` is a valid, writable vfio_device_attach_iommufd_pt (argsz covers the fields
        // we set) that outlives the call on our bound device fd.
        let rc = unsafe { libc::ioctl(device_file.as_raw_fd(), VFIO_DEVICE_ATTACH_IOMMUFD_PT, &raw mut attach) };
        if rc < 0 {
            return Err(ioctl_err(device, &cdev_path, "VFIO_DEVICE_ATTACH_IOMMUFD_PT"));
        }
        let hwpt_id = attach.pt_id;

        let page = DmaPage::new().map_err(|source| VfioError::Ioctl {
            device,
            path: iommu_path.clone(),
            ioctl: "mmap (the page to map for DMA)",
            source,
        })?;
        let mut map = IoasMap {
            size: argsz::<IoasMap>(),
            flags: iommufd::IOMMU_IOAS_MAP_READABLE | iommufd::IOMMU_IOAS_MAP_WRITEABLE,
            ioas_id,
            reserved: 0,
            user_va: page.address(),
            length: page.len(),
            iova: 0,
        };
        // SAFETY: `map` is a valid, writable IoasMap that outlives the call; `user_va` is our own
        // mapped, page-aligned page of `length` bytes, which stays mapped until after the unmap below.
        let rc = unsafe { libc::ioctl(iommu.as_raw_fd(), iommufd::IOMMU_IOAS_MAP, &raw mut map) };
        if rc < 0 {
            return Err(ioctl_err(device, &iommu_path, "IOMMU_IOAS_MAP"));
        }
        let mut unmap = IoasUnmap { size: argsz::<IoasUnmap>(), ioas_id, iova: map.iova, length: map.length };
        // SAFETY: `unmap` is a valid, writable IoasUnmap that outlives the call on our iommufd.
        let rc = unsafe { libc::ioctl(iommu.as_raw_fd(), iommufd::IOMMU_IOAS_UNMAP, &raw mut unmap) };
        if rc < 0 {
            return Err(ioctl_err(device, &iommu_path, "IOMMU_IOAS_UNMAP"));
        }
        drop(page);

        let mut detach = vfio_device_detach_iommufd_pt {
            argsz: u32::try_from(offset_of!(vfio_device_detach_iommufd_pt, pasid))
                .unwrap_or_else(|_| unreachable!("a small offset")),
            flags: 0,
            pasid: 0,
        };
        // SAFETY: `detach` is a valid vfio_device_detach_iommufd_pt (argsz covers the fields we set) that
        // outlives the call on our attached device fd.
        let rc = unsafe { libc::ioctl(device_file.as_raw_fd(), VFIO_DEVICE_DETACH_IOMMUFD_PT, &raw mut detach) };
        if rc < 0 {
            return Err(ioctl_err(device, &cdev_path, "VFIO_DEVICE_DETACH_IOMMUFD_PT"));
        }
        let mut destroy = IommuDestroy { size: argsz::<IommuDestroy>(), id: ioas_id };
        // SAFETY: `destroy` is a valid IommuDestroy that outlives the call on our iommufd.
        let rc = unsafe { libc::ioctl(iommu.as_raw_fd(), iommufd::IOMMU_DESTROY, &raw mut destroy) };
        if rc < 0 {
            return Err(ioctl_err(device, &iommu_path, "IOMMU_DESTROY(IOAS)"));
        }
        proof.iommufd = Some(IommufdProof {
            dev_id: bind.out_devid,
            ioas_id,
            hwpt_id,
            iova: map.iova,
            mapped: map.length,
            unmapped: unmap.length,
        });
        // Closing unbinds the device from the iommufd context, leaving it to the VMM.
        drop(device_file);
        drop(iommu);
        Ok(proof)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ioctl_numbers_match_the_kernel_headers() {
        // linux/vfio.h: VFIO_GET_API_VERSION is _IO(';', 100) = 15204.
        assert_eq!(VFIO_GET_API_VERSION, 15204);
        assert_eq!(VFIO_GROUP_GET_DEVICE_FD, 15210);
        assert_eq!(VFIO_DEVICE_BIND_IOMMUFD, 15222);
        assert_eq!(VFIO_DEVICE_ATTACH_IOMMUFD_PT, 15223);
        assert_eq!(VFIO_DEVICE_DETACH_IOMMUFD_PT, 15224);
    }

    #[test]
    fn missing_nodes_are_open_errors_with_the_path() {
        let vfio = KernelVfio::new("/nonexistent-ccgpu-dev");
        let device: PciAddress = "0000:01:00.0".parse().expect("valid");
        match vfio.open_group(IommuGroup(3), device) {
            Err(VfioError::Open { path, .. }) => assert_eq!(path, Path::new("/nonexistent-ccgpu-dev/vfio/vfio")),
            other => panic!("{other:?}"),
        }
        match vfio.open_cdev("vfio0", device) {
            Err(VfioError::Open { path, .. }) => assert!(path.ends_with("vfio/devices/vfio0")),
            other => panic!("{other:?}"),
        }
    }
}

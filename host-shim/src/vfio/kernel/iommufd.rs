//! The iommufd ABI (`include/uapi/linux/iommufd.h`) that `vfio-bindings` does not carry: the structs
//! and ioctl numbers of the IOAS calls QEMU makes, and the anonymous page the proof maps for DMA.
//!
//! Part of the ioctl module: the one `unsafe` block here is the page's `mmap(2)`/`munmap(2)`. Trusts the
//! kernel's iommufd ABI, whose structs only ever grow at the end (each call carries its size).

use std::io;

/// `IOMMUFD_TYPE`, the ioctl type byte iommufd shares with VFIO (`';'`).
const IOMMUFD_TYPE: libc::Ioctl = 0x3b;

/// `_IO(IOMMUFD_TYPE, n)`: like VFIO, iommufd's ioctls carry no size or direction bits.
const fn iommufd_io(n: libc::Ioctl) -> libc::Ioctl {
    (IOMMUFD_TYPE << 8) | n
}

/// `IOMMU_DESTROY` (`IOMMUFD_CMD_DESTROY` = 0x80).
pub(super) const IOMMU_DESTROY: libc::Ioctl = iommufd_io(0x80);
/// `IOMMU_IOAS_ALLOC` (0x81).
pub(super) const IOMMU_IOAS_ALLOC: libc::Ioctl = iommufd_io(0x81);
/// `IOMMU_IOAS_MAP` (0x85).
pub(super) const IOMMU_IOAS_MAP: libc::Ioctl = iommufd_io(0x85);
/// `IOMMU_IOAS_UNMAP` (0x86).
pub(super) const IOMMU_IOAS_UNMAP: libc::Ioctl = iommufd_io(0x86);

/// `IOMMU_IOAS_MAP_WRITEABLE`: the device may write the mapped memory.
pub(super) const IOMMU_IOAS_MAP_WRITEABLE: u32 = 1 << 1;
/// `IOMMU_IOAS_MAP_READABLE`: the device may read it.
pub(super) const IOMMU_IOAS_MAP_READABLE: u32 = 1 << 2;

/// `struct iommu_destroy`.
#[repr(C)]
#[derive(Debug, Default)]
pub(super) struct IommuDestroy {
    pub(super) size: u32,
    pub(super) id: u32,
}

/// `struct iommu_ioas_alloc`.
#[repr(C)]
#[derive(Debug, Default)]
pub(super) struct IoasAlloc {
    pub(super) size: u32,
    pub(super) flags: u32,
    pub(super) out_ioas_id: u32,
}

/// `struct iommu_ioas_map`; without `IOMMU_IOAS_MAP_FIXED_IOVA` the kernel picks the IOVA and writes it
/// back.
#[repr(C)]
#[derive(Debug, Default)]
pub(super) struct IoasMap {
    pub(super) size: u32,
    pub(super) flags: u32,
    pub(super) ioas_id: u32,
    pub(super) reserved: u32,
    pub(super) user_va: u64,
    pub(super) length: u64,
    pub(super) iova: u64,
}

/// `struct iommu_ioas_unmap`; the kernel writes back how many bytes it unmapped.
#[repr(C)]
#[derive(Debug, Default)]
pub(super) struct IoasUnmap {
    pub(super) size: u32,
    pub(super) ioas_id: u32,
    pub(super) iova: u64,
    pub(super) length: u64,
}

/// One anonymous, page-aligned, zeroed page, unmapped on drop: the memory the proof maps for DMA.
#[derive(Debug)]
pub(super) struct DmaPage {
    address: *mut libc::c_void,
    len: usize,
}

impl DmaPage {
    /// Maps the page.
    pub(super) fn new() -> io::Result<Self> {
        // SAFETY: sysconf has no memory-safety preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        let len = usize::try_from(page).map_err(|_| io::Error::other("sysconf(_SC_PAGESIZE) failed"))?;
        // SAFETY: a fresh private anonymous mapping at an address the kernel picks; nothing else refers
        // to it, and we unmap exactly this range on drop.
        let address = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if address == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Self { address, len })
    }

    /// Its user virtual address, as the kernel's `user_va`.
    pub(super) fn address(&self) -> u64 {
        self.address as u64
    }

    /// Its length in bytes.
    pub(super) fn len(&self) -> u64 {
        self.len as u64
    }
}

impl Drop for DmaPage {
    fn drop(&mut self) {
        // SAFETY: the range is exactly the mapping `new` made, which nothing else refers to.
        unsafe { libc::munmap(self.address, self.len) };
    }
}

#[cfg(test)]
mod tests {
    use std::mem::size_of;

    use super::*;

    #[test]
    fn numbers_and_sizes_match_the_kernel_header() {
        // include/uapi/linux/iommufd.h: IOMMU_IOAS_ALLOC is _IO(';', 0x81) = 0x3b81.
        assert_eq!(IOMMU_DESTROY, 0x3b80);
        assert_eq!(IOMMU_IOAS_ALLOC, 0x3b81);
        assert_eq!(IOMMU_IOAS_MAP, 0x3b85);
        assert_eq!(IOMMU_IOAS_UNMAP, 0x3b86);
        assert_eq!(size_of::<IommuDestroy>(), 8);
        assert_eq!(size_of::<IoasAlloc>(), 12);
        assert_eq!(size_of::<IoasMap>(), 40);
        assert_eq!(size_of::<IoasUnmap>(), 24);
    }

    #[test]
    fn the_dma_page_is_page_aligned_and_writable() {
        let page = DmaPage::new().expect("mmap");
        assert_eq!(page.address() % page.len(), 0);
        // SAFETY: the page is ours, mapped read-write, and `len` bytes long.
        unsafe { std::ptr::write_bytes(page.address as *mut u8, 0xa5, page.len) };
    }
}

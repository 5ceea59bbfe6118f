//! One 32-bit register read from a PCI memory BAR through its sysfs `resourceN` file: the file is mapped
//! read-only (`mmap(2)`, the only way the kernel offers a memory BAR to user space), the word read
//! volatile, the mapping removed. Used for the PPCIe state register ([`crate::ppcie`]).

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

/// The 32-bit word at `offset` of the BAR whose sysfs resource file is `path`.
pub fn read_bar_u32(path: &Path, offset: u64) -> io::Result<u32> {
    if !offset.is_multiple_of(4) {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "unaligned register offset"));
    }
    let file = File::open(path)?;
    let size = file.metadata()?.len();
    if offset.checked_add(4).is_none_or(|end| end > size) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("offset {offset:#x} beyond the BAR ({size} bytes)"),
        ));
    }
    // SAFETY: `sysconf` has no memory-safety preconditions.
    let page = u64::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096).max(4096);
    let base = offset - offset % page;
    let len = usize::try_from(page).map_err(|_| io::Error::other("page size"))?;
    let within = usize::try_from(offset - base).map_err(|_| io::Error::other("offset"))?;
    let file_offset = libc::off_t::try_from(base).map_err(|_| io::Error::other("offset beyond off_t"))?;
    // SAFETY: maps `len` bytes of a file we hold open, read-only and shared, at an address the kernel
    // picks; the result is checked for MAP_FAILED before use.
    let map = unsafe {
        libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ, libc::MAP_SHARED, file.as_raw_fd(), file_offset)
    };
    if map == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `within + 4 <= len` (offset is 4-aligned and page-relative), the mapping is live and
    // readable, and a device register is read exactly once with a volatile, aligned 32-bit load.
    let value = unsafe { std::ptr::read_volatile(map.cast::<u8>().add(within).cast::<u32>()) };
    // SAFETY: unmaps exactly the mapping made above, not used afterwards.
    let _ = unsafe { libc::munmap(map, len) };
    Ok(u32::from_le(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A regular file maps like a BAR's resource file: the word at an offset in a later page is read, an
    /// offset past the end or unaligned is refused, a missing file is the open's error.
    #[test]
    fn reads_one_little_endian_word_and_refuses_bad_offsets() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("resource0");
        let mut bytes = vec![0u8; 0x3000];
        bytes[0x2cc..0x2d0].copy_from_slice(&0x0000_0021u32.to_le_bytes());
        bytes[0x1004..0x1008].copy_from_slice(&0xdead_beefu32.to_le_bytes());
        std::fs::write(&path, &bytes).expect("write");
        assert_eq!(read_bar_u32(&path, 0x2cc).expect("read"), 0x21);
        assert_eq!(read_bar_u32(&path, 0x1004).expect("read"), 0xdead_beef);
        assert_eq!(read_bar_u32(&path, 0x2ffc).expect("read"), 0);
        assert_eq!(read_bar_u32(&path, 0x3000).expect_err("past the end").kind(), io::ErrorKind::InvalidInput);
        assert_eq!(read_bar_u32(&path, 0x2ce).expect_err("unaligned").kind(), io::ErrorKind::InvalidInput);
        assert_eq!(read_bar_u32(&dir.path().join("none"), 0).expect_err("missing").kind(), io::ErrorKind::NotFound);
    }
}

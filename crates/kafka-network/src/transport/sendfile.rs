//! `sendfile(2)`: the one system call this crate needs `unsafe` for.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

/// Copies up to `count` bytes of `file` starting at `position` to the socket `out`, inside
/// the kernel. Returns the bytes sent; `WouldBlock` when the socket buffer is full.
#[cfg(target_os = "linux")]
pub(crate) fn sendfile(
    out: &impl AsRawFd,
    file: &File,
    position: u64,
    count: usize,
) -> io::Result<usize> {
    let mut offset = libc::off_t::try_from(position)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "file position out of range"))?;
    // SAFETY: both descriptors are open for the duration of the call because we hold borrows
    // of their owners; `offset` is a valid, exclusively borrowed off_t that the kernel updates;
    // no memory of ours is read or written other than `offset`.
    let n = unsafe { libc::sendfile(out.as_raw_fd(), file.as_raw_fd(), &mut offset, count) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Portable fallback: read into a buffer and write it (one copy through user space).
#[cfg(not(target_os = "linux"))]
pub(crate) fn sendfile(
    out: &impl AsRawFd,
    file: &File,
    position: u64,
    count: usize,
) -> io::Result<usize> {
    let _ = (out, file, position, count);
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "sendfile is only used on Linux",
    ))
}

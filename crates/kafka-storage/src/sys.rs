//! The one syscall std does not offer at the workspace's MSRV: `flock(2)` on a log
//! directory's `.lock` file, as Kafka's `FileLock.tryLock`.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

/// Takes an exclusive, non-blocking lock on `file`; `Ok(false)` if another open file
/// description (this process or another) holds it. Released when the file is closed.
pub(crate) fn try_lock_exclusive(file: &File) -> io::Result<bool> {
    // SAFETY: `flock` only reads the descriptor, which `file` keeps open for the call.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    if e.kind() == io::ErrorKind::WouldBlock {
        Ok(false)
    } else {
        Err(e)
    }
}

//! Reading a small file on an async runtime thread only when that cannot block: the
//! kernel serves it from the page cache or says it would have to wait for the disk
//! (`preadv2` with `RWF_NOWAIT`), and the caller then takes the blocking pool instead.

use std::fs::File;

/// The whole of `file` when it is at most `limit` octets and every page of it is in the
/// page cache; `None` when reading it might wait for the disk, when it is larger, or on
/// any error (the caller's blocking path reads it again and reports what went wrong).
/// Nothing is consumed: the file position stays where it was.
pub fn read_cached(file: &File, limit: u64) -> Option<Vec<u8>> {
    let len = file.metadata().ok()?.len();
    if len > limit {
        return None;
    }
    let len = usize::try_from(len).ok()?;
    // One octet more than the size, so a file that grew is noticed in the same call.
    let mut data: Vec<u8> = Vec::with_capacity(len + 1);
    loop {
        let offset = i64::try_from(data.len()).ok()?;
        let spare = data.spare_capacity_mut();
        if spare.is_empty() {
            // Longer than its size said: not a Maildir message at rest; let the blocking
            // path read it to the end.
            return None;
        }
        let n = pread_nowait(file, spare.as_mut_ptr().cast(), spare.len(), offset)?;
        if n == 0 {
            return Some(data);
        }
        // SAFETY: the kernel initialised `n` octets of the spare capacity (n <= its length).
        unsafe { data.set_len(data.len() + n) };
    }
}

/// One `preadv2(RWF_NOWAIT)`: octets read (0 at end of file), `None` when the data is not
/// cached (`EAGAIN`), the kernel or file system cannot promise not to block, or it failed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn pread_nowait(file: &File, buf: *mut u8, len: usize, offset: i64) -> Option<usize> {
    use std::os::fd::AsRawFd;
    let iov = libc::iovec {
        iov_base: buf.cast(),
        iov_len: len,
    };
    loop {
        // SAFETY: `iov` describes `len` writable octets owned by the caller for the call's
        // duration, and the descriptor is open for as long as `file` lives.
        let n = unsafe { libc::preadv2(file.as_raw_fd(), &iov, 1, offset, libc::RWF_NOWAIT) };
        if n >= 0 {
            return usize::try_from(n).ok();
        }
        if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return None;
        }
    }
}

/// Without `RWF_NOWAIT` there is no way to know a read will not block: never read here.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn pread_nowait(_file: &File, _buf: *mut u8, _len: usize, _offset: i64) -> Option<usize> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Seek, SeekFrom};

    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn a_cached_file_is_read_whole_and_its_position_is_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("msg");
        let body: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
        // Just written, so every page is in the page cache.
        std::fs::write(&path, &body).expect("write");
        let mut file = File::open(&path).expect("open");
        assert_eq!(read_cached(&file, 1 << 20).as_deref(), Some(&body[..]));
        // The position did not move: a fallback read gets the whole file again.
        assert_eq!(file.stream_position().expect("pos"), 0);
        let mut again = Vec::new();
        file.read_to_end(&mut again).expect("read");
        assert_eq!(again, body);
        file.seek(SeekFrom::Start(0)).expect("seek");
        assert_eq!(read_cached(&file, 69_999), None, "over the limit");
        let empty = dir.path().join("empty");
        std::fs::write(&empty, b"").expect("write");
        let empty = File::open(&empty).expect("open");
        assert_eq!(read_cached(&empty, 10).as_deref(), Some(&b""[..]));
    }

    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn a_file_not_in_the_page_cache_is_left_to_the_blocking_path() {
        use std::os::fd::AsRawFd;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("msg");
        std::fs::write(&path, vec![b'x'; 64 * 1024]).expect("write");
        let file = File::open(&path).expect("open");
        // SAFETY: statfs on an open descriptor into a zeroed local struct.
        let mut fs: libc::statfs = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::fstatfs(file.as_raw_fd(), &mut fs) }, 0);
        if fs.f_type == libc::TMPFS_MAGIC {
            eprintln!("skipped: tmpfs pages never leave memory");
            return;
        }
        file.sync_all().expect("fsync");
        // Clean pages can be dropped from the cache; then reading them needs the disk.
        // SAFETY: plain advice on an open descriptor.
        let rc = unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
        assert_eq!(rc, 0);
        assert_eq!(read_cached(&file, 1 << 20), None);
    }
}

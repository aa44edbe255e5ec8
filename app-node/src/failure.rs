//! How a failure should be treated: the one classification every module's
//! error type answers by matching its own variants (never message text), so
//! the worker can decide between failing a video at once and trying again.

/// Whether trying again can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The input itself is refused (not a video, too long, over a limit,
    /// unsupported): another attempt would fail the same way, so the video
    /// fails at once with the reason.
    Permanent,
    /// The node or something it depends on failed (network, disk, timeout,
    /// catalog, a lost lease): a later attempt may succeed.
    Transient,
}

impl FailureKind {
    /// `true` for [`FailureKind::Permanent`].
    pub fn is_permanent(self) -> bool {
        self == FailureKind::Permanent
    }
}

/// Whether an I/O error means the node has no room left to write: the disk
/// or a quota is full, or a file hit the size limit set on the process.
/// Decided by the error's kind (from errno), never by its text.
pub fn is_out_of_space(e: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        e.kind(),
        ErrorKind::StorageFull | ErrorKind::QuotaExceeded | ErrorKind::FileTooLarge
    )
}

/// The reason shown to uploaders when the node ran out of space, the same
/// whichever step (download, transcode, store) hit it.
pub const OUT_OF_SPACE_MESSAGE: &str = "The node ran out of disk space.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_space_is_told_by_errno() {
        for errno in [libc::ENOSPC, libc::EDQUOT, libc::EFBIG] {
            assert!(is_out_of_space(&std::io::Error::from_raw_os_error(errno)));
        }
        assert!(!is_out_of_space(&std::io::Error::from_raw_os_error(
            libc::EACCES
        )));
        // Text that merely mentions a full disk is not a full disk.
        assert!(!is_out_of_space(&std::io::Error::other(
            "No space left on device"
        )));
    }
}

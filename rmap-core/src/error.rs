//! Errors: the errno a Linux syscall would return, and trace-level errors.

use std::fmt;

/// The errno values the model returns, named as in Linux.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Errno {
    EINVAL,
    ENOMEM,
    EFAULT,
    EACCES,
    EPERM,
    EOVERFLOW,
    ENOSPC,
}

impl Errno {
    pub fn as_str(self) -> &'static str {
        match self {
            Errno::EINVAL => "EINVAL",
            Errno::ENOMEM => "ENOMEM",
            Errno::EFAULT => "EFAULT",
            Errno::EACCES => "EACCES",
            Errno::EPERM => "EPERM",
            Errno::EOVERFLOW => "EOVERFLOW",
            Errno::ENOSPC => "ENOSPC",
        }
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for Errno {}

/// Why `System::apply` could not run an op at all (as opposed to the op
/// failing with an errno, which a program would see and survive).
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum OpError {
    /// The syscall failed; replay prints `err LINE OP ERRNO` and goes on.
    #[error("{0}")]
    Errno(Errno),
    /// The op names a process that does not exist.
    #[error("process {0} does not exist")]
    NoProcess(u32),
    /// `fork` names a child that already exists.
    #[error("process {0} already exists")]
    ProcessExists(u32),
    /// `mmap file=NAME` names an undeclared file, or `file` redeclares one.
    #[error("{0}")]
    File(String),
    /// `config` after the system was built.
    #[error("config must come before every other operation")]
    LateConfig,
}

impl From<Errno> for OpError {
    fn from(e: Errno) -> Self {
        OpError::Errno(e)
    }
}

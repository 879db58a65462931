//! Erasing a file that held a secret (an invitation after enrollment):
//! its bytes are overwritten in place, flushed to the disk, and only then
//! is the name removed, so the secret is not left in the freed blocks of
//! an ordinary file system. (On copy-on-write file systems and SSDs an old
//! copy may survive in blocks the file no longer owns: the invitation's
//! short validity and its one use are what protect it there.)

use std::fs::OpenOptions;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// A file that could not be erased completely, and which step failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot {step} {}: {source}", path.display())]
pub struct EraseError {
    /// What was being done: "overwrite", "flush", "delete" or "sync the folder of".
    pub step: &'static str,
    /// The file.
    pub path: PathBuf,
    /// Why.
    #[source]
    pub source: io::Error,
}

/// Overwrites `path` with zeros (same length), flushes it to the disk,
/// deletes it and flushes its folder. Attempts the deletion even if the
/// overwrite failed; an error says the first step that failed.
pub fn erase(path: &Path) -> Result<(), EraseError> {
    let overwritten = overwrite(path);
    std::fs::remove_file(path).map_err(|e| failed("delete", path, e))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        sync_dir(dir).map_err(|e| failed("sync the folder of", path, e))?;
    }
    overwritten
}

fn failed(step: &'static str, path: &Path, source: io::Error) -> EraseError {
    EraseError { step, path: path.to_owned(), source }
}

fn overwrite(path: &Path) -> Result<(), EraseError> {
    let fail = |e| failed("overwrite", path, e);
    let mut file = OpenOptions::new().write(true).open(path).map_err(fail)?;
    let mut left = file.metadata().map_err(fail)?.len();
    file.seek(SeekFrom::Start(0)).map_err(fail)?;
    let zeros = [0u8; 4096];
    while left > 0 {
        let n = zeros.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        file.write_all(&zeros[..n]).map_err(fail)?;
        left = left.saturating_sub(n as u64);
    }
    file.sync_all().map_err(|e| failed("flush", path, e))
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_is_gone_and_its_blocks_were_zeroed_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.belfry-invite");
        std::fs::write(&path, vec![0xAB; 10_000]).unwrap();
        // A second name for the same inode shows what was written to it.
        let witness = dir.path().join("witness");
        std::fs::hard_link(&path, &witness).unwrap();
        erase(&path).unwrap();
        assert!(!path.exists());
        assert_eq!(std::fs::read(&witness).unwrap(), vec![0u8; 10_000]);
    }

    #[test]
    fn a_missing_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let e = erase(&dir.path().join("nope")).unwrap_err();
        assert_eq!(e.step, "delete");
    }
}

//! Writing files with the right permissions, never overwriting; the clock
//! and how times are shown.

use crate::error::{AdminError, Result};
use belfry_protocol::Timestamp;
use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::path::Path;

/// Files only the owner may read: org.json, invitations, the issued log.
pub const SECRET_MODE: u32 = 0o600;
/// Files that hold nothing secret: signed statements.
pub const PUBLIC_MODE: u32 = 0o644;

/// Creates `dir` and its missing parents, mode 0700 on unix.
pub fn create_private_dir(dir: &Path) -> Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(AdminError::io("create directory", dir))
}

fn options(mode: u32) -> OpenOptions {
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    options
}

/// Writes a new file with `mode` (unix); refuses to replace an existing one.
/// A partly written file is removed.
pub fn write_new(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    let mut file = match options(mode).write(true).create_new(true).open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(AdminError::OutExists { path: path.to_owned() });
        }
        Err(source) => return Err(AdminError::Io { action: "create", path: path.to_owned(), source }),
    };
    if let Err(source) = file.write_all(contents).and_then(|()| file.sync_all()) {
        drop(file);
        let _ = fs::remove_file(path);
        return Err(AdminError::Io { action: "write", path: path.to_owned(), source });
    }
    Ok(())
}

/// Appends one line to `path`, creating it with `mode` (unix) if needed.
pub fn append_line(path: &Path, line: &str, mode: u32) -> Result<()> {
    let mut file = options(mode).append(true).create(true).open(path).map_err(AdminError::io("open", path))?;
    let mut bytes = Vec::with_capacity(line.len() + 1);
    bytes.extend_from_slice(line.as_bytes());
    bytes.push(b'\n');
    file.write_all(&bytes).and_then(|()| file.sync_all()).map_err(AdminError::io("append to", path))
}

/// The current time.
pub fn now() -> Result<Timestamp> {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_err(|_| AdminError::Clock)?;
    Ok(Timestamp(u64::try_from(since.as_millis()).unwrap_or(u64::MAX)))
}

/// `2026-11-22T21:58:50Z` (UTC, second precision).
pub fn iso8601(t: Timestamp) -> String {
    let secs = t.0 / 1000;
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (Howard
/// Hinnant's `civil_from_days`, for non-negative days).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_dates() {
        assert_eq!(iso8601(Timestamp(0)), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(Timestamp(951_782_400_000)), "2000-02-29T00:00:00Z");
        assert_eq!(iso8601(Timestamp(1_795_384_730_999)), "2026-11-22T21:58:50Z");
        assert_eq!(iso8601(Timestamp(4_102_444_799_000)), "2099-12-31T23:59:59Z");
    }
}

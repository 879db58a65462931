//! Where the org passphrase comes from, in this order: `--passphrase-file`,
//! the environment variable `BELFRY_ORG_PASSPHRASE`, an interactive prompt.
//! The passphrase only ever lives in a [`Zeroizing`] string.

use crate::error::{AdminError, Result};
use std::io::IsTerminal as _;
use std::path::Path;
use zeroize::Zeroizing;

/// Environment variable that may hold the passphrase (for scripted use; a
/// passphrase file or the prompt keeps it out of the process environment).
pub const ENV: &str = "BELFRY_ORG_PASSPHRASE";

/// Shortest passphrase accepted for a new organisation, in characters.
pub const MIN_LEN: usize = 12;

/// What the passphrase is for.
#[derive(Debug, Clone, Copy)]
pub enum Purpose<'a> {
    /// Choosing the passphrase of a new org file: asked twice, length checked.
    New,
    /// Unlocking this org file.
    Unlock(&'a Path),
}

/// The passphrase from the first available source.
pub fn obtain(file: Option<&Path>, purpose: Purpose<'_>) -> Result<Zeroizing<String>> {
    let passphrase = if let Some(path) = file {
        from_file(path)?
    } else if let Some(value) = std::env::var_os(ENV) {
        Zeroizing::new(value.into_string().map_err(|_| AdminError::PassphraseEnv)?)
    } else {
        prompt(purpose)?
    };
    if let Purpose::New = purpose {
        let len = passphrase.chars().count();
        if len < MIN_LEN {
            return Err(AdminError::PassphraseTooShort { min: MIN_LEN, len });
        }
    }
    Ok(passphrase)
}

fn from_file(path: &Path) -> Result<Zeroizing<String>> {
    let bytes = Zeroizing::new(
        std::fs::read(path).map_err(|source| AdminError::PassphraseFile { path: path.to_owned(), source })?,
    );
    let content_err = |reason| AdminError::PassphraseFileContent { path: path.to_owned(), reason };
    let text = std::str::from_utf8(&bytes).map_err(|_| content_err("is not UTF-8 text"))?;
    let first = text.split('\n').next().unwrap_or_default();
    let first = first.strip_suffix('\r').unwrap_or(first);
    if first.is_empty() {
        return Err(content_err("is empty: the passphrase is its first line"));
    }
    Ok(Zeroizing::new(first.to_owned()))
}

fn prompt(purpose: Purpose<'_>) -> Result<Zeroizing<String>> {
    if !std::io::stdin().is_terminal() {
        return Err(AdminError::NoPassphraseSource);
    }
    let ask = |text: &str| {
        rpassword::prompt_password(text).map(Zeroizing::new).map_err(|source| AdminError::PassphrasePrompt { source })
    };
    match purpose {
        Purpose::Unlock(path) => ask(&format!("Passphrase for {}: ", path.display())),
        Purpose::New => {
            let first = ask(&format!("New passphrase for the organisation key (at least {MIN_LEN} characters): "))?;
            if first.chars().count() < MIN_LEN {
                return Err(AdminError::PassphraseTooShort { min: MIN_LEN, len: first.chars().count() });
            }
            let second = ask("Repeat the passphrase: ")?;
            if *first != *second {
                return Err(AdminError::PassphraseMismatch);
            }
            Ok(first)
        }
    }
}

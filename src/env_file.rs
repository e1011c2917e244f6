//! Writing settings back to the `.env` file, which is how first-run setup keeps the App's
//! credentials across restarts.
//!
//! Owns: replacing or adding `KEY='value'` lines while keeping the rest of the file, and
//! creating every file it writes with mode 0600 (via a temporary file and a rename, so a crash
//! never leaves half a file).
//! Must not: print what it writes.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Writes `contents` to `path` atomically with owner-only permissions.
pub fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let mut nonce = [0u8; 8];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut nonce);
    let tmp = dir.join(format!(".{name}.tmp-{}", hex::encode(nonce)));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    // `mode` only applies when the file is created; make sure of it either way.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.write_all(contents)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)
}

fn quote(value: &str) -> String {
    // Single quotes: dotenv reads the content literally. Values never contain one (IDs, hex
    // secrets, paths chosen by shipgate), but refuse rather than corrupt the file.
    assert!(
        !value.contains('\'') && !value.contains('\n'),
        "value cannot be written to .env"
    );
    format!("'{value}'")
}

/// Sets `pairs` in the env file at `path`, keeping unrelated lines and comments.
pub fn set_vars(path: &Path, pairs: &[(&str, &str)]) -> std::io::Result<()> {
    let existing = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    let is_set_here = |line: &str| {
        let line = line.trim_start().trim_start_matches("export ").trim_start();
        pairs.iter().any(|(key, _)| {
            line.strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
    };
    let mut out: Vec<String> = existing
        .lines()
        .filter(|line| !is_set_here(line))
        .map(str::to_owned)
        .collect();
    for (key, value) in pairs {
        out.push(format!("{key}={}", quote(value)));
    }
    let mut text = out.join("\n");
    text.push('\n');
    write_private(path, text.as_bytes())
}

/// Where the private key file goes: next to the env file.
pub fn key_path_beside(env_file: &Path, slug: &str) -> PathBuf {
    let safe: String = slug
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    env_file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join(format!("{safe}.private-key.pem"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_keys_keeps_other_lines_and_is_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        std::fs::write(
            &path,
            "# mine\nDATABASE_URL=sqlite://x.db\nGITHUB_APP_ID=1\n",
        )
        .unwrap();
        set_vars(
            &path,
            &[("GITHUB_APP_ID", "42"), ("GITHUB_WEBHOOK_SECRET", "abc")],
        )
        .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "# mine\nDATABASE_URL=sqlite://x.db\nGITHUB_APP_ID='42'\nGITHUB_WEBHOOK_SECRET='abc'\n"
        );
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // dotenv reads back what was written.
        let read: Vec<(String, String)> = dotenvy::from_path_iter(&path)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert!(read.contains(&("GITHUB_APP_ID".into(), "42".into())));
        assert!(read.contains(&("DATABASE_URL".into(), "sqlite://x.db".into())));
    }
}

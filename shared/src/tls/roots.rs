//! The system's trust roots, found by subject when a handshake needs one
//! instead of all parsed before the first.
//!
//! native-tls builds every connector from the system's trust set: the CA
//! bundle *files* (`SSL_CERT_FILE`, else OpenSSL's default file, and the file
//! `openssl-probe` finds), which OpenSSL reads and parses whole, and the
//! hashed *directories* (`SSL_CERT_DIR`, OpenSSL's default, the ones the
//! probe finds), which it searches one file per lookup. Parsing a bundle of
//! 144 roots takes 15-20 ms with OpenSSL 3, twice when the two files are the
//! same one, most of a production cold start (`make bench`), to use two
//! roots.
//!
//! [`defer_loading`] moves the bundles' certificates into a hashed directory
//! of their own, the same trust set in the form OpenSSL searches lazily:
//! each certificate in a file `<subject hash>.<n>` ([`super::subject_hash`],
//! computed without parsing the certificate), written once per bundle
//! version into a private directory under the temporary directory (Lambda's
//! `/tmp`), and named in `SSL_CERT_DIR` ahead of the directories already
//! there, while `SSL_CERT_FILE` names an empty file. The directory is
//! written only when a connector is first built, so a process that never
//! uses TLS pays for a few `stat`s. If it cannot be written or trusted, the
//! connector is given the bundles' certificates one by one instead: slower,
//! the same roots. Nothing is ever trusted that the process would not have
//! trusted anyway, and certificate and host-name checks are OpenSSL's own.

use std::ffi::{CStr, OsString};
use std::fmt;
use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use base64::Engine;

use super::subject_hash;

const CERT_FILE: &str = "SSL_CERT_FILE";
const CERT_DIR: &str = "SSL_CERT_DIR";
/// What `SSL_CERT_FILE` names once the bundles are in the directory: a file
/// that exists (or the probe would look for another) and holds nothing.
const EMPTY: &str = "/dev/null";

/// The bundles moved into a directory by [`defer_loading`].
#[derive(Debug)]
pub struct Deferred {
    /// The bundle files OpenSSL would otherwise have parsed whole.
    pub bundles: Vec<PathBuf>,
    /// The hashed directory that holds their certificates.
    pub directory: PathBuf,
}

static DEFERRED: OnceLock<Deferred> = OnceLock::new();

/// Points OpenSSL at a hashed directory for the system's CA bundles (written
/// later, by [`deferred`]'s user) instead of the bundles themselves. Does
/// nothing when there is no bundle, or when called again.
///
/// # Safety
///
/// Sets `SSL_CERT_FILE` and `SSL_CERT_DIR`: call it before the process has a
/// second thread (the first statement of a current-thread `main`), like any
/// `std::env::set_var`.
pub unsafe fn defer_loading() {
    if DEFERRED.get().is_some() {
        return;
    }
    let env = |name| std::env::var_os(name).filter(|v| !v.is_empty());
    // OpenSSL's own defaults (SSL_CTX_set_default_verify_paths), then the
    // file native-tls adds from openssl-probe.
    let openssl_file = env(CERT_FILE)
        .map(PathBuf::from)
        .unwrap_or_else(|| compiled_default(openssl_sys::X509_get_default_cert_file));
    let openssl_dirs = env(CERT_DIR).unwrap_or_else(|| {
        compiled_default(openssl_sys::X509_get_default_cert_dir).into_os_string()
    });
    let mut bundles: Vec<PathBuf> = Vec::new();
    for file in [Some(openssl_file), openssl_probe::probe().cert_file]
        .into_iter()
        .flatten()
    {
        if let Ok(path) = fs::canonicalize(&file)
            && path.is_file()
            && !bundles.contains(&path)
        {
            bundles.push(path);
        }
    }
    if bundles.is_empty() {
        return;
    }
    let Some(directory) = directory_for(&bundles) else {
        return;
    };
    let mut dirs = OsString::from(&directory);
    dirs.push(":");
    dirs.push(openssl_dirs);
    // SAFETY: the caller guarantees no other thread runs.
    unsafe {
        std::env::set_var(CERT_FILE, EMPTY);
        std::env::set_var(CERT_DIR, dirs);
    }
    let _ = DEFERRED.set(Deferred { bundles, directory });
}

/// What [`defer_loading`] moved, if it ran.
pub fn deferred() -> Option<&'static Deferred> {
    DEFERRED.get()
}

fn compiled_default(get: unsafe extern "C" fn() -> *const std::ffi::c_char) -> PathBuf {
    // SAFETY: OpenSSL returns a static, NUL-terminated string.
    let path = unsafe { CStr::from_ptr(get()) };
    PathBuf::from(path.to_string_lossy().into_owned())
}

/// `<tmp>/todo-api-roots-<uid>-<key>`, the key naming the bundles' versions
/// (path, device, inode, size, modification time): a changed bundle gets a
/// directory of its own.
fn directory_for(bundles: &[PathBuf]) -> Option<PathBuf> {
    let mut key = Vec::new();
    for bundle in bundles {
        let meta = fs::metadata(bundle).ok()?;
        key.extend(bundle.as_os_str().as_encoded_bytes());
        for n in [meta.dev(), meta.ino(), meta.size()] {
            key.extend(n.to_le_bytes());
        }
        key.extend(meta.mtime().to_le_bytes());
        key.extend(meta.mtime_nsec().to_le_bytes());
    }
    let digest = openssl::sha::sha256(&key);
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    let uid = effective_uid();
    Some(std::env::temp_dir().join(format!("todo-api-roots-{uid}-{hex}")))
}

fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Why the directory could not be used.
#[derive(Debug)]
pub enum DirectoryError {
    /// Reading a bundle or writing the directory failed.
    Io(PathBuf, io::Error),
    /// A bundle holds a block that is not a certificate this code can read.
    Bundle(PathBuf, String),
    /// The directory exists but is not this user's alone: it is not used.
    NotPrivate(PathBuf),
}

impl fmt::Display for DirectoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DirectoryError::Io(path, e) => write!(f, "{}: {e}", path.display()),
            DirectoryError::Bundle(path, e) => write!(f, "{}: {e}", path.display()),
            DirectoryError::NotPrivate(path) => write!(
                f,
                "{} exists but is not a directory of this user's alone",
                path.display()
            ),
        }
    }
}

impl std::error::Error for DirectoryError {}

impl Deferred {
    /// Makes sure the hashed directory holds the bundles' certificates:
    /// written into a fresh private directory and renamed into place, so a
    /// reader sees all of it or none; kept from an earlier process when it is
    /// this user's and no one else may write it.
    pub fn ensure_directory(&self) -> Result<(), DirectoryError> {
        if private(&self.directory)? {
            return Ok(());
        }
        let io = |path: &Path| {
            let path = path.to_owned();
            move |e| DirectoryError::Io(path, e)
        };
        let staging = self.directory.with_extension(format!(
            "{}.{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos()
        ));
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&staging)
            .map_err(io(&staging))?;
        let written = self.write_into(&staging);
        let placed = written.and_then(|()| {
            fs::rename(&staging, &self.directory).or_else(|e| {
                // Another process placed it first: use that one.
                if private(&self.directory)? {
                    Ok(())
                } else {
                    Err(DirectoryError::Io(self.directory.clone(), e))
                }
            })
        });
        if placed.is_err() || staging.exists() {
            let _ = fs::remove_dir_all(&staging);
        }
        placed
    }

    fn write_into(&self, directory: &Path) -> Result<(), DirectoryError> {
        let mut names = std::collections::HashMap::<u32, u32>::new();
        for bundle in &self.bundles {
            for certificate in certificates(bundle)? {
                let n = names.entry(certificate.hash).or_default();
                let path = directory.join(format!("{:08x}.{n}", certificate.hash));
                *n += 1;
                fs::write(&path, certificate.pem)
                    .map_err(|e| DirectoryError::Io(path.clone(), e))?;
            }
        }
        Ok(())
    }
}

/// `path` is a directory (not a link) of this user's that no one else may
/// write; `Ok(false)` when there is nothing there.
fn private(path: &Path) -> Result<bool, DirectoryError> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(DirectoryError::Io(path.to_owned(), e)),
        Ok(meta) => {
            if meta.is_dir() && meta.uid() == effective_uid() && meta.mode() & 0o022 == 0 {
                Ok(true)
            } else {
                Err(DirectoryError::NotPrivate(path.to_owned()))
            }
        }
    }
}

/// One certificate of a bundle: its PEM block as written and its DER.
pub struct BundleCertificate {
    pub pem: String,
    pub der: Vec<u8>,
    pub hash: u32,
}

/// Every certificate in a PEM bundle (`CERTIFICATE` and OpenSSL's
/// `TRUSTED CERTIFICATE` blocks; anything else, such as a CRL, is skipped,
/// as certificate verification here does not use CRLs).
pub fn certificates(bundle: &Path) -> Result<Vec<BundleCertificate>, DirectoryError> {
    let text = fs::read_to_string(bundle).map_err(|e| DirectoryError::Io(bundle.to_owned(), e))?;
    let bad = |problem: String| DirectoryError::Bundle(bundle.to_owned(), problem);
    let mut out = Vec::new();
    let mut rest = text.as_str();
    while let Some(start) = rest.find("-----BEGIN ") {
        rest = &rest[start..];
        let label_end = rest[11..]
            .find("-----")
            .ok_or_else(|| bad("unterminated PEM label".into()))?;
        let label = &rest[11..11 + label_end];
        let end_line = format!("-----END {label}-----");
        let end = rest
            .find(&end_line)
            .ok_or_else(|| bad(format!("no {end_line}")))?
            + end_line.len();
        let block = &rest[..end];
        rest = &rest[end..];
        if label != "CERTIFICATE" && label != "TRUSTED CERTIFICATE" {
            continue;
        }
        let body: String = block[11 + label_end + 5..block.len() - end_line.len()]
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|e| bad(format!("bad base64 ({e})")))?;
        let hash = subject_hash::of_certificate(&der).map_err(|e| bad(e.to_string()))?;
        out.push(BundleCertificate {
            pem: format!("{block}\n"),
            der,
            hash,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_others_may_write_is_not_used() {
        let dir = std::env::temp_dir().join(format!("todo-roots-test-{}", std::process::id()));
        fs::DirBuilder::new().mode(0o700).create(&dir).unwrap();
        assert!(private(&dir).unwrap());
        fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
        assert!(matches!(private(&dir), Err(DirectoryError::NotPrivate(_))));
        fs::remove_dir(&dir).unwrap();
        assert!(!private(&dir).unwrap());
    }

    #[test]
    fn reads_every_certificate_of_a_bundle_and_skips_other_blocks() {
        let Ok(system) = fs::read_to_string("/etc/ssl/certs/ca-certificates.crt") else {
            return;
        };
        let path = std::env::temp_dir().join(format!("todo-roots-bundle-{}", std::process::id()));
        fs::write(
            &path,
            format!("junk\n-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n{system}"),
        )
        .unwrap();
        let read = certificates(&path).unwrap();
        fs::remove_file(&path).unwrap();
        let expected = openssl::x509::X509::stack_from_pem(system.as_bytes()).unwrap();
        assert_eq!(read.len(), expected.len());
        for (ours, theirs) in read.iter().zip(&expected) {
            assert_eq!(ours.der, theirs.to_der().unwrap());
            assert_eq!(ours.hash, theirs.subject_name_hash());
        }
    }
}

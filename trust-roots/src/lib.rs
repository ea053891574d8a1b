//! The system's trust roots, found by subject when a handshake needs one
//! instead of all parsed before the first.
//!
//! A crate of its own because it is the workspace's one foreign-function
//! code: every `unsafe` block of the project is here, beside the tests
//! that hold it to OpenSSL's own behaviour.
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
//! [`defer_loading`] keeps the bundles out of that eager load
//! (`SSL_CERT_FILE` then names an empty file) and answers OpenSSL's lookups
//! by subject for them instead, from an index in memory: each root's DER by
//! its subject hash ([`subject_hash`], computed without parsing the
//! certificate), built when the first connector is ([`Deferred::index`]).
//! A lookup parses only the roots whose hash it asks for (with the trust
//! settings of a `TRUSTED CERTIFICATE` block, as OpenSSL's bundle loading
//! reads them: a root rejected for server authentication stays rejected),
//! keeps those whose subject OpenSSL finds equal to the one asked for, and
//! adds them to the asking store, as OpenSSL's own directory lookup does. native-tls gives no
//! hook into its store, so the answer is given by OpenSSL's process-wide
//! file-lookup method, the one every default store holds for the bundle:
//! this process builds no store that loads a CA file of its own. The hashed
//! directories keep working as they did. If the index cannot be built, the
//! connector is given the bundles' certificates one by one instead: slower,
//! the same roots. Nothing is ever trusted that the process would not have
//! trusted anyway, and certificate and host-name checks are OpenSSL's own.

use std::collections::HashMap;
use std::ffi::{CStr, c_char, c_int, c_long};
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine;
use openssl_sys::{X509, X509_LOOKUP, X509_LOOKUP_METHOD, X509_NAME, X509_OBJECT, X509_STORE};

pub mod subject_hash;

const CERT_FILE: &str = "SSL_CERT_FILE";
/// What `SSL_CERT_FILE` names once the bundles are indexed: a file that
/// exists (or the probe would look for another) and holds nothing.
const EMPTY: &str = "/dev/null";
/// `X509_LOOKUP_TYPE`'s value for certificates (`X509_LU_X509`).
const LOOKUP_CERTIFICATE: c_int = 1;

// Parts of OpenSSL 3's API that openssl-sys does not declare.
unsafe extern "C" {
    /// `d2i_X509` that also reads a `TRUSTED CERTIFICATE`'s trust data
    /// after the certificate (what OpenSSL's own bundle loading keeps).
    fn d2i_X509_AUX(a: *mut *mut X509, pp: *mut *const u8, length: c_long) -> *mut X509;
    fn X509_LOOKUP_meth_set_get_by_subject(
        method: *mut X509_LOOKUP_METHOD,
        get: Option<GetBySubject>,
    ) -> c_int;
    fn X509_LOOKUP_get_store(lookup: *const X509_LOOKUP) -> *mut X509_STORE;
    fn X509_OBJECT_set1_X509(object: *mut X509_OBJECT, x: *mut X509) -> c_int;
    fn X509_NAME_hash_ex(
        name: *const X509_NAME,
        libctx: *mut std::ffi::c_void,
        propq: *const c_char,
        ok: *mut c_int,
    ) -> std::ffi::c_ulong;
}

type GetBySubject = unsafe extern "C" fn(
    lookup: *mut X509_LOOKUP,
    kind: c_int,
    name: *const X509_NAME,
    ret: *mut X509_OBJECT,
) -> c_int;

/// The bundles [`defer_loading`] kept out of OpenSSL's eager load.
#[derive(Debug)]
pub struct Deferred {
    /// The bundle files OpenSSL would otherwise have parsed whole.
    pub bundles: Vec<PathBuf>,
    index: OnceLock<Result<Index, IndexError>>,
}

/// Each root's DER by its subject hash.
#[derive(Debug)]
struct Index(HashMap<u32, Vec<Vec<u8>>>);

static DEFERRED: OnceLock<Deferred> = OnceLock::new();

/// Roots a lookup has parsed so far (for the tests: a handshake parses the
/// few it uses, not the bundle).
static PARSED: AtomicUsize = AtomicUsize::new(0);

/// Keeps the system's CA bundles out of OpenSSL's eager load and has
/// OpenSSL's file lookup find their roots by subject instead. Call it as
/// the first statement of `main`.
///
/// It changes the environment (`SSL_CERT_FILE`) and OpenSSL's file-lookup
/// method, which is sound only while no other thread runs: it checks that
/// the process has exactly one thread (`/proc/self/status`), and does
/// nothing otherwise, or where it cannot tell, or when there is no bundle,
/// or when called again. Doing nothing costs only time: OpenSSL then loads
/// the bundles whole, as it would have. [`deferred`] tells which it did.
pub fn defer_loading() {
    if DEFERRED.get().is_some() || !alone() {
        return;
    }
    let env = |name| std::env::var_os(name).filter(|v| !v.is_empty());
    // OpenSSL's own default (SSL_CTX_set_default_verify_paths), then the
    // file native-tls adds from openssl-probe.
    let openssl_file = env(CERT_FILE)
        .map(PathBuf::from)
        .unwrap_or_else(|| compiled_default(openssl_sys::X509_get_default_cert_file));
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
    openssl_sys::init();
    // SAFETY: OpenSSL's file-lookup method is a static table that lives as
    // long as the process; no other thread uses OpenSSL (this is the
    // process's one thread, `alone`). The function set matches OpenSSL's signature.
    let set = unsafe {
        X509_LOOKUP_meth_set_get_by_subject(openssl_sys::X509_LOOKUP_file(), Some(by_subject))
    };
    if set != 1 {
        return;
    }
    // SAFETY: this is the process's one thread (`alone`), and only it could
    // start another: nothing reads the environment meanwhile.
    unsafe { std::env::set_var(CERT_FILE, EMPTY) };
    let _ = DEFERRED.set(Deferred {
        bundles,
        index: OnceLock::new(),
    });
}

/// Whether this is the process's only thread, as Linux tells it
/// (`Threads:` in `/proc/self/status`); false where it cannot tell.
fn alone() -> bool {
    fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .any(|line| line.strip_prefix("Threads:").map(str::trim) == Some("1"))
    })
}

/// What [`defer_loading`] kept out, if it did.
pub fn deferred() -> Option<&'static Deferred> {
    DEFERRED.get()
}

/// How many roots lookups have parsed in this process.
pub fn parsed() -> usize {
    PARSED.load(Ordering::Relaxed)
}

fn compiled_default(get: unsafe extern "C" fn() -> *const c_char) -> PathBuf {
    // SAFETY: OpenSSL returns a static, NUL-terminated string.
    let path = unsafe { CStr::from_ptr(get()) };
    PathBuf::from(path.to_string_lossy().into_owned())
}

impl Deferred {
    /// Builds the index of the bundles' roots, once: a connector must not
    /// be built on the deferred roots unless this succeeded.
    pub fn index(&self) -> Result<(), &IndexError> {
        self.index
            .get_or_init(|| {
                let mut index: HashMap<u32, Vec<Vec<u8>>> = HashMap::new();
                for bundle in &self.bundles {
                    for certificate in certificates(bundle)? {
                        index
                            .entry(certificate.hash)
                            .or_default()
                            .push(certificate.der);
                    }
                }
                Ok(Index(index))
            })
            .as_ref()
            .map(|_| ())
    }
}

/// The file lookup's `get_by_subject`: the bundles' roots named `name`,
/// added to the lookup's store; `ret` refers to the first of them, with no
/// reference of its own (as OpenSSL's `by_store.c` leaves it: the caller
/// takes one).
unsafe extern "C" fn by_subject(
    lookup: *mut X509_LOOKUP,
    kind: c_int,
    name: *const X509_NAME,
    ret: *mut X509_OBJECT,
) -> c_int {
    let Some(Ok(Index(index))) = DEFERRED.get().and_then(|d| d.index.get()) else {
        return 0;
    };
    if kind != LOOKUP_CERTIFICATE || name.is_null() {
        return 0;
    }
    // SAFETY: `name` is the valid name OpenSSL asks about.
    let hash = unsafe {
        X509_NAME_hash_ex(
            name,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null_mut(),
        )
    };
    let Some(candidates) = u32::try_from(hash).ok().and_then(|h| index.get(&h)) else {
        return 0;
    };
    // SAFETY: the lookup belongs to a live store while it is asked.
    let store = unsafe { X509_LOOKUP_get_store(lookup) };
    let mut found = 0;
    for der in candidates {
        let Ok(length) = c_long::try_from(der.len()) else {
            continue;
        };
        let mut cursor = der.as_ptr();
        // With its trust data, if any: a root the bundle marks as rejected
        // for a purpose stays rejected for it, as OpenSSL's loading of the
        // bundle keeps it.
        // SAFETY: `cursor` points at `length` bytes of DER.
        let x = unsafe { d2i_X509_AUX(std::ptr::null_mut(), &mut cursor, length) };
        if x.is_null() {
            continue;
        }
        PARSED.fetch_add(1, Ordering::Relaxed);
        // SAFETY: `x` is a certificate we own one reference to; the store
        // and `ret` take references of their own, and the extra one
        // `X509_OBJECT_set1_X509` takes is given back, as by_store.c does.
        unsafe {
            if openssl_sys::X509_NAME_cmp(openssl_sys::X509_get_subject_name(x), name) == 0
                && openssl_sys::X509_STORE_add_cert(store, x) == 1
                && found == 0
                && X509_OBJECT_set1_X509(ret, x) == 1
            {
                openssl_sys::X509_free(x);
                found = 1;
            }
            openssl_sys::X509_free(x);
        }
    }
    found
}

/// Why the bundles could not be indexed.
#[derive(Debug)]
pub enum IndexError {
    /// Reading a bundle failed.
    Io(PathBuf, io::Error),
    /// A bundle holds a block that is not a certificate this code can read.
    Bundle(PathBuf, String),
}

impl fmt::Display for IndexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IndexError::Io(path, e) => write!(f, "{}: {e}", path.display()),
            IndexError::Bundle(path, e) => write!(f, "{}: {e}", path.display()),
        }
    }
}

impl std::error::Error for IndexError {}

/// One certificate of a bundle: its DER and its subject hash.
pub struct BundleCertificate {
    pub der: Vec<u8>,
    pub hash: u32,
}

/// Every certificate in a PEM bundle (`CERTIFICATE` and OpenSSL's
/// `TRUSTED CERTIFICATE` blocks, the latter's DER with the trust data that
/// follows the certificate; anything else, such as a CRL, is skipped, as
/// certificate verification here does not use CRLs).
pub fn certificates(bundle: &Path) -> Result<Vec<BundleCertificate>, IndexError> {
    let text = fs::read_to_string(bundle).map_err(|e| IndexError::Io(bundle.to_owned(), e))?;
    let bad = |problem: String| IndexError::Bundle(bundle.to_owned(), problem);
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
        out.push(BundleCertificate { der, hash });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

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

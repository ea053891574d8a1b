//! Throwaway certificates, made with OpenSSL's API: a test CA and
//! certificates it signs, for PostgreSQL, the Better Auth fixture and the
//! Secrets Manager emulator over TLS, and for the trust roots' tests.

use std::path::{Path, PathBuf};

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
};
use openssl::x509::{X509, X509NameBuilder};

/// A test CA and a certificate for `localhost` it signed, written to a
/// folder: `ca.crt`, `server.crt` and `server.key` (mode 0600, as
/// PostgreSQL wants its key).
pub struct TestCa {
    pub dir: PathBuf,
}

impl TestCa {
    pub fn make(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let (ca, ca_key) = certificate("todo-api test CA", None, true, 0, 2, &[]);
        std::fs::write(dir.join("ca.crt"), ca.to_pem().unwrap()).unwrap();
        let (cert, key) = certificate(
            "localhost",
            Some((&ca, &ca_key)),
            false,
            0,
            2,
            &["localhost"],
        );
        write(dir, "server", &cert, &key);
        use std::os::unix::fs::PermissionsExt;
        let key_file = dir.join("server.key");
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
        TestCa {
            dir: dir.to_owned(),
        }
    }

    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }

    pub fn cert(&self) -> PathBuf {
        self.dir.join("server.crt")
    }

    pub fn key(&self) -> PathBuf {
        self.dir.join("server.key")
    }
}

/// A PEM block of `der` labelled `label`.
pub fn pem(label: &str, der: &[u8]) -> Vec<u8> {
    use base64::Engine;
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out.into_bytes()
}

pub fn write(dir: &Path, name: &str, cert: &X509, key: &PKey<Private>) {
    let path = |ext: &str| -> PathBuf { dir.join(format!("{name}.{ext}")) };
    std::fs::write(path("crt"), cert.to_pem().unwrap()).unwrap();
    std::fs::write(path("key"), key.private_key_to_pem_pkcs8().unwrap()).unwrap();
}

/// A P-256 certificate (and its key) for `common_name`, valid from `from` to `to` days
/// from now, signed by `issuer` (self-signed without one).
pub fn certificate(
    common_name: &str,
    issuer: Option<(&X509, &PKey<Private>)>,
    ca: bool,
    from: i64,
    to: i64,
    hosts: &[&str],
) -> (X509, PKey<Private>) {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    let key = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_nid(Nid::COMMONNAME, common_name)
        .unwrap();
    let name = name.build();
    let mut builder = X509::builder().unwrap();
    builder.set_version(2).unwrap();
    let mut serial = BigNum::new().unwrap();
    serial.rand(64, MsbOption::MAYBE_ZERO, false).unwrap();
    builder
        .set_serial_number(&serial.to_asn1_integer().unwrap())
        .unwrap();
    builder.set_subject_name(&name).unwrap();
    let (issuer_name, signer) = match issuer {
        Some((cert, key)) => (cert.subject_name().to_owned().unwrap(), key.clone()),
        None => (name.to_owned().unwrap(), key.clone()),
    };
    builder.set_issuer_name(&issuer_name).unwrap();
    builder.set_pubkey(&key).unwrap();
    let day = |n: i64| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        Asn1Time::from_unix(now + n * 86_400).unwrap()
    };
    builder.set_not_before(&day(from - 1)).unwrap();
    builder.set_not_after(&day(to)).unwrap();
    if ca {
        builder
            .append_extension(BasicConstraints::new().critical().ca().build().unwrap())
            .unwrap();
        builder
            .append_extension(
                KeyUsage::new()
                    .critical()
                    .key_cert_sign()
                    .crl_sign()
                    .build()
                    .unwrap(),
            )
            .unwrap();
    } else {
        let mut san = SubjectAlternativeName::new();
        for host in hosts {
            san.dns(host);
        }
        let context = builder.x509v3_context(issuer.map(|(cert, _)| &**cert), None);
        let san = san.build(&context).unwrap();
        builder.append_extension(san).unwrap();
        builder
            .append_extension(ExtendedKeyUsage::new().server_auth().build().unwrap())
            .unwrap();
    }
    builder.sign(&signer, MessageDigest::sha256()).unwrap();
    (builder.build(), key)
}

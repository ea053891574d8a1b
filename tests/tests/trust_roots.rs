//! The trust roots looked up by subject (the `trust-roots` crate) trust
//! exactly what OpenSSL loading the whole bundle trusts.
//!
//! A test binary of its own (`harness = false`): `defer_loading` sets
//! `SSL_CERT_FILE`, so it acts only while the process has one thread,
//! which the test harness cannot promise. Each way of
//! building the connector runs in a child process of this binary, against
//! TLS servers whose certificates chain to a root placed *last* in a copy of
//! the system bundle (accepted), to a CA outside it, expired, for another
//! host name, and to a CA the bundle holds as a `TRUSTED CERTIFICATE`
//! rejected for server authentication (all refused).

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;

use openssl::x509::X509;
use todo_tests::certs::{certificate, pem, write};

/// The ways a process builds its connector: `lazy`, `defer_loading` with
/// the bundle indexed and roots parsed as handshakes ask for them;
/// `fallback`, `defer_loading` with a bundle the index cannot read (its last
/// root in BER, which OpenSSL accepts: the roots are handed over one by
/// one); `threaded`, `defer_loading` called once a second thread runs, so
/// that it must do nothing; `ordinary`, native-tls as it comes.
const MODES: [&str; 4] = ["lazy", "fallback", "threaded", "ordinary"];

/// Servers' certificates and whether a client must accept them.
const SERVERS: [(&str, bool); 5] = [
    ("trusted", true),
    ("untrusted-ca", false),
    ("expired", false),
    ("wrong-host", false),
    ("rejected-ca", false),
];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let [_, child, mode, dir] = &args[..]
        && child == "child"
    {
        return as_child(mode, Path::new(dir));
    }
    let dir = std::env::temp_dir().join(format!("todo-trust-roots-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    make_certificates(&dir);
    let mut failed = Vec::new();
    for mode in MODES {
        let bundle = if mode == "fallback" {
            "bundle-ber.crt"
        } else {
            "bundle.crt"
        };
        let status = Command::new(std::env::current_exe().unwrap())
            .args(["child", mode, dir.to_str().unwrap()])
            .env("SSL_CERT_FILE", dir.join(bundle))
            .env_remove("SSL_CERT_DIR")
            .status()
            .unwrap();
        println!("trust roots, {mode}: {status}");
        if !status.success() {
            failed.push(mode);
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(failed.is_empty(), "failed: {failed:?}");
}

fn as_child(mode: &str, dir: &Path) {
    // Kept alive (blocked on the channel) until the handshakes are done.
    let (_done, wait) = std::sync::mpsc::channel::<()>();
    if mode == "threaded" {
        let (started, running) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            started.send(()).unwrap();
            let _ = wait.recv();
        });
        running.recv().unwrap();
    }
    if mode != "ordinary" {
        trust_roots::defer_loading();
    }
    let connector = todo_shared::outside::tls::connector().expect("a connector");
    for (server, accept) in SERVERS {
        let outcome = handshake(&connector, dir, server);
        assert_eq!(
            outcome.is_ok(),
            accept,
            "{mode}: {server}: {outcome:?} (expected {})",
            if accept { "accepted" } else { "refused" }
        );
    }
    let deferred = trust_roots::deferred();
    let parsed = trust_roots::parsed();
    match mode {
        // Of the 140-odd roots, the handshakes parsed the test CA and the
        // rejected one alone (the untrusted CA's subject is not in the index).
        "lazy" => {
            assert!(deferred.expect("deferred").index().is_ok());
            assert_eq!(parsed, 2, "roots parsed");
        }
        "fallback" => {
            assert!(deferred.expect("deferred").index().is_err());
            assert_eq!(parsed, 0, "roots parsed by lookups");
        }
        _ => assert!(deferred.is_none()),
    }
}

/// A TLS handshake as `localhost` with a server presenting `server`'s
/// certificate.
fn handshake(connector: &native_tls::TlsConnector, dir: &Path, server: &str) -> Result<(), String> {
    let identity = native_tls::Identity::from_pkcs8(
        &std::fs::read(dir.join(format!("{server}.crt"))).unwrap(),
        &std::fs::read(dir.join(format!("{server}.key"))).unwrap(),
    )
    .unwrap();
    let acceptor = native_tls::TlsAcceptor::new(identity).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let serving = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let _ = acceptor.accept(stream);
    });
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let result = connector
        .connect("localhost", stream)
        .map(drop)
        .map_err(|e| e.to_string());
    serving.join().unwrap();
    result
}

/// A test CA appended last to a copy of the system bundle (`bundle.crt`,
/// and in BER, `bundle-ber.crt`), before it a CA marked as rejected for
/// server authentication (as `openssl x509 -addreject serverAuth -trustout`
/// writes it), another CA, and a key and certificate for each server.
fn make_certificates(dir: &Path) {
    let (ca, ca_key) = certificate("todo-api trust test CA", None, true, 0, 2, &[]);
    let (other, other_key) = certificate("an untrusted CA", None, true, 0, 2, &[]);
    let (rejected, rejected_key) = certificate("a rejected CA", None, true, 0, 2, &[]);
    let system = std::fs::read("/etc/ssl/certs/ca-certificates.crt").unwrap_or_default();
    let mut bundle = system;
    bundle.extend(rejected_for_servers(&rejected));
    bundle.extend(ca.to_pem().unwrap());
    std::fs::write(dir.join("bundle.crt"), &bundle).unwrap();
    // The same CA with its outer SEQUENCE of indefinite length: BER that
    // OpenSSL reads and the index (DER only) does not.
    let der = ca.to_der().unwrap();
    let header = if der[1] & 0x80 != 0 {
        2 + usize::from(der[1] & 0x7f)
    } else {
        2
    };
    let mut ber = vec![0x30, 0x80];
    ber.extend(&der[header..]);
    ber.extend([0, 0]);
    assert!(X509::from_der(&ber).is_ok(), "OpenSSL reads the BER CA");
    let mut with_ber = bundle[..bundle.len() - ca.to_pem().unwrap().len()].to_vec();
    with_ber.extend(pem("CERTIFICATE", &ber));
    std::fs::write(dir.join("bundle-ber.crt"), with_ber).unwrap();
    let servers = [
        ("trusted", &ca, &ca_key, 0, 2, "localhost"),
        ("untrusted-ca", &other, &other_key, 0, 2, "localhost"),
        ("expired", &ca, &ca_key, -3, -1, "localhost"),
        ("wrong-host", &ca, &ca_key, 0, 2, "elsewhere.example"),
        ("rejected-ca", &rejected, &rejected_key, 0, 2, "localhost"),
    ];
    for (name, issuer, issuer_key, from, to, host) in servers {
        let (cert, key) = certificate(host, Some((issuer, issuer_key)), false, from, to, &[host]);
        write(dir, name, &cert, &key);
    }
}

/// `ca` as OpenSSL's `TRUSTED CERTIFICATE`: its DER followed by the
/// auxiliary trust data (`X509_CERT_AUX`) that rejects it for server
/// authentication: `SEQUENCE { [0] SEQUENCE { OID 1.3.6.1.5.5.7.3.1 } }`.
fn rejected_for_servers(ca: &X509) -> Vec<u8> {
    const SERVER_AUTH: [u8; 10] = [0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01];
    let mut der = ca.to_der().unwrap();
    der.extend([0x30, 0x0c, 0xa0, 0x0a]);
    der.extend(SERVER_AUTH);
    pem("TRUSTED CERTIFICATE", &der)
}

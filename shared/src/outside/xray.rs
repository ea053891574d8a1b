//! X-Ray subsegments for what a request waits on (the database, Better
//! Auth's JWKS), so that they show in the invocation's trace as their own
//! spans under the function's segment.
//!
//! With `Tracing: Active`, Lambda makes the function's segment itself, names
//! it in the invocation's trace header (`Root=…;Parent=<segment id>;
//! Sampled=1`, which `lambda_runtime` hands over in the request's context)
//! and runs the X-Ray daemon beside the function at `AWS_XRAY_DAEMON_ADDRESS`.
//! A subsegment is one UDP datagram to that daemon, naming the segment as its
//! parent: no dependency, no waiting, and a lost datagram loses a span,
//! never a request. Without the variable (locally, in tests) nothing is sent.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::{SocketAddr, UdpSocket};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::json;

use crate::observe::{self, Trace};

/// The daemon's UDP address and a socket to reach it, set once by [`init`].
static DAEMON: OnceLock<Option<(UdpSocket, SocketAddr)>> = OnceLock::new();

/// Opens the socket to the daemon at `address` (the checked
/// `AWS_XRAY_DAEMON_ADDRESS`, [`crate::config::Reporting`]), once, at
/// start-up; without one, nothing is ever sent. A socket that cannot be
/// opened loses the spans, never a request.
pub fn init(address: Option<SocketAddr>) {
    DAEMON.get_or_init(|| {
        let address = address?;
        let socket = UdpSocket::bind(("0.0.0.0", 0)).ok()?;
        socket.set_nonblocking(true).ok()?;
        Some((socket, address))
    });
}

/// The daemon, when [`init`] found one.
fn daemon() -> Option<&'static (UdpSocket, SocketAddr)> {
    DAEMON.get()?.as_ref()
}

/// A call to `name` that began at `started` and ends now: a subsegment of
/// the request's trace, when it has one ([`observe::with_trace`]).
pub fn called(name: &str, started: SystemTime, failed: bool) {
    observe::with_trace(|trace| record(trace, name, started, SystemTime::now(), failed));
}

/// Records a finished call of `name` as a subsegment of `trace`.
fn record(trace: &Trace, name: &str, started: SystemTime, ended: SystemTime, failed: bool) {
    if let Some((socket, address)) = daemon() {
        let _ = socket.send_to(
            datagram(trace, name, started, ended, failed).as_bytes(),
            address,
        );
    }
}

/// The daemon's wire format: a header line, then the subsegment document.
fn datagram(
    trace: &Trace,
    name: &str,
    started: SystemTime,
    ended: SystemTime,
    failed: bool,
) -> String {
    let seconds = |at: SystemTime| {
        at.duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64()
    };
    let document = json!({
        "name": name,
        "id": segment_id(),
        "trace_id": trace.root,
        "parent_id": trace.parent,
        "start_time": seconds(started),
        "end_time": seconds(ended),
        "type": "subsegment",
        "namespace": "remote",
        "fault": failed,
    });
    format!("{{\"format\": \"json\", \"version\": 1}}\n{document}")
}

/// 16 random hex digits, as X-Ray wants a segment id.
fn segment_id() -> String {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    format!("{:016x}", hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const HEADER: &str =
        "Root=1-6b099459-5a01960328e5fc589f8af651;Parent=0e94e3ee19cc3307;Sampled=1";

    /// What the daemon receives: the header line, and a subsegment of the
    /// function's segment with its times.
    #[test]
    fn a_subsegment_reaches_the_daemon() {
        let daemon = UdpSocket::bind("127.0.0.1:0").unwrap();
        daemon
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let trace = Trace::from_header(HEADER).unwrap();
        let started = SystemTime::now();
        let ended = started + Duration::from_millis(12);
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        let text = datagram(&trace, "PostgreSQL", started, ended, false);
        sender
            .send_to(text.as_bytes(), daemon.local_addr().unwrap())
            .unwrap();
        let mut buffer = [0u8; 2048];
        let (size, _) = daemon.recv_from(&mut buffer).unwrap();
        let received = std::str::from_utf8(&buffer[..size]).unwrap();
        let (header, body) = received.split_once('\n').unwrap();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(header).unwrap(),
            json!({"format": "json", "version": 1})
        );
        let document: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(document["type"], "subsegment");
        assert_eq!(document["name"], "PostgreSQL");
        assert_eq!(document["trace_id"], "1-6b099459-5a01960328e5fc589f8af651");
        assert_eq!(document["parent_id"], "0e94e3ee19cc3307");
        assert_eq!(document["fault"], false);
        let id = document["id"].as_str().unwrap();
        assert!(
            id.len() == 16 && id.chars().all(|c| c.is_ascii_hexdigit()),
            "{id}"
        );
        let took =
            document["end_time"].as_f64().unwrap() - document["start_time"].as_f64().unwrap();
        assert!((took - 0.012).abs() < 0.001, "{took}");
    }
}

//! What a function logs while a test drives it in-process: its lines, as
//! JSON, so a test can find a response's request line (and a 500 or 503's
//! cause on it) by the response's request id.

use std::future::Future;
use std::sync::{Arc, Mutex};

use lambda_http::tracing::{Dispatch, dispatcher};
use serde_json::Value;

/// Runs `future` with a log subscriber of its own (this thread only, so
/// tests running in parallel do not see each other's lines); its output,
/// and the lines it logged. `todo_shared::web::logging` writes request lines
/// through `tracing` when `init` has not switched it to Lambda's JSON.
pub async fn logged<F: Future>(future: F) -> (F::Output, Vec<Value>) {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = lambda_http::tracing::subscriber::fmt()
        .json()
        .with_writer(move || writer.clone())
        .finish();
    let output = {
        let _guard = dispatcher::set_default(&Dispatch::new(subscriber));
        future.await
    };
    (output, captured.lines())
}

/// The request line whose `request_id` is `id`, if it was logged.
pub fn request_line<'a>(lines: &'a [Value], id: &str) -> Option<&'a Value> {
    lines
        .iter()
        .find(|line| line["fields"]["message"] == "request" && line["fields"]["request_id"] == id)
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn lines(&self) -> Vec<Value> {
        let bytes = self.0.lock().unwrap().clone();
        String::from_utf8_lossy(&bytes)
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }
}

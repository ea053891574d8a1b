//! A minimal Lambda Runtime API: one per function instance, on its own
//! loopback port, serving the `/next` ↔ `/response` loop of a real
//! `bootstrap` process and nothing else.
//!
//! Written for the benchmark rather than borrowed from `cargo lambda watch`,
//! whose own overhead (and lost responses under load) would dominate what
//! is measured. Blocking threads and `std::net`: no runtime of its own to
//! share the CPU with the functions. Every socket has `TCP_NODELAY` and
//! every answer goes out in one `write`, or delayed ACKs would add ~40 ms
//! to an invocation.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::cgroup::Sandbox;
use crate::{reexec, stats};

/// How a function answered one invocation.
pub struct Reply {
    /// When the event went out (the `/next` answer was written).
    pub sent: Instant,
    /// When the whole response body had been read.
    pub at: Instant,
    /// The response document, or the error document of `/error`.
    pub body: Vec<u8>,
    /// It came through `/error` (or `/init/error`).
    pub failed: bool,
}

impl Reply {
    pub fn latency(&self) -> Duration {
        self.at.saturating_duration_since(self.sent)
    }

    /// The API Gateway response's `statusCode` (0 when there is none).
    pub fn status(&self) -> u16 {
        serde_json::from_slice::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|v| v["statusCode"].as_u64())
            .unwrap_or(0) as u16
    }
}

struct Shared {
    first_next: Mutex<Option<Instant>>,
    events: Mutex<Receiver<Vec<u8>>>,
    replies: Mutex<Sender<Reply>>,
    closed: AtomicBool,
    invocations: AtomicU64,
}

/// One running `bootstrap` and the Runtime API it talks to.
pub struct Instance {
    child: Child,
    /// Its cgroup, when it runs on a Lambda's share of a CPU; removed
    /// after the process (fields drop after [`Instance`]'s own `drop`).
    pub sandbox: Option<Sandbox>,
    spawned: Instant,
    /// CPU time the process had before it became the function (in a
    /// sandbox, the bench's own binary entering it).
    cpu_before: Duration,
    port: u16,
    shared: Arc<Shared>,
    events: Option<Sender<Vec<u8>>>,
    replies: Receiver<Reply>,
}

impl Instance {
    /// Starts `binary` with exactly `env` (plus the Runtime API's address),
    /// its output appended to `log`, in `sandbox` if given (entered before
    /// the program's first instruction).
    pub fn start(
        binary: &Path,
        env: &[(String, String)],
        log: &Path,
        sandbox: Option<Sandbox>,
    ) -> io::Result<Instance> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let (events_tx, events_rx) = mpsc::channel();
        let (replies_tx, replies_rx) = mpsc::channel();
        let shared = Arc::new(Shared {
            first_next: Mutex::new(None),
            events: Mutex::new(events_rx),
            replies: Mutex::new(replies_tx),
            closed: AtomicBool::new(false),
            invocations: AtomicU64::new(0),
        });
        let accepting = shared.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                if accepting.closed.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let shared = accepting.clone();
                thread::spawn(move || {
                    let _ = serve(stream, &shared);
                });
            }
        });
        let output = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)?;
        // The instance's own temporary directory, empty at start: a Lambda
        // sandbox's `/tmp`, so what a function caches there (the trust
        // roots' directory) is paid for by every cold start, as in AWS.
        // Never reused and never removed during the run (xtask/src/bench.rs
        // points TMPDIR at its scratch directory, removed at the end):
        // deleting a sandbox's files here, on ext4 with `discard`, slowed
        // the next cold start's own writes to /tmp from 4 ms to 40.
        static SANDBOXES: AtomicUsize = AtomicUsize::new(0);
        let n = SANDBOXES.fetch_add(1, Ordering::SeqCst);
        let tmp = std::env::temp_dir().join(format!("todo-bench-sandbox-{port}-{n}"));
        std::fs::create_dir(&tmp)?;
        let (mut command, started) = match &sandbox {
            Some(sandbox) => {
                let (command, started) = reexec::in_sandbox(binary, sandbox.procs())?;
                (command, Some(started))
            }
            None => {
                let mut command = Command::new(binary);
                command.stdin(Stdio::null());
                (command, None)
            }
        };
        command
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("TMPDIR", &tmp)
            .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}"))
            .stdout(output.try_clone()?)
            .stderr(output);
        let mut spawned = Instant::now();
        let mut child = command.spawn()?;
        drop(command);
        let mut cpu_before = Duration::ZERO;
        if let Some(mut started) = started {
            let mut told = String::new();
            let _ = started.read_to_string(&mut told);
            let Ok(nanos) = told.parse() else {
                let _ = child.kill();
                let _ = child.wait();
                return Err(io::Error::other(format!(
                    "{} did not start in its sandbox (see {})",
                    binary.display(),
                    log.display()
                )));
            };
            spawned = Instant::now();
            cpu_before = Duration::from_nanos(nanos);
        }
        Ok(Instance {
            child,
            sandbox,
            spawned,
            cpu_before,
            port,
            shared,
            events: Some(events_tx),
            replies: replies_rx,
        })
    }

    /// Sends one event and waits for its answer.
    pub fn invoke(&self, event: &[u8]) -> Result<Reply, String> {
        let events = self.events.as_ref().ok_or("stopped")?;
        events
            .send(event.to_vec())
            .map_err(|_| "the instance is gone")?;
        self.replies
            .recv_timeout(Duration::from_secs(30))
            .map_err(|_| "no answer within 30 s (see the function's log)".to_owned())
    }

    /// Waits for the end of Init (the first `/next`), at most `limit`.
    pub fn wait_for_init(&self, limit: Duration) -> Result<Duration, String> {
        let until = Instant::now() + limit;
        loop {
            if let Some(init) = self.init_duration() {
                return Ok(init);
            }
            if Instant::now() > until {
                return Err(format!(
                    "no first /next within {limit:?} (see the function's log)"
                ));
            }
            thread::sleep(Duration::from_micros(100));
        }
    }

    /// From process start to its first `/next`: the Init phase.
    pub fn init_duration(&self) -> Option<Duration> {
        let first = (*self.shared.first_next.lock().unwrap())?;
        Some(first.saturating_duration_since(self.spawned))
    }

    /// The CPU time all the process's threads have had so far (the
    /// scheduler's nanosecond count, not the 10 ms ticks of `/proc/PID/stat`),
    /// less what it had before it became the function.
    pub fn cpu_time(&self) -> Duration {
        let tasks = std::fs::read_dir(format!("/proc/{}/task", self.child.id()));
        tasks
            .into_iter()
            .flatten()
            .flatten()
            .map(|task| stats::on_cpu(&task.path()))
            .sum::<Duration>()
            .saturating_sub(self.cpu_before)
    }

    /// The process's peak resident set (VmHWM), in bytes.
    pub fn peak_rss(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::SeqCst);
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Ends the thread waiting for the next event, then the accept loop.
        self.events.take();
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// One connection of the runtime client: requests until it closes.
fn serve(stream: TcpStream, shared: &Shared) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    while let Some((method, path, body)) = read_request(&mut reader)? {
        if method == "GET" && path.ends_with("/runtime/invocation/next") {
            shared
                .first_next
                .lock()
                .unwrap()
                .get_or_insert_with(Instant::now);
            let event = match shared.events.lock().unwrap().recv() {
                Ok(event) => event,
                Err(_) => return Ok(()),
            };
            let n = shared.invocations.fetch_add(1, Ordering::SeqCst);
            let deadline = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                + Duration::from_secs(30);
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                 lambda-runtime-aws-request-id: 6f7f0961-7b9e-4f4c-a1f8-{n:012x}\r\n\
                 lambda-runtime-deadline-ms: {}\r\n\
                 lambda-runtime-invoked-function-arn: arn:aws:lambda:us-east-1:123456789012:function:bench\r\n\
                 lambda-runtime-trace-id: Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0\r\n\
                 content-length: {}\r\n\r\n",
                deadline.as_millis(),
                event.len()
            );
            let mut answer = head.into_bytes();
            answer.extend_from_slice(&event);
            let sent = Instant::now();
            writer.write_all(&answer)?;
            // The reply's `sent` travels with the next `/response`.
            SENT.with(|s| *s.lock().unwrap() = Some(sent));
        } else if method == "POST" {
            let at = Instant::now();
            let failed = !path.ends_with("/response");
            writer.write_all(b"HTTP/1.1 202 Accepted\r\ncontent-length: 2\r\n\r\n{}")?;
            let sent = SENT.with(|s| s.lock().unwrap().take()).unwrap_or(at);
            let reply = Reply {
                sent,
                at,
                body,
                failed,
            };
            let _ = shared.replies.lock().unwrap().send(reply);
        } else {
            writer.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")?;
        }
    }
    Ok(())
}

thread_local! {
    /// When this connection last sent an event (the runtime client answers
    /// on the connection that fetched the event).
    static SENT: Mutex<Option<Instant>> = const { Mutex::new(None) };
}

/// One HTTP/1.1 request: method, path, body (by `content-length` or
/// chunked). `None` at end of stream.
fn read_request(
    reader: &mut BufReader<TcpStream>,
) -> io::Result<Option<(String, String, Vec<u8>)>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();
    let mut headers = HashMap::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 {
            return Ok(None);
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    let mut body = Vec::new();
    if let Some(length) = headers.get("content-length") {
        let length: usize = length
            .parse()
            .map_err(|_| io::Error::other("bad content-length"))?;
        body.resize(length, 0);
        reader.read_exact(&mut body)?;
    } else if headers
        .get("transfer-encoding")
        .is_some_and(|v| v.contains("chunked"))
    {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let size = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                .map_err(|_| io::Error::other("bad chunk size"))?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk)?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    }
    Ok(Some((method, path, body)))
}

//! `make dev`, started as a developer starts it: it brings its own
//! PostgreSQL, serves a create on loopback alone, stops cleanly on Ctrl-C
//! (PostgreSQL with it), listens elsewhere only when `DEV_ADDRESS` says so,
//! and finds the task again after a restart. As an ordinary user, since
//! developers are not root: run by root, the test runs again as one
//! (`todo_tests::ran_as_ordinary_user`). Ignored in a plain `cargo test`
//! (it builds and starts the whole API); `make test` runs it.

use std::fs::File;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use todo_tests::services::wait_until_answers;
use todo_tests::{free_port, give_to_postgres, is_root, ran_as_ordinary_user, root, unique_user};

/// The signal Ctrl-C sends.
const SIGINT: i32 = 2;

#[test]
#[ignore = "starts make dev; run by `make test`"]
fn make_dev_serves_on_loopback_stops_on_ctrl_c_and_keeps_its_tasks() {
    if ran_as_ordinary_user(
        "make_dev::make_dev_serves_on_loopback_stops_on_ctrl_c_and_keeps_its_tasks",
    ) {
        return;
    }
    match smoke() {
        Ok(who) => println!(
            "make dev as {who}: served on loopback alone (DEV_ADDRESS for another address), \
             stopped cleanly, kept the task across a restart"
        ),
        Err(problem) => panic!("make dev: {problem}"),
    }
}

fn smoke() -> Result<String, String> {
    let data = Scratch::new()?;
    let (port, pg_port) = (free_port(), free_port());
    let log = root().join("target/make-dev.log");
    File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    let title = unique_user("dev-smoke");
    // make dev's own secret (.local/dev-secret), as `make token` uses it.
    let token = make_token()?;
    let dev = Dev::start(&data.0, port, pg_port, None, &log)?;
    // Loopback by default: nobody else on the network reaches the API, or
    // the runtime emulator's /.rt endpoints (tokens included) on the port.
    listens_only_on("127.0.0.1", port)?;
    let created = ureq::post(&format!("http://127.0.0.1:{port}/api/tasks"))
        .header("Authorization", &format!("Bearer {token}"))
        .config()
        .http_status_as_error(false)
        .build()
        .send(format!(r#"{{"title": "{title}"}}"#))
        .map_err(|e| format!("a create: {e}"))?;
    if created.status() != 201 {
        return Err(format!(
            "make dev answered {} to a create, not 201",
            created.status()
        ));
    }
    dev.stop(&log)?;
    // A server that stopped has removed its postmaster.pid.
    if data.0.join("pgdata/postmaster.pid").exists() {
        return Err("make dev left PostgreSQL running after Ctrl-C".into());
    }
    // Another address only when DEV_ADDRESS says so (another loopback
    // address here, so that nothing is exposed to prove it).
    let dev = Dev::start(&data.0, port, pg_port, Some("127.0.0.2"), &log)?;
    listens_only_on("127.0.0.2", port)?;
    let listed = ureq::get(&format!("http://127.0.0.2:{port}/api/tasks"))
        .header("Authorization", &format!("Bearer {token}"))
        .call()
        .and_then(|mut reply| reply.body_mut().read_to_string())
        .map_err(|e| format!("the list after a restart: {e}"))?;
    if !listed.contains(&title) {
        return Err("the task did not survive a restart of make dev".into());
    }
    dev.stop(&log)?;
    Ok(if is_root() {
        "root (this machine allows no user namespace)".into()
    } else {
        "an ordinary user".into()
    })
}

/// `make -s token USER=dev-smoke`, with make dev's own secret.
fn make_token() -> Result<String, String> {
    let made = Command::new("make")
        .args(["-s", "token", "USER=dev-smoke"])
        .env_remove("BETTER_AUTH_SECRET")
        .current_dir(root())
        .output()
        .map_err(|e| format!("make token: {e}"))?;
    if !made.status.success() {
        return Err(format!(
            "make token failed: {}",
            String::from_utf8_lossy(&made.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&made.stdout).trim().to_owned())
}

/// A running `make dev`, in a process group of its own (as a terminal
/// would start it), so that Ctrl-C reaches all of it.
struct Dev(Option<Child>);

impl Dev {
    fn start(
        data: &Path,
        port: u16,
        pg_port: u16,
        address: Option<&str>,
        log: &Path,
    ) -> Result<Dev, String> {
        let output = File::options()
            .append(true)
            .open(log)
            .map_err(|e| e.to_string())?;
        let mut command = Command::new("make");
        command
            .arg("dev")
            .env_remove("DATABASE_URL")
            .env_remove("BETTER_AUTH_SECRET")
            .env_remove("DEV_ADDRESS")
            .env("LOCAL_PG_DATA", data.join("pgdata"))
            .env("PORT", port.to_string())
            .env("LOCAL_PG_PORT", pg_port.to_string())
            .current_dir(root())
            .stdin(Stdio::null())
            .stdout(output.try_clone().map_err(|e| e.to_string())?)
            .stderr(output)
            .process_group(0);
        if let Some(address) = address {
            command.env("DEV_ADDRESS", address);
        }
        let dev = Dev(Some(command.spawn().map_err(|e| format!("make dev: {e}"))?));
        let health = format!("http://{}:{port}/health", address.unwrap_or("127.0.0.1"));
        if !wait_until_answers(&health, Duration::from_secs(300)) {
            return Err(format!(
                "make dev did not answer on {health}:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            ));
        }
        Ok(dev)
    }

    /// Ctrl-C, as a developer would: make itself ends by the signal (or
    /// with 0), and make dev's own clean-up must leave nothing running.
    fn stop(mut self, log: &Path) -> Result<(), String> {
        let status = self.interrupt().map_err(|e| format!("make dev: {e}"))?;
        if status.success() || status.signal() == Some(SIGINT) {
            return Ok(());
        }
        let said = std::fs::read_to_string(log).unwrap_or_default();
        let tail: Vec<&str> = said.lines().rev().take(30).collect();
        Err(format!(
            "make dev exited with {status} after Ctrl-C:\n{}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        ))
    }

    /// SIGINT to the whole group, as a terminal sends it; make's exit
    /// status, once every process of the group has ended (make dev's
    /// watchdog stops PostgreSQL after make itself has gone).
    fn interrupt(&mut self) -> std::io::Result<std::process::ExitStatus> {
        let mut child = self.0.take().ok_or(std::io::ErrorKind::NotFound)?;
        let group = format!("-{}", child.id());
        Command::new("kill").args(["-INT", "--", &group]).status()?;
        let status = child.wait()?;
        let deadline = Instant::now() + Duration::from_secs(60);
        let alive = || {
            Command::new("kill")
                .args(["-0", "--", &group])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|status| status.success())
        };
        while alive() {
            if Instant::now() > deadline {
                return Err(std::io::Error::other(
                    "make dev's processes outlived it by 60 s",
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(status)
    }
}

impl Drop for Dev {
    /// A check that failed half-way still stops what it started.
    fn drop(&mut self) {
        let _ = self.interrupt();
    }
}

/// Whether the API's port is open on `address` and nowhere else.
fn listens_only_on(address: &str, port: u16) -> Result<(), String> {
    let listed = Command::new("ss")
        .args(["-Hltn", &format!("sport = :{port}")])
        .output()
        .map_err(|e| format!("ss: {e}"))?;
    let mut sockets: Vec<String> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().nth(3).map(str::to_owned))
        .collect();
    sockets.sort();
    sockets.dedup();
    if sockets == [format!("{address}:{port}")] {
        Ok(())
    } else {
        Err(format!(
            "make dev listens on {sockets:?}, not {address}:{port} alone"
        ))
    }
}

/// make dev's data for this check, in a folder of its own, removed after.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Scratch, String> {
        let dir = std::env::temp_dir().join(unique_user("todo-api-dev"));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        give_to_postgres(&dir);
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

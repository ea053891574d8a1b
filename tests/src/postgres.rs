//! A PostgreSQL server of a test's own ([`ScratchServer`]): the server
//! programs `find_postgres` chose (`PG_BIN`), run as `postgres` when the
//! tests run as root.

use std::path::PathBuf;

use crate::{db_config_for, free_port, unique_user};

/// Whether this process is root, asked once: PostgreSQL's programs and
/// PgBouncer refuse root, so as root they run as the `postgres` user.
pub fn is_root() -> bool {
    static ROOT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ROOT.get_or_init(|| {
        let id = std::process::Command::new("id").arg("-u").output().unwrap();
        String::from_utf8_lossy(&id.stdout).trim() == "0"
    })
}

/// `program`, run as the `postgres` user when this process is root.
pub fn as_postgres(program: impl AsRef<std::ffi::OsStr>) -> std::process::Command {
    if is_root() {
        let mut runuser = std::process::Command::new("runuser");
        runuser.args(["-u", "postgres", "--"]).arg(program);
        runuser
    } else {
        std::process::Command::new(program)
    }
}

/// Makes `dir` the `postgres` user's, when this process is root.
pub fn give_to_postgres(dir: &std::path::Path) {
    if is_root() {
        let status = std::process::Command::new("chown")
            .args(["-R", "postgres:"])
            .arg(dir)
            .status()
            .unwrap();
        assert!(status.success(), "chown {dir:?}");
    }
}

/// The PostgreSQL server programs to run: `PG_BIN` (the test command's
/// choice: `find_postgres` in scripts/postgres.sh), else where that finds
/// them, so a plain `cargo test` finds them too: the machine's own when it
/// is 17 or newer, else the project's pinned copy (for root, the copy the
/// `postgres` user can reach).
pub fn pg_bin() -> PathBuf {
    if let Some(dir) = std::env::var_os("PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut machine: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let major = entry.file_name().to_str()?.parse().ok()?;
            Some((major, entry.path().join("bin")))
        })
        .filter(|(major, bin)| *major >= 17 && bin.join("postgres").exists())
        .collect();
    machine.sort();
    let pinned = |dir: PathBuf| {
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .filter_map(|entry| entry.ok().map(|entry| entry.path().join("bin")))
            .find(|bin| {
                bin.join("postgres").exists() && bin.to_string_lossy().contains("postgresql-")
            })
    };
    let shared = is_root()
        .then(|| pinned("/usr/local/lib/todo-api".into()))
        .flatten();
    machine
        .pop()
        .map(|(_, bin)| bin)
        .or(shared)
        .or_else(|| pinned(crate::root().join(".local")))
        .expect(
            "no PostgreSQL 17 or newer: run `make test` once (it installs the pinned one), \
             or point PG_BIN at one's bin folder",
        )
}

/// A PostgreSQL server of one test's own, to stop and start again: a fresh
/// cluster in a temporary folder on a free port (as the `postgres` user when
/// root, since `initdb` refuses root), removed when dropped. Or, for `make
/// dev`, a [kept](ScratchServer::kept) one.
pub struct ScratchServer {
    /// Its socket and log; the data in `data`.
    dir: PathBuf,
    data: PathBuf,
    pub port: u16,
    /// Settings beyond the defaults, as `name=value` (`-c` options).
    settings: Vec<String>,
    /// Whether the data outlives this value (then only stopped when dropped).
    kept: bool,
}

/// How to set up a [`ScratchServer`] beyond the defaults.
#[derive(Default)]
pub struct ServerSetup<'a> {
    /// `name=value` settings (`-c` options), say `max_connections=20`.
    pub settings: Vec<String>,
    /// Lines put first in `pg_hba.conf` (the rest trusts local logins).
    pub hba: &'a [&'a str],
}

impl ScratchServer {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// With these server settings (`name=value`), say `max_connections=20`,
    /// and no `fsync` (a test's data need not survive a crash of the machine).
    pub fn start_with(settings: &[&str]) -> Self {
        let settings = ["fsync=off"].iter().chain(settings);
        Self::start_set_up(&ServerSetup {
            settings: settings.map(|s| s.to_string()).collect(),
            ..ServerSetup::default()
        })
    }

    /// A fresh cluster set up as `setup` says, started.
    pub fn start_set_up(setup: &ServerSetup) -> Self {
        let dir = std::env::temp_dir().join(unique_user("todo-scratch-pg"));
        std::fs::create_dir_all(&dir).unwrap();
        give_to_postgres(&dir);
        let server = ScratchServer {
            data: dir.join("data"),
            dir,
            port: free_port(),
            settings: setup.settings.clone(),
            kept: false,
        };
        server.init(setup.hba);
        server.start_again();
        // Stopped on drop; and if this process is killed before that, by a
        // watchdog, so that an interrupted run leaves no server behind.
        crate::services::stop_when_this_process_ends(&server.stop_script());
        server
    }

    /// `make dev`'s server: its data in `data` (made on first use, kept
    /// afterwards), on `port`, started; stopped, not removed, when dropped.
    pub fn kept(data: &std::path::Path, port: u16) -> Self {
        std::fs::create_dir_all(data).unwrap();
        let server = ScratchServer {
            dir: data.to_owned(),
            data: data.to_owned(),
            port,
            settings: Vec::new(),
            kept: true,
        };
        if !data.join("PG_VERSION").exists() {
            give_to_postgres(data);
            std::fs::set_permissions(data, std::os::unix::fs::PermissionsExt::from_mode(0o700))
                .unwrap();
            server.init(&[]);
        }
        server.start_again();
        server
    }

    /// Stops a [kept](ScratchServer::kept) server whose data is in `data`,
    /// if it runs: what `make dev` does on Ctrl-C.
    pub fn stop_kept(data: &std::path::Path) {
        let _ = as_postgres(pg_bin().join("pg_ctl"))
            .arg("-D")
            .arg(data)
            .args(["-m", "fast", "-w", "stop"])
            .output();
    }

    /// A shell command that stops this server and removes its folder, for
    /// a watchdog that outlives this value.
    pub(crate) fn stop_script(&self) -> String {
        let runner = if is_root() {
            "runuser -u postgres -- "
        } else {
            ""
        };
        format!(
            "{runner}'{}' -D '{}' -m immediate -w stop; rm -rf '{}'",
            pg_bin().join("pg_ctl").display(),
            self.data.display(),
            self.dir.display()
        )
    }

    /// `initdb`, then `hba` first in `pg_hba.conf`.
    fn init(&self, hba: &[&str]) {
        self.run(
            "initdb",
            &[
                "-D",
                &self.data.to_string_lossy(),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
            ],
        );
        if !hba.is_empty() {
            let file = self.data.join("pg_hba.conf");
            let rest = std::fs::read_to_string(&file).unwrap();
            std::fs::write(&file, format!("{}\n{rest}", hba.join("\n"))).unwrap();
        }
    }

    /// A PostgreSQL server binary (from [`pg_bin`]).
    fn command(&self, binary: &str, args: &[&str]) -> std::process::Command {
        let mut command = as_postgres(pg_bin().join(binary));
        command.args(args);
        command
    }

    fn run(&self, binary: &str, args: &[&str]) {
        let output = self
            .command(binary, args)
            .output()
            .unwrap_or_else(|e| panic!("{binary}: {e}"));
        assert!(
            output.status.success(),
            "{binary} {args:?}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn pg_ctl(&self, args: &[&str]) {
        let data = self.data.to_string_lossy().into_owned();
        let mut all = vec!["-D", &data];
        all.extend_from_slice(args);
        self.run("pg_ctl", &all);
    }

    /// Starts the server (again), and waits until it accepts connections.
    pub fn start_again(&self) {
        let mut options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.to_string_lossy()
        );
        for setting in &self.settings {
            options += &format!(" -c {setting}");
        }
        let log = self.dir.join("server.log").to_string_lossy().into_owned();
        self.pg_ctl(&["-l", &log, "-w", "-t", "30", "-o", &options, "start"]);
    }

    /// Stops the server (its connections end), and waits until it has.
    pub fn stop(&self) {
        self.pg_ctl(&["-m", "fast", "-w", "stop"]);
    }

    /// As the superuser.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// As the API's restricted role, once [`ScratchServer::migrate`] made it.
    pub fn api_url(&self) -> String {
        self.url_as("todo_api", "postgres")
    }

    /// As `user` (no password: the server trusts local logins), to `database`.
    pub fn url_as(&self, user: &str, database: &str) -> String {
        format!("postgres://{user}@127.0.0.1:{}/{database}", self.port)
    }

    /// Applies the migrations as the superuser and sets up the API's role.
    pub async fn migrate(&self) {
        migrate(&self.url(), &self.api_url()).await;
    }
}

/// Applies the migrations as the owner at `owner_url` and sets up the API's
/// role of `api_url`, as `migrate` does.
pub async fn migrate(owner_url: &str, api_url: &str) {
    let owner = todo_shared::outside::db::Db::new(&db_config_for(owner_url)).unwrap();
    let login = todo_shared::migrations::ApiLogin::from_url(api_url).unwrap();
    todo_shared::migrations::run_on(&owner, Some(&login))
        .await
        .expect("migrations");
}

impl Drop for ScratchServer {
    fn drop(&mut self) {
        let data = self.data.to_string_lossy().into_owned();
        let mode = if self.kept { "fast" } else { "immediate" };
        let _ = self
            .command("pg_ctl", &["-D", &data, "-m", mode, "-w", "stop"])
            .output();
        if !self.kept {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

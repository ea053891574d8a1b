//! Neon's pooled endpoint, locally: PgBouncer in transaction mode in front
//! of a PostgreSQL server, with SCRAM for its clients as Neon's pooler has.
//!
//! Debian's `pgbouncer` refuses to run as root, so as root it runs as the
//! `postgres` user, like the servers it fronts. The test command installs it
//! (`scripts/install.sh pgbouncer`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{as_postgres, free_port, unique_user};

/// One PgBouncer, stopped and removed when dropped.
pub struct Pooler {
    dir: PathBuf,
    pub port: u16,
    child: Option<Child>,
}

/// What a test may set of the pooler.
#[derive(Clone)]
pub struct PoolerSettings {
    /// The server connections per user and database (`default_pool_size`).
    pub pool_size: u32,
    /// Logins it accepts, `(user, password)`; it logs in to the server with
    /// the same password.
    pub users: Vec<(String, String)>,
}

impl Pooler {
    /// Starts PgBouncer on a free port in front of the server on
    /// `127.0.0.1:upstream_port` (every database), once it accepts
    /// connections.
    pub fn start(upstream_port: u16, settings: &PoolerSettings) -> Self {
        let dir = std::env::temp_dir().join(unique_user("todo-pgbouncer"));
        std::fs::create_dir_all(&dir).unwrap();
        let port = free_port();
        let users: String = settings
            .users
            .iter()
            .map(|(user, password)| format!("\"{user}\" \"{password}\"\n"))
            .collect();
        std::fs::write(dir.join("userlist.txt"), users).unwrap();
        // server_login_retry: PgBouncer's default waits 15 s after a failed
        // server login before it tries again, which holds every request to
        // 503 for that long after PostgreSQL is back (docs/deploy.md).
        let ini = format!(
            "[databases]\n\
             * = host=127.0.0.1 port={upstream_port}\n\
             [pgbouncer]\n\
             listen_addr = 127.0.0.1\n\
             listen_port = {port}\n\
             unix_socket_dir =\n\
             auth_type = scram-sha-256\n\
             auth_file = {dir}/userlist.txt\n\
             pool_mode = transaction\n\
             default_pool_size = {pool_size}\n\
             max_client_conn = 2000\n\
             server_login_retry = 1\n\
             server_connect_timeout = 5\n\
             admin_users = {admin}\n\
             logfile = {dir}/pgbouncer.log\n\
             pidfile = {dir}/pgbouncer.pid\n",
            dir = dir.display(),
            pool_size = settings.pool_size,
            admin = settings.users[0].0,
        );
        std::fs::write(dir.join("pgbouncer.ini"), ini).unwrap();
        crate::give_to_postgres(&dir);
        let mut pooler = Pooler {
            dir,
            port,
            child: None,
        };
        pooler.start_again();
        pooler
    }

    /// A URL that reaches `database` through the pooler as `user`.
    pub fn url(&self, user: &str, password: &str, database: &str) -> String {
        format!(
            "postgres://{user}:{password}@127.0.0.1:{}/{database}",
            self.port
        )
    }

    /// Starts it (again) on its port, and waits until it accepts connections.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "the pooler is running");
        let binary = pgbouncer_binary();
        let ini = self.dir.join("pgbouncer.ini");
        let child = as_postgres(&binary)
            .arg(&ini)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{binary:?}: {e}"));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("pgbouncer exited ({status}): {}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "pgbouncer did not listen: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops it at once (SIGTERM: PgBouncer's immediate shutdown), every
    /// client and server connection with it, as a pooler that restarts.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Ok(pid) = std::fs::read_to_string(self.dir.join("pgbouncer.pid")) {
            let _ = Command::new("kill").args(["-TERM", pid.trim()]).status();
        }
        let _ = child.wait();
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("pgbouncer.log")).unwrap_or_default()
    }
}

impl Drop for Pooler {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// PgBouncer's program: Debian's `/usr/sbin/pgbouncer` (not on an ordinary
/// user's PATH), else `pgbouncer` on PATH.
fn pgbouncer_binary() -> PathBuf {
    let debian = Path::new("/usr/sbin/pgbouncer");
    if debian.exists() {
        debian.to_owned()
    } else {
        "pgbouncer".into()
    }
}

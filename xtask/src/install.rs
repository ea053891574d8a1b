//! Running the installers (`scripts/install.sh`: Python's tools, Debian's
//! packages, rustup's targets), each to its end, its output in
//! `target/install/<name>.log`, shown when it fails; and in the background
//! while other work goes on ([`Pending`]).

use std::process::Command;
use std::thread::JoinHandle;

use todo_tests::root;

/// Runs `scripts/install.sh ARGS`; panics with its output when it fails.
pub fn install(args: &[&str]) {
    let dir = root().join("target/install");
    std::fs::create_dir_all(&dir).expect("target/install");
    let log = dir.join(format!("{}.log", args.join("-")));
    let file = std::fs::File::create(&log).expect("an install log");
    let status = Command::new(root().join("scripts/install.sh"))
        .args(args)
        .stdout(file.try_clone().expect("the install log"))
        .stderr(file)
        .status()
        .unwrap_or_else(|e| panic!("scripts/install.sh: {e}"));
    if !status.success() {
        let said = std::fs::read_to_string(&log).unwrap_or_default();
        panic!("scripts/install.sh {} failed:\n{said}", args.join(" "));
    }
}

/// Work under way on a thread of its own (installers, mostly), waited for
/// where its result is needed; a panic there is this thread's panic then.
pub struct Pending<T>(JoinHandle<T>);

impl<T: Send + 'static> Pending<T> {
    pub fn start(work: impl FnOnce() -> T + Send + 'static) -> Self {
        Pending(std::thread::spawn(work))
    }

    pub fn wait(self) -> T {
        self.0
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }
}

//! The bench's own binary run again, as a child, for the two things that
//! must be set up before a process's first instruction: a function started
//! inside its sandbox, and a secret created with the local Secrets
//! Manager's settings in the environment (which a process that runs
//! threads may not set in its own). No `unsafe` either way: no code
//! between `fork` and `exec`, no `set_var`.

use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};

const IN_SANDBOX: &str = "in-sandbox";
const CREATE_SECRET: &str = "create-secret";

/// When this process is one of those children, does its part and says how
/// it ended (a function in its sandbox replaces this process, and this
/// returns only if it could not).
pub fn act_if_asked() -> Option<ExitCode> {
    let args: Vec<String> = std::env::args().collect();
    let failed = |what: &str, error: io::Error| {
        eprintln!("bench: {what}: {error}");
        Some(ExitCode::FAILURE)
    };
    match &args[..] {
        [_, mode, procs, binary] if mode == IN_SANDBOX => {
            if let Err(e) = std::fs::write(procs, "0") {
                return failed(&format!("enter the sandbox {procs}"), e);
            }
            // The CPU time this process has had so far, on the pipe the
            // parent gave as standard input, which `exec` closes: the
            // function's Init starts when the parent reads its end.
            let cpu = crate::stats::on_cpu(Path::new("/proc/thread-self")).as_nanos();
            let told = io::stdin()
                .as_fd()
                .try_clone_to_owned()
                .and_then(|pipe| std::fs::File::from(pipe).write_all(cpu.to_string().as_bytes()));
            if let Err(e) = told {
                return failed("tell the parent", e);
            }
            let error = Command::new(binary).stdin(Stdio::null()).exec();
            failed(&format!("run {binary}"), error)
        }
        [_, mode, name] if mode == CREATE_SECRET => {
            let mut value = String::new();
            if let Err(e) = io::stdin().read_to_string(&mut value) {
                return failed("read the secret's value", e);
            }
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            println!(
                "{}",
                runtime.block_on(todo_tests::create_secret(name, &value))
            );
            Some(ExitCode::SUCCESS)
        }
        _ => None,
    }
}

/// The command that starts `binary` inside the cgroup whose `cgroup.procs`
/// is `procs`, and the pipe that says when it starts: the child enters the
/// cgroup, writes the CPU time it has had, then becomes `binary`, which
/// ends the pipe (its Init is measured from there, and its CPU time less
/// this process's own). Drop the command once it is spawned, so that the
/// pipe ends if the child fails before writing.
pub fn in_sandbox(binary: &Path, procs: &Path) -> io::Result<(Command, io::PipeReader)> {
    let (reader, writer) = io::pipe()?;
    let mut command = Command::new(std::env::current_exe()?);
    command.arg(IN_SANDBOX).arg(procs).arg(binary).stdin(writer);
    Ok((command, reader))
}

/// Creates a secret named `name` holding `value` in the Secrets Manager
/// that `env` points AWS's SDK at, trusting the CA bundle `ca_bundle`; its
/// ARN.
pub fn create_secret(name: &str, value: &str, env: &[(&str, String)], ca_bundle: &Path) -> String {
    let mut child = Command::new(std::env::current_exe().expect("the bench binary"))
        .args([CREATE_SECRET, name])
        .envs(env.iter().map(|(name, value)| (name, value)))
        .env("SSL_CERT_FILE", ca_bundle)
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the bench binary");
    let mut stdin = child.stdin.take().expect("its standard input");
    stdin
        .write_all(value.as_bytes())
        .expect("the secret's value");
    drop(stdin);
    let output = child.wait_with_output().expect("the bench binary");
    assert!(
        output.status.success(),
        "create the secret {name}: {}",
        output.status
    );
    String::from_utf8(output.stdout)
        .expect("an ARN")
        .trim()
        .to_owned()
}

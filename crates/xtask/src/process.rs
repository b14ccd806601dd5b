//! Running child processes and turning their ends into our exit code.

use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::interrupt;

/// The command line, for messages.
pub fn display(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|part| part.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs to completion with its output going to ours.
pub fn run(command: &mut Command) -> anyhow::Result<()> {
    let status = command
        .status()
        .with_context(|| format!("could not start `{}`", display(command)))?;
    if !status.success() {
        bail!("`{}` failed ({status})", display(command));
    }
    Ok(())
}

/// Runs to completion with its output captured; returns stdout, and shows
/// everything it printed when it fails.
pub fn capture(command: &mut Command) -> anyhow::Result<String> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("could not start `{}`", display(command)))?;
    if !output.status.success() {
        bail!(
            "`{}` failed ({}):\n{}{}",
            display(command),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Waits for a child. It normally got the terminal's Ctrl-C along with us
/// and ends by itself. When the signal reached xtask alone (`kill <pid>`,
/// SIGHUP), the child still runs: it is asked to stop with SIGTERM after a
/// second, and killed when it is still running `grace` after the interrupt,
/// so that clean-up can proceed.
pub fn wait(child: &mut Child, grace: Duration) -> anyhow::Result<ExitStatus> {
    const FORWARD_AFTER: Duration = Duration::from_secs(1);
    let mut interrupted_at: Option<Instant> = None;
    let mut forwarded = false;
    loop {
        if let Some(status) = child.try_wait().context("waiting for a child process")? {
            return Ok(status);
        }
        if interrupt::interrupted() {
            let since = *interrupted_at.get_or_insert_with(Instant::now);
            if !forwarded && since.elapsed() >= FORWARD_AFTER {
                forwarded = true;
                // Best effort: it may have exited meanwhile.
                let _ = Command::new("kill")
                    .args(["-TERM", &child.id().to_string()])
                    .stderr(Stdio::null())
                    .status();
            }
            if since.elapsed() >= grace {
                crate::say!(
                    "the child is still running {}s after the interrupt; killing it",
                    grace.as_secs()
                );
                // It may have exited meanwhile; wait() reports either way.
                let _ = child.kill();
                return child.wait().context("waiting for a killed child process");
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Our exit code for a child's end: its code, or 128 + signal like a shell.
pub fn exit_code(status: ExitStatus) -> ExitCode {
    ExitCode::from(code_byte(status.code(), status.signal()))
}

fn code_byte(code: Option<i32>, signal: Option<i32>) -> u8 {
    match (code, signal) {
        (Some(code), _) => u8::try_from(code).unwrap_or(1),
        (None, Some(signal)) => u8::try_from(128 + signal).unwrap_or(255),
        (None, None) => 1,
    }
}

/// Whether a process with this id exists (pid files of earlier runs).
pub fn is_alive(pid: u32) -> bool {
    if std::path::Path::new("/proc/self").exists() {
        return std::path::Path::new("/proc").join(pid.to_string()).exists();
    }
    Command::new("kill")
        .args(["-0", &pid.to_string()])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_shell_convention() {
        assert_eq!(code_byte(Some(0), None), 0);
        assert_eq!(code_byte(Some(101), None), 101);
        assert_eq!(code_byte(None, Some(2)), 130);
        assert_eq!(code_byte(None, Some(9)), 137);
        assert_eq!(code_byte(Some(-1), None), 1);
        assert_eq!(code_byte(None, None), 1);
    }

    #[test]
    fn displays_the_command_line() {
        let mut command = Command::new("pg_ctl");
        command.args(["stop", "-m", "fast"]);
        assert_eq!(display(&command), "pg_ctl stop -m fast");
    }

    #[test]
    fn we_are_alive() {
        assert!(is_alive(std::process::id()));
    }
}

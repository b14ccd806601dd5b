//! Child processes: running them, waiting for them with a bound, signalling
//! them by PID, and turning how they ended into an exit code.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

use crate::interrupt;

/// The running tool's name (`xtask`, `experiment`, `faults`), for
/// [`say!`](crate::say) lines.
pub fn tool_name() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        std::env::args_os()
            .next()
            .and_then(|argv0| {
                Path::new(&argv0)
                    .file_name()
                    .map(|name| name.to_string_lossy().into_owned())
            })
            .unwrap_or_else(|| "harness".to_owned())
    })
}

/// The command line, for messages.
pub fn display(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|part| part.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs to completion with its output going to ours.
///
/// # Errors
/// When it cannot start or does not succeed.
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
///
/// # Errors
/// When it cannot start or does not succeed.
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

/// Waits for a child that shares our terminal. It normally got the
/// terminal's Ctrl-C along with us and ends by itself. When the signal
/// reached this tool alone (`kill <pid>`, SIGHUP), the child still runs: it
/// is asked to stop with SIGTERM after a second, and killed when it is
/// still running `grace` after the interrupt, so that clean-up can proceed.
///
/// # Errors
/// When waiting fails.
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
                let _ = signal(child.id(), Signal::SIGTERM);
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

/// Sends `signal` to process `pid`.
///
/// # Errors
/// When the process does not exist (any more) or may not be signalled.
pub fn signal(pid: u32, signal: Signal) -> anyhow::Result<()> {
    let raw = i32::try_from(pid).context("pid out of range")?;
    kill(Pid::from_raw(raw), signal).with_context(|| format!("sending {signal} to pid {pid}"))
}

/// Stops a child: `ask` to it, up to `grace` for it to exit, then SIGKILL
/// to it and, when it leads a process group of its own (spawned with
/// `process_group(0)`), to the whole group, so the helpers it started
/// (nginx's workers, pg_autoctl's services, the Erlang VM's port programs)
/// cannot outlive it; reaped either way. A zero `grace` kills at once.
/// Returns whether it had to kill.
///
/// # Errors
/// When the child cannot be watched, killed or waited for.
pub fn stop_group(child: &mut Child, ask: Signal, grace: Duration) -> anyhow::Result<bool> {
    if child.try_wait()?.is_some() {
        return Ok(false);
    }
    if !grace.is_zero() {
        // It may have exited meanwhile; the wait below tells.
        let _ = signal(child.id(), ask);
        let exited = wait_until(grace, Duration::from_millis(20), || Ok(child.try_wait()?))?;
        if exited.is_some() {
            return Ok(false);
        }
        crate::say!(
            "pid {} outlived {ask} by {grace:?}; killing its process group",
            child.id()
        );
    }
    // Not reaped yet, so no other process can hold its pid, and a group
    // of that id can only be the one it leads. It may have exited
    // meanwhile (and a child in another group has no such group); wait()
    // reports either way.
    let _ = signal_group(child.id(), Signal::SIGKILL);
    let _ = child.kill();
    child.wait().context("waiting for a killed process")?;
    Ok(true)
}

/// Sends `signal` to every process in group `group` (a child started
/// with `process_group(0)` leads one of its own, numbered by its pid).
///
/// # Errors
/// When the group has no process (any more) or may not be signalled.
pub fn signal_group(group: u32, signal: Signal) -> anyhow::Result<()> {
    let raw = i32::try_from(group).context("process group out of range")?;
    killpg(Pid::from_raw(raw), signal)
        .with_context(|| format!("sending {signal} to process group {group}"))
}

/// Stops process `pid`, which a killed run of a tool left running (not
/// our child, so it cannot be reaped here): `ask`, up to `grace` for it to
/// exit, then SIGKILL to it and to the process group it leads, as every
/// server the tools start leads one.
pub fn stop_left_running(pid: u32, ask: Signal, grace: Duration) {
    // Gone already, if these fail.
    let _ = signal(pid, ask);
    let gone = wait_until(grace, Duration::from_millis(50), || {
        Ok((!is_alive(pid)).then_some(()))
    });
    if !matches!(gone, Ok(Some(()))) {
        let _ = signal_group(pid, Signal::SIGKILL);
        let _ = signal(pid, Signal::SIGKILL);
    }
}

/// Our exit code for a child's end: its code, or 128 + signal like a shell.
#[must_use]
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

/// `exited 0`, `killed by signal 9`.
#[must_use]
pub fn describe_exit(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => status.to_string(),
    }
}

/// Whether a process with this id exists (pid files of earlier runs), a
/// zombie (exited, not reaped yet) counting as gone.
#[must_use]
pub fn is_alive(pid: u32) -> bool {
    match i32::try_from(pid) {
        // Signal 0 checks existence and permission without signalling;
        // EPERM means it exists under another user.
        Ok(raw) => {
            !matches!(
                kill(Pid::from_raw(raw), None),
                Err(nix::errno::Errno::ESRCH)
            ) && !is_zombie(pid)
        }
        Err(_) => false,
    }
}

/// Whether `pid` has exited and waits for its parent to reap it: a server
/// whose parent exited first lingers so until init reaps it.
fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        // The state follows the command name, which is in parentheses.
        stat.rfind(')')
            .and_then(|end| stat[end + 1..].split_whitespace().next())
            .is_some_and(|state| state == "Z")
    })
}

/// Whether process `pid` runs the program `name` (its `comm`, which
/// argv rewriting such as nginx's and pg_autoctl's process titles leaves
/// alone): a pid file may outlive its process, and the pid be reused.
#[must_use]
pub fn runs(pid: u32, name: &str) -> bool {
    /// The kernel keeps 15 bytes of a program's name.
    const COMM_LEN: usize = 15;
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .is_ok_and(|comm| comm.trim_end() == name.get(..COMM_LEN).unwrap_or(name))
        && !is_zombie(pid)
}

/// The pid `pid_file` names (its first line), when that process still runs
/// `name`: what a killed run left running.
#[must_use]
pub fn left_running(pid_file: &Path, name: &str) -> Option<u32> {
    std::fs::read_to_string(pid_file)
        .ok()?
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()
        .filter(|pid| runs(*pid, name))
}

/// CPU time a process has used so far, all its threads, user and system:
/// fields 14 and 15 of `/proc/<pid>/stat`, in the kernel's fixed 100 ticks
/// a second. `None` once it is gone.
#[must_use]
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    cpu_seconds_in(&stat)
}

fn cpu_seconds_in(stat: &str) -> Option<f64> {
    /// `USER_HZ`, the unit of `/proc` times on every Linux architecture.
    const TICKS_PER_SECOND: f64 = 100.0;
    // The command name, field 2, is in parentheses and may hold spaces.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some((user + system) as f64 / TICKS_PER_SECOND)
}

/// The last `lines` lines of the file at `path` (empty when unreadable):
/// what a failure message shows of a log.
#[must_use]
pub fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    last_lines(&text, lines)
}

fn last_lines(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Waits up to `within` for `child` to exit; when it is still running
/// then, kills it (its process group too, when it leads one) and returns
/// `None`.
///
/// # Errors
/// When it cannot be watched, killed or waited for.
pub fn wait_within(child: &mut Child, within: Duration) -> anyhow::Result<Option<ExitStatus>> {
    if let Some(status) = wait_until(within, Duration::from_millis(20), || Ok(child.try_wait()?))? {
        return Ok(Some(status));
    }
    stop_group(child, Signal::SIGKILL, Duration::ZERO)?;
    Ok(None)
}

/// Why a started program is not ready: it exited, or `within` passed.
#[derive(Debug)]
pub enum NotReady {
    Exited(ExitStatus),
    TimedOut,
}

/// Polls `ready` every `step` until it holds, while `child` (the program
/// `what`) runs: the readiness wait of every launcher of an engine that
/// runs as our child (nginx, Prometheus, RabbitMQ). `Err(NotReady)` says
/// why it did not get ready, for the launcher to report with its logs and
/// to clean up after.
///
/// # Errors
/// When the child cannot be watched, or on Ctrl-C.
pub fn wait_ready(
    child: &mut Child,
    what: &str,
    within: Duration,
    step: Duration,
    mut ready: impl FnMut() -> bool,
) -> anyhow::Result<Result<(), NotReady>> {
    let started = Instant::now();
    loop {
        if let Some(status) = child
            .try_wait()
            .with_context(|| format!("watching {what}"))?
        {
            return Ok(Err(NotReady::Exited(status)));
        }
        if ready() {
            return Ok(Ok(()));
        }
        if interrupt::interrupted() {
            bail!("interrupted while waiting for {what}");
        }
        if started.elapsed() >= within {
            return Ok(Err(NotReady::TimedOut));
        }
        std::thread::sleep(step);
    }
}

/// Polls `check` every `step` until it yields a value or `within` passes
/// (then `None`); a bounded wait, never an open-ended sleep. For waits
/// inside an async runtime see [`wait_until_async`].
///
/// # Errors
/// The first error `check` returns.
pub fn wait_until<T>(
    within: Duration,
    step: Duration,
    mut check: impl FnMut() -> anyhow::Result<Option<T>>,
) -> anyhow::Result<Option<T>> {
    let started = Instant::now();
    loop {
        if let Some(value) = check()? {
            return Ok(Some(value));
        }
        if started.elapsed() >= within {
            return Ok(None);
        }
        std::thread::sleep(step);
    }
}

/// [`wait_until`] for async code: the pauses yield to the runtime.
///
/// # Errors
/// The first error `check` returns.
pub async fn wait_until_async<T>(
    within: Duration,
    step: Duration,
    mut check: impl FnMut() -> anyhow::Result<Option<T>>,
) -> anyhow::Result<Option<T>> {
    let started = Instant::now();
    loop {
        if let Some(value) = check()? {
            return Ok(Some(value));
        }
        if started.elapsed() >= within {
            return Ok(None);
        }
        tokio::time::sleep(step).await;
    }
}

/// Makes room for `needed` open files in this process (load generators
/// hold a socket per connection): raises the soft limit towards the hard
/// one when it is lower.
///
/// # Errors
/// When even the hard limit leaves less than `needed`.
pub fn ensure_open_files(needed: u64) -> anyhow::Result<()> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) =
        getrlimit(Resource::RLIMIT_NOFILE).context("reading the open-files limit")?;
    if soft >= needed {
        return Ok(());
    }
    if hard < needed {
        bail!(
            "{needed} open files are needed, but the hard limit is {hard} (raise it: ulimit -Hn)"
        );
    }
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard).context("raising the open-files limit")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_is_user_plus_system_ticks() {
        let stat = "4242 (record shop) S 1 4242 4242 0 -1 4194304 900 0 0 0 1250 375 0 0 20 0 9 0";
        assert_eq!(cpu_seconds_in(stat), Some(16.25));
        assert_eq!(cpu_seconds_in("garbage"), None);
        assert!(cpu_seconds(std::process::id()).is_some());
    }

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
    fn we_are_alive_and_the_impossible_pid_is_not() {
        assert!(is_alive(std::process::id()));
        // Beyond the kernel's pid_max.
        assert!(!is_alive(4_294_967));
    }

    #[test]
    fn tells_programs_by_name() {
        let own = std::fs::read_to_string("/proc/self/comm").unwrap();
        assert!(runs(std::process::id(), own.trim_end()));
        assert!(!runs(std::process::id(), "nginx"));
        assert!(!runs(4_294_967, "nginx"));
        assert_eq!(left_running(Path::new("/nonexistent/x.pid"), "nginx"), None);
    }

    #[test]
    fn keeps_the_last_lines() {
        assert_eq!(last_lines("a\nb\nc\n", 2), "b\nc");
        assert_eq!(last_lines("a", 5), "a");
        assert_eq!(tail(Path::new("/nonexistent/log"), 3), "");
    }

    #[test]
    fn bounded_waits_end_with_the_value_or_none() {
        let mut polls = 0;
        let found = wait_until(Duration::from_secs(5), Duration::from_millis(1), || {
            polls += 1;
            Ok((polls == 3).then_some(polls))
        })
        .unwrap();
        assert_eq!(found, Some(3));
        let never = wait_until(Duration::from_millis(20), Duration::from_millis(5), || {
            Ok(None::<()>)
        })
        .unwrap();
        assert_eq!(never, None);
    }
}

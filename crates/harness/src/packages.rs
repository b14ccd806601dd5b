//! Installing the Debian packages the tools need (PostgreSQL, and later
//! brokers, proxies…), where that is safe to do unasked: as root on
//! Debian or Ubuntu, which is what CI machines and containers are.
//!
//! Packages are installed without their recommendations and without
//! starting their services: a package's own server (a system PostgreSQL on
//! 5432, say) would only be one more process left running; the tools start
//! the servers they need themselves, in folders and on ports of their own.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;

use crate::process;

/// Debian's hook for "may this package start its service now?"; exit code
/// 101 means no (see invoke-rc.d(8)).
const POLICY_RC_D: &str = "/usr/sbin/policy-rc.d";
const DENY_SERVICES: &str = "#!/bin/sh\n# Written by the record shop's tools during apt-get install; removed afterwards.\nexit 101\n";

static UPDATED: AtomicBool = AtomicBool::new(false);

/// Whether the user running this is root.
///
/// # Errors
/// When `id` cannot be run.
pub fn is_root() -> anyhow::Result<bool> {
    Ok(id(&["-u"])? == 0)
}

/// The numeric output of `id <args>` (`-u`, `-g`, `-u postgres`).
pub(crate) fn id(args: &[&str]) -> anyhow::Result<u32> {
    let output = process::capture(Command::new("id").args(args))?;
    parse_id(&output)
}

fn parse_id(output: &str) -> anyhow::Result<u32> {
    let text = output.trim();
    text.parse()
        .with_context(|| format!("`id` printed {text:?}, not a numeric id"))
}

/// Whether [`install`] may run here: root on Debian or a derivative.
///
/// # Errors
/// When `id` cannot be run.
pub fn can_install() -> anyhow::Result<bool> {
    Ok(is_root()? && is_debian_like())
}

/// `apt-get install` of `packages`, after one `apt-get update` per process,
/// with services kept from starting.
///
/// # Errors
/// When apt-get fails.
pub fn install(packages: &[&str]) -> anyhow::Result<()> {
    if !UPDATED.swap(true, Ordering::SeqCst) {
        apt_get(&["update"])?;
    }
    // Only ours is removed afterwards; an administrator's policy stays.
    let ours = !Path::new(POLICY_RC_D).exists()
        && fs::write(POLICY_RC_D, DENY_SERVICES).is_ok()
        && make_executable(Path::new(POLICY_RC_D));
    let mut args = vec!["install", "-y", "--no-install-recommends"];
    args.extend_from_slice(packages);
    let installed = apt_get(&args);
    if ours {
        let _ = fs::remove_file(POLICY_RC_D);
    }
    installed.with_context(|| format!("installing {} with apt-get", packages.join(" ")))
}

fn make_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).is_ok()
}

fn apt_get(args: &[&str]) -> anyhow::Result<()> {
    let mut command = Command::new("apt-get");
    command
        .args([
            "-o",
            "Dpkg::Options::=--force-confdef",
            "-o",
            "Dpkg::Options::=--force-confold",
        ])
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        // Keep our edits of ucf-managed configuration files.
        .env("UCF_FORCE_CONFFOLD", "1")
        .stdin(Stdio::null());
    process::run(&mut command)
}

fn is_debian_like() -> bool {
    Path::new("/etc/debian_version").exists()
        || fs::read_to_string("/etc/os-release").is_ok_and(|text| os_release_is_debian_like(&text))
}

fn os_release_is_debian_like(text: &str) -> bool {
    text.lines()
        .filter_map(|line| line.split_once('='))
        .filter(|(key, _)| matches!(key.trim(), "ID" | "ID_LIKE"))
        .flat_map(|(_, value)| value.trim().trim_matches('"').split_whitespace())
        .any(|id| id == "debian" || id == "ubuntu")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_debian_and_derivatives() {
        assert!(os_release_is_debian_like(
            "PRETTY_NAME=\"Debian GNU/Linux 12\"\nID=debian\n"
        ));
        assert!(os_release_is_debian_like("ID=ubuntu\nID_LIKE=debian\n"));
        assert!(os_release_is_debian_like(
            "ID=linuxmint\nID_LIKE=\"ubuntu debian\"\n"
        ));
        assert!(!os_release_is_debian_like("ID=fedora\n"));
        assert!(!os_release_is_debian_like("ID=alpine\nVERSION_ID=3.20\n"));
    }

    #[test]
    fn parses_id_output() {
        assert_eq!(parse_id("0\n").unwrap(), 0);
        assert_eq!(parse_id(" 101\n").unwrap(), 101);
        assert!(parse_id("").is_err());
        assert!(parse_id("postgres").is_err());
        assert!(parse_id("-1").is_err());
    }
}

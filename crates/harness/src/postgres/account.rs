//! Which OS user runs the PostgreSQL server programs.
//!
//! `initdb`, `pg_ctl`, `postgres` and `pg_autoctl` refuse to run as root.
//! Run as root (CI, containers), the tools run them as the `postgres` user
//! through `runuser` (`setpriv` for the ones they supervise) and hand it
//! the directories they write to; otherwise they run as we do.

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::Context;

use crate::packages::{id, is_root};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Account {
    /// Not root: run the programs directly.
    Current,
    /// Root: run them as the `postgres` user.
    Postgres { uid: u32, gid: u32 },
}

impl Account {
    /// The account for this process: ours, or `postgres` when we are root.
    ///
    /// # Errors
    /// When running as root and there is no `postgres` user.
    pub fn detect() -> anyhow::Result<Self> {
        if !is_root()? {
            return Ok(Self::Current);
        }
        let uid = id(&["-u", "postgres"]).context(
            "running as root, the tools start PostgreSQL as the `postgres` user, which does not exist; \
             create it with `useradd --system --user-group --home-dir /var/lib/postgresql postgres` \
             (installing the postgresql package does this)",
        )?;
        let gid = id(&["-g", "postgres"])?;
        Ok(Self::Postgres { uid, gid })
    }

    /// A command that runs `program` as this account, from `/` (the
    /// `postgres` user may not be allowed into our working directory).
    #[must_use]
    pub fn command(&self, program: &Path) -> Command {
        let mut command = match self {
            Self::Current => Command::new(program),
            Self::Postgres { .. } => {
                let mut command = Command::new("runuser");
                command.args(["-u", "postgres", "--"]).arg(program);
                command
            }
        };
        command.current_dir("/");
        command
    }

    /// A command that becomes `program` running as this account, from `/`,
    /// for programs the tools supervise as children (`pg_autoctl run`):
    /// `setpriv` switches user and groups and execs the program in place, so
    /// the child's pid is the program's and a SIGTERM reaches it alone.
    /// [`Account::command`]'s `runuser` stays in between and kills its child
    /// 2 s after a SIGTERM, which cuts a clean shutdown short. `setpriv`
    /// leaves the environment as it is: callers set `HOME` and the rest.
    #[must_use]
    pub fn exec_command(&self, program: &Path) -> Command {
        let mut command = match self {
            Self::Current => Command::new(program),
            Self::Postgres { .. } => {
                let mut command = Command::new("setpriv");
                command
                    .args([
                        "--reuid=postgres",
                        "--regid=postgres",
                        "--init-groups",
                        "--",
                    ])
                    .arg(program);
                command
            }
        };
        command.current_dir("/");
        command
    }

    /// Makes `path` this account's, so the server may write there.
    ///
    /// # Errors
    /// When the owner cannot be changed.
    pub fn take(&self, path: &Path) -> anyhow::Result<()> {
        if let Self::Postgres { uid, gid } = self {
            std::os::unix::fs::chown(path, Some(*uid), Some(*gid))
                .with_context(|| format!("handing {} to the postgres user", path.display()))?;
        }
        Ok(())
    }

    /// Whether this account can enter `dir` (which needs every parent
    /// directory to be traversable too).
    #[must_use]
    pub fn can_enter(&self, dir: &Path) -> bool {
        self.test(&["-x"], dir)
    }

    /// Whether this account can create files in `dir`.
    #[must_use]
    pub fn can_write(&self, dir: &Path) -> bool {
        self.test(&["-w"], dir)
    }

    fn test(&self, flags: &[&str], path: &Path) -> bool {
        match self {
            Self::Current => true,
            Self::Postgres { .. } => self
                .command(Path::new("test"))
                .args(flags)
                .arg(path)
                .stdin(Stdio::null())
                .status()
                .is_ok_and(|status| status.success()),
        }
    }
}

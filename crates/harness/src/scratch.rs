//! Folders of throwaway servers (scratch clusters, scratch brokers), named
//! `<prefix><owner pid>-<nonce>` so that a later run can tell the ones a
//! killed run left behind: their owner is no longer alive.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;

use crate::process;

/// One kind of scratch folder, told apart by its name's prefix.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ScratchFolders {
    pub(crate) prefix: &'static str,
}

impl ScratchFolders {
    /// A new, empty folder under `root`, owned by this process.
    pub(crate) fn create(self, root: &Path) -> anyhow::Result<PathBuf> {
        let nonce = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|elapsed| elapsed.subsec_nanos())
            .unwrap_or_default();
        let dir = root.join(format!("{}{}-{nonce:08x}", self.prefix, std::process::id()));
        fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(dir)
    }

    /// The folders of this kind under `root` whose owner is gone.
    pub(crate) fn left_by_killed_runs(self, root: &Path) -> Vec<PathBuf> {
        let Ok(entries) = fs::read_dir(root) else {
            return Vec::new();
        };
        entries
            .filter_map(Result::ok)
            .filter(|entry| {
                let name = entry.file_name();
                name.to_str()
                    .and_then(|name| self.owner_pid(name))
                    .is_some_and(|owner| !process::is_alive(owner))
            })
            .map(|entry| entry.path())
            .collect()
    }

    /// The owner's pid in a folder's name.
    fn owner_pid(self, name: &str) -> Option<u32> {
        let rest = name.strip_prefix(self.prefix)?;
        let (pid, nonce) = rest.split_once('-')?;
        if nonce.is_empty() || !nonce.chars().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        pid.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_owner_from_scratch_names() {
        let tests = ScratchFolders {
            prefix: "recordshop-test-",
        };
        assert_eq!(tests.owner_pid("recordshop-test-4242-1a2b3c4d"), Some(4242));
        assert_eq!(tests.owner_pid("recordshop-test-4242-"), None);
        assert_eq!(tests.owner_pid("recordshop-test-x-1a"), None);
        assert_eq!(tests.owner_pid("recordshop-1a2b3c4d"), None);
        assert_eq!(tests.owner_pid("recordshop-test-4242-zz"), None);
        assert_eq!(tests.owner_pid("recordshop-broker-4242-1a2b3c4d"), None);
    }
}

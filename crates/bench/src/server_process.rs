//! The server process, seen through `/proc` (so the server must run on this machine): its
//! resident memory and its open-files limit.

use std::path::PathBuf;

use anyhow::Context;

/// The server process, seen through `/proc`.
pub struct Server {
    proc_dir: PathBuf,
}

impl Server {
    /// The process `pid` on this machine.
    pub fn new(pid: u32) -> Self {
        Self {
            proc_dir: PathBuf::from(format!("/proc/{pid}")),
        }
    }

    /// Its resident memory (VmRSS).
    pub fn resident_bytes(&self) -> anyhow::Result<u64> {
        self.status_bytes("VmRSS:")
    }

    /// The most resident memory it has had (VmHWM, the high-water mark).
    pub fn peak_resident_bytes(&self) -> anyhow::Result<u64> {
        self.status_bytes("VmHWM:")
    }

    /// A `NAME:  1234 kB` line of `/proc/PID/status`, in bytes.
    fn status_bytes(&self, name: &str) -> anyhow::Result<u64> {
        kib_line_bytes(&self.read("status")?, name)
            .with_context(|| format!("no {name} line in {}/status", self.proc_dir.display()))
    }

    /// The text of `/proc/PID/<file>`.
    fn read(&self, file: &str) -> anyhow::Result<String> {
        let path = self.proc_dir.join(file);
        std::fs::read_to_string(&path).with_context(|| {
            format!(
                "reading {} (is --server-pid a process on this machine?)",
                path.display()
            )
        })
    }

    /// Its soft open-files limit, when it has one.
    pub fn open_files_limit(&self) -> anyhow::Result<Option<u64>> {
        Ok(soft_open_files(&self.read("limits")?))
    }
}

/// The `NAME:  1234 kB` line of a `/proc/PID/status` text, in bytes.
fn kib_line_bytes(status: &str, name: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(name))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The soft limit of `Max open files` in a `/proc/PID/limits` text (`None` when unlimited).
fn soft_open_files(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files")
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_texts_are_read() {
        let status = "Name:\tamity\nVmPeak:\t  900 kB\nVmRSS:\t  20480 kB\nThreads:\t3\n";
        assert_eq!(kib_line_bytes(status, "VmRSS:"), Some(20 * 1024 * 1024));
        assert_eq!(kib_line_bytes(status, "VmPeak:"), Some(900 * 1024));
        assert_eq!(kib_line_bytes("Name:\tx\n", "VmRSS:"), None);
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max open files            1024                 524288               files     \n";
        assert_eq!(soft_open_files(limits), Some(1024));
        let unlimited =
            "Max open files            unlimited            unlimited            files     \n";
        assert_eq!(soft_open_files(unlimited), None);
    }

    #[test]
    fn this_process_can_be_read() -> anyhow::Result<()> {
        let me = Server::new(std::process::id());
        assert!(me.resident_bytes()? > 0);
        assert!(me.peak_resident_bytes()? > 0);
        assert!(me.open_files_limit()?.is_some_and(|n| n > 0));
        Ok(())
    }
}

//! The machine and its processes as /proc shows them: CPU model, cores, memory, kernel; a
//! process's RSS and CPU ticks, PostgreSQL's, the whole machine's; the load average; the
//! open-file limit.

use std::path::Path;

/// CPU ticks per second (`CLK_TCK` on Linux).
pub const TICKS_PER_SEC: f64 = 100.0;

/// What the machine is.
pub struct Machine {
    /// The CPU model (`model name` in /proc/cpuinfo).
    pub cpu: Option<String>,
    /// Processors listed in /proc/cpuinfo.
    pub processors: usize,
    /// `MemTotal` in kB.
    pub mem_total_kb: Option<u64>,
    pub kernel: Option<String>,
}

impl Machine {
    pub fn detect() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_owned());
        let processors = cpuinfo.lines().filter(|l| l.starts_with("processor")).count();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let mem_total_kb = meminfo
            .lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok());
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok().map(|s| s.trim().to_owned());
        Machine { cpu, processors, mem_total_kb, kernel }
    }
}

/// The cores this process may use (what nproc says).
pub fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
}

/// (VmRSS, VmHWM) in bytes from a `/proc/<pid>/status` file (zero when unreadable).
pub fn memory_of(path: &str) -> (u64, u64) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// (VmRSS, VmHWM) of process `pid` in bytes.
pub fn memory(pid: u32) -> (u64, u64) {
    memory_of(&format!("/proc/{pid}/status"))
}

/// CPU ticks (user + system) of a process.
pub fn cpu_ticks(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0)
}

/// CPU ticks of a private PostgreSQL: its postmaster (the `postgres` whose command line names
/// `dir`) and every child of it.
pub fn pg_ticks(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else { return 0 };
    let pids: Vec<u32> = entries.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect();
    let needle = dir.to_string_lossy().into_owned();
    let postmaster = pids.iter().copied().find(|pid| {
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd);
        cmd.split('\0').next().is_some_and(|b| b.ends_with("/postgres")) && cmd.contains(&needle)
    });
    let Some(pm) = postmaster else { return 0 };
    let ppid = |pid: u32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| s.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse::<u32>().ok())
    };
    pids.iter().filter(|p| **p == pm || ppid(**p) == Some(pm)).map(|p| cpu_ticks(*p)).sum()
}

/// The load average (1, 5 and 15 minutes) as /proc/loadavg writes it.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Busy and total ticks of the whole machine (all cores).
pub fn machine_ticks() -> (u64, u64) {
    let line = std::fs::read_to_string("/proc/stat").ok().and_then(|s| s.lines().next().map(str::to_owned));
    let v: Vec<u64> =
        line.map(|l| l.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect()).unwrap_or_default();
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    (total.saturating_sub(idle), total)
}

/// Raises the soft open-file limit to the hard one; returns the limit now in force (0 when it
/// cannot be read).
pub fn raise_nofile() -> u64 {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit with a valid struct pointer.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
    }
    lim.rlim_cur
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_memory_and_cpu_time() {
        let (rss, hwm) = memory(std::process::id());
        assert!(rss > 0 && hwm >= rss, "rss {rss} hwm {hwm}");
        assert_eq!(memory_of("/proc/self/status-none"), (0, 0));
        let spin = std::time::Instant::now();
        while cpu_ticks(std::process::id()) == 0 && spin.elapsed().as_secs() < 5 {}
        assert!(cpu_ticks(std::process::id()) > 0);
        let (busy, total) = machine_ticks();
        assert!(total > 0 && busy <= total);
        assert!(cores() >= 1);
    }
}

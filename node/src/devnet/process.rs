//! The devnet's hold on its daemon processes: they are spawned so that they die with the
//! node, even a SIGKILLed one; a daemon left over anyway is found by its pid file or by
//! the lock on its data directory.
//!
//! On Linux a daemon gets `PR_SET_PDEATHSIG`: the kernel sends it SIGTERM when the
//! thread that forked it exits. A thread of the async runtime's blocking pool exits
//! after a few idle seconds, so daemons are forked by a [`Spawner`] thread that lives
//! exactly as long as the daemons' owner.

use std::fs::OpenOptions;
use std::io;
use std::path::Path;
use std::process::{Child, Command};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A request to the spawner thread, and where its answer goes.
type Request = (Command, mpsc::Sender<io::Result<Child>>);

/// A thread that forks the daemons and lives until it is dropped, so that the parent-death
/// signal of its children fires when the process dies, and not before.
pub(super) struct Spawner {
    requests: mpsc::Sender<Request>,
}

impl Spawner {
    /// Starts the thread.
    ///
    /// # Errors
    /// The thread cannot be started.
    pub(super) fn start() -> io::Result<Self> {
        let (requests, inbox) = mpsc::channel::<Request>();
        std::thread::Builder::new()
            .name("devnet-daemons".into())
            .spawn(move || {
                for (mut command, answer) in inbox {
                    die_with_parent(&mut command);
                    let _ = answer.send(command.spawn());
                }
            })?;
        Ok(Self { requests })
    }

    /// Spawns `command` on the thread.
    ///
    /// # Errors
    /// The command cannot be spawned, or the thread is gone.
    pub(super) fn spawn(&self, command: Command) -> io::Result<Child> {
        let gone = || io::Error::other("the daemon spawner thread is gone");
        let (answer, reply) = mpsc::channel();
        self.requests.send((command, answer)).map_err(|_| gone())?;
        reply.recv().map_err(|_| gone())?
    }
}

/// Makes the child of `command` get SIGTERM when the forking thread exits.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn die_with_parent(command: &mut Command) {
    use std::os::unix::process::CommandExt as _;
    let parent = libc::pid_t::try_from(std::process::id()).unwrap_or(0);
    // SAFETY: the closure runs in the child between fork and exec, and only makes
    // async-signal-safe calls (prctl, getppid) and builds errors without allocating.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent died before the prctl: no signal will come, so do not start.
            if libc::getppid() != parent {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_parent(_command: &mut Command) {}

/// A process holding a lock, as `/proc` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Holder {
    /// Its process id.
    pub pid: u32,
    /// Its command line, arguments separated by spaces; empty if unreadable.
    pub command: String,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.command.is_empty() {
            write!(f, "pid {}", self.pid)
        } else {
            write!(f, "pid {} ({})", self.pid, self.command)
        }
    }
}

/// Returns the process holding a write lock (`fcntl`, as Bitcoin Core's `LockDirectory`
/// takes) on `file`, or `None` if the file is missing or unlocked.
#[cfg(unix)]
#[allow(unsafe_code)]
pub(super) fn lock_holder(file: &Path) -> Option<Holder> {
    use std::os::fd::AsRawFd as _;
    let file = OpenOptions::new().read(true).write(true).open(file).ok()?;
    // SAFETY: `flock` is plain data, for which all zeroes is a valid value.
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = libc::F_WRLCK as libc::c_short;
    lock.l_whence = libc::SEEK_SET as libc::c_short;
    // SAFETY: the descriptor is open for the call, and `lock` is a valid `flock` that
    // F_GETLK only writes to.
    if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETLK, &mut lock) } != 0 {
        return None;
    }
    if lock.l_type == libc::F_UNLCK as libc::c_short {
        return None;
    }
    let pid = u32::try_from(lock.l_pid).ok()?;
    Some(Holder {
        pid,
        command: command_line(pid).unwrap_or_default(),
    })
}

#[cfg(not(unix))]
pub(super) fn lock_holder(_file: &Path) -> Option<Holder> {
    None
}

/// Returns the arguments of process `pid`, the program first.
pub(super) fn args(pid: u32) -> Option<Vec<String>> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(
        raw.split(|&b| b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect(),
    )
}

/// Returns the command line of process `pid`, arguments separated by spaces and cut at
/// 300 bytes.
pub(super) fn command_line(pid: u32) -> Option<String> {
    let mut line = args(pid)?.join(" ");
    if line.len() > 300 {
        let cut = (0..=300)
            .rev()
            .find(|&i| line.is_char_boundary(i))
            .unwrap_or(0);
        line.truncate(cut);
        line.push_str("...");
    }
    Some(line)
}

/// Whether process `pid` exists and is not a zombie.
pub(super) fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name, which is in parentheses and may hold spaces.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// Sends `signal` to process `pid`.
#[cfg(unix)]
#[allow(unsafe_code)]
fn signal(pid: u32, signal: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill has no memory-safety preconditions.
        unsafe {
            libc::kill(pid, signal);
        }
    }
}

/// Stops process `pid`: SIGTERM, then SIGKILL if it still runs after `grace`. Returns
/// whether it is gone.
#[cfg(unix)]
pub(super) fn stop(pid: u32, grace: Duration) -> bool {
    for (sig, wait) in [
        (libc::SIGTERM, grace),
        (libc::SIGKILL, Duration::from_secs(5)),
    ] {
        signal(pid, sig);
        let deadline = Instant::now() + wait;
        while alive(pid) {
            if Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if !alive(pid) {
            return true;
        }
    }
    false
}

#[cfg(not(unix))]
pub(super) fn stop(_pid: u32, _grace: Duration) -> bool {
    false
}

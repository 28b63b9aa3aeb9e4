//! Scheduling priority of the hashing threads, so that mining never starves the node
//! (its Stratum server, sharechain and API) on the same machine, and the CPUs they are
//! pinned to, where the operator names them.

use std::io;
use std::sync::Arc;

/// Applies `priority` and hashing thread `index`'s CPU of `affinity` to the calling
/// thread. A refusal costs speed only, so it is logged and the thread goes on: the
/// priority's by thread 0 alone (every thread gets the same answer), a CPU's by its
/// thread. `threads` names them in the log.
pub(crate) fn place_current_thread(
    priority: ThreadPriority,
    affinity: &CpuAffinity,
    index: usize,
    threads: &str,
) {
    if let Err(error) = priority.apply_to_current_thread()
        && index == 0
    {
        tracing::warn!(target: "otedama::miner", ?priority, %error,
                       "cannot set the {threads}' priority; they run at the default");
    }
    if let Err(error) = affinity.apply_to_current_thread(index) {
        tracing::warn!(target: "otedama::miner", thread = index, cpu = affinity.cpu_for(index),
                       %error, "cannot pin one of the {threads} to its CPU; the OS places it");
    }
}

/// The logical CPUs the hashing threads are pinned to: thread `i` runs on
/// `cpus[i % cpus.len()]`. Empty (the default): the OS places them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CpuAffinity(Arc<[usize]>);

impl CpuAffinity {
    /// Highest CPU index a thread can be pinned to, plus one (glibc's `CPU_SETSIZE`).
    pub const MAX_CPUS: usize = 1024;

    /// Pins threads to `cpus`, in thread order.
    pub fn new(cpus: Vec<usize>) -> Self {
        Self(cpus.into())
    }

    /// The CPUs, in thread order.
    pub fn cpus(&self) -> &[usize] {
        &self.0
    }

    /// The CPU of hashing thread `thread`, if threads are pinned.
    pub fn cpu_for(&self, thread: usize) -> Option<usize> {
        (!self.0.is_empty()).then(|| self.0[thread % self.0.len()])
    }

    /// Pins the calling thread, hashing thread number `thread`, to its CPU (Linux; with
    /// no CPUs named it does nothing).
    ///
    /// # Errors
    /// The CPU does not exist or is not allowed to this process, or the OS cannot pin
    /// threads.
    pub fn apply_to_current_thread(&self, thread: usize) -> io::Result<()> {
        match self.cpu_for(thread) {
            None => Ok(()),
            Some(cpu) if cpu >= Self::MAX_CPUS => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "CPU {cpu} is beyond the {} a thread can be pinned to",
                    Self::MAX_CPUS
                ),
            )),
            Some(cpu) => sys::pin(cpu),
        }
    }
}

/// How the OS schedules a hashing thread against everything else.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ThreadPriority {
    /// Runs only on cycles nothing else wants (Linux `SCHED_IDLE`).
    Idle,
    /// Nice 10.
    Low,
    /// Nice 0: as any other thread.
    #[default]
    Normal,
    /// Nice -5; needs `CAP_SYS_NICE`.
    High,
}

impl ThreadPriority {
    /// Returns the nice value of the priority.
    pub fn nice(self) -> i32 {
        match self {
            // SCHED_IDLE ignores nice; 19 keeps it last if the policy cannot be set.
            ThreadPriority::Idle => 19,
            ThreadPriority::Low => 10,
            ThreadPriority::Normal => 0,
            ThreadPriority::High => -5,
        }
    }

    /// Applies the priority to the calling thread (on Linux, where nice and the
    /// scheduling policy are per thread; elsewhere it does nothing).
    ///
    /// # Errors
    /// The OS refused: raising priority (`High`) needs `CAP_SYS_NICE`.
    pub fn apply_to_current_thread(self) -> io::Result<()> {
        sys::apply(self)
    }
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
mod sys {
    use super::ThreadPriority;
    use std::io;

    pub(super) fn apply(priority: ThreadPriority) -> io::Result<()> {
        // SAFETY: gettid takes no arguments and cannot fail.
        let tid = unsafe { libc::syscall(libc::SYS_gettid) };
        let tid = libc::id_t::try_from(tid).map_err(|_| io::Error::other("bad thread id"))?;
        if priority == ThreadPriority::Idle {
            let param = libc::sched_param { sched_priority: 0 };
            // SAFETY: `param` is a valid sched_param that outlives the call; a thread id
            // of the calling thread is always valid.
            if unsafe { libc::sched_setscheduler(tid as libc::pid_t, libc::SCHED_IDLE, &param) }
                != 0
            {
                return Err(io::Error::last_os_error());
            }
        }
        // SAFETY: plain integer arguments; on Linux PRIO_PROCESS with a thread id sets
        // that thread's nice value only.
        if unsafe { libc::setpriority(libc::PRIO_PROCESS, tid, priority.nice()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    pub(super) fn pin(cpu: usize) -> io::Result<()> {
        // SAFETY: a zeroed cpu_set_t is the empty set; `cpu < MAX_CPUS` (checked by the
        // caller) lies inside it; pid 0 is the calling thread.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut set);
            if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }

    #[cfg(test)]
    pub(super) fn pinned() -> Vec<usize> {
        // SAFETY: as in `pin`; the call only fills `set`.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set);
            (0..super::CpuAffinity::MAX_CPUS)
                .filter(|c| libc::CPU_ISSET(*c, &set))
                .collect()
        }
    }

    #[cfg(test)]
    pub(super) fn current() -> (i32, i32) {
        // SAFETY: as in `apply`; the calls only read.
        unsafe {
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            (
                libc::sched_getscheduler(tid as libc::pid_t),
                libc::getpriority(libc::PRIO_PROCESS, tid),
            )
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod sys {
    use super::ThreadPriority;

    pub(super) fn apply(_: ThreadPriority) -> std::io::Result<()> {
        Ok(())
    }

    pub(super) fn pin(_: usize) -> std::io::Result<()> {
        Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "threads are pinned on Linux only",
        ))
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn idle_and_low_apply_to_one_thread_only() {
        let before = sys::current();
        let idle = std::thread::spawn(|| {
            ThreadPriority::Idle
                .apply_to_current_thread()
                .map(|()| sys::current())
        })
        .join()
        .expect("thread");
        assert_eq!(idle.expect("idle"), (libc::SCHED_IDLE, 19));
        let low = std::thread::spawn(|| {
            ThreadPriority::Low
                .apply_to_current_thread()
                .map(|()| sys::current())
        })
        .join()
        .expect("thread");
        assert_eq!(low.expect("low"), (libc::SCHED_OTHER, before.1.max(10)));
        // The calling thread is untouched.
        assert_eq!(sys::current(), before);
    }

    #[test]
    fn a_thread_is_pinned_to_its_cpu_and_the_others_are_not() {
        let before = sys::pinned();
        let affinity = CpuAffinity::new(vec![0]);
        assert_eq!(affinity.cpu_for(5), Some(0));
        let pinned =
            std::thread::spawn(move || affinity.apply_to_current_thread(5).map(|()| sys::pinned()))
                .join()
                .expect("thread");
        assert_eq!(pinned.expect("CPU 0 exists"), vec![0]);
        assert_eq!(sys::pinned(), before, "the calling thread is untouched");
        assert_eq!(CpuAffinity::default().cpu_for(0), None);
        CpuAffinity::default()
            .apply_to_current_thread(0)
            .expect("nothing to pin");
        let missing = CpuAffinity::new(vec![CpuAffinity::MAX_CPUS - 1]).apply_to_current_thread(0);
        assert!(missing.is_err(), "no machine here has 1024 CPUs");
        let beyond = CpuAffinity::new(vec![CpuAffinity::MAX_CPUS]).apply_to_current_thread(0);
        assert_eq!(
            beyond.map_err(|e| e.kind()),
            Err(io::ErrorKind::InvalidInput)
        );
    }
}

//! Scheduling priority of the hashing threads, so that mining never starves the node
//! (its Stratum server, sharechain and API) on the same machine.

use std::io;

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
}

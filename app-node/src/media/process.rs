//! The single subprocess wrapper every ffmpeg/ffprobe invocation goes through.
//!
//! Keeping one wrapper means the safety properties hold everywhere: argv is
//! passed verbatim (no shell), the child runs in its own process group so a
//! timeout or cancellation can kill anything it spawned, the group is killed
//! and reaped rather than left as a zombie, and stderr is bounded to a tail.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

use super::error::MediaError;
use super::progress::ProgressTracker;

/// How much of stderr is kept: enough for ffmpeg's final error lines.
const STDERR_TAIL_BYTES: usize = 4096;
/// Below this much free space on the output's filesystem (or 1% of it, if
/// that is less) when a run ends, it is put down to a full disk. ffmpeg writes in
/// small buffers, so a run that hit ENOSPC leaves the filesystem all but
/// full; the margin covers other processes freeing a little in between.
const LOW_SPACE_BYTES: u64 = 64 * 1024 * 1024;
/// ffprobe JSON for even odd files is tiny; the cap protects memory from
/// a hostile file that makes it print without bound.
const STDOUT_CAP_BYTES: usize = 8 * 1024 * 1024;

/// A program invocation: path plus argv, never a shell string.
#[derive(Debug, Clone)]
pub struct ToolCommand {
    /// Program to execute (bare name is looked up in `PATH`).
    pub program: PathBuf,
    /// Arguments, passed as-is.
    pub args: Vec<OsString>,
    /// Wall-clock limit after which the whole process group is killed.
    pub timeout: Duration,
    /// Optional cancellation; firing it kills the process group.
    pub cancel: Option<CancellationToken>,
    /// Directory the tool writes its output into, if any: a run that ends
    /// with its filesystem nearly full becomes [`MediaError::DiskFull`].
    pub writes_to: Option<PathBuf>,
}

/// What to do with the child's stdout.
pub enum StdoutMode<'a> {
    /// Collect it (ffprobe JSON).
    Capture,
    /// Parse ffmpeg `-progress pipe:1` lines, reporting fraction done of `duration_s`.
    Progress {
        /// Expected output duration, the denominator of the fraction.
        duration_s: f64,
        /// Receives non-decreasing fractions in `0.0..=1.0`.
        on_progress: &'a (dyn Fn(f64) + Send + Sync),
    },
}

/// Result of a successful run.
#[derive(Debug)]
pub struct ToolOutput {
    /// Captured stdout (empty in progress mode).
    pub stdout: Vec<u8>,
    /// Last few KiB of stderr, lossily decoded.
    pub stderr_tail: String,
}

impl ToolCommand {
    /// A command with the given timeout and no cancellation.
    pub fn new(program: impl Into<PathBuf>, args: Vec<OsString>, timeout: Duration) -> Self {
        ToolCommand {
            program: program.into(),
            args,
            timeout,
            cancel: None,
            writes_to: None,
        }
    }

    /// Attaches a cancellation token.
    pub fn with_cancel(mut self, cancel: CancellationToken) -> Self {
        self.cancel = Some(cancel);
        self
    }

    fn tool_name(&self) -> String {
        tool_name(&self.program)
    }
}

/// File name of the program, so errors never leak install paths.
fn tool_name(program: &Path) -> String {
    program
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "tool".into())
}

enum Outcome {
    Finished(std::io::Result<(Vec<u8>, ExitStatus)>),
    TimedOut,
    Cancelled,
}

/// Runs the command to completion, enforcing timeout and cancellation.
///
/// A non-zero exit becomes [`MediaError::ToolFailed`] carrying the stderr tail.
pub async fn run(cmd: &ToolCommand, stdout_mode: StdoutMode<'_>) -> Result<ToolOutput, MediaError> {
    let tool = cmd.tool_name();
    let mut command = Command::new(&cmd.program);
    // SAFETY: the closure runs in the forked child before exec and only
    // makes one async-signal-safe system call.
    unsafe {
        command.pre_exec(|| {
            // If the node dies without cleaning up (kill -9), ffmpeg goes too
            // instead of burning CPU into a scratch directory nobody owns.
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
            Ok(())
        });
    }
    super::tool_env::restrict(&mut command);
    let mut child = command
        .args(&cmd.args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Own group: killpg then reaches ffmpeg and anything it forks,
        // and a terminal's Ctrl-C does not hit it directly.
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| MediaError::io(format!("spawning {tool}"), e))?;
    let pid = child.id();
    let mut guard = GroupGuard(pid);
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");

    // Lives outside the work future so a timeout can still report what
    // ffmpeg said before it was killed.
    let tail = std::sync::Mutex::new(VecDeque::with_capacity(STDERR_TAIL_BYTES));
    let outcome = {
        let work = async {
            let out = read_stdout(stdout, stdout_mode);
            let err = read_tail(stderr, &tail);
            let (out, err, status) = tokio::join!(out, err, child.wait());
            err?;
            Ok::<_, std::io::Error>((out?, status?))
        };
        tokio::pin!(work);
        tokio::select! {
            r = &mut work => Outcome::Finished(r),
            _ = tokio::time::sleep(cmd.timeout) => Outcome::TimedOut,
            _ = cancelled(cmd.cancel.as_ref()) => Outcome::Cancelled,
        }
    };

    let stderr_tail = || {
        let bytes: Vec<u8> = tail
            .lock()
            .map(|t| t.iter().copied().collect())
            .unwrap_or_default();
        tail_text(&bytes)
    };
    // Every arm below either has reaped the child or kills and reaps it
    // itself; after reaping the group id may be recycled, so the guard must
    // not fire.
    guard.disarm();
    match outcome {
        Outcome::Finished(Ok((stdout, status))) => {
            let stderr_tail = stderr_tail();
            // Checked on success too: ffmpeg 5.1's HLS muxer exits 0 after
            // ENOSPC, leaving a truncated segment and a short playlist.
            if out_of_space(&status, cmd.writes_to.as_deref()) {
                Err(MediaError::DiskFull {
                    context: format!("{tool} ({status}): {stderr_tail}"),
                })
            } else if status.success() {
                Ok(ToolOutput {
                    stdout,
                    stderr_tail,
                })
            } else {
                Err(MediaError::ToolFailed {
                    tool,
                    status: status.to_string(),
                    stderr_tail,
                })
            }
        }
        Outcome::Finished(Err(e)) => {
            kill_group(pid, &mut child).await;
            Err(MediaError::io(format!("talking to {tool}"), e))
        }
        Outcome::TimedOut => {
            kill_group(pid, &mut child).await;
            Err(MediaError::Timeout {
                tool,
                after: cmd.timeout,
                stderr_tail: stderr_tail(),
            })
        }
        Outcome::Cancelled => {
            kill_group(pid, &mut child).await;
            Err(MediaError::Cancelled { tool })
        }
    }
}

/// Whether a run ran out of space, told by facts rather than by ffmpeg's
/// wording: killed by SIGXFSZ (a file passed the size limit set on the
/// process), or its output's filesystem is nearly full now.
fn out_of_space(status: &ExitStatus, writes_to: Option<&Path>) -> bool {
    use std::os::unix::process::ExitStatusExt;
    status.signal() == Some(libc::SIGXFSZ)
        || writes_to
            .and_then(space)
            .is_some_and(|(free, total)| free < LOW_SPACE_BYTES.min(total / 100))
}

/// `(free, total)` bytes of `dir`'s filesystem, free counting what an
/// unprivileged writer may still use.
fn space(dir: &Path) -> Option<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs is plain old data, for which all-zero is valid.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is NUL-terminated and outlives the call; `st` is a
    // writable statvfs.
    let rc = unsafe { libc::statvfs(path.as_ptr(), &mut st) };
    (rc == 0).then(|| {
        (
            st.f_bavail.saturating_mul(st.f_frsize),
            st.f_blocks.saturating_mul(st.f_frsize),
        )
    })
}

/// Kills the process group if the future running it is dropped early (the
/// caller's task was aborted); `kill_on_drop` alone would reach only the leader.
struct GroupGuard(Option<u32>);

impl GroupGuard {
    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pid) = self.0.and_then(|p| libc::pid_t::try_from(p).ok()) {
            // SAFETY: no memory-safety preconditions; the child is not yet
            // reaped (the guard is disarmed before any reaping), so the
            // group id is still ours.
            unsafe {
                libc::killpg(pid, libc::SIGKILL);
            }
        }
    }
}

/// Resolves when the token fires; never resolves without one.
async fn cancelled(token: Option<&CancellationToken>) {
    match token {
        Some(t) => t.cancelled().await,
        None => std::future::pending().await,
    }
}

/// SIGKILLs the whole group, then reaps the leader so no zombie remains.
async fn kill_group(pid: Option<u32>, child: &mut tokio::process::Child) {
    if let Some(pid) = pid.and_then(|p| libc::pid_t::try_from(p).ok()) {
        // SAFETY: killpg has no memory-safety preconditions; the group id is
        // our child's pid (process_group(0)) and the child is not yet reaped,
        // so the id cannot have been recycled.
        unsafe {
            libc::killpg(pid, libc::SIGKILL);
        }
    }
    // Fallback for the leader if killpg was not possible; harmless otherwise.
    let _ = child.start_kill();
    let _ = child.wait().await;
}

async fn read_stdout(
    stdout: impl AsyncRead + Unpin,
    mode: StdoutMode<'_>,
) -> std::io::Result<Vec<u8>> {
    match mode {
        StdoutMode::Capture => read_capped(stdout, STDOUT_CAP_BYTES).await,
        StdoutMode::Progress {
            duration_s,
            on_progress,
        } => {
            let mut tracker = ProgressTracker::new(duration_s);
            let mut lines = BufReader::new(stdout).lines();
            while let Some(line) = lines.next_line().await? {
                if let Some(f) = tracker.feed(&line) {
                    on_progress(f);
                }
            }
            Ok(Vec::new())
        }
    }
}

/// Reads everything but keeps at most `cap` bytes; draining the rest keeps
/// the child from blocking on a full pipe.
async fn read_capped(mut r: impl AsyncRead + Unpin, cap: usize) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = r.read(&mut buf).await?;
        if n == 0 {
            return Ok(out);
        }
        let room = cap.saturating_sub(out.len());
        out.extend_from_slice(&buf[..n.min(room)]);
    }
}

/// Keeps the last [`STDERR_TAIL_BYTES`] of `r` in `tail`.
async fn read_tail(
    mut r: impl AsyncRead + Unpin,
    tail: &std::sync::Mutex<VecDeque<u8>>,
) -> std::io::Result<()> {
    let mut buf = [0u8; 4096];
    loop {
        let n = r.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        // Never held across an await, so a std mutex is fine.
        let mut tail = tail.lock().unwrap_or_else(|p| p.into_inner());
        tail.extend(&buf[..n]);
        let excess = tail.len().saturating_sub(STDERR_TAIL_BYTES);
        tail.drain(..excess);
    }
}

/// Lossy text of the tail, starting at a line boundary when one exists so
/// the first line is not a fragment.
fn tail_text(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = if bytes.len() >= STDERR_TAIL_BYTES {
        text.split_once('\n').map(|(_, rest)| rest).unwrap_or(&text)
    } else {
        &text
    };
    text.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn tail_starts_at_line_boundary_when_truncated() {
        let mut big = vec![b'x'; STDERR_TAIL_BYTES - 10];
        big.extend_from_slice(b"\nlast line");
        assert_eq!(tail_text(&big), "last line");
        assert_eq!(tail_text(b"short\nerr\n"), "short\nerr");
    }

    #[tokio::test]
    async fn captures_stdout_and_reports_failure_with_stderr() {
        let ok = ToolCommand::new(
            "sh",
            vec!["-c".into(), "printf hello".into()],
            Duration::from_secs(10),
        );
        let out = run(&ok, StdoutMode::Capture).await.unwrap();
        assert_eq!(out.stdout, b"hello");

        let bad = ToolCommand::new(
            "sh",
            vec!["-c".into(), "echo boom >&2; exit 3".into()],
            Duration::from_secs(10),
        );
        let err = run(&bad, StdoutMode::Capture).await.unwrap_err();
        assert_eq!(err.code(), "ffmpeg-failed");
        assert!(err.to_string().contains("boom"), "{err}");
    }

    #[tokio::test]
    async fn a_file_over_the_size_limit_is_a_full_disk() {
        let dir = tempfile::tempdir().unwrap();
        // `ulimit -f` counts 512-byte blocks; exec so the killed writer is
        // the tool itself, as ffmpeg would be.
        let script = format!(
            "ulimit -f 8; exec head -c 100000 /dev/zero > '{}'",
            dir.path().join("big").display()
        );
        let cmd = ToolCommand::new(
            "sh",
            vec!["-c".into(), script.into()],
            Duration::from_secs(10),
        );
        let err = run(&cmd, StdoutMode::Capture).await.unwrap_err();
        assert_eq!(err.code(), "disk-full", "{err}");
        assert!(err.kind() == crate::failure::FailureKind::Transient);
        // An ordinary failure on a roomy disk stays an ordinary failure.
        let mut bad = ToolCommand::new(
            "sh",
            vec!["-c".into(), "exit 1".into()],
            Duration::from_secs(10),
        );
        bad.writes_to = Some(dir.path().to_path_buf());
        let (free, total) = space(dir.path()).unwrap();
        if free >= LOW_SPACE_BYTES.min(total / 100) {
            let err = run(&bad, StdoutMode::Capture).await.unwrap_err();
            assert_eq!(err.code(), "ffmpeg-failed");
        }
    }

    #[tokio::test]
    async fn a_run_that_fills_its_disk_is_a_full_disk_even_if_it_exits_0() {
        let dir = tempfile::tempdir().unwrap();
        let st = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
            .arg(dir.path())
            .status();
        if !st.is_ok_and(|s| s.success()) {
            eprintln!("SKIPPED: cannot mount a small tmpfs here");
            return;
        }
        // Like ffmpeg 5.1's HLS muxer: writes until ENOSPC, then exits 0.
        let script = format!("cat /dev/zero > '{}/seg'; exit 0", dir.path().display());
        let mut cmd = ToolCommand::new(
            "sh",
            vec!["-c".into(), script.into()],
            Duration::from_secs(10),
        );
        cmd.writes_to = Some(dir.path().to_path_buf());
        let res = run(&cmd, StdoutMode::Capture).await;
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(dir.path())
            .status();
        assert_eq!(res.unwrap_err().code(), "disk-full");
    }

    #[tokio::test]
    async fn arguments_are_not_interpreted_by_a_shell() {
        let cmd = ToolCommand::new(
            "printf",
            vec!["%s".into(), "$(echo no); `x` *".into()],
            Duration::from_secs(10),
        );
        let out = run(&cmd, StdoutMode::Capture).await.unwrap();
        assert_eq!(out.stdout, b"$(echo no); `x` *");
    }

    #[tokio::test]
    async fn progress_mode_reports_fractions() {
        let script = "echo out_time_us=1000000; echo progress=continue; \
                      echo out_time_us=3000000; echo progress=end";
        let cmd = ToolCommand::new(
            "sh",
            vec!["-c".into(), script.into()],
            Duration::from_secs(10),
        );
        let seen = Mutex::new(Vec::new());
        let cb = |f: f64| seen.lock().unwrap().push(f);
        run(
            &cmd,
            StdoutMode::Progress {
                duration_s: 4.0,
                on_progress: &cb,
            },
        )
        .await
        .unwrap();
        assert_eq!(*seen.lock().unwrap(), vec![0.25, 0.75, 1.0]);
    }

    /// True while any non-zombie process in group `pgid` exists. Zombies
    /// are skipped because reaping orphans is init's job, not ours.
    fn read_pgid(file: &std::path::Path) -> i32 {
        std::fs::read_to_string(file)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    /// SIGKILL delivery to an orphaned grandchild is asynchronous; poll
    /// briefly rather than asserting a timing.
    async fn group_gone(pgid: i32) -> bool {
        for _ in 0..100 {
            if !group_alive(pgid) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    fn group_alive(pgid: i32) -> bool {
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return false;
        };
        entries.flatten().any(|e| {
            let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
                return false;
            };
            // Fields after the parenthesised command: state ppid pgrp ...
            let Some((_, rest)) = stat.rsplit_once(')') else {
                return false;
            };
            let fields: Vec<&str> = rest.split_whitespace().collect();
            fields.len() > 2 && fields[0] != "Z" && fields[2] == pgid.to_string()
        })
    }

    #[tokio::test]
    async fn timeout_kills_the_whole_group() {
        // The shell forks a grandchild `sleep` and reports the group id
        // (its own pid, since it leads the group) before waiting.
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pgid");
        let script = format!(
            "echo $$ > '{}'; echo still working >&2; sleep 30 & wait",
            pid_file.display()
        );
        let cmd = ToolCommand::new(
            "sh",
            vec!["-c".into(), script.into()],
            Duration::from_millis(300),
        );
        let err = run(&cmd, StdoutMode::Capture).await.unwrap_err();
        assert_eq!(err.code(), "ffmpeg-timeout");
        assert!(err.to_string().contains("still working"), "{err}");
        let pgid = read_pgid(&pid_file);
        let alive = !group_gone(pgid).await;
        assert!(!alive, "process group {pgid} survived the timeout");
    }

    #[tokio::test]
    async fn dropping_the_future_kills_the_group() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pgid");
        let script = format!("echo $$ > '{}'; sleep 30 & wait", pid_file.display());
        let cmd = ToolCommand::new(
            "sh",
            vec!["-c".into(), script.into()],
            Duration::from_secs(60),
        );
        let res =
            tokio::time::timeout(Duration::from_millis(300), run(&cmd, StdoutMode::Capture)).await;
        assert!(res.is_err(), "run should still be going when dropped");
        let pgid = read_pgid(&pid_file);
        let alive = !group_gone(pgid).await;
        assert!(!alive, "process group {pgid} survived the drop");
    }

    #[tokio::test]
    async fn cancellation_kills_the_process() {
        let token = CancellationToken::new();
        let cmd = ToolCommand::new("sleep", vec!["30".into()], Duration::from_secs(60))
            .with_cancel(token.clone());
        let trigger = async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            token.cancel();
        };
        let (res, ()) = tokio::join!(run(&cmd, StdoutMode::Capture), trigger);
        assert_eq!(res.unwrap_err().code(), "cancelled");
    }
}

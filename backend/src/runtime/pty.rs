//! Commands on a pseudo-terminal of their own, for exec sessions that ask for a terminal
//! (`tty=true`, as `polyaxon ops shell` and the browser's terminal do).
//!
//! The command leads a new session whose controlling terminal is the pseudo-terminal, as in a
//! container started with a tty: it sees a terminal on its input and output, the line
//! discipline turns a typed Ctrl-C into SIGINT for its foreground job, and a new window size
//! reaches it as SIGWINCH. Making the child a session leader with a controlling terminal needs
//! `setsid` and `TIOCSCTTY` between fork and exec, which only `unsafe` `pre_exec` could do here,
//! so util-linux's `setsid --ctty` does it and then runs the command.
//!
//! The server keeps the master side, nonblocking and registered with tokio. Reading it fails
//! with EIO once the session's processes have all let go of the terminal: that is the end of the
//! output.

use std::fs::File;
use std::future::Future;
use std::io::{self, Read as _, Write as _};
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use rustix::fs::{Mode, OFlags};
use rustix::pty::OpenptFlags;
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::process::Command;

use super::{ExecSession, TerminalSize};

/// What programs on the terminal take it to be, as container runtimes set it for a tty.
const TERM: &str = "xterm-256color";

/// How reading the master fails once the terminal's side is closed everywhere.
const HUNG_UP: i32 = rustix::io::Errno::IO.raw_os_error();

/// Starts `command` (its program and arguments) on a new pseudo-terminal; `prepare` gives it its
/// environment and working folder. When `ended` resolves before the command ends, the
/// command's session is killed: exec'd commands end with the run or pod they run in.
pub fn exec(
    command: &[String],
    prepare: impl FnOnce(&mut Command),
    ended: impl Future<Output = ()> + Send + 'static,
) -> io::Result<ExecSession> {
    let (master, terminal) = open()?;
    let mut process = Command::new("setsid");
    process
        .args(["--ctty", "--"])
        .args(command)
        .env("TERM", TERM)
        .stdin(Stdio::from(terminal.try_clone()?))
        .stdout(Stdio::from(terminal.try_clone()?))
        .stderr(Stdio::from(terminal))
        .kill_on_drop(true);
    prepare(&mut process);
    let mut child = process.spawn()?;
    // The command holds this process's copies of the terminal's side until it is dropped: closed
    // now, the end of the session's output shows on the master.
    drop(process);
    let exit = tokio::spawn(async move {
        tokio::select! {
            status = child.wait() => status.ok().and_then(|status| status.code()),
            () = ended => {
                // `setsid` did not fork (a child of tokio is no process group leader), so the
                // command's pid is its session's and its group's id.
                if let Some(pid) = child.id().and_then(|pid| i32::try_from(pid).ok()) {
                    let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
                }
                let _ = child.wait().await;
                None
            }
        }
    });
    // Tokio deprecated `AsyncFd::new` for types that do not own their descriptor (a bare number
    // can be closed while registered) and offers only `unsafe` `register` instead. A `File` owns
    // its descriptor for as long as the `AsyncFd` holds it, which is what `register` asks.
    #[expect(
        deprecated,
        reason = "sound for an owned File; the replacement is unsafe"
    )]
    let master = Master(Arc::new(AsyncFd::new(File::from(master))?));
    let resized = master.clone();
    Ok(ExecSession {
        stdin: Box::new(master.clone()),
        stdout: Box::new(master),
        stderr: Box::new(tokio::io::empty()),
        resize: Some(Box::new(move |size| resized.resize(size))),
        exit,
    })
}

/// A new pseudo-terminal: its master side, nonblocking, and its terminal side. Neither is
/// inherited by other children of this process, nor becomes this process's controlling terminal.
fn open() -> io::Result<(OwnedFd, OwnedFd)> {
    let master =
        rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)?;
    rustix::pty::grantpt(&master)?;
    rustix::pty::unlockpt(&master)?;
    let name = rustix::pty::ptsname(&master, Vec::new())?;
    let terminal = rustix::fs::open(
        name.as_c_str(),
        OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    rustix::io::ioctl_fionbio(&master, true)?;
    Ok((master, terminal))
}

/// The master side of a pseudo-terminal: what is written to it is typed, what is read from it
/// was printed.
#[derive(Clone)]
struct Master(Arc<AsyncFd<File>>);

impl Master {
    fn resize(&self, size: TerminalSize) {
        let size = rustix::termios::Winsize {
            ws_row: size.height,
            ws_col: size.width,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // Once the session has ended there is nothing left to resize.
        let _ = rustix::termios::tcsetwinsize(self.0.get_ref(), size);
    }
}

impl AsyncRead for Master {
    fn poll_read(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            let mut ready = ready!(self.0.poll_read_ready(context))?;
            let unfilled = buffer.initialize_unfilled();
            match ready.try_io(|master| master.get_ref().read(unfilled)) {
                Ok(Ok(read)) => {
                    buffer.advance(read);
                    return Poll::Ready(Ok(()));
                }
                // Every process of the session has let go of the terminal: the output ended.
                Ok(Err(error)) if error.raw_os_error() == Some(HUNG_UP) => {
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(error)) => return Poll::Ready(Err(error)),
                Err(_would_block) => {}
            }
        }
    }
}

impl AsyncWrite for Master {
    fn poll_write(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            let mut ready = ready!(self.0.poll_write_ready(context))?;
            match ready.try_io(|master| master.get_ref().write(data)) {
                Ok(written) => return Poll::Ready(written),
                Err(_would_block) => {}
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// A terminal has no end of input to send: it ends when the master is closed.
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

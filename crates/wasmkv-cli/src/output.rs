//! wasmkv's own output, written so that a closed pipe or a full disk is an
//! outcome to report, never a panic (`println!` panics on both).
//!
//! A reader that closes the pipe early (`wasmkv kv list b | head -1`) ends
//! the command quietly, as a Unix tool killed by SIGPIPE does; any other
//! write error is reported and gives [`exit::OUTPUT_FAILED`].

use std::io::{self, Write};
use std::sync::OnceLock;

use tracing_appender::non_blocking::NonBlocking;

use crate::exit;

/// Writes `bytes` to stdout and flushes, so an error shows up here and not
/// in a destructor that would swallow it.
pub fn stdout(bytes: &[u8]) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()
}

/// Prints one line to stderr; if stderr itself is gone there is nowhere
/// left to report that, so the error is dropped.
pub fn stderr_line(line: &str) {
    let mut err = io::stderr().lock();
    let _ = writeln!(err, "{line}");
    let _ = err.flush();
}

/// The exit code for a failed write of a command's output, whose kind was
/// `kind`. `done` says what the command had already done (e.g. "the
/// increment was applied"), so a change that was made is never reported as
/// failed.
pub fn write_failed(
    error: &anyhow::Error,
    kind: io::ErrorKind,
    done: Option<&str>,
    ok_code: i32,
) -> i32 {
    if kind == io::ErrorKind::BrokenPipe {
        // The reader wanted no more. A change that was made still succeeded;
        // a read that was cut short ends as SIGPIPE would end it.
        return if done.is_some() {
            ok_code
        } else {
            exit::CLOSED_PIPE
        };
    }
    let what = match done {
        Some(done) => format!("{done}, but its output could not be written"),
        None => "the output could not be written".to_string(),
    };
    exit::report(&anyhow::anyhow!("{what}: {error:#}"));
    exit::OUTPUT_FAILED
}

/// Log output: stderr through a buffer, where a failed write is dropped,
/// because the logger cannot log its own failure and must not panic.
pub struct LogSink(io::BufWriter<io::Stderr>);

impl LogSink {
    /// A sink over this process's stderr.
    pub fn stderr() -> Self {
        LogSink(io::BufWriter::new(io::stderr()))
    }
}

impl Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.0.write_all(buf).is_err() {
            // Drop what is buffered: the next line starts clean.
            let _ = self.0.flush();
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        let _ = self.0.flush();
        Ok(())
    }
}

/// The log's writer (a thread of its own behind a queue), for lines that
/// are written without `tracing`'s formatting: the access log.
static LOG_WRITER: OnceLock<NonBlocking> = OnceLock::new();

/// Gives [`log_line`] the writer the log itself uses, so both kinds of
/// line share one queue and one order.
pub fn set_log_writer(writer: NonBlocking) {
    let _ = LOG_WRITER.set(writer);
}

/// Queues one ready-made log line (with its newline); dropped when the
/// writer is not set or its thread is gone.
pub fn log_line(line: &[u8]) {
    if let Some(writer) = LOG_WRITER.get() {
        let _ = writer.clone().write_all(line);
    }
}

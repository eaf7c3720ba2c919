//! A child process's output, line by line, with a deadline on every read.

use std::io::{BufRead, BufReader, Read};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

/// Lines of a stream (a child's stdout or stderr), read on a thread of their own. The thread
/// keeps draining until the stream ends, so the child never blocks on a full pipe, and no read
/// here waits longer than it is told: a child that hangs silent fails the test instead of
/// hanging it.
pub struct ChildLines {
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl ChildLines {
    /// Starts reading `stream`.
    pub fn spawn(stream: impl Read + Send + 'static) -> ChildLines {
        let (send, lines) = channel();
        std::thread::spawn(move || {
            // Read to the end even once nobody listens (`ChildLines` dropped): a child whose
            // pipe is no longer drained blocks on its next write.
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let _ = send.send(line);
            }
        });
        ChildLines {
            lines,
            seen: Vec::new(),
        }
    }

    /// The next line, waiting at most `timeout`. The error names what was printed so far.
    pub fn next_within(&mut self, timeout: Duration) -> Result<String, String> {
        match self.lines.recv_timeout(timeout) {
            Ok(line) => {
                self.seen.push(line.clone());
                Ok(line)
            }
            Err(RecvTimeoutError::Timeout) => Err(format!(
                "no line within {timeout:?}; printed so far: {:?}",
                self.seen
            )),
            Err(RecvTimeoutError::Disconnected) => {
                Err(format!("the output ended; printed: {:?}", self.seen))
            }
        }
    }

    /// Reads lines until `wanted` returns something for one, within `timeout` in all.
    pub fn find_within<T>(
        &mut self,
        timeout: Duration,
        mut wanted: impl FnMut(&str) -> Option<T>,
    ) -> Result<T, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.next_within(left)?;
            if let Some(found) = wanted(&line) {
                return Ok(found);
            }
        }
    }

    /// Every line read so far by `next_within` and `find_within`.
    pub fn seen(&self) -> &[String] {
        &self.seen
    }

    /// The lines still to come, until the stream ends or `timeout` passes (then what came).
    pub fn rest_within(self, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        let mut rest = Vec::new();
        while let Ok(line) = self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            rest.push(line);
        }
        rest
    }
}

//! Writing results to stdout. A reader that closes the pipe early (`spotter plan -o json |
//! head -c 10`) is not an error: what is left is dropped and the command ends as it would
//! have otherwise (status 0 on success), as `grep` or `cat` in a pipeline do, instead of
//! panicking as `print!` does.

use std::io::{ErrorKind, Write};

/// Writes `text` to stdout and flushes it; a closed stdout is ignored, any other write error
/// is returned.
pub fn write_stdout(text: &str) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(error) if error.kind() == ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

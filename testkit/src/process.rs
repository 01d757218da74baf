//! Running a program with bytes on its stdin.

use std::io::Write;
use std::process::{Child, Command, Output, Stdio};

/// Spawns `cmd` with a piped stdin, writes all of `stdin` and closes it. Stdout and stderr
/// stay as the caller set them on `cmd`.
///
/// A program that exits without reading all its input (it rejected its arguments) is not
/// an error here: its exit status says what happened.
pub fn spawn_with_input(cmd: &mut Command, stdin: &[u8]) -> Child {
    let mut child = cmd
        .stdin(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {:?}: {e}", cmd.get_program()));
    let mut pipe = child.stdin.take().expect("stdin was piped");
    if let Err(e) = pipe.write_all(stdin) {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "write stdin: {e}");
    }
    child
}

/// Runs `cmd` to the end with `stdin`, capturing stdout and stderr.
pub fn output_with_input(cmd: &mut Command, stdin: &[u8]) -> Output {
    let child = spawn_with_input(cmd.stdout(Stdio::piped()).stderr(Stdio::piped()), stdin);
    child.wait_with_output().expect("wait for child")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdin_reaches_the_program_and_output_comes_back() {
        let out = output_with_input(&mut Command::new("cat"), b"hello\0bytes\n");
        assert!(out.status.success());
        assert_eq!(out.stdout, b"hello\0bytes\n");
    }

    #[test]
    fn a_program_that_ignores_its_input_is_not_an_error() {
        // More than a pipe buffer, so the write really meets the closed pipe.
        let big = vec![b'x'; 1 << 20];
        let out = output_with_input(Command::new("sh").args(["-c", "exit 3"]), &big);
        assert_eq!(out.status.code(), Some(3));
    }
}

//! Running a program with bytes on its stdin.

use std::io::Write;
use std::process::{Child, Command, Output, Stdio};

/// Spawns `cmd` with a piped stdin, writes all of `stdin` and closes it. Stdout and stderr
/// stay as the caller set them on `cmd`.
pub fn spawn_with_input(cmd: &mut Command, stdin: &[u8]) -> Child {
    let mut child = cmd
        .stdin(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {:?}: {e}", cmd.get_program()));
    child
        .stdin
        .take()
        .expect("stdin was piped")
        .write_all(stdin)
        .expect("write stdin");
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
}

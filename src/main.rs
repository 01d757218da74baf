//! The `roost` binary: all logic is in the library so it can be tested.

fn main() -> std::process::ExitCode {
    roost::cli::main()
}

//! Framer + parser on arbitrary bytes: must never panic, whatever the chunking and decisions.
#![no_main]

use libfuzzer_sys::fuzz_target;
use roost_imap::command::{CommandBody, parse_command};
use roost_imap::reader::{CommandReader, Input};

fuzz_target!(|data: &[u8]| {
    // The parser alone on the whole input, as if it were one command.
    let _ = parse_command(data);

    // The reader fed in chunks whose size comes from the first byte; APPEND literals (messages
    // and CATENATE TEXT parts) are accepted and rejected alternately so both paths run, IDLE
    // switches to line mode until DONE.
    let Some((first, rest)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(*first % 17) + 1;
    let mut reader = CommandReader::default();
    let mut accept = true;
    for piece in rest.chunks(chunk) {
        reader.push(piece);
        while let Some(input) = reader.next_input() {
            match input {
                Input::Command(c) => match c.body {
                    CommandBody::Append { .. }
                    | CommandBody::Replace { .. }
                    | CommandBody::Catenate {
                        literal: Some(_), ..
                    } => {
                        accept = !accept;
                        if accept {
                            reader.accept_append();
                        } else {
                            reader.reject_command();
                        }
                    }
                    CommandBody::Idle => reader.set_line_mode(true),
                    _ => {}
                },
                // MULTIAPPEND's next message and CATENATE's next TEXT part wait for a decision
                // too (a tail without a literal ends the command and needs none).
                Input::AppendNext(_) | Input::AppendTail(_) => {
                    accept = !accept;
                    if accept {
                        reader.accept_append();
                    } else {
                        reader.reject_command();
                    }
                }
                Input::Line(l) => {
                    let done = l.eq_ignore_ascii_case(b"DONE");
                    if done {
                        reader.set_line_mode(false);
                    }
                }
                _ => {}
            }
        }
        if reader.is_dead() {
            return;
        }
    }
});

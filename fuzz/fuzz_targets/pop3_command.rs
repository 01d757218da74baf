//! Framer + parser (+ dot-stuffer) on arbitrary client bytes: must never
//! panic, and must keep its memory and chunking invariants.
//!
//! The first input byte picks the chunk size; the rest is the byte stream.

#![no_main]

use libfuzzer_sys::fuzz_target;
use roost_pop3::{
    Command, DotStuffer, Frame, FrameMode, LineFramer, LineLimits, Response, parse_command,
    parse_sasl_response, wire_size,
};

fuzz_target!(|data: &[u8]| {
    let Some((&first, stream)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(first % 32) + 1;
    let limits = LineLimits::default();

    // Session-like loop: switch to SASL framing after AUTH, back after one line.
    let mut framer = LineFramer::new(limits);
    for piece in stream.chunks(chunk) {
        let mut input = piece;
        while !input.is_empty() {
            let (used, frame) = framer.decode(input);
            assert!(used > 0 && used <= input.len(), "decode must make progress");
            input = &input[used..];
            assert!(framer.buffered() <= limits.sasl.max(limits.command));
            let Some(Frame::Line(line)) = frame else {
                continue;
            };
            assert!(!line.contains(&b'\n'));
            match framer.mode() {
                FrameMode::Command => match parse_command(&line) {
                    Ok(Command::Auth { .. }) => framer.set_mode(FrameMode::Sasl),
                    Ok(cmd) => {
                        let _ = format!("{cmd:?}");
                    }
                    Err(e) => {
                        let wire = e.to_response().to_bytes();
                        assert!(wire.starts_with(b"-ERR ") && wire.ends_with(b"\r\n"));
                    }
                },
                FrameMode::Sasl => {
                    let _ = parse_sasl_response(&line);
                    framer.set_mode(FrameMode::Command);
                }
            }
        }
    }

    // Without mode switches, chunking must not change the frames.
    let whole = LineFramer::new(limits).decode_all(stream);
    let mut chunked = LineFramer::new(limits);
    let pieces: Vec<Frame> = stream
        .chunks(chunk)
        .flat_map(|p| chunked.decode_all(p))
        .collect();
    assert_eq!(whole, pieces);

    // The same bytes as a stored message: well-formed, sized consistently.
    let mut out = Vec::new();
    let mut stuffer = DotStuffer::retr();
    for piece in stream.chunks(chunk) {
        stuffer.feed(piece, &mut out);
    }
    stuffer.finish(&mut out);
    assert!(out.ends_with(b".\r\n"));
    assert!(wire_size(stream) <= out.len() as u64);

    // Response text built from client bytes can never break the framing.
    let echo = Response::err(String::from_utf8_lossy(stream)).to_bytes();
    assert_eq!(echo.iter().filter(|&&b| b == b'\n').count(), 1);
});

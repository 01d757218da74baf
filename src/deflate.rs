//! Raw DEFLATE in both directions of a connection (IMAP COMPRESS=DEFLATE, RFC 4978):
//! no zlib header, a sync flush at the end of every batch of output.
//!
//! Inflating is bounded: one call never produces more than the caller's limit, and the
//! compressed input left over waits in a buffer of at most one socket read. A small
//! compressed "bomb" therefore reaches the session in bounded slices, and the session's
//! line and literal limits treat it exactly like the same bytes sent uncompressed.

use std::io;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// Output buffer of one deflate step.
const DEFLATE_STEP: usize = 16 * 1024;

/// The two compression states of one connection.
pub struct Deflate {
    inflater: Decompress,
    deflater: Compress,
    /// Compressed input not inflated yet.
    raw: Vec<u8>,
    /// The client ended its DEFLATE stream: nothing more can follow.
    ended: bool,
    /// Output was compressed since the last sync flush. A flush with nothing new would
    /// send an empty block, which some clients (isync) take for a broken connection.
    unflushed: bool,
}

impl Deflate {
    /// Fresh states; `pipelined` is compressed input that arrived with the COMPRESS command.
    pub fn new(pipelined: Vec<u8>) -> Deflate {
        Deflate {
            inflater: Decompress::new(false),
            // Level 6 as zlib's default: mail text compresses well, and the client is the
            // one waiting.
            deflater: Compress::new(Compression::new(6), false),
            raw: pipelined,
            ended: false,
            unflushed: false,
        }
    }

    /// Compressed input buffered, not yet inflated.
    pub fn raw_buffered(&self) -> usize {
        self.raw.len()
    }

    /// Where to read more compressed input into.
    pub fn raw_mut(&mut self) -> &mut Vec<u8> {
        &mut self.raw
    }

    /// Whether the client ended its compressed stream.
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// Inflates buffered input, appending at most `max` bytes to `out`; how many it appended.
    /// Zero means more compressed input is needed (or the stream ended).
    pub fn inflate(&mut self, out: &mut Vec<u8>, max: usize) -> io::Result<usize> {
        let start = out.len();
        out.resize(start + max, 0);
        let mut produced = 0;
        let mut consumed = 0;
        while produced < max && !self.ended {
            let (in_before, out_before) = (self.inflater.total_in(), self.inflater.total_out());
            let status = self
                .inflater
                .decompress(
                    &self.raw[consumed..],
                    &mut out[start + produced..],
                    FlushDecompress::None,
                )
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            let used = (self.inflater.total_in() - in_before) as usize;
            let made = (self.inflater.total_out() - out_before) as usize;
            consumed += used;
            produced += made;
            if status == Status::StreamEnd {
                self.ended = true;
            }
            if used == 0 && made == 0 {
                break;
            }
        }
        self.raw.drain(..consumed);
        out.truncate(start + produced);
        Ok(produced)
    }

    /// Compresses `data` onto `out`; with `flush`, ends with a sync flush so the client
    /// can decode everything sent so far.
    pub fn deflate(&mut self, data: &[u8], flush: bool, out: &mut Vec<u8>) -> io::Result<()> {
        self.unflushed |= !data.is_empty();
        if flush && !self.unflushed {
            return Ok(());
        }
        self.unflushed &= !flush;
        let mode = if flush {
            FlushCompress::Sync
        } else {
            FlushCompress::None
        };
        let mut consumed = 0;
        loop {
            let start = out.len();
            out.resize(start + DEFLATE_STEP, 0);
            let (in_before, out_before) = (self.deflater.total_in(), self.deflater.total_out());
            self.deflater
                .compress(&data[consumed..], &mut out[start..], mode)
                .map_err(io::Error::other)?;
            consumed += (self.deflater.total_in() - in_before) as usize;
            let made = (self.deflater.total_out() - out_before) as usize;
            out.truncate(start + made);
            // A full output buffer may mean more is pending; a partly filled one means the
            // compressor has taken everything (and flushed it, when asked).
            if consumed == data.len() && made < DEFLATE_STEP {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client_deflate(data: &[u8]) -> Vec<u8> {
        let mut c = Compress::new(Compression::default(), false);
        let mut out = Vec::with_capacity(data.len() + 1024);
        c.compress_vec(data, &mut out, FlushCompress::Sync).unwrap();
        out
    }

    #[test]
    fn round_trip_in_every_chunk_size() {
        let text: Vec<u8> = (0..20_000u32)
            .flat_map(|i| format!("a{i} NOOP\r\n").into_bytes())
            .collect();
        let mut z = Deflate::new(Vec::new());
        let mut wire = Vec::new();
        for chunk in text.chunks(1000) {
            z.deflate(chunk, false, &mut wire).unwrap();
        }
        z.deflate(&[], true, &mut wire).unwrap();
        let mut d = Decompress::new(false);
        let mut back = Vec::with_capacity(text.len() * 2);
        d.decompress_vec(&wire, &mut back, FlushDecompress::Sync)
            .unwrap();
        assert_eq!(back, text, "a sync flush makes everything decodable");

        let sent = client_deflate(&text);
        for size in [1, 2, 3, 7, 100, 4096, sent.len()] {
            let mut z = Deflate::new(Vec::new());
            let mut got = Vec::new();
            for piece in sent.chunks(size) {
                z.raw_mut().extend_from_slice(piece);
                while z.inflate(&mut got, 500).unwrap() > 0 {}
            }
            assert_eq!(got, text, "chunk size {size}");
        }
    }

    #[test]
    fn a_flush_with_nothing_new_sends_nothing() {
        let mut z = Deflate::new(Vec::new());
        let mut wire = Vec::new();
        z.deflate(&[], true, &mut wire).unwrap();
        assert!(wire.is_empty());
        z.deflate(b"* OK\r\n", true, &mut wire).unwrap();
        let sent = wire.len();
        assert!(sent > 0);
        z.deflate(&[], true, &mut wire).unwrap();
        assert_eq!(wire.len(), sent, "no empty block after a flush");
    }

    #[test]
    fn a_bomb_inflates_only_as_far_as_asked() {
        let bomb = client_deflate(&vec![b'x'; 50 * 1024 * 1024]);
        assert!(bomb.len() < 100 * 1024, "{}", bomb.len());
        let mut z = Deflate::new(bomb);
        let mut out = Vec::new();
        assert_eq!(z.inflate(&mut out, 64 * 1024).unwrap(), 64 * 1024);
        assert_eq!(out.len(), 64 * 1024);
        assert!(z.raw_buffered() > 0, "the rest waits compressed");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut z = Deflate::new(vec![0xff; 64]);
        let mut out = Vec::new();
        let err = z.inflate(&mut out, 1024).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }
}

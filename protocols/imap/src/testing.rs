//! Test helpers shared by the codec's and (later) the session's tests.

use imap_codec::decode::Decoder;
use imap_codec::{GreetingCodec, ResponseCodec};

/// Asserts that imap-codec, an independent implementation, parses `bytes` as a sequence of
/// complete responses (a greeting is accepted too), consuming every byte.
pub(crate) fn assert_imap_codec_parses(bytes: &[u8]) {
    let mut rest = bytes;
    while !rest.is_empty() {
        rest = match ResponseCodec::new().decode(rest) {
            Ok((r, _)) => r,
            Err(e) => match GreetingCodec::new().decode(rest) {
                Ok((r, _)) => r,
                Err(_) => panic!(
                    "imap-codec rejects {:?}: {e:?}",
                    String::from_utf8_lossy(rest)
                ),
            },
        };
    }
}

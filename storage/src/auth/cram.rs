//! CRAM-MD5 (RFC 2195) from Dovecot's stored HMAC-MD5 context.
//!
//! Dovecot's `{CRAM-MD5}` value is not a digest of the password: it is the two MD5
//! chaining states an HMAC-MD5 keyed with the password reaches after absorbing
//! `key ^ opad` and `key ^ ipad` (one 64-byte block each). That is enough to finish
//! HMAC-MD5 over any challenge without knowing the password. The `md-5` crate hides
//! its chaining state, so the compression function lives here (RFC 1321, section 3.4).

use md5::{Digest, Md5};
use subtle::ConstantTimeEq;

/// MD5's block size; HMAC keys longer than this are hashed first (RFC 2104).
const BLOCK: usize = 64;
/// RFC 1321 initial chaining values A, B, C, D.
const IV: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];

/// Per-round left-rotate amounts (RFC 1321, section 3.4).
const SHIFTS: [u32; 64] = [
    7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9,
    14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10, 15,
    21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
];

/// floor(abs(sin(i + 1)) * 2^32), the RFC 1321 "T" table.
const T: [u32; 64] = [
    0xd76a_a478,
    0xe8c7_b756,
    0x2420_70db,
    0xc1bd_ceee,
    0xf57c_0faf,
    0x4787_c62a,
    0xa830_4613,
    0xfd46_9501,
    0x6980_98d8,
    0x8b44_f7af,
    0xffff_5bb1,
    0x895c_d7be,
    0x6b90_1122,
    0xfd98_7193,
    0xa679_438e,
    0x49b4_0821,
    0xf61e_2562,
    0xc040_b340,
    0x265e_5a51,
    0xe9b6_c7aa,
    0xd62f_105d,
    0x0244_1453,
    0xd8a1_e681,
    0xe7d3_fbc8,
    0x21e1_cde6,
    0xc337_07d6,
    0xf4d5_0d87,
    0x455a_14ed,
    0xa9e3_e905,
    0xfcef_a3f8,
    0x676f_02d9,
    0x8d2a_4c8a,
    0xfffa_3942,
    0x8771_f681,
    0x6d9d_6122,
    0xfde5_380c,
    0xa4be_ea44,
    0x4bde_cfa9,
    0xf6bb_4b60,
    0xbebf_bc70,
    0x289b_7ec6,
    0xeaa1_27fa,
    0xd4ef_3085,
    0x0488_1d05,
    0xd9d4_d039,
    0xe6db_99e5,
    0x1fa2_7cf8,
    0xc4ac_5665,
    0xf429_2244,
    0x432a_ff97,
    0xab94_23a7,
    0xfc93_a039,
    0x655b_59c3,
    0x8f0c_cc92,
    0xffef_f47d,
    0x8584_5dd1,
    0x6fa8_7e4f,
    0xfe2c_e6e0,
    0xa301_4314,
    0x4e08_11a1,
    0xf753_7e82,
    0xbd3a_f235,
    0x2ad7_d2bb,
    0xeb86_d391,
];

fn compress(state: &mut [u32; 4], block: &[u8; BLOCK]) {
    let mut m = [0u32; 16];
    for (word, bytes) in m.iter_mut().zip(block.chunks_exact(4)) {
        *word = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    }
    let [mut a, mut b, mut c, mut d] = *state;
    for i in 0..64 {
        let (f, g) = match i / 16 {
            0 => ((b & c) | (!b & d), i),
            1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
            2 => (b ^ c ^ d, (3 * i + 5) % 16),
            _ => (c ^ (b | !d), (7 * i) % 16),
        };
        let rotated = a
            .wrapping_add(f)
            .wrapping_add(T[i])
            .wrapping_add(m[g])
            .rotate_left(SHIFTS[i]);
        a = d;
        d = c;
        c = b;
        b = b.wrapping_add(rotated);
    }
    state[0] = state[0].wrapping_add(a);
    state[1] = state[1].wrapping_add(b);
    state[2] = state[2].wrapping_add(c);
    state[3] = state[3].wrapping_add(d);
}

/// Finishes an MD5 that already absorbed `absorbed` bytes (a multiple of 64) into `state`.
fn finish(mut state: [u32; 4], absorbed: u64, data: &[u8]) -> [u8; 16] {
    let mut chunks = data.chunks_exact(BLOCK);
    for chunk in &mut chunks {
        let mut block = [0u8; BLOCK];
        block.copy_from_slice(chunk);
        compress(&mut state, &block);
    }
    let rest = chunks.remainder();
    let bit_len = absorbed
        .wrapping_add(data.len() as u64)
        .wrapping_mul(8)
        .to_le_bytes();
    let mut tail = [0u8; 2 * BLOCK];
    tail[..rest.len()].copy_from_slice(rest);
    tail[rest.len()] = 0x80;
    let tail_len = if rest.len() < BLOCK - 8 {
        BLOCK
    } else {
        2 * BLOCK
    };
    tail[tail_len - 8..tail_len].copy_from_slice(&bit_len);
    for chunk in tail[..tail_len].chunks_exact(BLOCK) {
        let mut block = [0u8; BLOCK];
        block.copy_from_slice(chunk);
        compress(&mut state, &block);
    }
    let mut out = [0u8; 16];
    for (bytes, word) in out.chunks_exact_mut(4).zip(state) {
        bytes.copy_from_slice(&word.to_le_bytes());
    }
    out
}

fn pad_state(key: &[u8], pad: u8) -> [u32; 4] {
    let mut block = [pad; BLOCK];
    for (b, k) in block.iter_mut().zip(key) {
        *b ^= k;
    }
    let mut state = IV;
    compress(&mut state, &block);
    state
}

/// Dovecot's `{CRAM-MD5}` context for `password`: outer state then inner state,
/// each as four little-endian 32-bit words.
pub(crate) fn cram_md5_context(password: &[u8]) -> [u8; 32] {
    let hashed;
    let key = if password.len() > BLOCK {
        hashed = Md5::digest(password);
        &hashed[..]
    } else {
        password
    };
    let mut out = [0u8; 32];
    let words = pad_state(key, 0x5c).into_iter().chain(pad_state(key, 0x36));
    for (bytes, word) in out.chunks_exact_mut(4).zip(words) {
        bytes.copy_from_slice(&word.to_le_bytes());
    }
    out
}

fn state_from(bytes: &[u8]) -> [u32; 4] {
    let mut state = [0u32; 4];
    for (word, b) in state.iter_mut().zip(bytes.chunks_exact(4)) {
        *word = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    }
    state
}

/// HMAC-MD5 of `challenge` computed from a stored CRAM-MD5 `context`.
pub(crate) fn cram_md5_digest(context: &[u8; 32], challenge: &[u8]) -> [u8; 16] {
    let outer = state_from(&context[..16]);
    let inner = state_from(&context[16..]);
    let inner_digest = finish(inner, BLOCK as u64, challenge);
    finish(outer, BLOCK as u64, &inner_digest)
}

/// Checks a CRAM-MD5 client response (RFC 2195): `client_digest_hex` must be the
/// HMAC-MD5 of `challenge` keyed with the password `context` was made from.
///
/// Hex case is ignored; the comparison is constant-time.
pub fn cram_md5_verify(context: &[u8; 32], challenge: &[u8], client_digest_hex: &str) -> bool {
    let Some(client) = decode_hex::<16>(client_digest_hex) else {
        return false;
    };
    cram_md5_digest(context, challenge).ct_eq(&client).into()
}

/// Decodes exactly `N` bytes of hex (either case).
pub(crate) fn decode_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let bytes = text.as_bytes();
    if bytes.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (o, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        *o = u8::try_from(hi * 16 + lo).ok()?;
    }
    Some(out)
}

/// Lower-case hex, as Dovecot prints it.
pub(crate) fn encode_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::{Hmac, Mac};

    #[test]
    fn finish_from_iv_is_plain_md5() {
        // Every padding boundary: 55/56 bytes need one/two final blocks.
        let data: Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
        for len in 0..data.len() {
            let ours = finish(IV, 0, &data[..len]);
            assert_eq!(ours[..], Md5::digest(&data[..len])[..], "length {len}");
        }
    }

    /// Known answers from `doveadm pw -s CRAM-MD5` (Dovecot 2.3.19.1).
    #[test]
    fn context_matches_doveadm() {
        let table: [(&[u8], &str); 2] = [
            (
                b"secret",
                "cd3ba7deaad6e5ca23448ba42e379747a9e0f7f1fbc00c8a81bbaac395731b56",
            ),
            (
                &[b'a'; 100],
                "f468fcff219b517f6814f5fefa4e894aa8abc2884f2718fa15e07f4cda81f854",
            ),
        ];
        for (password, expected) in table {
            assert_eq!(encode_hex(&cram_md5_context(password)), expected);
        }
    }

    #[test]
    fn verify_agrees_with_plain_hmac_md5() {
        let challenge = b"<1896.697170952@postoffice.reston.mci.net>";
        for password in [
            &b"tanstaaftanstaaf"[..],
            b"",
            b"x",
            &[0xffu8; 64],
            &[7u8; 65],
        ] {
            let mut mac = Hmac::<Md5>::new_from_slice(password).expect("any key length");
            mac.update(challenge);
            let expected = mac.finalize().into_bytes();
            let context = cram_md5_context(password);
            assert_eq!(cram_md5_digest(&context, challenge)[..], expected[..]);
            let hex = encode_hex(&expected);
            assert!(cram_md5_verify(&context, challenge, &hex));
            assert!(cram_md5_verify(&context, challenge, &hex.to_uppercase()));
            assert!(!cram_md5_verify(&context, b"other", &hex));
            assert!(!cram_md5_verify(&context, challenge, &hex[..30]));
            assert!(!cram_md5_verify(&context, challenge, "zz"));
        }
    }

    /// RFC 2195 section 2 example: user tim, password tanstaaftanstaaf.
    #[test]
    fn rfc2195_example() {
        let context = cram_md5_context(b"tanstaaftanstaaf");
        assert!(cram_md5_verify(
            &context,
            b"<1896.697170952@postoffice.reston.mci.net>",
            "b913a602c7eda7a495b4e6e7334d3890"
        ));
    }
}

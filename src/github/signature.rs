//! `X-Hub-Signature-256`: HMAC-SHA256 of the raw body with the webhook secret.
//!
//! Owns: parsing the header and comparing in constant time; an incremental verifier so a body
//! can be checked while it streams in.
//! Must not: log the secret, the body or the expected digest.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

pub const HEADER: &str = "x-hub-signature-256";

/// The digest a header claims, decoded from `sha256=<64 hex digits>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedSignature([u8; 32]);

impl ClaimedSignature {
    pub fn parse(header: &str) -> Option<Self> {
        let hex_digits = header.trim().strip_prefix("sha256=")?;
        let mut digest = [0u8; 32];
        hex::decode_to_slice(hex_digits, &mut digest).ok()?;
        Some(Self(digest))
    }
}

/// Feeds body chunks in, then says whether the claimed signature matches.
pub struct Verifier {
    mac: HmacSha256,
}

impl Verifier {
    pub fn new(secret: &[u8]) -> Self {
        Self {
            mac: HmacSha256::new_from_slice(secret).expect("HMAC accepts keys of any length"),
        }
    }

    pub fn update(&mut self, chunk: &[u8]) {
        self.mac.update(chunk);
    }

    /// Constant-time comparison (`hmac`'s `verify_slice`).
    pub fn matches(self, claimed: &ClaimedSignature) -> bool {
        self.mac.verify_slice(&claimed.0).is_ok()
    }
}

/// The header value GitHub would send for `body` signed with `secret`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The unguessable part of a workflow dispatch's `pipeline` input: the first 24 hex digits
/// (96 bits) of HMAC-SHA256(`secret`, "shipgate dispatch nonce\n<repo>\n<token>"). Only the
/// App (which holds the secret) can make it, and it is the same after a restart, so a run
/// found after a lost dispatch answer can be checked against it.
pub fn dispatch_nonce(secret: &[u8], repo: &str, token: &str) -> String {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(format!("shipgate dispatch nonce\n{repo}\n{token}").as_bytes());
    hex::encode(&mac.finalize().into_bytes()[..12])
}

/// Verifies a whole body at once.
pub fn verify(secret: &[u8], body: &[u8], header: &str) -> bool {
    let Some(claimed) = ClaimedSignature::parse(header) else {
        return false;
    };
    let mut verifier = Verifier::new(secret);
    verifier.update(body);
    verifier.matches(&claimed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispatch_nonces_are_keyed_and_differ_per_repository_and_token() {
        let a = dispatch_nonce(b"secret", "acme/widgets", "REQ-1-t2");
        assert_eq!(a.len(), 24);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(a, dispatch_nonce(b"secret", "acme/widgets", "REQ-1-t2"));
        assert_ne!(a, dispatch_nonce(b"other", "acme/widgets", "REQ-1-t2"));
        assert_ne!(a, dispatch_nonce(b"secret", "acme/gadgets", "REQ-1-t2"));
        assert_ne!(a, dispatch_nonce(b"secret", "acme/widgets", "REQ-1-t3"));
    }

    // GitHub's documented test vector.
    const SECRET: &[u8] = b"It's a Secret to Everybody";
    const BODY: &[u8] = b"Hello, World!";
    const EXPECTED: &str =
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    #[test]
    fn github_test_vector_signs_and_verifies() {
        assert_eq!(sign(SECRET, BODY), EXPECTED);
        assert!(verify(SECRET, BODY, EXPECTED));
    }

    #[test]
    fn wrong_secret_body_or_format_is_refused() {
        assert!(!verify(b"another secret", BODY, EXPECTED));
        assert!(!verify(SECRET, b"Hello, World?", EXPECTED));
        assert!(!verify(SECRET, BODY, &EXPECTED.replace("sha256=", "sha1=")));
        assert!(!verify(SECRET, BODY, "sha256=zz"));
        assert!(!verify(SECRET, BODY, &EXPECTED[..EXPECTED.len() - 2]));
    }

    #[test]
    fn streaming_in_chunks_gives_the_same_answer() {
        let claimed = ClaimedSignature::parse(EXPECTED).unwrap();
        let mut v = Verifier::new(SECRET);
        for chunk in BODY.chunks(3) {
            v.update(chunk);
        }
        assert!(v.matches(&claimed));
    }
}

//! Webhook signatures per Standard Webhooks 1.0
//! (<https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md>).
//!
//! Each endpoint has its own [`WebhookSecret`]; every delivery carries the three headers
//! [`HEADER_ID`], [`HEADER_TIMESTAMP`] and [`HEADER_SIGNATURE`], the last computed by [`sign`].
//! A receiver verifies with any Standard Webhooks library, given the secret in its `whsec_` form.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac as _};
use sha2::Sha256;

use crate::EventsError;

/// Standard Webhooks 1.0, "Webhook headers": "the unique webhook identifier", the same on every
/// retry of one message so the receiver can use it as an idempotency key.
pub const HEADER_ID: &str = "webhook-id";
/// Standard Webhooks 1.0, "Webhook headers": "integer unix timestamp (seconds since epoch)" of
/// the attempt (not of the event), which the receiver checks against its clock to refuse replays.
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
/// Standard Webhooks 1.0, "Webhook headers": "a space delimited list of signatures".
pub const HEADER_SIGNATURE: &str = "webhook-signature";

/// Standard Webhooks 1.0, "Signature scheme": symmetric signatures are "prefixed with `v1`",
/// followed by a comma and the base64 signature.
const VERSION: &str = "v1";

/// An endpoint's HMAC signing secret.
///
/// Standard Webhooks 1.0, "Signature scheme", table row "Signing secret": "Random. At least 24
/// bytes (192 bits, 512 maximum)"; row "Secret serialization": "base64 encoded, prefixed with
/// `whsec_` for easy identification". The maximum is read as 512 bits (64 bytes): that is also
/// SHA-256's block size, the longest key HMAC uses as is (RFC 2104 §2).
///
/// The key is never printed: `Debug` shows `WebhookSecret(..)` and there is no `Display`, so a
/// secret cannot reach a log line by accident. [`WebhookSecret::expose`] renders it, for the one
/// time it is shown to the operator who configures the receiver.
#[derive(Clone)]
pub struct WebhookSecret {
    key: Vec<u8>,
}

impl WebhookSecret {
    /// The prefix of the serialized form.
    pub const PREFIX: &'static str = "whsec_";
    /// The shortest key accepted, in bytes.
    pub const MIN_LEN: usize = 24;
    /// The longest key accepted, in bytes.
    pub const MAX_LEN: usize = 64;

    /// A secret made of the caller's random bytes (from the process's CSPRNG: this crate takes
    /// randomness as a parameter so it stays deterministic under test). 32 bytes is above the
    /// spec's 24-byte minimum and a full SHA-256 output's worth of key.
    #[must_use]
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        Self { key: bytes.to_vec() }
    }

    /// Parses the serialized form `whsec_<standard base64>`.
    ///
    /// # Errors
    /// [`EventsError::InvalidSecret`] without the prefix, with anything but padded standard
    /// base64 after it, or with a key shorter than [`Self::MIN_LEN`] or longer than
    /// [`Self::MAX_LEN`].
    pub fn parse(s: &str) -> Result<Self, EventsError> {
        // The prefix is required: it is what tells a symmetric secret from the asymmetric
        // `whsk_`/`whpk_` keys of the same table, so a key pasted into the wrong field fails here.
        let Some(encoded) = s.strip_prefix(Self::PREFIX) else {
            return Err(EventsError::InvalidSecret("it must start with whsec_"));
        };
        let key = STANDARD
            .decode(encoded)
            .map_err(|_| EventsError::InvalidSecret("what follows whsec_ is not standard base64"))?;
        if key.len() < Self::MIN_LEN {
            return Err(EventsError::InvalidSecret("the key is shorter than 24 bytes"));
        }
        if key.len() > Self::MAX_LEN {
            return Err(EventsError::InvalidSecret("the key is longer than 64 bytes"));
        }
        Ok(Self { key })
    }

    /// The serialized form (`whsec_…`), to show the operator once when the endpoint is created
    /// or its secret rotated.
    #[must_use]
    pub fn expose(&self) -> String {
        format!("{}{}", Self::PREFIX, STANDARD.encode(&self.key))
    }

    /// HMAC-SHA256 of the signed content under this key.
    fn mac(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> [u8; 32] {
        // RFC 2104 §2, step (1): a key no longer than the block size is padded with zeros to it.
        // Doing that here gives the key type a fixed size, so building the MAC cannot fail; the
        // constructor guarantees the key fits (at most MAX_LEN = 64 bytes, SHA-256's block).
        let mut block = [0u8; 64];
        for (b, k) in block.iter_mut().zip(&self.key) {
            *b = *k;
        }
        let mut mac = <Hmac<Sha256> as hmac::digest::KeyInit>::new(&block.into());
        // Standard Webhooks 1.0, "Signature scheme": "The content to be signed is therefore:
        // `{msg_id}.{timestamp}.{payload}`" — the metadata is signed with the body so a captured
        // body cannot be replayed under another id or a fresh timestamp.
        mac.update(msg_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.finalize().into_bytes().into()
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(..)")
    }
}

impl FromStr for WebhookSecret {
    type Err = EventsError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// The value of the [`HEADER_SIGNATURE`] header for one attempt: `v1,<base64 HMAC-SHA256>` for
/// each secret, separated by spaces (empty when `secrets` is).
///
/// `msg_id` is the [`HEADER_ID`] value (scimd's event id) and `timestamp` the
/// [`HEADER_TIMESTAMP`] value (the attempt's time, in Unix seconds); `body` is the exact bytes
/// sent, since a receiver that re-serializes the JSON before verifying fails ("Signature
/// scheme": "make sure that the payload sent is the same as the payload signed").
///
/// Standard Webhooks 1.0, "Signature scheme": "It's important that both the message id and the
/// timestamp not be user controlled, or at the very least not be allowed to include any `.`";
/// `msg_id` must be an id this server made (scimd's UUIDs have none).
///
/// Standard Webhooks 1.0, "Webhook headers": the header is a list "to support zero downtime
/// secret rotation … the webhook is signed both using the current key, and using an old key (for
/// a set period of time)"; pass both secrets during that grace period, and the receiver accepts
/// whichever it holds.
#[must_use]
pub fn sign(msg_id: &str, timestamp: i64, body: &[u8], secrets: &[&WebhookSecret]) -> String {
    let signatures: Vec<String> = secrets
        .iter()
        .map(|secret| format!("{VERSION},{}", STANDARD.encode(secret.mac(msg_id, timestamp, body))))
        .collect();
    signatures.join(" ")
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    // The reference library's own test vector (libraries/rust/src/lib.rs, `test_sign`, in the
    // standard-webhooks repository): a 24-byte secret, so it also covers the minimum length.
    const VECTOR_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const VECTOR_ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
    const VECTOR_TS: i64 = 1_649_367_553;
    const VECTOR_BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;
    const VECTOR_SIGNATURE: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

    fn headers(id: &str, ts: i64, signature: &str) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.insert(HEADER_ID, id.parse().unwrap());
        h.insert(HEADER_TIMESTAMP, ts.to_string().parse().unwrap());
        h.insert(HEADER_SIGNATURE, signature.parse().unwrap());
        h
    }

    /// The reference verifier refuses timestamps more than five minutes from its own clock, so
    /// a delivery it is to accept must be signed with the real time.
    #[expect(clippy::disallowed_methods, reason = "the reference verifier compares with the system clock")]
    fn wall_clock() -> i64 {
        time::OffsetDateTime::now_utc().unix_timestamp()
    }

    #[test]
    fn matches_the_reference_test_vector() {
        let secret = WebhookSecret::parse(VECTOR_SECRET).unwrap();
        assert_eq!(sign(VECTOR_ID, VECTOR_TS, VECTOR_BODY, &[&secret]), VECTOR_SIGNATURE);
    }

    #[test]
    fn the_reference_library_verifies_what_we_sign() {
        let secret = WebhookSecret::from_bytes(&[0x5a; 32]);
        let verifier = standardwebhooks::Webhook::new(&secret.expose()).unwrap();
        let body = br#"{"type":"user.created","data":{"id":"u1"}}"#;
        let id = "01937f6e-0000-7000-8000-000000000001";
        let now = wall_clock();
        let sig = sign(id, now, body, &[&secret]);
        verifier.verify(body, &headers(id, now, &sig)).unwrap();

        // Any change to the body, the id or the timestamp breaks it.
        assert!(
            verifier
                .verify(br#"{"type":"user.created","data":{"id":"u2"}}"#, &headers(id, now, &sig))
                .is_err()
        );
        assert!(verifier.verify(body, &headers("01937f6e-0000-7000-8000-000000000002", now, &sig)).is_err());
        assert!(verifier.verify(body, &headers(id, now - 1, &sig)).is_err());
    }

    #[test]
    fn during_rotation_both_secrets_verify() {
        let old = WebhookSecret::from_bytes(&[1; 32]);
        let new = WebhookSecret::from_bytes(&[2; 32]);
        let other = WebhookSecret::from_bytes(&[3; 32]);
        let (id, now, body) = ("msg_1", wall_clock(), b"{}".as_slice());
        let sig = sign(id, now, body, &[&old, &new]);
        assert_eq!(sig.split(' ').count(), 2);
        assert!(sig.split(' ').all(|s| s.starts_with("v1,")));
        for held in [&old, &new] {
            let verifier = standardwebhooks::Webhook::new(&held.expose()).unwrap();
            verifier.verify(body, &headers(id, now, &sig)).unwrap();
        }
        let stranger = standardwebhooks::Webhook::new(&other.expose()).unwrap();
        assert!(stranger.verify(body, &headers(id, now, &sig)).is_err());
        assert_eq!(sign(id, now, body, &[]), "");
    }

    #[test]
    fn parses_and_renders_the_whsec_form() {
        let secret = WebhookSecret::from_bytes(&[0xab; 32]);
        let shown = secret.expose();
        assert!(shown.starts_with("whsec_"));
        let again: WebhookSecret = shown.parse().unwrap();
        assert_eq!(again.expose(), shown);
        assert_eq!(sign("m", 1, b"x", &[&secret]), sign("m", 1, b"x", &[&again]));

        let b64 = |n: usize| format!("whsec_{}", STANDARD.encode(vec![7u8; n]));
        assert!(WebhookSecret::parse(&b64(24)).is_ok());
        assert!(WebhookSecret::parse(&b64(64)).is_ok());
        for bad in [
            b64(23),
            b64(65),
            STANDARD.encode([7u8; 32]),                     // no prefix
            format!("whsk_{}", STANDARD.encode([7u8; 32])), // the asymmetric prefix
            "whsec_not base64!".to_owned(),
            "whsec_".to_owned(),
        ] {
            let e = WebhookSecret::parse(&bad).unwrap_err();
            assert!(matches!(e, EventsError::InvalidSecret(_)), "{bad}: {e}");
        }
    }

    #[test]
    fn debug_does_not_show_the_key() {
        let secret = WebhookSecret::parse(VECTOR_SECRET).unwrap();
        assert_eq!(format!("{secret:?}"), "WebhookSecret(..)");
        assert_eq!(format!("{:?}", Some(&secret)), "Some(WebhookSecret(..))");
    }

    proptest! {
        #[test]
        fn agrees_with_the_reference_and_binds_every_part(
            key in proptest::collection::vec(any::<u8>(), 24..=64),
            id in "[A-Za-z0-9_-]{1,40}",
            ts in 0i64..4_000_000_000,
            body in ".{0,200}",
        ) {
            let secret = WebhookSecret::parse(&format!("whsec_{}", STANDARD.encode(&key))).unwrap();
            let reference = standardwebhooks::Webhook::from_bytes(key).unwrap();
            let ours = sign(&id, ts, body.as_bytes(), &[&secret]);
            prop_assert_eq!(&ours, &reference.sign(&id, ts, body.as_bytes()).unwrap());

            let other_body = format!("{body} ");
            prop_assert_ne!(&ours, &sign(&id, ts, other_body.as_bytes(), &[&secret]));
            let other_id = format!("{id}x");
            prop_assert_ne!(&ours, &sign(&other_id, ts, body.as_bytes(), &[&secret]));
            prop_assert_ne!(&ours, &sign(&id, ts + 1, body.as_bytes(), &[&secret]));
        }
    }
}

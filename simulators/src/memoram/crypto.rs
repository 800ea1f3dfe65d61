//! Blob content encryption. Memoram does not publish its cipher or encoding, so this is the
//! simulator's convention, which the app's `aes-256-gcm` content cipher follows exactly:
//!
//! - AES-256-GCM (RustCrypto `aes-gcm`), the key being the 32 bytes of the hex `encryption_key`;
//! - payload = standard base64, with padding, of `12-byte random nonce ‖ ciphertext ‖ 16-byte tag`;
//! - no associated data.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::RngCore;

pub(super) type Key = [u8; 32];

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

pub(super) fn new_key() -> Key {
    let mut key = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut key);
    key
}

pub(super) fn encrypt(key: &Key, plaintext: &str) -> String {
    let cipher = Aes256Gcm::new(key.into());
    let mut nonce = [0u8; NONCE_LEN];
    rand::thread_rng().fill_bytes(&mut nonce);
    let sealed = cipher
        .encrypt(Nonce::from_slice(&nonce), plaintext.as_bytes())
        .expect("AES-GCM seals any plaintext shorter than 64 GiB");
    let mut payload = Vec::with_capacity(NONCE_LEN + sealed.len());
    payload.extend_from_slice(&nonce);
    payload.extend_from_slice(&sealed);
    STANDARD.encode(payload)
}

/// The plaintext, or `None` when `payload` is not base64, not sealed under `key`, or not UTF-8.
pub(super) fn decrypt(key: &Key, payload: &str) -> Option<String> {
    let bytes = STANDARD.decode(payload.trim()).ok()?;
    if bytes.len() < NONCE_LEN + TAG_LEN {
        return None;
    }
    let (nonce, sealed) = bytes.split_at(NONCE_LEN);
    let plaintext = Aes256Gcm::new(key.into())
        .decrypt(Nonce::from_slice(nonce), sealed)
        .ok()?;
    String::from_utf8(plaintext).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known_key() -> Key {
        let bytes = hex::decode("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
            .expect("hex");
        bytes.try_into().expect("32 bytes")
    }

    #[test]
    fn content_round_trips_under_a_known_key() {
        let key = known_key();
        let plaintext = "Ada prefers window seats — ✈️";
        let payload = encrypt(&key, plaintext);
        let raw = STANDARD.decode(&payload).expect("standard base64");
        assert_eq!(raw.len(), NONCE_LEN + plaintext.len() + TAG_LEN);
        assert_eq!(payload.len() % 4, 0, "padded");
        assert_eq!(decrypt(&key, &payload).as_deref(), Some(plaintext));
        assert_ne!(encrypt(&key, plaintext), payload, "a fresh nonce each time");
    }

    #[test]
    fn the_wrong_key_or_a_tampered_payload_does_not_decrypt() {
        let key = known_key();
        let payload = encrypt(&key, "secret");
        assert_eq!(decrypt(&new_key(), &payload), None);
        let mut raw = STANDARD.decode(&payload).expect("base64");
        let last = raw.len() - 1;
        raw[last] ^= 1;
        assert_eq!(decrypt(&key, &STANDARD.encode(raw)), None);
        assert_eq!(decrypt(&key, "plain text, not a payload"), None);
        assert_eq!(decrypt(&key, ""), None);
    }

    /// The layout is nonce ‖ ciphertext ‖ tag: the GCM spec's test case 14 (zero key, zero IV,
    /// 16 zero bytes), laid out that way, decrypts.
    #[test]
    fn the_payload_layout_matches_the_gcm_test_vectors() {
        let mut raw = vec![0u8; NONCE_LEN];
        raw.extend(hex::decode("cea7403d4d606b6e074ec5d3baf39d18").expect("hex"));
        raw.extend(hex::decode("d0d1c8a799996bf0265b98b5d48ab919").expect("hex"));
        let plaintext = decrypt(&[0u8; 32], &STANDARD.encode(raw)).expect("decrypts");
        assert_eq!(plaintext.as_bytes(), [0u8; 16]);
    }
}

//! Memory content encryption, in one place.
//!
//! Memoram returns a blob's `content` encrypted and says content "should ideally be encrypted
//! client-side using the user's `encryption_key`", without publishing the cipher or the encoding.
//! So the cipher is chosen by configuration (`MEMORAM_CONTENT_CIPHER`):
//! - `aes-256-gcm` (default): AES-256-GCM (RustCrypto `aes-gcm`), the key being the 32 bytes of
//!   the hex `encryption_key`, the payload standard base64 (padded) of
//!   `12-byte random nonce ‖ ciphertext ‖ 16-byte tag`, no associated data. This is the built-in
//!   simulator's convention, stated as such in the README: check it against Memoram's SDK before
//!   relying on it with real data.
//! - `none`: content travels as plaintext (over TLS) and Memoram encrypts it server-side.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// `MEMORAM_CONTENT_CIPHER`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentCipher {
    /// `aes-256-gcm` (the default): AES-256-GCM under the hex `encryption_key`, `content` being
    /// base64 of nonce ‖ ciphertext ‖ tag (the simulator's convention: see the module doc).
    Aes256Gcm,
    /// `none`: content is sent and read as plaintext, for Memoram to encrypt server-side.
    None,
}

/// Why content could not be sealed or opened.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CipherError {
    /// The `encryption_key` Memoram gave is not 64 hex characters.
    #[error("the encryption key is not 32 bytes of hex")]
    BadKey,
    /// Not base64, too short, sealed under another key, tampered with, or not UTF-8.
    #[error("the content cannot be decrypted with this key")]
    Undecryptable,
}

impl ContentCipher {
    /// Reads `MEMORAM_CONTENT_CIPHER`: `aes-256-gcm` or `none`, in any case, spaces around
    /// ignored; `None` for anything else.
    pub fn parse(value: &str) -> Option<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "aes-256-gcm" => Some(Self::Aes256Gcm),
            "none" => Some(Self::None),
            _ => None,
        }
    }

    /// Its `MEMORAM_CONTENT_CIPHER` value, as [`ContentCipher::parse`] reads it back.
    pub fn name(self) -> &'static str {
        match self {
            Self::Aes256Gcm => "aes-256-gcm",
            Self::None => "none",
        }
    }

    /// The `content` to send for `plaintext`.
    pub fn seal(self, key: &SecretString, plaintext: &str) -> Result<String, CipherError> {
        match self {
            Self::None => Ok(plaintext.to_owned()),
            Self::Aes256Gcm => {
                let cipher = Aes256Gcm::new(&aes_key(key)?.into());
                let mut nonce = [0u8; NONCE_LEN];
                rand::thread_rng().fill_bytes(&mut nonce);
                let sealed = cipher
                    .encrypt(Nonce::from_slice(&nonce), plaintext.as_bytes())
                    // Only fails for plaintexts beyond 64 GiB; the forms allow 47 KiB.
                    .map_err(|_| CipherError::Undecryptable)?;
                let mut payload = Vec::with_capacity(NONCE_LEN + sealed.len());
                payload.extend_from_slice(&nonce);
                payload.extend_from_slice(&sealed);
                Ok(STANDARD.encode(payload))
            }
        }
    }

    /// The plaintext of a blob's `content`.
    pub fn open(self, key: &SecretString, content: &str) -> Result<String, CipherError> {
        match self {
            Self::None => Ok(content.to_owned()),
            Self::Aes256Gcm => {
                let cipher = Aes256Gcm::new(&aes_key(key)?.into());
                let bytes = STANDARD
                    .decode(content.trim())
                    .map_err(|_| CipherError::Undecryptable)?;
                if bytes.len() < NONCE_LEN + TAG_LEN {
                    return Err(CipherError::Undecryptable);
                }
                let (nonce, sealed) = bytes.split_at(NONCE_LEN);
                let plaintext = cipher
                    .decrypt(Nonce::from_slice(nonce), sealed)
                    .map_err(|_| CipherError::Undecryptable)?;
                String::from_utf8(plaintext).map_err(|_| CipherError::Undecryptable)
            }
        }
    }
}

fn aes_key(key: &SecretString) -> Result<[u8; 32], CipherError> {
    let bytes = hex::decode(key.expose_secret().trim()).map_err(|_| CipherError::BadKey)?;
    bytes.try_into().map_err(|_| CipherError::BadKey)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SecretString {
        SecretString::from("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
    }

    #[test]
    fn content_round_trips_and_each_seal_has_a_fresh_nonce() {
        let cipher = ContentCipher::Aes256Gcm;
        let sealed = cipher
            .seal(&key(), "Ada prefers window seats ✈️")
            .expect("seals");
        assert_ne!(
            sealed,
            cipher
                .seal(&key(), "Ada prefers window seats ✈️")
                .expect("seals")
        );
        assert!(!sealed.contains("window"));
        assert_eq!(
            cipher.open(&key(), &sealed).as_deref(),
            Ok("Ada prefers window seats ✈️")
        );
    }

    /// GCM test case 14 (zero key, zero IV, 16 zero bytes) laid out as nonce ‖ ciphertext ‖ tag:
    /// the layout is the standard one, not an accident of this code.
    #[test]
    fn the_payload_layout_matches_the_gcm_test_vectors() {
        let mut raw = vec![0u8; NONCE_LEN];
        raw.extend(hex::decode("cea7403d4d606b6e074ec5d3baf39d18").expect("hex"));
        raw.extend(hex::decode("d0d1c8a799996bf0265b98b5d48ab919").expect("hex"));
        let zero_key = SecretString::from("00".repeat(32));
        let plaintext = ContentCipher::Aes256Gcm
            .open(&zero_key, &STANDARD.encode(raw))
            .expect("decrypts");
        assert_eq!(plaintext.as_bytes(), [0u8; 16]);
    }

    #[test]
    fn a_wrong_key_tampering_or_plaintext_is_undecryptable_not_a_panic() {
        let cipher = ContentCipher::Aes256Gcm;
        let sealed = cipher.seal(&key(), "secret").expect("seals");
        let other = SecretString::from("11".repeat(32));
        assert_eq!(
            cipher.open(&other, &sealed),
            Err(CipherError::Undecryptable)
        );
        let mut raw = STANDARD.decode(&sealed).expect("base64");
        raw[NONCE_LEN] ^= 1;
        assert_eq!(
            cipher.open(&key(), &STANDARD.encode(raw)),
            Err(CipherError::Undecryptable)
        );
        for junk in ["", "plain words", "AAAA", "ENCRYPTED_CONTENT..."] {
            assert_eq!(cipher.open(&key(), junk), Err(CipherError::Undecryptable));
        }
        let short = SecretString::from("abcd");
        assert_eq!(cipher.seal(&short, "x"), Err(CipherError::BadKey));
        assert_eq!(cipher.open(&short, &sealed), Err(CipherError::BadKey));
    }

    #[test]
    fn the_none_cipher_passes_content_through() {
        assert_eq!(
            ContentCipher::None.seal(&key(), "plain").as_deref(),
            Ok("plain")
        );
        assert_eq!(
            ContentCipher::None.open(&key(), "plain").as_deref(),
            Ok("plain")
        );
        assert_eq!(
            ContentCipher::parse(" AES-256-GCM "),
            Some(ContentCipher::Aes256Gcm)
        );
        assert_eq!(ContentCipher::parse("none"), Some(ContentCipher::None));
        assert_eq!(ContentCipher::parse("rot13"), None);
    }
}

//! ed25519 keys (PKCS#8 / SPKI PEM, as OpenSSL writes them) and mlprov's DSSE signatures
//! over in-toto Statements carrying a manifest.

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use crate::dsse::{b64, pae, unb64, Envelope, EnvelopeSignature, IN_TOTO_PAYLOAD_TYPE};
use crate::SignError;

/// The in-toto Statement type.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// The predicate type of an mlprov manifest.
pub const MANIFEST_PREDICATE: &str = "https://mlprov.dev/manifest/v1";

/// A new ed25519 key pair: the private key as PKCS#8 PEM, the public key as SPKI PEM.
pub fn generate() -> Result<(String, String), SignError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| SignError::Key(format!("no randomness: {e}")))?;
    let key = SigningKey::from_bytes(&seed);
    seed.fill(0);
    let private = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| SignError::Key(e.to_string()))?;
    let public = key
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| SignError::Key(e.to_string()))?;
    Ok((private.to_string(), public))
}

/// The key id: hex SHA-256 of the public key's DER (SubjectPublicKeyInfo).
pub fn key_id(key: &VerifyingKey) -> String {
    match key.to_public_key_der() {
        Ok(der) => hex(&Sha256::digest(der.as_bytes())),
        Err(_) => String::new(),
    }
}

/// Reads an ed25519 private key (PKCS#8 PEM).
pub fn read_private(pem: &str) -> Result<SigningKey, SignError> {
    SigningKey::from_pkcs8_pem(pem)
        .map_err(|e| SignError::Key(format!("not an ed25519 private key (PKCS#8 PEM): {e}")))
}

/// Reads an ed25519 public key (SPKI PEM).
pub fn read_public(pem: &str) -> Result<VerifyingKey, SignError> {
    VerifyingKey::from_public_key_pem(pem)
        .map_err(|e| SignError::Key(format!("not an ed25519 public key (SPKI PEM): {e}")))
}

/// The in-toto Statement v1 for a manifest: subject the model's name and Merkle root
/// (`blake3` digest, hex), predicate the manifest itself.
pub fn statement(name: &str, root_hex: &str, manifest: &Value) -> Value {
    json!({
        "_type": STATEMENT_TYPE,
        "subject": [{"name": name, "digest": {"blake3": root_hex}}],
        "predicateType": MANIFEST_PREDICATE,
        "predicate": manifest,
    })
}

/// Signs `payload` (canonical statement bytes) into a DSSE envelope.
pub fn sign(key: &SigningKey, payload: &[u8]) -> Envelope {
    let mut env = Envelope::new(IN_TOTO_PAYLOAD_TYPE, payload);
    let sig: Signature = key.sign(&pae(IN_TOTO_PAYLOAD_TYPE, payload));
    env.signatures.push(EnvelopeSignature {
        keyid: key_id(&key.verifying_key()),
        sig: b64(&sig.to_bytes()),
    });
    env
}

/// Checks an envelope's signature with `key` and returns the Statement it carries.
pub fn verify(envelope: &Envelope, key: &VerifyingKey) -> Result<Value, SignError> {
    if envelope.payload_type != IN_TOTO_PAYLOAD_TYPE {
        return Err(SignError::Invalid(format!(
            "payload type is {:?}, not {IN_TOTO_PAYLOAD_TYPE}",
            envelope.payload_type
        )));
    }
    let payload = envelope.payload_bytes()?;
    let message = pae(&envelope.payload_type, &payload);
    let mut last = SignError::Invalid("the envelope has no signature".into());
    let id = key_id(key);
    for s in &envelope.signatures {
        // The key id is not signed; a wrong one still means the envelope was changed or is
        // meant for another key, so it is not accepted either.
        if !s.keyid.is_empty() && s.keyid != id {
            last = SignError::Invalid(format!(
                "the signature names key {:?}, not this key ({id})",
                s.keyid
            ));
            continue;
        }
        let bytes = unb64(&s.sig, "the signature")?;
        let Ok(sig) = Signature::from_slice(&bytes) else {
            last = SignError::Invalid("the signature is not 64 bytes of ed25519".into());
            continue;
        };
        match key.verify_strict(&message, &sig) {
            Ok(()) => {
                return serde_json::from_slice(&payload).map_err(|e| {
                    SignError::Invalid(format!("the signed payload is not JSON: {e}"))
                })
            }
            Err(_) => {
                last = SignError::Invalid(
                    "the signature does not verify with this key: the signed statement was changed, or another key signed it".into(),
                )
            }
        }
    }
    Err(last)
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_and_every_bit_flip_fails() {
        let (private, public) = generate().unwrap();
        assert!(private.starts_with("-----BEGIN PRIVATE KEY-----"));
        assert!(public.starts_with("-----BEGIN PUBLIC KEY-----"));
        let key = read_private(&private).unwrap();
        let pubkey = read_public(&public).unwrap();
        let st = statement("m", &"ab".repeat(32), &json!({"schema": "x"}));
        let payload = serde_json::to_vec(&st).unwrap();
        let env = sign(&key, &payload);
        assert_eq!(verify(&env, &pubkey).unwrap(), st);
        // Flip each bit of the payload and of the signature.
        for i in 0..payload.len() * 8 {
            let mut p = payload.clone();
            p[i / 8] ^= 1 << (i % 8);
            let mut e = env.clone();
            e.payload = b64(&p);
            assert!(verify(&e, &pubkey).is_err());
        }
        let sig = unb64(&env.signatures[0].sig, "").unwrap();
        for i in 0..sig.len() * 8 {
            let mut s = sig.clone();
            s[i / 8] ^= 1 << (i % 8);
            let mut e = env.clone();
            e.signatures[0].sig = b64(&s);
            assert!(verify(&e, &pubkey).is_err());
        }
        let (_, other) = generate().unwrap();
        assert!(verify(&env, &read_public(&other).unwrap()).is_err());
        assert!(read_public(&private).is_err());
    }
}

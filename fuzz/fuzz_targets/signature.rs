//! Fuzzes the signature readers: any bytes as a DSSE envelope or an OpenSSF model-signing
//! bundle must fail to verify (they were not signed with this key), never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mlprov_sign::{dsse::Envelope, ed25519, oms};

fuzz_target!(|data: &[u8]| {
    let ed = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]).verifying_key();
    if let Ok(env) = serde_json::from_slice::<Envelope>(data) {
        assert!(ed25519::verify(&env, &ed).is_err());
    }
    let p = p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap();
    if let Ok(bundle) = serde_json::from_slice::<serde_json::Value>(data) {
        assert!(oms::verify(&bundle, p.verifying_key()).is_err());
    }
});

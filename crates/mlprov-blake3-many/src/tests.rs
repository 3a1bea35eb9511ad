use super::*;
use proptest::prelude::*;

fn by_crate(mut h: blake3::Hasher, prefix: &[u8], m: &[u8]) -> [u8; 32] {
    h.update(prefix);
    h.update(m);
    *h.finalize().as_bytes()
}

fn modes() -> Vec<(ManyHasher, blake3::Hasher)> {
    let key = [9u8; 32];
    vec![
        (ManyHasher::new(), blake3::Hasher::new()),
        (ManyHasher::new_keyed(&key), blake3::Hasher::new_keyed(&key)),
        (
            ManyHasher::new_derive_key("mlprov test context"),
            blake3::Hasher::new_derive_key("mlprov test context"),
        ),
    ]
}

/// Every length around the block and chunk boundaries, in every mode, with prefixes of
/// several lengths (up to the longest the lanes take), lanes and no lanes.
#[test]
fn equals_the_blake3_crate_at_every_length() {
    let data: Vec<u8> = (0..1200u32).map(|i| (i * 7 + 3) as u8).collect();
    let lengths: Vec<usize> = (0..=200).chain(900..=1100).collect();
    let messages: Vec<&[u8]> = lengths.iter().map(|&n| &data[..n]).collect();
    let long_prefix = [0xa5u8; 63];
    for (many, plain) in modes() {
        for prefix in [&b""[..], b"t", b"prefix", &long_prefix, &[1u8; 64]] {
            for h in [many.clone(), many.clone().without_lanes()] {
                let mut got = vec![[7u8; 32]]; // appended after what is there
                h.hash_many(prefix, &messages, &mut got);
                assert_eq!(got.len(), messages.len() + 1);
                assert_eq!(got[0], [7u8; 32]);
                for (m, d) in messages.iter().zip(&got[1..]) {
                    assert_eq!(
                        *d,
                        by_crate(plain.clone(), prefix, m),
                        "length {}, prefix {}, lanes {}",
                        m.len(),
                        prefix.len(),
                        h.uses_lanes()
                    );
                }
            }
        }
    }
}

/// Messages that end at the end of their buffer, of every length below a chunk: the masked
/// loads read nothing past a message (a read past it would be caught by the allocator's
/// neighbours only by chance, so each message is its own exact-size allocation).
#[test]
fn messages_in_their_own_exact_allocations() {
    let owned: Vec<Vec<u8>> = (0..=1030usize)
        .map(|n| (0..n).map(|i| (i * 31 + n) as u8).collect())
        .collect();
    let refs: Vec<&[u8]> = owned.iter().map(Vec::as_slice).collect();
    let h = ManyHasher::new_derive_key("mlprov test context");
    let plain = blake3::Hasher::new_derive_key("mlprov test context");
    let mut got = Vec::new();
    h.hash_many(b"t", &refs, &mut got);
    for (m, d) in refs.iter().zip(&got) {
        assert_eq!(*d, by_crate(plain.clone(), b"t", m));
    }
}

#[test]
fn no_messages_no_digests() {
    let mut out = Vec::new();
    ManyHasher::new().hash_many(b"t", &[], &mut out);
    assert!(out.is_empty());
}

proptest! {
    #[test]
    fn equals_the_blake3_crate_on_random_messages(
        messages in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..1100), 0..60),
        prefix in proptest::collection::vec(any::<u8>(), 0..3),
        key in any::<[u8; 32]>(),
    ) {
        let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
        let h = ManyHasher::new_keyed(&key);
        let mut got = Vec::new();
        h.hash_many(&prefix, &refs, &mut got);
        prop_assert_eq!(got.len(), messages.len());
        for (m, d) in messages.iter().zip(&got) {
            prop_assert_eq!(*d, by_crate(blake3::Hasher::new_keyed(&key), &prefix, m));
        }
    }
}

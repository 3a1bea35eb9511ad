//! Tests of the zip layer, and a minimal zip writer for other tests.

use super::*;

/// A minimal zip writer for tests: `(name, data, deflate)` members (the testkit's).
pub(crate) fn build_zip(members: &[(&str, &[u8], bool)]) -> Vec<u8> {
    mlprov_testkit::hostile::zip(members)
}

fn detail(e: ErrorKind) -> String {
    e.to_string()
}

#[test]
fn reads_stored_and_deflated_members() {
    let big = vec![7u8; 5000];
    let zip = build_zip(&[("a/x", b"hello", false), ("b", &big, true)]);
    let z = ZipArchive::parse(&zip).unwrap();
    assert_eq!(z.entries().len(), 2);
    let a = z.read(z.find("a/x").unwrap()).unwrap();
    assert!(matches!(a, MemberBytes::Stored(_)));
    assert_eq!(a.bytes(&zip), b"hello");
    let b = z.read(z.find("b").unwrap()).unwrap();
    assert_eq!(b.bytes(&zip), &big[..]);
}

#[test]
fn refuses_a_local_header_that_lies_about_its_size() {
    let mut zip = build_zip(&[("m", b"0123456789", false)]);
    // Local header's compressed size is at offset 18.
    zip[18] = 200;
    let e = detail(ZipArchive::parse(&zip).unwrap_err());
    assert!(e.contains("local header says 200"), "{e}");
    // A central size past the end of the file.
    let mut zip = build_zip(&[("m", b"0123456789", false)]);
    let cd = zip.len() - EOCD_LEN - (CENTRAL_LEN + 1);
    zip[cd + 20..cd + 24].copy_from_slice(&100_000u32.to_le_bytes());
    zip[cd + 24..cd + 28].copy_from_slice(&100_000u32.to_le_bytes());
    assert!(ZipArchive::parse(&zip).is_err());
}

#[test]
fn stops_a_deflate_bomb_at_the_declared_size() {
    // 64 MiB of zeros deflates to about 64 KiB; the headers claim 1000 bytes.
    let huge = vec![0u8; 64 << 20];
    let mut zip = build_zip(&[("bomb", &huge, true)]);
    let z = ZipArchive::parse(&zip).unwrap();
    let clen = z.entries()[0].data.len();
    // Patch both size fields to 1000 (local at 22, central at cd + 24).
    zip[22..26].copy_from_slice(&1000u32.to_le_bytes());
    let cd = zip.len() - EOCD_LEN - (CENTRAL_LEN + 4);
    zip[cd + 24..cd + 28].copy_from_slice(&1000u32.to_le_bytes());
    let z = ZipArchive::parse(&zip).unwrap();
    let e = detail(z.read(&z.entries()[0]).unwrap_err());
    assert!(e.contains("inflates past its declared 1000 bytes"), "{e}");
    // And an honest declaration of an impossible ratio is refused before inflating.
    let declared = (clen as u64 * MAX_DEFLATE_RATIO + 1) as u32;
    zip[22..26].copy_from_slice(&declared.to_le_bytes());
    zip[cd + 24..cd + 28].copy_from_slice(&declared.to_le_bytes());
    let z = ZipArchive::parse(&zip).unwrap();
    let e = detail(z.read(&z.entries()[0]).unwrap_err());
    assert!(e.contains("at most"), "{e}");
}

#[test]
fn refuses_overlapping_members() {
    // Point the second central entry at the first member's local header.
    let mut zip = build_zip(&[("a", &[1u8; 300], true), ("b", &[1u8; 300], true)]);
    let second = zip.len() - EOCD_LEN - (CENTRAL_LEN + 1);
    // The local header check compares names: call the second entry `a` too.
    zip[second + CENTRAL_LEN] = b'a';
    zip[second + 42..second + 46].copy_from_slice(&0u32.to_le_bytes());
    let e = detail(ZipArchive::parse(&zip).unwrap_err());
    assert!(e.contains("overlaps"), "{e}");
}

#[test]
fn checks_crc_of_inflated_members() {
    let mut zip = build_zip(&[("m", &[1u8; 300], true)]);
    zip[14] ^= 1; // local CRC is not compared; flip the central one instead
    let cd = zip.len() - EOCD_LEN - (CENTRAL_LEN + 1);
    zip[cd + 16] ^= 1;
    let z = ZipArchive::parse(&zip).unwrap();
    assert!(detail(z.read(&z.entries()[0]).unwrap_err()).contains("CRC-32"));
}

#[test]
fn refuses_garbage_without_panicking() {
    assert!(ZipArchive::parse(b"").is_err());
    assert!(ZipArchive::parse(b"PK\x05\x06").is_err());
    let zip = build_zip(&[("m", b"abc", false), ("m", b"def", false)]);
    assert!(detail(ZipArchive::parse(&zip).unwrap_err()).contains("twice"));
    let zip = build_zip(&[("m", b"abc", false)]);
    for cut in 0..zip.len() {
        let _ = ZipArchive::parse(&zip[..cut]);
    }
}

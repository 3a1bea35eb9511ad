//! Hostile and damaged archives: truncation, bombs, escaping names, entry floods.

mod common;

use std::fs;

use common::*;
use mlprov_walk::{ProblemKind, WalkOptions};

/// Walks every prefix `bytes[..cut]` for `cuts`: each must give a problem and no unit.
fn every_prefix_is_a_problem(bytes: &[u8], cuts: impl Iterator<Item = usize>, what: &str) {
    let t = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let p = t.path().join("cut");
    for cut in cuts {
        fs::write(&p, &bytes[..cut]).unwrap();
        let (recs, _) = run(std::slice::from_ref(&p), &options_in(tmp.path()));
        assert!(units(&recs).is_empty(), "{what} cut at {cut}: {recs:#?}");
        let pr = problems(&recs);
        assert!(!pr.is_empty(), "{what} cut at {cut}: no problem reported");
        assert!(
            pr.iter()
                .all(|p| p.kind == Some(ProblemKind::DamagedArchive)),
            "{what} cut at {cut}: {pr:#?}"
        );
    }
    assert!(leftovers(tmp.path()).is_empty());
}

fn small_tar() -> Vec<u8> {
    let g = fixture("gguf/quant.gguf");
    tar_of(&[("a/q.gguf", &g), ("b.txt", b"hello")])
}

#[test]
fn every_truncation_of_a_tar_gz_is_a_problem() {
    let tgz = gz(&small_tar());
    // Two bytes carry the gzip magic; shorter is not recognizably anything.
    // Every cut through the header and the trailer, every 5th in between.
    let n = tgz.len();
    let cuts = (2..n).filter(|&c| c < 200 || c + 200 > n || c % 5 == 0);
    every_prefix_is_a_problem(&tgz, cuts, "tar.gz");
}

#[test]
fn every_truncation_of_a_tar_zst_is_a_problem() {
    let z = zst(&small_tar());
    let n = z.len();
    let cuts = (4..n).filter(|&c| c < 200 || c + 200 > n || c % 5 == 0);
    every_prefix_is_a_problem(&z, cuts, "tar.zst");
}

#[test]
fn truncations_of_a_plain_tar_are_problems() {
    let tar = small_tar();
    // A tar is recognized from its first 512-byte header. A cut inside the two closing zero
    // blocks loses nothing (the first one ends the archive, as for GNU tar), so cuts stop
    // before them.
    let end = tar.len() - 1024;
    let cuts = (512..end).step_by(97).chain([1024, 1536, end - 1, end]);
    every_prefix_is_a_problem(&tar, cuts, "tar");
}

#[test]
fn every_truncation_of_a_zip_is_a_problem() {
    let g = fixture("gguf/quant.gguf");
    let z = zip_of(&[("a/q.gguf", &g), ("b.txt", b"hello")]);
    // Every cut through the central directory and the local header, every 5th in between.
    let n = z.len();
    let cuts = (4..n).filter(|&c| c < 200 || c + 400 > n || c % 5 == 0);
    every_prefix_is_a_problem(&z, cuts, "zip");
}

#[test]
fn damaged_bytes_never_panic() {
    let g = fixture("gguf/quant.gguf");
    let st = fixture("safetensors/tiny-model.safetensors");
    let inputs = [
        gz(&small_tar()),
        small_tar(),
        zip_of(&[("a/q.gguf", &g), ("m.safetensors", &st)]),
        zst(&small_tar()),
    ];
    let t = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let p = t.path().join("x");
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for input in &inputs {
        for _ in 0..60 {
            let mut b = input.clone();
            for _ in 0..4 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let i = (seed as usize) % b.len();
                b[i] = (seed >> 32) as u8;
            }
            fs::write(&p, &b).unwrap();
            let _ = run(std::slice::from_ref(&p), &options_in(tmp.path()));
        }
    }
    assert!(leftovers(tmp.path()).is_empty());
}

/// A zip whose one member (GGUF magic, then zeros) claims `claimed` bytes.
fn lying_zip(real: usize, claimed: u32) -> Vec<u8> {
    let mut data = vec![0u8; real];
    data[..4].copy_from_slice(b"GGUF");
    let mut z = zip_of(&[("bomb.gguf", &data)]);
    let real = u32::try_from(real).unwrap().to_le_bytes();
    // The uncompressed size sits at offset 22 of the local header and 24 of the central one.
    for (sig, off) in [(b"PK\x03\x04", 22), (b"PK\x01\x02", 24)] {
        let at = z.windows(4).position(|w| w == sig).unwrap() + off;
        assert_eq!(z[at..at + 4], real);
        z[at..at + 4].copy_from_slice(&claimed.to_le_bytes());
    }
    z
}

#[test]
fn a_member_inflating_past_its_declared_size_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let p = t.path().join("bomb.zip");
    fs::write(&p, lying_zip(16 << 20, 1000)).unwrap();
    let (recs, summary) = run(&[p], &options_in(tmp.path()));
    assert!(units(&recs).is_empty(), "{recs:#?}");
    let pr = problems(&recs);
    assert_eq!(pr.len(), 1, "{recs:#?}");
    assert!(
        matches!(
            pr[0].kind,
            Some(ProblemKind::TooLarge | ProblemKind::DamagedArchive)
        ),
        "{pr:#?}"
    );
    assert!(pr[0].display.ends_with("bomb.zip!/bomb.gguf"));
    assert!(summary.extracted_bytes <= 1000, "{summary:?}");
}

#[test]
fn members_over_the_size_limits_are_not_extracted() {
    let t = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    // A declared size far past the default per-member limit (64 GiB): refused unread.
    let p = t.path().join("huge.zip");
    fs::write(&p, lying_zip(4096, u32::MAX)).unwrap();
    let opts = WalkOptions {
        max_extract_bytes: 1 << 20,
        ..options_in(tmp.path())
    };
    let (recs, summary) = run(&[p], &opts);
    let pr = problems(&recs);
    assert_eq!(pr.len(), 1, "{recs:#?}");
    assert_eq!(pr[0].kind, Some(ProblemKind::TooLarge));
    assert_eq!(summary.extracted_bytes, 0);
    // A tar member over the limit.
    let big = {
        let mut v = vec![0u8; 2 << 20];
        v[..4].copy_from_slice(b"GGUF");
        v
    };
    let p = t.path().join("big.tar");
    fs::write(
        &p,
        tar_of(&[("big.gguf", &big), ("q.gguf", &fixture("gguf/quant.gguf"))]),
    )
    .unwrap();
    let (recs, _) = run(&[p], &opts);
    assert_eq!(units(&recs).len(), 1, "{recs:#?}");
    assert_eq!(problems(&recs)[0].kind, Some(ProblemKind::TooLarge));
}

#[test]
fn the_total_budget_of_an_archive_is_enforced_once() {
    let t = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let zeros = vec![0u8; 4 << 20];
    let tar = tar_of(&[
        ("a.bin", &zeros),
        ("b.bin", &zeros),
        ("q.gguf", &fixture("gguf/quant.gguf")),
    ]);
    let p = t.path().join("x.tgz");
    fs::write(&p, gz(&tar_of(&[("inner.tar", &tar)]))).unwrap();
    let opts = WalkOptions {
        max_total_extract_bytes: 1 << 20,
        ..options_in(tmp.path())
    };
    let (recs, _) = run(std::slice::from_ref(&p), &opts);
    let pr = problems(&recs);
    assert_eq!(pr.len(), 1, "{recs:#?}");
    assert_eq!(pr[0].kind, Some(ProblemKind::OverBudget));
    assert_eq!(pr[0].display, p.display().to_string());
    // With the default budget the model is found.
    let (recs, _) = run(&[p], &options_in(tmp.path()));
    assert_eq!(units(&recs).len(), 1, "{recs:#?}");
}

#[test]
fn escaping_member_names_are_written_only_inside_the_temp_folder() {
    let t = tempfile::tempdir().unwrap();
    let tmp_parent = tempfile::tempdir().unwrap();
    let tmp = tmp_parent.path().join("walk");
    fs::create_dir(&tmp).unwrap();
    let g = fixture("gguf/quant.gguf");
    let mut b = tar::Builder::new(Vec::new());
    append_raw(&mut b, b"../../evil.gguf", &g, tar::EntryType::Regular);
    append_raw(&mut b, b"/abs/evil2.gguf", &g, tar::EntryType::Regular);
    append_raw(&mut b, b"..", &g, tar::EntryType::Regular);
    let p = t.path().join("e.tar");
    fs::write(&p, b.into_inner().unwrap()).unwrap();
    let z = t.path().join("e.zip");
    fs::write(&z, zip_of(&[("../../../zevil.gguf", &g)])).unwrap();
    let mut locals = Vec::new();
    let mut recs = Vec::new();
    mlprov_walk::walk(&[p.clone(), z.clone()], &options_in(&tmp), &mut |f| {
        match f {
            mlprov_walk::Found::Unit(u) => {
                assert!(u.local.starts_with(&tmp), "{}", u.local.display());
                assert_eq!(fs::read(&u.local).unwrap(), g);
                locals.push(u.local.clone());
                recs.push(u.display);
            }
            mlprov_walk::Found::Problem(p) => {
                assert_eq!(p.kind, ProblemKind::UnsafeName, "{p:?}");
                recs.push(format!("problem {}", p.display));
            }
            mlprov_walk::Found::Data(d) => panic!("no data files asked for: {d:?}"),
        }
        std::ops::ControlFlow::Continue(())
    })
    .unwrap();
    let e = p.display();
    let zd = z.display();
    assert_eq!(
        recs,
        [
            format!("problem {e}!/../../evil.gguf"),
            format!("problem {e}!//abs/evil2.gguf"),
            format!("problem {e}!/.."),
            format!("{e}!/../../evil.gguf"),
            format!("{e}!//abs/evil2.gguf"),
            format!("{e}!/.."),
            format!("problem {zd}!/../../../zevil.gguf"),
            format!("{zd}!/../../../zevil.gguf"),
        ]
    );
    // Nothing written beside or above the temp folder.
    assert_eq!(leftovers(tmp_parent.path()), std::slice::from_ref(&tmp));
    assert!(!t.path().join("evil.gguf").exists() && !std::path::Path::new("/abs").exists());
}

#[test]
fn archives_with_too_many_entries_are_refused() {
    let t = tempfile::tempdir().unwrap();
    let names: Vec<String> = (0..20).map(|i| format!("f{i}")).collect();
    let entries: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"x"[..])).collect();
    fs::write(t.path().join("a.tar"), tar_of(&entries)).unwrap();
    fs::write(t.path().join("b.zip"), zip_of(&entries)).unwrap();
    let opts = WalkOptions {
        max_entries: 10,
        ..Default::default()
    };
    let (recs, _) = run(&[t.path().to_path_buf()], &opts);
    let pr = problems(&recs);
    assert_eq!(shown(&pr, t.path()), ["a.tar", "b.zip"], "{recs:#?}");
    assert!(pr
        .iter()
        .all(|p| p.kind == Some(ProblemKind::TooManyEntries)));
}

#[test]
fn a_compressed_weight_file_is_reported() {
    let t = tempfile::tempdir().unwrap();
    fs::write(t.path().join("m.gguf.gz"), gz(&fixture("gguf/quant.gguf"))).unwrap();
    fs::write(t.path().join("notes.gz"), gz(b"plain text")).unwrap();
    let (recs, _) = run(&[t.path().to_path_buf()], &Default::default());
    let pr = problems(&recs);
    assert_eq!(shown(&pr, t.path()), ["m.gguf.gz"], "{recs:#?}");
    assert_eq!(pr[0].kind, Some(ProblemKind::CompressedWeight));
}

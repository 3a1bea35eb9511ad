//! The base-aware lineage test on generated models: A is a fine-tune of a public base P;
//! siblings of A (P plus their own changes) and P itself must come out `shares-base`, while
//! A's children, however re-encoded, permuted or cut, must come out as carrying A's work.

mod common;

use common::generated::*;

use mlprov::fingerprint::{Comparison, Verdict};
use mlprov::{Comparable, Quiet};
use mlprov_testkit::{q4_round_trip, write_in, Dtype, Tensor as T};

/// `m` written as `dir/name` and opened for comparing.
fn opened(dir: &std::path::Path, name: &str, m: &[T]) -> Comparable<'static> {
    Comparable::new(mlprov::open(&write_in(dir, name, m)).unwrap())
}

/// Reference fine-tunes written as `dir/r<i>.safetensors` and opened.
fn references_in(dir: &std::path::Path, references: &[Vec<T>]) -> Vec<Comparable<'static>> {
    references
        .iter()
        .enumerate()
        .map(|(i, r)| opened(dir, &format!("r{i}.safetensors"), r))
        .collect()
}

/// Runs the base-aware comparison of B against A with base P, as users run it.
fn run(p: &[T], a: &[T], b: &[T]) -> Comparison {
    let dir = mlprov_testkit::tempdir();
    let open = |name: &str, m: &[T]| opened(dir.path(), name, m);
    let (p, a, b) = (
        open("p.safetensors", p),
        open("a.safetensors", a),
        open("b.safetensors", b),
    );
    mlprov::compare_with_base(&a, &b, &p, &Quiet).unwrap()
}

fn expect(c: &Comparison, want: Verdict, what: &str) -> (f64, f64) {
    let own = c.own_changes.as_ref().expect("the base-aware test ran");
    assert_eq!(
        c.verdict, want,
        "{what}: own changes {:.3} at p 1e{:.1} (tested {}, not aligned {}, missing {}); plain test {} at 1e{:.1}",
        own.share, own.log10_p, own.tested, own.not_aligned, own.missing_in_b, c.verdict, c.log10_p
    );
    (own.share, own.log10_p)
}

#[test]
fn siblings_and_the_base_share_the_base_while_children_carry_a() {
    let p = base_model(100);
    let a = tuned(&p, 1);
    // The plain test relates every one of these to A; only the base-aware one tells them apart.
    for seed in 2..5 {
        let sibling = tuned(&p, seed);
        let (share, log10_p) = expect(&run(&p, &a, &sibling), Verdict::SharesBase, "sibling");
        assert!(share.abs() < 0.1 && log10_p > -3.0, "{share} {log10_p}");
    }
    let (share, _) = expect(&run(&p, &a, &p), Verdict::SharesBase, "the base itself");
    assert!(share.abs() < 1e-9, "{share}");

    let child = tuned(&a, 9);
    let (share, log10_p) = expect(&run(&p, &a, &child), Verdict::Derived, "child");
    assert!(
        (share - 1.0).abs() < 0.1 && log10_p < -20.0,
        "{share} {log10_p}"
    );
}

#[test]
fn a_child_stays_a_child_through_quantization_permutation_and_cuts() {
    let p = base_model(101);
    let a = tuned(&p, 1);
    let child = tuned(&a, 2);

    let q4: Vec<T> = child
        .iter()
        .map(|t| T {
            values: q4_round_trip(&t.values),
            ..t.clone()
        })
        .collect();
    let (share, _) = expect(&run(&p, &a, &q4), Verdict::Derived, "child in 4 bits");
    assert!((share - 1.0).abs() < 0.25, "{share}");

    let perm = permutation(H, 3);
    let permuted: Vec<T> = mlp_units_permuted(&child, &perm);
    expect(
        &run(&p, &a, &permuted),
        Verdict::Derived,
        "child, MLP units permuted",
    );

    // Layers 1 and 3 dropped, the rest renumbered.
    let subset = layer_subset(&child);
    let (share, _) = expect(
        &run(&p, &a, &subset),
        Verdict::Derived,
        "child, layers dropped",
    );
    assert!(share < 0.8, "half of A's changed layers are gone: {share}");

    // QuaRot-style rotation of the residual stream: A's changes cannot be located in B, so
    // the plain verdict stands (and says so through `not_aligned`).
    let rot = orthogonal(D, 6);
    let rotated: Vec<T> = residual_rotated(&child, &rot);
    let c = run(&p, &a, &rotated);
    assert_eq!(c.verdict, Verdict::Derived);
    let own = c.own_changes.unwrap();
    assert!(own.not_aligned > 0 && own.tested == 0, "{own:?}");
}

#[test]
fn merges_report_the_share_and_re_encodings_stay_re_encoded() {
    let p = base_model(102);
    let a = tuned(&p, 1);
    let sibling = tuned(&p, 2);
    let merge: Vec<T> = a
        .iter()
        .zip(&sibling)
        .map(|(x, y)| T {
            values: x
                .values
                .iter()
                .zip(&y.values)
                .map(|(u, v)| 0.5 * (u + v))
                .collect(),
            ..x.clone()
        })
        .collect();
    let (share, _) = expect(
        &run(&p, &a, &merge),
        Verdict::Derived,
        "even merge with a sibling",
    );
    assert!((share - 0.5).abs() < 0.1, "{share}");

    let f16: Vec<T> = a.iter().map(|t| t.clone().stored_as(Dtype::F16)).collect();
    let (share, _) = expect(&run(&p, &a, &f16), Verdict::ReEncoded, "A in f16");
    assert!((share - 1.0).abs() < 0.1, "{share}");
}

#[test]
#[ignore = "200 three-model comparisons: about 90 s in a debug build; .ci/run runs it in release"]
fn the_test_is_calibrated_over_independent_siblings() {
    // 200 sibling pairs: A and B fine-tuned from the same base independently.
    let dir = mlprov_testkit::tempdir();
    let open = |name: String, m: &[T]| {
        Comparable::new(mlprov::open(&write_in(dir.path(), &name, m)).unwrap())
    };
    let mut p_values = Vec::new();
    for k in 0..20u64 {
        let p = base_model(1000 + k);
        let (cp, ca) = (
            open(format!("p{k}"), &p),
            open(format!("a{k}"), &tuned(&p, 1)),
        );
        for s in 0..10u64 {
            let cb = open(format!("b{k}-{s}"), &tuned(&p, 100 + s));
            let c = mlprov::compare_with_base(&ca, &cb, &cp, &Quiet).unwrap();
            p_values.push(c.own_changes.expect("ran").log10_p);
        }
    }
    let share_below =
        |t: f64| p_values.iter().filter(|&&l| l < t.log10()).count() as f64 / p_values.len() as f64;
    let smallest = p_values.iter().cloned().fold(0.0, f64::min);
    let (half, tenth) = (share_below(0.5), share_below(0.1));
    eprintln!("200 siblings: {half:.3} below 0.5, {tenth:.3} below 0.1, smallest 1e{smallest:.2}");
    assert!(
        smallest > -3.0,
        "a sibling's p-value fell below 1e-3: 1e{smallest:.1}"
    );
    assert!(
        (0.4..=0.6).contains(&half) && (0.04..=0.17).contains(&tenth),
        "{half} {tenth}"
    );
}

#[test]
fn reference_fine_tunes_take_what_fine_tuning_commonly_does_out_of_a_s_own_changes() {
    let p = base_model(120);
    // What any fine-tune of P on the same public data does: a shared change four times the
    // size of each fine-tune's own.
    let common = common_change(&p, 121, 4.0);
    let a = tuned_with(&p, &common, 122);
    let sibling = tuned_with(&p, &common, 123);
    let references: Vec<Vec<T>> = (130..136).map(|s| tuned_with(&p, &common, s)).collect();
    let child = tuned(&a, 128);

    let dir = mlprov_testkit::tempdir();
    let open = |name: &str, m: &[T]| opened(dir.path(), name, m);
    let (cp, ca) = (open("p.safetensors", &p), open("a.safetensors", &a));
    let refs = references_in(dir.path(), &references);
    let (cs, cc) = (
        open("s.safetensors", &sibling),
        open("c.safetensors", &child),
    );

    // Without references the shared change reads as A's: the sibling looks derived, with
    // most of A's change found in it.
    let plain = mlprov::compare_with_base(&ca, &cs, &cp, &Quiet).unwrap();
    let (before, _) = expect(
        &plain,
        Verdict::Derived,
        "sibling sharing the common change",
    );
    assert!(before > 0.8, "{before}");
    // With them, little of A's change is left in the sibling (what six noisy references
    // cannot pin down of the common change: about 1/(1 + 6·16) of its energy, 14% of the
    // share here), while the child still carries nearly all of what is A's own.
    let with = |b: &Comparable<'_>| {
        mlprov::compare_with_base_and_references(
            &ca,
            b,
            &cp,
            &refs.iter().collect::<Vec<_>>(),
            &Quiet,
        )
        .unwrap()
    };
    let (share, _) = expect(&with(&cs), Verdict::SharesBase, "sibling, with references");
    assert!(share < 0.2, "sibling with references: {share}");
    let (share, log10_p) = expect(&with(&cc), Verdict::Derived, "child, with references");
    assert!(share > 0.8 && log10_p < -20.0, "{share} {log10_p}");
    assert_eq!(with(&cc).own_changes.unwrap().references, 6);
}

#[test]
fn a_sibling_sharing_a_fifth_of_a_s_change_is_cleared_by_the_share_floor_not_by_chance() {
    // Fine-tunes of one base move the same way: here a shared change half the size of each
    // fine-tune's own, so a sibling holds about a fifth of A's change, far from chance.
    let p = base_model(140);
    let common = common_change(&p, 141, 0.5);
    let a = tuned_with(&p, &common, 142);
    let sibling = tuned_with(&p, &common, 143);
    let c = run(&p, &a, &sibling);
    let (share, log10_p) = expect(&c, Verdict::SharesBase, "sibling sharing a common change");
    assert!(
        (0.1..0.3).contains(&share) && log10_p < -20.0,
        "the floor, not the p-value, clears it: {share} at 1e{log10_p:.0}"
    );
    let floor = mlprov::fingerprint::thresholds::OWN_CHANGES_MIN_SHARE;
    assert!(c.own_changes.unwrap().tested_share < floor);

    // A child keeps its share, and so does a child with half its layers gone (the floor
    // reads the tensors B has).
    let child = tuned(&a, 144);
    let (share, _) = expect(&run(&p, &a, &child), Verdict::Derived, "child");
    assert!(share > 0.8, "{share}");
    let subset = layer_subset(&child);
    let c = run(&p, &a, &subset);
    let (share, _) = expect(&c, Verdict::Derived, "child, layers dropped");
    let tested = c.own_changes.unwrap().tested_share;
    assert!(share < 0.8 && tested > 0.8, "{share} {tested}");
}

#[test]
fn the_references_own_shares_set_the_floor_when_few_references_leave_much_of_the_common_change() {
    // Two references cannot pin down a common change four times a fine-tune's own: the
    // sibling keeps a large part of A's change after the projection, more than the fixed
    // floor for references. The references hold as much when each is tested with the other
    // projected out, so their shares raise the floor above the sibling's.
    let p = base_model(180);
    let common = common_change(&p, 181, 4.0);
    let a = tuned_with(&p, &common, 182);
    let sibling = tuned_with(&p, &common, 183);
    let child = tuned(&a, 184);
    let references: Vec<Vec<T>> = (185..187).map(|s| tuned_with(&p, &common, s)).collect();

    let dir = mlprov_testkit::tempdir();
    let open = |name: &str, m: &[T]| opened(dir.path(), name, m);
    let (cp, ca) = (open("p.safetensors", &p), open("a.safetensors", &a));
    let refs = references_in(dir.path(), &references);
    let refs: Vec<&Comparable<'_>> = refs.iter().collect();
    let with = |b: &Comparable<'_>| {
        mlprov::compare_with_base_and_references(&ca, b, &cp, &refs, &Quiet).unwrap()
    };

    let fixed = mlprov::fingerprint::thresholds::OWN_CHANGES_MIN_SHARE_WITH_REFERENCES;
    let c = with(&open("s.safetensors", &sibling));
    let own = c.own_changes.clone().unwrap();
    assert_eq!(own.reference_shares.len(), 2);
    let margin = mlprov::fingerprint::thresholds::OWN_CHANGES_REFERENCE_MARGIN;
    let highest = own.reference_shares.iter().copied().fold(0.0, f64::max);
    assert_eq!(own.share_floor, fixed.max(highest + margin));
    assert!(own.tested_share > fixed, "above the fixed floor: {own:?}");
    assert!(own.share_floor > own.tested_share, "{own:?}");
    assert_eq!(c.verdict, Verdict::SharesBase);

    let c = with(&open("c.safetensors", &child));
    let own = c.own_changes.clone().unwrap();
    assert_eq!(c.verdict, Verdict::Derived, "{own:?}");
    assert!(own.tested_share > 0.9, "{own:?}");
}

//! The binary's own surface: help and version. (Its presence also makes
//! `cargo test --workspace` build the `mlprov` binary for the end-to-end tests.)

use std::collections::BTreeSet;

use assert_cmd::Command;
use predicates::prelude::*;

/// The verbs `mlprov --help` lists under "Commands:" (without clap's own `help`).
fn verbs_in_help() -> BTreeSet<String> {
    let out = Command::cargo_bin("mlprov")
        .unwrap()
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("--json"), "{text}");
    text.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|v| *v != "help")
        .map(str::to_string)
        .collect()
}

/// The verbs of the README's command table (rows starting with `` | `mlprov VERB``).
fn verbs_in_readme() -> BTreeSet<String> {
    let readme = std::fs::read_to_string(mlprov_testkit::fixtures().join("../README.md")).unwrap();
    readme
        .lines()
        .filter_map(|l| l.strip_prefix("| `mlprov "))
        .filter_map(|l| l.split([' ', '`']).next())
        .map(str::to_string)
        .collect()
}

#[test]
fn help_lists_every_verb_and_the_readme_documents_each() {
    let help = verbs_in_help();
    for verb in [
        "inspect",
        "hash",
        "manifest",
        "verify",
        "fingerprint",
        "compare",
        "eval",
        "convert",
        "register",
        "audit",
    ] {
        assert!(help.contains(verb), "{verb} missing from help: {help:?}");
    }
    assert_eq!(
        help,
        verbs_in_readme(),
        "help (left) and README table (right)"
    );
}

#[test]
fn version_is_the_crate_version() {
    Command::cargo_bin("mlprov")
        .unwrap()
        .arg("--version")
        .assert()
        .success()
        .stdout(predicate::str::contains(env!("CARGO_PKG_VERSION")));
}

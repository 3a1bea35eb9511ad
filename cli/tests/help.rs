//! The binary's own surface: help and version. (Its presence also makes
//! `cargo test --workspace` build the `mlprov` binary for the end-to-end tests.)

use assert_cmd::Command;
use predicates::prelude::*;

#[test]
fn help_lists_every_verb() {
    let out = Command::cargo_bin("mlprov")
        .unwrap()
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for verb in ["inspect", "hash", "manifest", "verify", "--json"] {
        assert!(text.contains(verb), "{verb} missing from help:\n{text}");
    }
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

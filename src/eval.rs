//! `eval`: the lineage test over pairs with known relations, and how often it is right.
//!
//! A line may name A's base in a fourth column, or give A as its manifest (whose recorded
//! base is used when its weights are beside that base's manifest): the pair then runs the
//! base-aware test ([`compare_with_base`]) and its score is that test's p-value (B carries
//! A's own changes). A fifth column lists reference fine-tunes of that base, separated by
//! commas ([`compare_with_base_and_references`]).
//!
//! Scores: a pair's score is `-log10 p` (evidence against independence). Pairs expected
//! `unrelated` or `shares-base` are the negatives; pairs expected `inconclusive` are neither (they are
//! counted apart); every other expected verdict is a positive. AUC is the Mann-Whitney
//! statistic (ties count half); TPR and FPR at a threshold count the scores above it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mlprov_fingerprint::thresholds::{SIGNIFICANT_LOG10_P, UNRELATED_LOG10_P};
use mlprov_fingerprint::Verdict;
use mlprov_formats::OpenOptions;
use serde::Serialize;

use crate::compare::{compare_prepared, compare_with_base_and_references, Comparable};
use crate::error::{Error, Result};
use crate::progress::Progress;

/// One line of a pairs list: model A, model B and the expected verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalCase {
    /// Model A.
    pub a: PathBuf,
    /// Model B.
    pub b: PathBuf,
    /// What the lineage test should say.
    pub expected: Verdict,
    /// A's base, for the base-aware test.
    pub base: Option<PathBuf>,
    /// Reference fine-tunes of that base (only with a base).
    pub references: Vec<PathBuf>,
}

/// One pair's outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalRow {
    /// Model A.
    pub a: PathBuf,
    /// Model B.
    pub b: PathBuf,
    /// Expected verdict.
    pub expected: Verdict,
    /// The verdict given.
    pub verdict: Verdict,
    /// log10 of the reported p-value.
    pub log10_p_value: f64,
    /// With a base: the share of A's own change found in B (over the tensors tested) and
    /// the share it had to reach (absent without a base, or when nothing was tested).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub own_changes: Option<EvalShare>,
}

/// What the base-aware test found of A's change in B, against what it needed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalShare {
    /// Share of A's change found in B, over the tensors tested.
    pub tested_share: f64,
    /// The share B had to hold to carry A's own work.
    pub share_floor: f64,
    /// Reference fine-tunes given.
    pub references: usize,
}

/// Rates at one p-value threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RatesAt {
    /// The threshold.
    pub p_below: f64,
    /// Share of related pairs with p below it (none without related pairs).
    pub tpr: Option<f64>,
    /// Share of unrelated pairs with p below it (none without unrelated pairs).
    pub fpr: Option<f64>,
}

/// How many verdicts were right, and how well the p-value separates the pairs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalSummary {
    /// Pairs evaluated.
    pub pairs: usize,
    /// Pairs whose verdict was the expected one.
    pub correct: usize,
    /// Area under the ROC curve of `-log10 p`, related against unrelated pairs.
    pub auc: Option<f64>,
    /// TPR and FPR at p < 1e-3 and p < 1e-6 (the test's own thresholds).
    pub at_thresholds: Vec<RatesAt>,
    /// Pairs expected to be related (positives).
    pub related_pairs: usize,
    /// Pairs expected `unrelated` or `shares-base` (negatives).
    pub unrelated_pairs: usize,
    /// Pairs expected `inconclusive`: neither positive nor negative.
    pub inconclusive_pairs: usize,
}

/// One cell of the confusion table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConfusionCell {
    /// Expected verdict (row).
    pub expected: Verdict,
    /// Given verdict (column).
    pub verdict: Verdict,
    /// Pairs.
    pub count: usize,
}

/// The whole evaluation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalReport {
    /// Every pair, in list order.
    pub results: Vec<EvalRow>,
    /// Non-empty cells of the confusion table, rows and columns in [`Verdict::ALL`] order.
    pub confusion: Vec<ConfusionCell>,
    /// The figures.
    pub summary: EvalSummary,
}

impl EvalReport {
    /// Every verdict as expected.
    pub fn all_correct(&self) -> bool {
        self.summary.correct == self.summary.pairs
    }

    /// Pairs with this expected and given verdict.
    pub fn count(&self, expected: Verdict, verdict: Verdict) -> usize {
        self.confusion
            .iter()
            .find(|c| c.expected == expected && c.verdict == verdict)
            .map_or(0, |c| c.count)
    }
}

/// Reads a pairs list: tab-separated `A`, `B`, expected verdict, optionally A's base and
/// then its reference fine-tunes (comma-separated), per line; `#` starts a comment line.
/// Paths are relative to `root`.
pub fn read_pairs(list: &Path, root: &Path) -> Result<Vec<EvalCase>> {
    // Non-blocking, regular files only: a FIFO given as the list must not hang the run.
    let bytes = mlprov_formats::read_regular_file(list, crate::MAX_MANIFEST_BYTES)?;
    let text = String::from_utf8(bytes).map_err(|_| Error::input(list, "not UTF-8 text"))?;
    let mut cases = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at_line = || format!("{}:{}", list.display(), n + 1);
        let cols: Vec<&str> = line.split('\t').collect();
        let (a, b, expected, base, references) = match cols.as_slice() {
            [a, b, e] => (a, b, e, None, Vec::new()),
            [a, b, e, base] => (a, b, e, Some(root.join(base)), Vec::new()),
            [a, b, e, base, refs] => {
                let refs: Vec<PathBuf> = refs
                    .split(',')
                    .filter(|r| !r.is_empty())
                    .map(|r| root.join(r))
                    .collect();
                (a, b, e, Some(root.join(base)), refs)
            }
            _ => {
                return Err(Error::input(
                    at_line(),
                    "expected three to five tab-separated columns: A, B, verdict[, A's base[, references]]",
                ))
            }
        };
        let expected: Verdict =
            expected
                .parse()
                .map_err(|e: mlprov_fingerprint::UnknownVerdict| {
                    Error::input(at_line(), e.to_string())
                })?;
        cases.push(EvalCase {
            a: root.join(a),
            b: root.join(b),
            expected,
            base,
            references,
        });
    }
    Ok(cases)
}

/// Runs the lineage test (the same staged [`compare`](crate::compare) users run) over the
/// pairs in `list`, calling `on_row` as each pair is done. `root` defaults to the list's
/// folder. A model that appears in several pairs is fingerprinted once. Each model is
/// opened with `options` (its memory budget).
pub fn eval(
    list: &Path,
    root: Option<&Path>,
    options: OpenOptions,
    progress: &dyn Progress,
    on_row: &mut dyn FnMut(&EvalRow),
) -> Result<EvalReport> {
    let root = root
        .map(Path::to_path_buf)
        .unwrap_or_else(|| list.parent().unwrap_or(Path::new(".")).to_path_buf());
    let cases = read_pairs(list, &root)?;
    let mut models: BTreeMap<PathBuf, Comparable<'static>> = BTreeMap::new();
    let mut recorded: BTreeMap<PathBuf, Option<PathBuf>> = BTreeMap::new();
    let mut rows = Vec::with_capacity(cases.len());
    for case in &cases {
        // A may be given as its manifest: its subject, with the base it records.
        let mut base = case.base.clone();
        if !models.contains_key(&case.a) {
            let reference = crate::open_reference(&case.a, &[], options)?;
            recorded.insert(
                case.a.clone(),
                reference.recorded_base.weights().map(Path::to_path_buf),
            );
            models.insert(case.a.clone(), Comparable::new(reference.model));
        }
        if base.is_none() {
            base = recorded.get(&case.a).cloned().flatten();
        }
        let wanted = [Some(&case.b), base.as_ref()].into_iter().flatten();
        for path in wanted.chain(&case.references) {
            if !models.contains_key(path) {
                models.insert(
                    path.clone(),
                    Comparable::new(crate::open_with(path, options)?),
                );
            }
        }
        let (a, b) = (&models[&case.a], &models[&case.b]);
        let references: Vec<&Comparable<'static>> =
            case.references.iter().map(|r| &models[r]).collect();
        let result = match &base {
            Some(base) => {
                compare_with_base_and_references(a, b, &models[base], &references, progress)?
            }
            None => compare_prepared(a, b, progress)?,
        };
        let own = result.own_changes.as_ref().filter(|o| o.tested_any());
        let log10_p_value = own.map_or(result.log10_p, |o| o.log10_p);
        let row = EvalRow {
            a: case.a.clone(),
            b: case.b.clone(),
            expected: case.expected,
            verdict: result.verdict,
            log10_p_value,
            own_changes: own.map(|o| EvalShare {
                tested_share: o.tested_share,
                share_floor: o.share_floor,
                references: o.references,
            }),
        };
        on_row(&row);
        rows.push(row);
    }
    Ok(score(rows))
}

/// The confusion table and figures of evaluated pairs.
pub fn score(results: Vec<EvalRow>) -> EvalReport {
    let index = |v: Verdict| Verdict::ALL.iter().position(|&w| w == v).unwrap_or(0);
    let mut cells: BTreeMap<(usize, usize), usize> = BTreeMap::new();
    for r in &results {
        *cells
            .entry((index(r.expected), index(r.verdict)))
            .or_default() += 1;
    }
    let confusion = cells
        .into_iter()
        .map(|((e, v), count)| ConfusionCell {
            expected: Verdict::ALL[e],
            verdict: Verdict::ALL[v],
            count,
        })
        .collect();
    let scores = |keep: &dyn Fn(Verdict) -> bool| -> Vec<f64> {
        results
            .iter()
            .filter(|r| keep(r.expected))
            .map(|r| -r.log10_p_value)
            .collect()
    };
    let innocent = |v| matches!(v, Verdict::Unrelated | Verdict::SharesBase);
    let positive = scores(&|v| !innocent(v) && v != Verdict::Inconclusive);
    let negative = scores(&innocent);
    let at_thresholds = [UNRELATED_LOG10_P, SIGNIFICANT_LOG10_P]
        .into_iter()
        .map(|t| RatesAt {
            p_below: 10f64.powf(t),
            tpr: rate_above(&positive, -t),
            fpr: rate_above(&negative, -t),
        })
        .collect();
    let summary = EvalSummary {
        pairs: results.len(),
        correct: results.iter().filter(|r| r.expected == r.verdict).count(),
        auc: auc(&positive, &negative),
        at_thresholds,
        related_pairs: positive.len(),
        unrelated_pairs: negative.len(),
        inconclusive_pairs: results
            .iter()
            .filter(|r| r.expected == Verdict::Inconclusive)
            .count(),
    };
    EvalReport {
        results,
        confusion,
        summary,
    }
}

/// Share of `scores` strictly above `threshold`.
fn rate_above(scores: &[f64], threshold: f64) -> Option<f64> {
    (!scores.is_empty())
        .then(|| scores.iter().filter(|&&s| s > threshold).count() as f64 / scores.len() as f64)
}

/// Area under the ROC curve by the Mann-Whitney statistic (ties count half).
fn auc(positive: &[f64], negative: &[f64]) -> Option<f64> {
    if positive.is_empty() || negative.is_empty() {
        return None;
    }
    let wins: f64 = positive
        .iter()
        .flat_map(|p| negative.iter().map(move |n| (p, n)))
        .map(|(p, n)| match p.partial_cmp(n) {
            Some(std::cmp::Ordering::Greater) => 1.0,
            Some(std::cmp::Ordering::Equal) => 0.5,
            _ => 0.0,
        })
        .sum();
    Some(wins / (positive.len() * negative.len()) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn row(expected: Verdict, verdict: Verdict, log10_p: f64) -> EvalRow {
        EvalRow {
            a: "a".into(),
            b: "b".into(),
            expected,
            verdict,
            log10_p_value: log10_p,
            own_changes: None,
        }
    }

    /// A small table worked by hand.
    /// Positives (scores 10, 4, 2): derived 1e-10, re-encoded 1e-4, derived 1e-2.
    /// Negatives (scores 5, 1, 0.5): unrelated 1e-5 (a false alarm), 1e-1, 10^-0.5.
    /// Inconclusive expected (score 20): counted apart, in no rate.
    /// AUC: pairs (p, n) with p > n: 10 beats 3, 4 beats 2 (1, 0.5), 2 beats 2 = 7 of 9.
    /// At 1e-3 (score > 3): TPR 2/3 (10, 4), FPR 1/3 (5). At 1e-6 (score > 6): TPR 1/3, FPR 0.
    #[test]
    fn figures_match_a_hand_computed_table() {
        let report = score(vec![
            row(Verdict::Derived, Verdict::Derived, -10.0),
            row(Verdict::ReEncoded, Verdict::Derived, -4.0),
            row(Verdict::Derived, Verdict::Inconclusive, -2.0),
            row(Verdict::Unrelated, Verdict::Inconclusive, -5.0),
            row(Verdict::Unrelated, Verdict::Unrelated, -1.0),
            row(Verdict::Unrelated, Verdict::Unrelated, -0.5),
            row(Verdict::Inconclusive, Verdict::Derived, -20.0),
        ]);
        let s = &report.summary;
        assert_eq!((s.pairs, s.correct), (7, 3));
        assert_eq!(
            (s.related_pairs, s.unrelated_pairs, s.inconclusive_pairs),
            (3, 3, 1)
        );
        assert!((s.auc.unwrap() - 7.0 / 9.0).abs() < 1e-12, "{:?}", s.auc);
        let third = 1.0 / 3.0;
        assert_eq!(s.at_thresholds[0].p_below, 1e-3);
        assert!((s.at_thresholds[0].tpr.unwrap() - 2.0 * third).abs() < 1e-12);
        assert!((s.at_thresholds[0].fpr.unwrap() - third).abs() < 1e-12);
        assert!((s.at_thresholds[1].tpr.unwrap() - third).abs() < 1e-12);
        assert_eq!(s.at_thresholds[1].fpr, Some(0.0));
        assert_eq!(report.count(Verdict::Unrelated, Verdict::Unrelated), 2);
        assert_eq!(report.count(Verdict::Inconclusive, Verdict::Derived), 1);
        assert!(!report.all_correct());
    }

    #[test]
    fn ties_count_half_and_missing_classes_give_no_figure() {
        let report = score(vec![
            row(Verdict::Derived, Verdict::Derived, -3.0),
            row(Verdict::Unrelated, Verdict::Unrelated, -3.0),
        ]);
        assert_eq!(report.summary.auc, Some(0.5));
        let only_related = score(vec![row(Verdict::Derived, Verdict::Derived, -9.0)]);
        assert_eq!(only_related.summary.auc, None);
        assert_eq!(only_related.summary.at_thresholds[0].fpr, None);
    }

    #[test]
    fn pairs_lists_name_the_bad_line() {
        let dir = tempfile::tempdir().unwrap();
        let list = dir.path().join("pairs.tsv");
        fs::write(&list, "# comment\na\tb\tderived\nx\ty\tcopied\n").unwrap();
        let err = read_pairs(&list, dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("pairs.tsv:3") && err.contains("copied"),
            "{err}"
        );
        assert!(err.contains("same-weights"), "lists the valid words: {err}");
        fs::write(&list, "a\tb\n").unwrap();
        let err = read_pairs(&list, dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("pairs.tsv:1") && err.contains("three"),
            "{err}"
        );
    }
}

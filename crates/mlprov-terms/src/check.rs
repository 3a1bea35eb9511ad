//! The use check: may an intended use be made of an asset, given its licence, its agreed
//! terms and those of every asset in its lineage? Answers `allow`, `deny` or `review` per
//! asset and overall, with reasons that name the clause and the asset, and the obligations
//! that apply. The rules are in `docs/terms.md` ("How check decides").

use serde::Serialize;

use crate::date::Date;
use crate::expr::Expr;
use crate::kb::{lookup, Licence};
use crate::terms::{Propagation, Terms, Use};
use crate::territory::{covered_by, in_eea};

/// The intended use to check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Query {
    /// The kind of use.
    #[serde(rename = "use")]
    pub use_: Use,
    /// Where (ISO 3166-1 alpha-2).
    pub territory: String,
    /// When.
    pub date: Date,
    /// The asset will be modified (fine-tuned, merged, quantized...).
    pub modify: bool,
    /// It (or a derivative) will be given to others.
    pub redistribute: bool,
    /// It will be run as a service for others.
    pub host: bool,
    /// Monthly active users of the licensee's products, when known.
    pub mau: Option<u64>,
    /// Its outputs will be used to train other models.
    pub train_on_outputs: bool,
}

/// An answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// The use is allowed (obligations may apply).
    Allow,
    /// A person has to decide: the records or the law do not settle it.
    Review,
    /// The use is not allowed.
    Deny,
}

impl Decision {
    /// `allow`, `review` or `deny`.
    pub fn name(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Review => "review",
            Decision::Deny => "deny",
        }
    }
}

/// Model or dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AssetKind {
    /// A model.
    Model,
    /// A dataset.
    Dataset,
}

/// One edge on the way from the subject to an asset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "edge", rename_all = "snake_case")]
pub enum Step {
    /// The asset before is derived from the next (`finetune`, `adapter`, `merge`, ...).
    DerivedFrom {
        /// The relation.
        relation: String,
    },
    /// The asset before was trained on the next (`train`, `validation`, `test`).
    TrainedOn {
        /// The role of the data.
        role: String,
    },
}

/// Relations that modify the base (as opposed to `converted`, a change of file format).
pub const MODIFYING_RELATIONS: [&str; 6] = [
    "finetune",
    "adapter",
    "merge",
    "quantized",
    "distilled",
    "pruned",
];

/// An asset in the lineage, as the check sees it.
#[derive(Debug, Clone)]
pub struct Asset {
    /// Its name (the manifest's subject name).
    pub name: String,
    /// Its identity (manifest digest or content root), to tell assets of one name apart.
    pub id: String,
    /// Model or dataset.
    pub kind: AssetKind,
    /// The SPDX expression of its licence.
    pub licence: Option<String>,
    /// The agreed terms, or why the recorded ones cannot be read.
    pub terms: Option<Result<Terms, String>>,
    /// The edges from the subject to it (empty for the subject).
    pub path: Vec<Step>,
    /// True when the lineage names it but no manifest of it was found.
    pub missing: bool,
}

/// Why an asset got its answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reason {
    /// What this reason alone answers.
    pub decision: Decision,
    /// The asset the clause belongs to.
    pub asset: String,
    /// The clause (`grant.use`, `term.end`, `lineage`...).
    pub clause: String,
    /// Where the clause is written: `terms` (the agreement) or `licence <id>`.
    pub source: String,
    /// The reason in words.
    pub message: String,
    /// True when the answer is `review` because the law is unsettled.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub unsettled: bool,
}

/// A duty that comes with the use.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Obligation {
    /// The asset it comes from.
    pub asset: String,
    /// The clause.
    pub clause: String,
    /// Where it is written.
    pub source: String,
    /// What to do.
    pub text: String,
}

/// The answer for one asset.
#[derive(Debug, Clone, Serialize)]
pub struct AssetReport {
    /// Its name.
    pub name: String,
    /// Its identity.
    pub id: String,
    /// Model or dataset.
    pub kind: AssetKind,
    /// Its licence expression.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub licence: Option<String>,
    /// True when agreed terms are recorded.
    pub has_terms: bool,
    /// How it is reached from the subject.
    pub path: Vec<Step>,
    /// The answer.
    pub decision: Decision,
    /// Why.
    pub reasons: Vec<Reason>,
}

/// The answer for the whole lineage.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The worst answer of any asset.
    pub decision: Decision,
    /// What was asked.
    pub query: Query,
    /// The subject first, then its lineage.
    pub assets: Vec<AssetReport>,
    /// Conflicts between licences along the lineage.
    pub conflicts: Vec<Reason>,
    /// Every obligation that applies, sorted, without repeats.
    pub obligations: Vec<Obligation>,
}

/// How far an ancestor's clauses reach the subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reach {
    /// Every clause applies.
    Full,
    /// Restrictions apply only if the dataset licence binds trained models: unsettled.
    Unsettled,
    /// Only notices and attribution.
    NoticeOnly,
    /// Nothing.
    Free,
}

struct Ctx<'a> {
    q: &'a Query,
    asset: &'a Asset,
    reach: Reach,
    reasons: Vec<Reason>,
    obligations: Vec<Obligation>,
}

impl Ctx<'_> {
    fn reason(&mut self, decision: Decision, clause: &str, source: &str, message: String) {
        let (decision, unsettled, message) = match (self.reach, decision) {
            (Reach::Unsettled, Decision::Deny | Decision::Review) => (
                Decision::Review,
                true,
                format!(
                    "{message}; whether a dataset's licence binds a model trained on it is unsettled, and its terms do not settle it (propagation.trained_models is not set)"
                ),
            ),
            _ => (decision, false, message),
        };
        self.reasons.push(Reason {
            decision,
            asset: self.asset.name.clone(),
            clause: clause.to_string(),
            source: source.to_string(),
            message,
            unsettled,
        });
    }

    fn oblige(&mut self, clause: &str, source: &str, text: String) {
        self.obligations.push(Obligation {
            asset: self.asset.name.clone(),
            clause: clause.to_string(),
            source: source.to_string(),
            text,
        });
    }
}

/// Checks `query` against every asset; `assets[0]` is the subject.
pub fn check(assets: &[Asset], query: &Query) -> Report {
    let mut reports = Vec::new();
    let mut obligations = Vec::new();
    for asset in assets {
        let (reasons, obl) = check_asset(asset, query);
        let decision = reasons
            .iter()
            .map(|r| r.decision)
            .max()
            .unwrap_or(Decision::Allow);
        obligations.extend(obl);
        reports.push(AssetReport {
            name: asset.name.clone(),
            id: asset.id.clone(),
            kind: asset.kind,
            licence: asset.licence.clone(),
            has_terms: matches!(asset.terms, Some(Ok(_))),
            path: asset.path.clone(),
            decision,
            reasons,
        });
    }
    let mut conflicts = conflicts(assets, query);
    // Unsettled law only matters where it holds an answer up.
    for c in &mut conflicts {
        c.unsettled &= c.decision == Decision::Review;
    }
    for c in &conflicts {
        if let Some(r) = reports.iter_mut().find(|r| r.name == c.asset) {
            r.decision = r.decision.max(c.decision);
            r.reasons.push(c.clone());
        }
    }
    obligations.sort();
    obligations.dedup();
    let decision = reports
        .iter()
        .map(|r| r.decision)
        .max()
        .unwrap_or(Decision::Review);
    Report {
        decision,
        query: query.clone(),
        assets: reports,
        conflicts,
        obligations,
    }
}

/// The clauses of `asset` that reach the subject: the agreement over the licence.
fn effective(asset: &Asset, licence: Option<&Licence>) -> Option<Terms> {
    let agreed = match &asset.terms {
        Some(Ok(t)) => Some(t),
        _ => None,
    };
    match (agreed, licence) {
        (Some(t), Some(l)) => Some(t.over(&l.terms)),
        (Some(t), None) => Some(t.clone()),
        (None, Some(l)) => Some(l.terms.clone()),
        (None, None) => None,
    }
}

fn reach(asset: &Asset, terms: &Terms) -> Reach {
    if asset.path.is_empty() {
        return Reach::Full;
    }
    let through_data = asset
        .path
        .iter()
        .any(|s| matches!(s, Step::TrainedOn { .. }));
    let rule = if through_data {
        terms.propagation.trained_models
    } else {
        terms.propagation.derivatives
    };
    match (rule, through_data) {
        (Some(Propagation::SameTerms), _) | (None, false) => Reach::Full,
        (Some(Propagation::NoticeOnly), _) => Reach::NoticeOnly,
        (Some(Propagation::None), _) => Reach::Free,
        (None, true) => Reach::Unsettled,
    }
}

fn check_asset(asset: &Asset, q: &Query) -> (Vec<Reason>, Vec<Obligation>) {
    let mut ctx = Ctx {
        q,
        asset,
        reach: Reach::Full,
        reasons: Vec::new(),
        obligations: Vec::new(),
    };
    if asset.missing {
        ctx.reason(
            Decision::Review,
            "lineage",
            "manifest",
            format!(
                "no manifest of `{}` ({}) was found: its licence and terms cannot be checked (pass it with --lineage)",
                asset.name, asset.id
            ),
        );
        return (ctx.reasons, ctx.obligations);
    }
    if let Some(Err(e)) = &asset.terms {
        ctx.reason(
            Decision::Review,
            "terms",
            "terms",
            format!("the recorded terms cannot be read by this version: {e}"),
        );
    }
    let expr = match asset.licence.as_deref().map(Expr::parse) {
        Some(Ok(e)) => Some(e),
        Some(Err(e)) => {
            ctx.reason(
                Decision::Review,
                "licence",
                "manifest",
                format!("the licence expression cannot be read: {e}"),
            );
            None
        }
        None => None,
    };
    match expr {
        None if !matches!(asset.terms, Some(Ok(_))) => {
            ctx.reason(
                Decision::Review,
                "licence",
                "manifest",
                "no licence and no terms are recorded".to_string(),
            );
        }
        None => {
            let terms = effective(asset, None).unwrap_or_default();
            clauses(&mut ctx, &terms, None);
        }
        Some(e) => eval_expr(&mut ctx, &e),
    }
    (ctx.reasons, ctx.obligations)
}

/// Evaluates a licence expression: AND needs every part, OR takes the best alternative.
fn eval_expr(ctx: &mut Ctx<'_>, e: &Expr) {
    match e {
        Expr::Id(id) => match lookup(id) {
            Some(l) => {
                let terms = effective(ctx.asset, Some(l)).unwrap_or_default();
                clauses(ctx, &terms, Some(l));
            }
            None => {
                let agreed = matches!(ctx.asset.terms, Some(Ok(_)));
                if agreed {
                    let terms = effective(ctx.asset, None).unwrap_or_default();
                    clauses(ctx, &terms, None);
                }
                let d = if agreed {
                    Decision::Allow
                } else {
                    Decision::Review
                };
                ctx.reason(
                    d,
                    "licence",
                    &format!("licence {id}"),
                    if agreed {
                        format!("licence `{id}` is not in the knowledge base; the recorded terms were checked instead")
                    } else {
                        format!("licence `{id}` is not in the knowledge base and no terms are recorded: read the licence")
                    },
                );
            }
        },
        Expr::And(parts) => {
            for p in parts {
                eval_expr(ctx, p);
            }
        }
        Expr::Or(alts) => {
            let mut best: Option<(Decision, Vec<Reason>, Vec<Obligation>, &Expr)> = None;
            for alt in alts {
                let mut sub = Ctx {
                    q: ctx.q,
                    asset: ctx.asset,
                    reach: ctx.reach,
                    reasons: Vec::new(),
                    obligations: Vec::new(),
                };
                eval_expr(&mut sub, alt);
                let d = sub
                    .reasons
                    .iter()
                    .map(|r| r.decision)
                    .max()
                    .unwrap_or(Decision::Allow);
                let better = match &best {
                    None => true,
                    Some((bd, _, bo, _)) => {
                        d < *bd || (d == *bd && sub.obligations.len() < bo.len())
                    }
                };
                if better {
                    best = Some((d, sub.reasons, sub.obligations, alt));
                }
            }
            if let Some((_, reasons, obligations, alt)) = best {
                ctx.reasons.extend(reasons);
                ctx.obligations.extend(obligations);
                ctx.reason(
                    Decision::Allow,
                    "licence",
                    "manifest",
                    format!("of the alternatives `{e}`, `{alt}` is chosen"),
                );
            }
        }
    }
}

/// The clauses of one licence (with the agreement over it) against the query.
fn clauses(ctx: &mut Ctx<'_>, t: &Terms, licence: Option<&Licence>) {
    let agreed = match &ctx.asset.terms {
        Some(Ok(a)) => Some(a.clone()),
        _ => None,
    };
    let lic_src = licence.map(|l| format!("licence {}", l.id));
    // The source of a clause: the agreement when it sets it, else the licence.
    let src = |set_in_agreement: bool| -> String {
        if set_in_agreement || lic_src.is_none() {
            "terms".to_string()
        } else {
            lic_src.clone().unwrap_or_default()
        }
    };
    let a = agreed.unwrap_or_default();
    ctx.reach = reach(ctx.asset, t);
    let q = ctx.q.clone();
    let name = ctx.asset.name.clone();
    let is_subject = ctx.asset.path.is_empty();
    let through = describe_path(&ctx.asset.path);

    match ctx.reach {
        Reach::Free => {
            ctx.reason(
                Decision::Allow,
                "propagation",
                &src(a.propagation.derivatives.is_some() || a.propagation.trained_models.is_some()),
                format!("`{name}`'s terms do not reach {through}"),
            );
            return;
        }
        Reach::NoticeOnly => {
            ctx.reason(
                Decision::Allow,
                "propagation",
                &src(a.propagation.derivatives.is_some() || a.propagation.trained_models.is_some()),
                format!("only `{name}`'s notices reach {through}"),
            );
            notices(ctx, t, &a, &src);
            return;
        }
        Reach::Full | Reach::Unsettled => {}
    }

    // Scope of use.
    if let Some(uses) = &t.grant.uses {
        let list: Vec<&str> = uses.iter().map(|u| u.name()).collect();
        if uses.contains(&q.use_) {
            ctx.reason(
                Decision::Allow,
                "grant.use",
                &src(a.grant.uses.is_some()),
                format!("{} use is granted", q.use_.name()),
            );
        } else {
            ctx.reason(
                Decision::Deny,
                "grant.use",
                &src(a.grant.uses.is_some()),
                format!(
                    "{} use is not granted (granted: {})",
                    q.use_.name(),
                    list.join(", ")
                ),
            );
        }
    }
    if let Some(fields) = &t.grant.field_of_use {
        ctx.oblige(
            "grant.field_of_use",
            &src(a.grant.field_of_use.is_some()),
            format!("use only in the fields: {}", fields.join(", ")),
        );
    }
    // Modification: asked for, or made by the relation on the way to this asset.
    let modifying: Vec<&str> = ctx
        .asset
        .path
        .iter()
        .filter_map(|s| match s {
            Step::DerivedFrom { relation } if MODIFYING_RELATIONS.contains(&relation.as_str()) => {
                Some(relation.as_str())
            }
            _ => None,
        })
        .collect();
    if t.grant.modify == Some(false) {
        if let Some(rel) = modifying.first() {
            ctx.reason(
                Decision::Deny,
                "grant.modify",
                &src(a.grant.modify.is_some()),
                format!(
                    "modification is not granted, and the subject is a {rel} derived from `{name}`"
                ),
            );
        } else if q.modify {
            ctx.reason(
                Decision::Deny,
                "grant.modify",
                &src(a.grant.modify.is_some()),
                "modification is not granted".to_string(),
            );
        }
    }
    if q.redistribute && t.grant.redistribute == Some(false) {
        ctx.reason(
            Decision::Deny,
            "grant.redistribute",
            &src(a.grant.redistribute.is_some()),
            "redistribution is not granted".to_string(),
        );
    }
    if q.host && t.grant.host_as_service == Some(false) {
        ctx.reason(
            Decision::Deny,
            "grant.host_as_service",
            &src(a.grant.host_as_service.is_some()),
            "hosting as a service for others is not granted".to_string(),
        );
    }
    // Territory.
    let tsrc = src(a.territory.include.is_some() || a.territory.exclude.is_some());
    if let Some(include) = &t.territory.include {
        match covered_by(include, &q.territory) {
            Some(group) if group != q.territory => ctx.reason(
                Decision::Allow,
                "territory.include",
                &tsrc,
                format!("{} is granted as part of {group}", q.territory),
            ),
            Some(_) => ctx.reason(
                Decision::Allow,
                "territory.include",
                &tsrc,
                format!("{} is granted", q.territory),
            ),
            None => ctx.reason(
                Decision::Deny,
                "territory.include",
                &tsrc,
                format!(
                    "{} is outside the territory granted ({})",
                    q.territory,
                    include.join(", ")
                ),
            ),
        }
    }
    if let Some(exclude) = &t.territory.exclude {
        if let Some(hit) = covered_by(exclude, &q.territory) {
            ctx.reason(
                Decision::Deny,
                "territory.exclude",
                &tsrc,
                format!("{} is excluded from the territory ({hit})", q.territory),
            );
        }
    }
    // Term.
    if let Some(start) = t.term.start {
        if q.date < start {
            ctx.reason(
                Decision::Deny,
                "term.start",
                &src(a.term.start.is_some()),
                format!("the terms start on {start}, after {}", q.date),
            );
        }
    }
    if let Some(end) = t.term.end {
        if q.date > end {
            ctx.reason(
                Decision::Deny,
                "term.end",
                &src(a.term.end.is_some()),
                format!("the terms expired on {end} (checked for {})", q.date),
            );
        } else {
            ctx.oblige(
                "term.end",
                &src(a.term.end.is_some()),
                format!("stop using it after {end} unless renewed"),
            );
        }
    }
    // Caps.
    if let Some(cap) = t.caps.monthly_active_users {
        let s = src(a.caps.monthly_active_users.is_some());
        match q.mau {
            Some(n) if n > cap => ctx.reason(
                Decision::Deny,
                "caps.monthly_active_users",
                &s,
                format!("{n} monthly active users exceed the cap of {cap}: a separate licence from the licensor is needed"),
            ),
            Some(n) => ctx.reason(
                Decision::Allow,
                "caps.monthly_active_users",
                &s,
                format!("{n} monthly active users are within the cap of {cap}"),
            ),
            None => ctx.oblige(
                "caps.monthly_active_users",
                &s,
                format!("stay at or below {cap} monthly active users (pass --mau to check)"),
            ),
        }
    }
    if let Some(seats) = t.caps.seats {
        ctx.oblige(
            "caps.seats",
            &src(a.caps.seats.is_some()),
            format!("at most {seats} seats"),
        );
    }
    if let Some(r) = t.caps.monthly_requests {
        ctx.oblige(
            "caps.monthly_requests",
            &src(a.caps.monthly_requests.is_some()),
            format!("at most {r} requests a month"),
        );
    }
    // Prohibitions.
    if q.train_on_outputs && t.prohibitions.train_on_outputs == Some(true) {
        ctx.reason(
            Decision::Deny,
            "prohibitions.train_on_outputs",
            &src(a.prohibitions.train_on_outputs.is_some()),
            "using outputs to train other models is prohibited".to_string(),
        );
    }
    if let Some(r) = &t.prohibitions.use_restrictions {
        ctx.oblige(
            "prohibitions.use_restrictions",
            &src(a.prohibitions.use_restrictions.is_some()),
            format!("comply with the use restrictions ({r}) and pass them on to downstream users"),
        );
    }
    if t.prohibitions.reverse_engineering == Some(true) {
        ctx.oblige(
            "prohibitions.reverse_engineering",
            &src(a.prohibitions.reverse_engineering.is_some()),
            "do not reverse engineer it".to_string(),
        );
    }
    // Personal data.
    if t.personal_data.contains == Some(true) {
        let s = src(a.personal_data.contains.is_some());
        let eu_law = in_eea(&q.territory)
            || t.personal_data
                .jurisdictions
                .iter()
                .flatten()
                .any(|j| j == "EU" || j == "EEA" || in_eea(j));
        match (&t.personal_data.lawful_basis, eu_law) {
            (None, true) => ctx.reason(
                Decision::Deny,
                "personal_data.lawful_basis",
                &s,
                "it contains personal data under EU/EEA law (GDPR) and no lawful basis (article 6) is recorded".to_string(),
            ),
            (None, false) => ctx.reason(
                Decision::Review,
                "personal_data.lawful_basis",
                &s,
                "it contains personal data and no lawful basis is recorded: check the data-protection law that applies".to_string(),
            ),
            (Some(basis), _) => ctx.oblige(
                "personal_data.lawful_basis",
                &s,
                format!("process the personal data in it under the lawful basis `{basis}`"),
            ),
        }
    }
    // Obligations.
    notices(ctx, t, &a, &src);
    if let Some(r) = &t.obligations.usage_reporting {
        ctx.oblige(
            "obligations.usage_reporting",
            &src(a.obligations.usage_reporting.is_some()),
            format!("report usage to the licensor ({r})"),
        );
    }
    if t.obligations.audit_access == Some(true) {
        ctx.oblige(
            "obligations.audit_access",
            &src(a.obligations.audit_access.is_some()),
            "give the licensor audit access to usage records".to_string(),
        );
    }
    if t.obligations.share_alike == Some(true) && (q.redistribute || !is_subject) {
        ctx.oblige(
            "obligations.share_alike",
            &src(a.obligations.share_alike.is_some()),
            "share derivatives under the same licence".to_string(),
        );
    }
    if t.obligations.name_prefix.is_some() && (!is_subject || q.modify) {
        if let Some(p) = &t.obligations.name_prefix {
            ctx.oblige(
                "obligations.name_prefix",
                &src(a.obligations.name_prefix.is_some()),
                format!("the name of a derived model must begin with \"{p}\""),
            );
        }
    }
    if q.host && t.obligations.source_to_network_users == Some(true) {
        ctx.oblige(
            "obligations.source_to_network_users",
            &src(a.obligations.source_to_network_users.is_some()),
            "offer the corresponding source to the users of the service".to_string(),
        );
    }
    if let Some(owner) = &t.propagation.outputs_owner {
        if owner == "licensor" {
            ctx.oblige(
                "propagation.outputs_owner",
                &src(a.propagation.outputs_owner.is_some()),
                "the outputs belong to the licensor".to_string(),
            );
        }
    }
    if ctx.reasons.iter().all(|r| r.decision == Decision::Allow) && ctx.reasons.is_empty() {
        ctx.reason(
            Decision::Allow,
            "grant",
            &src(false),
            "no clause restricts this use".to_string(),
        );
    }
}

/// Attribution and notices: they reach even where only notices propagate.
fn notices(ctx: &mut Ctx<'_>, t: &Terms, a: &Terms, src: &dyn Fn(bool) -> String) {
    if let Some(text) = &t.obligations.attribution {
        let what = if text == "required" {
            "credit the licensor as the licence requires".to_string()
        } else {
            format!("show the attribution \"{text}\"")
        };
        ctx.oblige(
            "obligations.attribution",
            &src(a.obligations.attribution.is_some()),
            what,
        );
    }
    if let Some(n) = &t.obligations.notice_file {
        ctx.oblige(
            "obligations.notice_file",
            &src(a.obligations.notice_file.is_some()),
            format!("ship the notice \"{n}\" with every copy"),
        );
    }
    let redistributes = ctx.q.redistribute;
    if redistributes && t.obligations.include_licence == Some(true) {
        ctx.oblige(
            "obligations.include_licence",
            &src(a.obligations.include_licence.is_some()),
            "include the licence text with every copy".to_string(),
        );
    }
    let modifies = ctx.q.modify || !ctx.asset.path.is_empty();
    if modifies && t.obligations.modification_notice == Some(true) {
        ctx.oblige(
            "obligations.modification_notice",
            &src(a.obligations.modification_notice.is_some()),
            "state the changes made".to_string(),
        );
    }
}

fn describe_path(path: &[Step]) -> String {
    match path.first() {
        Some(Step::DerivedFrom { relation }) => format!("the derived model ({relation})"),
        Some(Step::TrainedOn { role }) => format!("the model trained on it ({role})"),
        None => "the subject".to_string(),
    }
}

/// Licence conflicts between the subject and its lineage.
fn conflicts(assets: &[Asset], q: &Query) -> Vec<Reason> {
    let Some(subject) = assets.first() else {
        return Vec::new();
    };
    let subject_licence = subject.licence.clone().unwrap_or_default();
    let subject_terms = subject_effective(subject);
    let subject_commercial = subject_terms
        .as_ref()
        .and_then(|t| t.grant.uses.as_ref())
        .is_some_and(|u| u.contains(&Use::Commercial));
    let subject_share_alike = subject_terms
        .as_ref()
        .is_some_and(|t| t.obligations.share_alike == Some(true));
    let mut out = Vec::new();
    for a in assets.iter().skip(1).filter(|a| !a.missing) {
        let Some(t) = asset_effective(a) else {
            continue;
        };
        let kind = match a.kind {
            AssetKind::Model => "model",
            AssetKind::Dataset => "dataset",
        };
        let lic = a.licence.clone().unwrap_or_else(|| "its terms".into());
        let data = a.path.iter().any(|s| matches!(s, Step::TrainedOn { .. }));
        let unsettled = data && t.propagation.trained_models.is_none();
        let non_commercial = t
            .grant
            .uses
            .as_ref()
            .is_some_and(|u| !u.contains(&Use::Commercial));
        if non_commercial && (subject_commercial || q.use_ == Use::Commercial) {
            out.push(Reason {
                // Named always; it holds up only the use it is about.
                decision: if q.use_ == Use::Commercial {
                    Decision::Review
                } else {
                    Decision::Allow
                },
                asset: a.name.clone(),
                clause: "grant.use".into(),
                source: format!("licence {lic}"),
                message: format!(
                    "conflict: {kind} `{}` ({lic}) does not allow commercial use, but `{}` ({}) is {}",
                    a.name,
                    subject.name,
                    if subject_licence.is_empty() { "unlicensed" } else { &subject_licence },
                    if subject_commercial { "licensed for commercial use" } else { "to be used commercially" }
                ),
                unsettled,
            });
        }
        let share_alike = t.obligations.share_alike == Some(true);
        let same = a
            .licence
            .as_deref()
            .is_some_and(|l| subject_licence.contains(l));
        if share_alike && !same && !(subject_share_alike && a.kind == AssetKind::Model) {
            out.push(Reason {
                decision: if q.redistribute {
                    Decision::Review
                } else {
                    Decision::Allow
                },
                asset: a.name.clone(),
                clause: "obligations.share_alike".into(),
                source: format!("licence {lic}"),
                message: format!(
                    "conflict: {kind} `{}` ({lic}) is share-alike, but `{}` is licensed under {}{}",
                    a.name,
                    subject.name,
                    if subject_licence.is_empty() {
                        "no licence"
                    } else {
                        &subject_licence
                    },
                    if q.redistribute {
                        ", and it is to be redistributed"
                    } else {
                        ""
                    }
                ),
                unsettled,
            });
        }
    }
    out
}

fn asset_effective(a: &Asset) -> Option<Terms> {
    let licence = a
        .licence
        .as_deref()
        .and_then(|l| Expr::parse(l).ok())
        .and_then(|e| e.ids().first().and_then(|id| lookup(id)));
    effective(a, licence)
}

fn subject_effective(a: &Asset) -> Option<Terms> {
    asset_effective(a)
}

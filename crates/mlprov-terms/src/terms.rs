//! The terms of an agreement (or of a public licence, in the knowledge base): what is
//! granted, where, when, with which caps, prohibitions and obligations. Every clause is
//! optional: an absent clause says nothing (a licence or an upstream asset may), which is
//! not the same as `false`. `docs/terms.md` documents every key.

use serde::{Deserialize, Serialize};

use crate::date::Date;

/// An intended use of an asset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Use {
    /// Trying the asset out, no results used in production.
    Evaluation,
    /// Non-commercial research and teaching.
    Research,
    /// Use inside the licensee's own organisation, not offered to others.
    Internal,
    /// Any use for commercial advantage, including products and services.
    Commercial,
}

impl Use {
    /// Every use, in order.
    pub const ALL: [Use; 4] = [
        Use::Evaluation,
        Use::Research,
        Use::Internal,
        Use::Commercial,
    ];

    /// The name used in terms files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Use::Evaluation => "evaluation",
            Use::Research => "research",
            Use::Internal => "internal",
            Use::Commercial => "commercial",
        }
    }
}

impl std::str::FromStr for Use {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Use::ALL.into_iter().find(|u| u.name() == s).ok_or_else(|| {
            format!("unknown use {s:?} (evaluation, research, internal, commercial)")
        })
    }
}

/// How a clause reaches derivatives (or models trained on a dataset).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Propagation {
    /// Derivatives are bound by the same terms.
    SameTerms,
    /// Derivatives only carry the notices and attribution.
    NoticeOnly,
    /// Derivatives are free of these terms.
    None,
}

impl Propagation {
    /// The name used in terms files.
    pub fn name(self) -> &'static str {
        match self {
            Propagation::SameTerms => "same-terms",
            Propagation::NoticeOnly => "notice-only",
            Propagation::None => "none",
        }
    }
}

/// The terms of one agreement or licence.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Terms {
    /// Who grants the licence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub licensor: Option<String>,
    /// Who receives it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub licensee: Option<String>,
    /// The agreement's own reference (contract number, URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agreement: Option<String>,
    /// Digest of the full licence or agreement text (`sha256:<hex>` or `blake3:<hex>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_digest: Option<String>,
    /// What is granted.
    #[serde(default, skip_serializing_if = "Grant::is_empty")]
    pub grant: Grant,
    /// Where.
    #[serde(default, skip_serializing_if = "Territory::is_empty")]
    pub territory: Territory,
    /// When.
    #[serde(default, skip_serializing_if = "Term::is_empty")]
    pub term: Term,
    /// Quantitative limits.
    #[serde(default, skip_serializing_if = "Caps::is_empty")]
    pub caps: Caps,
    /// What is forbidden whatever the grant says.
    #[serde(default, skip_serializing_if = "Prohibitions::is_empty")]
    pub prohibitions: Prohibitions,
    /// Duties of the licensee.
    #[serde(default, skip_serializing_if = "Obligations::is_empty")]
    pub obligations: Obligations,
    /// How the terms reach derivatives, trained models and outputs.
    #[serde(default, skip_serializing_if = "PropagationTerms::is_empty")]
    pub propagation: PropagationTerms,
    /// Personal data in the asset.
    #[serde(default, skip_serializing_if = "PersonalData::is_empty")]
    pub personal_data: PersonalData,
    /// Who answers for what.
    #[serde(default, skip_serializing_if = "Liability::is_empty")]
    pub liability: Liability,
}

macro_rules! is_empty_via_default {
    ($($t:ty),*) => {$(
        impl $t {
            /// True when no clause of this section is set.
            pub fn is_empty(&self) -> bool {
                *self == Self::default()
            }
        }
    )*};
}
is_empty_via_default!(
    Grant,
    Territory,
    Term,
    Caps,
    Prohibitions,
    Obligations,
    PropagationTerms,
    PersonalData,
    Liability
);

/// What is granted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    /// The uses allowed (any other use is not granted).
    #[serde(default, rename = "use", skip_serializing_if = "Option::is_none")]
    pub uses: Option<Vec<Use>>,
    /// May the asset be modified (fine-tuned, merged, pruned, quantized)?
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modify: Option<bool>,
    /// May it (or a derivative) be given to others?
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redistribute: Option<bool>,
    /// May it be run as a service for others?
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_as_service: Option<bool>,
    /// May the licensee grant sublicences?
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sublicense: Option<bool>,
    /// The only fields the asset may be used in (free text, e.g. `healthcare`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_of_use: Option<Vec<String>>,
}

/// Where the grant applies.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Territory {
    /// Territories covered (ISO 3166-1 alpha-2, `EU`, `EEA`); absent means worldwide.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include: Option<Vec<String>>,
    /// Territories carved out of `include`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude: Option<Vec<String>>,
}

/// When the grant applies (both ends inclusive).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Term {
    /// First day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<Date>,
    /// Last day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<Date>,
}

/// Quantitative limits.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Caps {
    /// Most monthly active users of the licensee's products (more needs another licence).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monthly_active_users: Option<u64>,
    /// Most end users or seats.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seats: Option<u64>,
    /// Most requests (calls, generations) per month.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monthly_requests: Option<u64>,
}

/// What is forbidden.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prohibitions {
    /// Using outputs to train or improve other models.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_on_outputs: Option<bool>,
    /// Behavioural use restrictions (an acceptable-use policy, OpenRAIL attachment A):
    /// a short description or a link; they bind the licensee and, where they propagate,
    /// every downstream user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_restrictions: Option<String>,
    /// Reverse engineering the asset (recovering training data, extracting weights).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reverse_engineering: Option<bool>,
}

/// Duties of the licensee.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Obligations {
    /// Attribution text to show (`Built with Acme`), or `required` when the form is free.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribution: Option<String>,
    /// How often usage is reported to the licensor (`monthly`, `quarterly`, `yearly`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_reporting: Option<String>,
    /// Must the licensee open its records to the licensor's audit?
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_access: Option<bool>,
    /// Must derivatives be shared under the same licence?
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share_alike: Option<bool>,
    /// A notice file to ship with every copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice_file: Option<String>,
    /// Must modified files say that they were modified?
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modification_notice: Option<bool>,
    /// A prefix derived models' names must carry (Llama 3.1: `Llama`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_prefix: Option<String>,
    /// Must the source (or the licence text) accompany redistributed copies?
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_licence: Option<bool>,
    /// Must the corresponding source be offered to users of a hosted service (AGPL)?
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_to_network_users: Option<bool>,
}

/// How the terms reach other assets.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PropagationTerms {
    /// Models derived from this one (fine-tunes, adapters, merges, quantizations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub derivatives: Option<Propagation>,
    /// Models trained on this asset (for datasets). Absent: the law is unsettled, and a
    /// restriction of the dataset makes the answer `review`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trained_models: Option<Propagation>,
    /// Who owns the outputs (`licensee`, `licensor`, `unspecified`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outputs_owner: Option<String>,
}

/// Personal data in the asset.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonalData {
    /// Does the asset contain (or memorise) personal data?
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contains: Option<bool>,
    /// GDPR article 6 basis: consent, contract, legal-obligation, vital-interests,
    /// public-task, legitimate-interests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lawful_basis: Option<String>,
    /// Jurisdictions whose data-protection law applies (territory codes or groups).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jurisdictions: Option<Vec<String>>,
}

/// Liability.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Liability {
    /// Who indemnifies whom: `licensor`, `licensee`, `mutual`, `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub indemnity: Option<String>,
    /// The cap on liability, as the agreement words it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap: Option<String>,
    /// Warranty: `as-is` or what is warranted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warranty: Option<String>,
}

/// The GDPR article 6 lawful bases.
pub const LAWFUL_BASES: [&str; 6] = [
    "consent",
    "contract",
    "legal-obligation",
    "vital-interests",
    "public-task",
    "legitimate-interests",
];

impl Terms {
    /// These terms where set, `fallback`'s clause where these are silent (an agreement
    /// over a public licence: the agreement wins where it speaks).
    pub fn over(&self, fallback: &Terms) -> Terms {
        macro_rules! pick {
            ($($s:ident . $f:ident),*) => {{
                let mut t = self.clone();
                $( if t.$s.$f.is_none() { t.$s.$f = fallback.$s.$f.clone(); } )*
                t
            }};
        }
        let mut t = pick!(
            grant.uses,
            grant.modify,
            grant.redistribute,
            grant.host_as_service,
            grant.sublicense,
            grant.field_of_use,
            territory.include,
            territory.exclude,
            term.start,
            term.end,
            caps.monthly_active_users,
            caps.seats,
            caps.monthly_requests,
            prohibitions.train_on_outputs,
            prohibitions.use_restrictions,
            prohibitions.reverse_engineering,
            obligations.attribution,
            obligations.usage_reporting,
            obligations.audit_access,
            obligations.share_alike,
            obligations.notice_file,
            obligations.modification_notice,
            obligations.name_prefix,
            obligations.include_licence,
            obligations.source_to_network_users,
            propagation.derivatives,
            propagation.trained_models,
            propagation.outputs_owner,
            personal_data.contains,
            personal_data.lawful_basis,
            personal_data.jurisdictions,
            liability.indemnity,
            liability.cap,
            liability.warranty
        );
        for (mine, theirs) in [
            (&mut t.licensor, &fallback.licensor),
            (&mut t.licensee, &fallback.licensee),
            (&mut t.agreement, &fallback.agreement),
            (&mut t.text_digest, &fallback.text_digest),
        ] {
            if mine.is_none() {
                mine.clone_from(theirs);
            }
        }
        t
    }
}

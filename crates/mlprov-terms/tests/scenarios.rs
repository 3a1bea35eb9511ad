//! Licensing scenarios: each a lineage, an intended use, the expected answer per asset and
//! overall, and the clauses the reasons must name.

use mlprov_terms::{
    check, parse_terms, Asset, AssetKind, Date, Decision, Query, Report, Step, Use,
};

fn model(name: &str, licence: Option<&str>, terms: Option<&str>) -> Asset {
    Asset {
        name: name.into(),
        id: format!("blake3:{name}"),
        kind: AssetKind::Model,
        licence: licence.map(str::to_string),
        terms: terms.map(|t| Ok(parse_terms(t).unwrap())),
        path: Vec::new(),
        missing: false,
    }
}

fn base(name: &str, relation: &str, licence: Option<&str>, terms: Option<&str>) -> Asset {
    let mut a = model(name, licence, terms);
    a.path = vec![Step::DerivedFrom {
        relation: relation.into(),
    }];
    a
}

fn dataset(name: &str, licence: Option<&str>, terms: Option<&str>) -> Asset {
    let mut a = model(name, licence, terms);
    a.kind = AssetKind::Dataset;
    a.path = vec![Step::TrainedOn {
        role: "train".into(),
    }];
    a
}

fn query(use_: Use, territory: &str, date: &str) -> Query {
    Query {
        use_,
        territory: territory.into(),
        date: Date::parse(date).unwrap(),
        modify: false,
        redistribute: false,
        host: false,
        mau: None,
        train_on_outputs: false,
    }
}

const AGREEMENT: &str = r#"
licensor = "Acme AI"
licensee = "Beta Corp"
[grant]
use = ["research", "internal", "commercial"]
modify = true
redistribute = false
host_as_service = true
[territory]
include = ["US", "EU"]
exclude = ["FR"]
[term]
start = 2026-01-01
end = 2027-12-31
[prohibitions]
train_on_outputs = true
[obligations]
attribution = "Built with Acme"
usage_reporting = "quarterly"
"#;

struct Case {
    name: &'static str,
    assets: Vec<Asset>,
    query: Query,
    expect: Decision,
    /// (asset, decision) for assets whose answer is checked.
    per_asset: Vec<(&'static str, Decision)>,
    /// (asset, clause, words in the message) that some reason must carry.
    reasons: Vec<(&'static str, &'static str, &'static str)>,
    /// Words some obligation must carry.
    obligations: Vec<&'static str>,
    /// True when some reason must be marked unsettled.
    unsettled: bool,
}

fn cases() -> Vec<Case> {
    let commercial = |t: &str| query(Use::Commercial, t, "2026-06-01");
    vec![
        Case {
            name: "CC-BY-NC dataset under a commercial model",
            assets: vec![
                model("acme-7b", Some("Apache-2.0"), None),
                dataset("web-nc", Some("CC-BY-NC-4.0"), None),
            ],
            query: commercial("US"),
            expect: Decision::Review,
            per_asset: vec![("acme-7b", Decision::Allow), ("web-nc", Decision::Review)],
            reasons: vec![
                ("web-nc", "grant.use", "commercial use is not granted"),
                ("web-nc", "grant.use", "conflict: dataset `web-nc` (CC-BY-NC-4.0) does not allow commercial use"),
            ],
            obligations: vec![],
            unsettled: true,
        },
        Case {
            name: "the same NC dataset, research use: allowed, the conflict still named",
            assets: vec![
                model("acme-7b", Some("Apache-2.0"), None),
                dataset("web-nc", Some("CC-BY-NC-4.0"), None),
            ],
            query: query(Use::Research, "US", "2026-06-01"),
            expect: Decision::Allow,
            per_asset: vec![("web-nc", Decision::Allow)],
            reasons: vec![("web-nc", "grant.use", "conflict: dataset `web-nc`")],
            obligations: vec![],
            unsettled: false,
        },
        Case {
            name: "terms not yet in force",
            assets: vec![model("acme-7b", None, Some(AGREEMENT))],
            query: commercial("US").with_date("2025-12-31"),
            expect: Decision::Deny,
            per_asset: vec![],
            reasons: vec![("acme-7b", "term.start", "the terms start on 2026-01-01")],
            obligations: vec![],
            unsettled: false,
        },
        Case {
            name: "an AGPL base hosted as a service: allowed, source offered to its users",
            assets: vec![
                model("svc", Some("AGPL-3.0-only"), None),
            ],
            query: commercial("US").hosting(),
            expect: Decision::Allow,
            per_asset: vec![],
            reasons: vec![],
            obligations: vec!["offer the corresponding source to the users of the service"],
            unsettled: false,
        },
        Case {
            name: "the dataset's terms settle it: trained models bound, so deny",
            assets: vec![
                model("acme-7b", Some("Apache-2.0"), None),
                dataset(
                    "web-nc",
                    Some("CC-BY-NC-4.0"),
                    Some("[propagation]\ntrained_models = \"same-terms\"\n"),
                ),
            ],
            query: commercial("US"),
            expect: Decision::Deny,
            per_asset: vec![("web-nc", Decision::Deny)],
            reasons: vec![("web-nc", "grant.use", "commercial use is not granted")],
            obligations: vec![],
            unsettled: false,
        },
        Case {
            name: "an expired term",
            assets: vec![model("acme-7b", None, Some(AGREEMENT))],
            query: commercial("US").with_date("2028-01-15"),
            expect: Decision::Deny,
            per_asset: vec![],
            reasons: vec![("acme-7b", "term.end", "expired on 2027-12-31")],
            obligations: vec![],
            unsettled: false,
        },
        Case {
            name: "a territory outside the grant",
            assets: vec![model("acme-7b", None, Some(AGREEMENT))],
            query: commercial("JP"),
            expect: Decision::Deny,
            per_asset: vec![],
            reasons: vec![("acme-7b", "territory.include", "JP is outside the territory granted (US, EU)")],
            obligations: vec![],
            unsettled: false,
        },
        Case {
            name: "a territory inside an EU group",
            assets: vec![model("acme-7b", None, Some(AGREEMENT))],
            query: commercial("DE"),
            expect: Decision::Allow,
            per_asset: vec![],
            reasons: vec![("acme-7b", "territory.include", "DE is granted as part of EU")],
            obligations: vec!["Built with Acme"],
            unsettled: false,
        },
        Case {
            name: "an EU member carved out of the grant",
            assets: vec![model("acme-7b", None, Some(AGREEMENT))],
            query: commercial("FR"),
            expect: Decision::Deny,
            per_asset: vec![],
            reasons: vec![("acme-7b", "territory.exclude", "FR is excluded")],
            obligations: vec![],
            unsettled: false,
        },
        Case {
            name: "a Llama-licensed base with an 800M MAU licensee",
            assets: vec![
                model("chat-ft", Some("Apache-2.0"), None),
                base("Llama-3.1-8B", "finetune", Some("LicenseRef-Llama-3.1-Community"), None),
            ],
            query: commercial("US").with_mau(800_000_000),
            expect: Decision::Deny,
            per_asset: vec![("chat-ft", Decision::Allow), ("Llama-3.1-8B", Decision::Deny)],
            reasons: vec![(
                "Llama-3.1-8B",
                "caps.monthly_active_users",
                "800000000 monthly active users exceed the cap of 700000000",
            )],
            obligations: vec![],
            unsettled: false,
        },
        Case {
            name: "the same base under the cap: allowed with Llama's obligations",
            assets: vec![
                model("chat-ft", Some("Apache-2.0"), None),
                base("Llama-3.1-8B", "finetune", Some("LicenseRef-Llama-3.1-Community"), None),
            ],
            query: commercial("US").with_mau(5_000_000),
            expect: Decision::Allow,
            per_asset: vec![],
            reasons: vec![],
            obligations: vec!["Built with Llama", "must begin with \"Llama\"", "Acceptable Use Policy"],
            unsettled: false,
        },
        Case {
            name: "share-alike data and redistribution",
            assets: vec![
                model("acme-7b", Some("LicenseRef-Acme-Proprietary"), Some(AGREEMENT)),
                dataset("wiki-sa", Some("CC-BY-SA-4.0"), None),
            ],
            query: commercial("US").redistributing(),
            expect: Decision::Deny,
            per_asset: vec![("acme-7b", Decision::Deny), ("wiki-sa", Decision::Review)],
            reasons: vec![
                ("acme-7b", "grant.redistribute", "redistribution is not granted"),
                ("wiki-sa", "obligations.share_alike", "conflict: dataset `wiki-sa` (CC-BY-SA-4.0) is share-alike"),
            ],
            obligations: vec![],
            unsettled: true,
        },
        Case {
            name: "a prohibition on training with outputs",
            assets: vec![
                model("chat-ft", Some("Apache-2.0"), None),
                base("Llama-2-7b", "finetune", Some("LicenseRef-Llama-2-Community"), None),
            ],
            query: commercial("US").training_on_outputs(),
            expect: Decision::Deny,
            per_asset: vec![("Llama-2-7b", Decision::Deny)],
            reasons: vec![(
                "Llama-2-7b",
                "prohibitions.train_on_outputs",
                "using outputs to train other models is prohibited",
            )],
            obligations: vec![],
            unsettled: false,
        },
        Case {
            name: "a fine-tune of a model whose terms forbid modification",
            assets: vec![
                model("tuned", Some("Apache-2.0"), None),
                base(
                    "closed-base",
                    "finetune",
                    None,
                    Some("[grant]\nuse = [\"commercial\"]\nmodify = false\n"),
                ),
            ],
            query: commercial("US"),
            expect: Decision::Deny,
            per_asset: vec![("closed-base", Decision::Deny)],
            reasons: vec![(
                "closed-base",
                "grant.modify",
                "the subject is a finetune derived from `closed-base`",
            )],
            obligations: vec![],
            unsettled: false,
        },
        Case {
            name: "a format conversion of the same model is not a modification",
            assets: vec![
                model("converted", Some("Apache-2.0"), None),
                base(
                    "closed-base",
                    "converted",
                    None,
                    Some("[grant]\nuse = [\"commercial\"]\nmodify = false\n"),
                ),
            ],
            query: commercial("US"),
            expect: Decision::Allow,
            per_asset: vec![],
            reasons: vec![],
            obligations: vec![],
            unsettled: false,
        },
        Case {
            name: "personal data in the EU without a lawful basis",
            assets: vec![model(
                "faces",
                None,
                Some("[grant]\nuse = [\"commercial\"]\n[personal_data]\ncontains = true\njurisdictions = [\"EU\"]\n"),
            )],
            query: commercial("IE"),
            expect: Decision::Deny,
            per_asset: vec![],
            reasons: vec![("faces", "personal_data.lawful_basis", "no lawful basis")],
            obligations: vec![],
            unsettled: false,
        },
        Case {
            name: "no licence recorded anywhere",
            assets: vec![model("mystery", None, None)],
            query: commercial("US"),
            expect: Decision::Review,
            per_asset: vec![],
            reasons: vec![("mystery", "licence", "no licence and no terms are recorded")],
            obligations: vec![],
            unsettled: false,
        },
        Case {
            name: "a base named in the lineage but not found",
            assets: vec![model("tuned", Some("MIT"), None), {
                let mut b = base("lost-base", "finetune", None, None);
                b.missing = true;
                b
            }],
            query: commercial("US"),
            expect: Decision::Review,
            per_asset: vec![("lost-base", Decision::Review)],
            reasons: vec![("lost-base", "lineage", "no manifest of `lost-base`")],
            obligations: vec![],
            unsettled: false,
        },
        Case {
            name: "OR takes the better alternative",
            assets: vec![model("dual", Some("CC-BY-NC-4.0 OR MIT"), None)],
            query: commercial("US"),
            expect: Decision::Allow,
            per_asset: vec![],
            reasons: vec![("dual", "licence", "`MIT` is chosen")],
            obligations: vec![],
            unsettled: false,
        },
        Case {
            name: "all clear, with its obligations",
            assets: vec![
                model("acme-7b", Some("Apache-2.0"), Some(AGREEMENT)),
                dataset("open-data", Some("CDLA-Permissive-2.0"), None),
                dataset("public", Some("CC0-1.0"), None),
                base("gemma-2b", "finetune", Some("LicenseRef-Gemma"), None),
            ],
            query: commercial("US").hosting().with_mau(10_000),
            expect: Decision::Allow,
            per_asset: vec![
                ("acme-7b", Decision::Allow),
                ("open-data", Decision::Allow),
                ("public", Decision::Allow),
                ("gemma-2b", Decision::Allow),
            ],
            reasons: vec![
                ("acme-7b", "grant.use", "commercial use is granted"),
                ("open-data", "propagation", "do not reach the model trained on it"),
            ],
            obligations: vec![
                "Built with Acme",
                "report usage to the licensor (quarterly)",
                "Gemma Prohibited Use Policy",
                "Gemma Terms of Use",
                "stop using it after 2027-12-31",
            ],
            unsettled: false,
        },
    ]
}

trait QueryExt {
    fn with_date(self, d: &str) -> Self;
    fn with_mau(self, n: u64) -> Self;
    fn redistributing(self) -> Self;
    fn training_on_outputs(self) -> Self;
    fn hosting(self) -> Self;
}

impl QueryExt for Query {
    fn with_date(mut self, d: &str) -> Self {
        self.date = Date::parse(d).unwrap();
        self
    }
    fn with_mau(mut self, n: u64) -> Self {
        self.mau = Some(n);
        self
    }
    fn redistributing(mut self) -> Self {
        self.redistribute = true;
        self
    }
    fn training_on_outputs(mut self) -> Self {
        self.train_on_outputs = true;
        self
    }
    fn hosting(mut self) -> Self {
        self.host = true;
        self
    }
}

fn explain(r: &Report) -> String {
    serde_json::to_string_pretty(r).unwrap()
}

#[test]
fn licensing_scenarios() {
    for case in cases() {
        let r = check(&case.assets, &case.query);
        let why = explain(&r);
        assert_eq!(r.decision, case.expect, "{}: {why}", case.name);
        for (asset, d) in &case.per_asset {
            let a = r.assets.iter().find(|a| a.name == *asset).unwrap();
            assert_eq!(a.decision, *d, "{}: asset {asset}: {why}", case.name);
        }
        for (asset, clause, words) in &case.reasons {
            assert!(
                r.assets
                    .iter()
                    .flat_map(|a| &a.reasons)
                    .any(|x| x.asset == *asset && x.clause == *clause && x.message.contains(words)),
                "{}: no reason {asset} {clause} {words:?}: {why}",
                case.name
            );
        }
        for words in &case.obligations {
            assert!(
                r.obligations.iter().any(|o| o.text.contains(words)),
                "{}: no obligation {words:?}: {why}",
                case.name
            );
        }
        let unsettled = r
            .assets
            .iter()
            .flat_map(|a| &a.reasons)
            .any(|x| x.unsettled);
        assert_eq!(unsettled, case.unsettled, "{}: unsettled: {why}", case.name);
        if r.decision != Decision::Allow {
            assert!(
                r.assets
                    .iter()
                    .flat_map(|a| &a.reasons)
                    .any(|x| x.decision == r.decision),
                "{}: the answer has a reason",
                case.name
            );
        }
    }
}

//! The generator's rules on small synthetic sources: ratio, estimates, drops,
//! determinism, and errors that name the file.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use spotter_catalog::generate::{GenerateError, SourceTexts, generate_catalog_json};
use spotter_catalog::{
    AdvisorSource, Catalog, MaxPodsSource, OnDemandSource, overhead, parse_catalog,
};

fn instance_types() -> Value {
    json!({
        "meta": {"sources": {"karpenter": "karpenter docs @abc"}},
        "instance_types": [
            {"instance_type": "m5.large", "family": "m5", "category": "m", "generation": 5,
             "size": "large", "vcpu": 2, "memory_mib": 8192, "arch": "amd64", "gpu_count": 0,
             "max_pods_eni": 29,
             "karpenter_allocatable": {"cpu_millicores": 1930, "memory_mib": 6903, "pods": 29,
                                       "ephemeral_storage_gib": 17.0, "pod_eni": 9}},
            {"instance_type": "x1.big", "family": "x1", "category": "x", "generation": 1,
             "size": "big", "vcpu": 8, "memory_mib": 16384, "arch": "arm64", "gpu_count": 0,
             "karpenter_allocatable": null},
            {"instance_type": "z9.tiny", "family": "z9", "category": "z", "generation": 9,
             "size": "tiny", "vcpu": 1, "memory_mib": 1024, "arch": "amd64", "gpu_count": 0}
        ]
    })
}

fn prices(region: &str, zone_ids: &[&str], rows: Value) -> Value {
    json!({
        "meta": {"region": region, "az_ids_seen_in_spot_snapshot": zone_ids,
                 "sources": {"spot_2022_07_12": "spotlake @def"}},
        "instance_types": rows
    })
}

fn row(name: &str, on_demand: Option<(f64, &str)>, pools: Value, advisors: [Value; 2]) -> Value {
    let [advisor_2022, advisor_2025] = advisors;
    json!({
        "instance_type": name,
        "on_demand_usd_per_hour": on_demand.map(|(usd, _)| usd),
        "on_demand_source": on_demand.map(|(_, source)| source),
        "on_demand_2022_11_usd_per_hour": on_demand.map(|(usd, _)| usd),
        "spot_2022_07_12_usd_per_hour_by_az": pools,
        "spot_2022_07_12_placement_score_by_az": {},
        "spot_advisor_2022_07": advisor_2022,
        "spot_advisor_2025_06": advisor_2025
    })
}

fn sources() -> (Value, Value, Value) {
    let us_east_1 = prices(
        "us-east-1",
        &["use1-az2", "use1-az1"],
        json!([
            row(
                "x1.big",
                Some((1.0, "karpenter-2026-07-20")),
                json!({}),
                [
                    Value::Null,
                    json!({"savings_pct": 60, "interruption_band": "<5%"})
                ]
            ),
            row(
                "m5.large",
                Some((0.1, "karpenter-2026-07-20")),
                json!({"use1-az1": 0.04}),
                [
                    json!({"savings_pct": 61, "interruption_band": "10-15%"}),
                    Value::Null
                ]
            ),
            row(
                "q.orphan",
                Some((1.0, "karpenter-2026-07-20")),
                json!({}),
                [Value::Null, Value::Null]
            ),
        ]),
    );
    let seoul = prices(
        "ap-northeast-2",
        &["apne2-az1", "apne2-az2"],
        json!([
            row(
                "m5.large",
                Some((0.12, "ec2details-2022-11-22")),
                json!({}),
                [Value::Null, Value::Null]
            ),
            row("x1.big", None, json!({}), [Value::Null, Value::Null]),
        ]),
    );
    (instance_types(), us_east_1, seoul)
}

fn texts(instance_types: &Value, us_east_1: &Value, seoul: &Value) -> SourceTexts {
    SourceTexts {
        instance_types: instance_types.to_string(),
        prices: BTreeMap::from([
            ("us-east-1".to_owned(), us_east_1.to_string()),
            ("ap-northeast-2".to_owned(), seoul.to_string()),
        ]),
    }
}

fn generate(
    instance_types: &Value,
    us_east_1: &Value,
    seoul: &Value,
) -> Result<String, GenerateError> {
    generate_catalog_json(&texts(instance_types, us_east_1, seoul))
}

fn generated_catalog() -> Catalog {
    let (instance_types, us_east_1, seoul) = sources();
    let text = generate(&instance_types, &us_east_1, &seoul).expect("synthetic sources convert");
    parse_catalog(&text).expect("generated catalog parses")
}

#[test]
fn generation_is_deterministic() {
    let (instance_types, us_east_1, seoul) = sources();
    let first = generate(&instance_types, &us_east_1, &seoul).expect("converts");
    let second = generate(&instance_types, &us_east_1, &seoul).expect("converts");
    assert_eq!(first, second);
}

#[test]
fn seoul_gap_is_estimated_with_the_computed_median_ratio() {
    let catalog = generated_catalog();
    let ratio = &catalog.meta.on_demand_ratios["ap-northeast-2"];
    assert_eq!((ratio.median, ratio.pairs), (1.2, 1));
    let (_, prices) = catalog
        .region("ap-northeast-2")
        .expect("region")
        .offering("x1.big")
        .expect("estimated offering");
    assert_eq!(prices.on_demand.usd_per_hour, 1.2);
    assert!(prices.on_demand.estimated);
    assert_eq!(
        prices.on_demand.source,
        OnDemandSource::EstimatedFromBaseRegionRatio
    );
    // Neither a 2022 pool nor a 2025 advisor entry in Seoul: on-demand only.
    assert!(!prices.spot_offered());
    assert_eq!(prices.interruption, None);
}

#[test]
fn spot_rules() {
    let catalog = generated_catalog();
    let region = catalog.region("us-east-1").expect("region");
    assert_eq!(
        region
            .zones
            .iter()
            .map(|z| z.name.as_str())
            .collect::<Vec<_>>(),
        ["us-east-1a", "us-east-1b"]
    );
    // 2022 pools: exactly those zones, 2022 advisor as the fallback source.
    let (_, m5) = region.offering("m5.large").expect("m5.large");
    assert_eq!(m5.spot.keys().collect::<Vec<_>>(), ["us-east-1a"]);
    assert!(!m5.spot["us-east-1a"].estimated);
    let interruption = m5.interruption.as_ref().expect("advisor");
    assert_eq!(interruption.source, AdvisorSource::SpotAdvisor202207);
    assert_eq!(interruption.band_index, 2);
    // 2025 advisor only: estimated in every zone.
    let (_, x1) = region.offering("x1.big").expect("x1.big");
    assert_eq!(x1.spot.len(), 2);
    assert!(
        x1.spot
            .values()
            .all(|spot| spot.estimated && spot.usd_per_hour == 0.4)
    );
}

#[test]
fn drops_and_estimated_allocatable() {
    let catalog = generated_catalog();
    assert_eq!(
        catalog
            .instance_types()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>(),
        ["m5.large", "x1.big"],
        "z9.tiny is priced nowhere, q.orphan has no specification"
    );
    assert_eq!(catalog.meta.dropped.len(), 1);
    assert_eq!(catalog.meta.dropped[0].instance_type, "q.orphan");
    let x1 = catalog.instance_type("x1.big").expect("x1.big");
    assert!(x1.allocatable_estimated);
    assert_eq!(x1.max_pods, overhead::KUBELET_DEFAULT_MAX_PODS);
    assert_eq!(x1.max_pods_source, MaxPodsSource::KubeletDefault);
    // 16384 − 1229 − (11 × 110 + 255) − 100 − 59 (arm64)
    assert_eq!(x1.allocatable.memory_mib, 13531);
    assert_eq!(x1.allocatable.cpu_millicores, 7910);
    let check = &catalog.meta.allocatable_check;
    assert_eq!((check.compared, check.exact), (1, 1));
}

#[test]
fn errors_name_the_file() {
    let (instance_types, us_east_1, mut seoul) = sources();
    seoul["instance_types"][0]["spot_advisor_2025_06"] =
        json!({"savings_pct": 10, "interruption_band": "sometimes"});
    let error = generate(&instance_types, &us_east_1, &seoul).expect_err("bad band");
    assert!(
        error
            .to_string()
            .starts_with("prices-ap-northeast-2.json: m5.large: unknown interruption band"),
        "{error}"
    );

    let (mut instance_types, us_east_1, seoul) = sources();
    instance_types["instance_types"][1]["arch"] = json!("riscv");
    let error = generate(&instance_types, &us_east_1, &seoul).expect_err("bad arch");
    assert!(
        error
            .to_string()
            .starts_with("instance-types.json: unexpected JSON at instance_types[1].arch"),
        "{error}"
    );

    let (instance_types, mut us_east_1, seoul) = sources();
    us_east_1["instance_types"][1]["spot_2022_07_12_usd_per_hour_by_az"] =
        json!({"apne2-az1": 0.1});
    let error = generate(&instance_types, &us_east_1, &seoul).expect_err("foreign zone");
    assert!(
        error
            .to_string()
            .contains("zone ID \"apne2-az1\" is not a zone of us-east-1"),
        "{error}"
    );

    let (instance_types, us_east_1, mut seoul) = sources();
    seoul["meta"]["region"] = json!("eu-west-1");
    let error = generate(&instance_types, &us_east_1, &seoul).expect_err("wrong region");
    assert!(
        error.to_string().contains("meta.region is \"eu-west-1\""),
        "{error}"
    );
}

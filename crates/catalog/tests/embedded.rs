//! Sanity checks of the embedded catalog against values read from the source
//! data (`instance-types.json`, `prices-*.json`).

use spotter_catalog::{
    AdvisorSource, Arch, INTERRUPTION_BANDS, MaxPodsSource, OnDemandSource, embedded,
};

#[test]
fn embedded_catalog_parses_with_both_regions() {
    let catalog = embedded();
    assert_eq!(
        catalog.regions().collect::<Vec<_>>(),
        ["ap-northeast-2", "us-east-1"]
    );
    assert_eq!(catalog.meta.format_version, spotter_catalog::FORMAT_VERSION);
}

#[test]
fn unknown_region_error_lists_known_regions() {
    let error = embedded()
        .region("eu-west-9")
        .expect_err("eu-west-9 is not in the catalog");
    assert_eq!(
        error.to_string(),
        "unknown region \"eu-west-9\"; the embedded catalog has: ap-northeast-2, us-east-1"
    );
}

#[test]
fn zones_follow_the_fixed_id_to_letter_rule() {
    let catalog = embedded();
    let cases: [(&str, &[(&str, &str)]); 2] = [
        (
            "ap-northeast-2",
            &[
                ("ap-northeast-2a", "apne2-az1"),
                ("ap-northeast-2b", "apne2-az2"),
                ("ap-northeast-2c", "apne2-az3"),
                ("ap-northeast-2d", "apne2-az4"),
            ],
        ),
        (
            "us-east-1",
            &[
                ("us-east-1a", "use1-az1"),
                ("us-east-1b", "use1-az2"),
                ("us-east-1c", "use1-az3"),
                ("us-east-1d", "use1-az4"),
                ("us-east-1e", "use1-az5"),
                ("us-east-1f", "use1-az6"),
            ],
        ),
    ];
    for (region_name, expected) in cases {
        let region = catalog.region(region_name).expect("known region");
        let zones: Vec<(&str, &str)> = region
            .zones
            .iter()
            .map(|zone| (zone.name.as_str(), zone.id.as_str()))
            .collect();
        assert_eq!(zones, expected, "{region_name}");
    }
}

#[test]
fn m5_large_matches_the_source_data_in_both_regions() {
    let catalog = embedded();
    // (region, on-demand USD/h, on-demand source, zones with a 2022 Spot price)
    let cases = [
        (
            "ap-northeast-2",
            0.118,
            OnDemandSource::Ec2details20221122,
            4,
        ),
        ("us-east-1", 0.096, OnDemandSource::Karpenter20260720, 5),
    ];
    for (region_name, on_demand, source, spot_zones) in cases {
        let region = catalog.region(region_name).expect("known region");
        let (spec, prices) = region.offering("m5.large").expect("m5.large offered");
        assert_eq!(spec.vcpu, 2);
        assert_eq!(spec.memory_mib, 8192);
        assert_eq!(spec.arch, Arch::Amd64);
        assert_eq!(spec.max_pods, 29);
        assert_eq!(spec.max_pods_source, MaxPodsSource::Karpenter);
        assert_eq!(spec.allocatable.cpu_millicores, 1930);
        assert_eq!(spec.allocatable.memory_mib, 6903);
        assert_eq!(spec.allocatable.pods, 29);
        assert!(!spec.allocatable_estimated);
        assert_eq!(prices.on_demand.usd_per_hour, on_demand, "{region_name}");
        assert_eq!(prices.on_demand.source, source, "{region_name}");
        assert!(!prices.on_demand.estimated);
        assert_eq!(prices.spot.len(), spot_zones, "{region_name}");
        assert!(prices.spot.values().all(|spot| !spot.estimated));
        assert!(
            prices
                .spot
                .values()
                .all(|spot| spot.placement_score.is_some())
        );
        let interruption = prices.interruption.as_ref().expect("advisor entry");
        assert_eq!(interruption.source, AdvisorSource::SpotAdvisor202506);
    }
    let seoul = catalog.region("ap-northeast-2").expect("known region");
    let (_, prices) = seoul.offering("m5.large").expect("m5.large offered");
    assert_eq!(
        prices
            .spot_price("ap-northeast-2a")
            .map(|spot| spot.usd_per_hour),
        Some(0.0317)
    );
    let interruption = prices.interruption.as_ref().expect("advisor entry");
    assert_eq!(
        (interruption.band.as_str(), interruption.band_index),
        ("5-10%", 1)
    );
    assert_eq!(interruption.savings_pct, 68);
}

#[test]
fn missing_seoul_on_demand_price_is_estimated_from_us_east_1() {
    let catalog = embedded();
    let ratio = catalog.meta.on_demand_ratios["ap-northeast-2"].median;
    assert!((1.13..1.25).contains(&ratio), "ratio {ratio}");
    let base = catalog
        .region("us-east-1")
        .expect("known region")
        .offering("c7g.large")
        .expect("c7g.large in us-east-1")
        .1
        .on_demand
        .usd_per_hour;
    let (_, prices) = catalog
        .region("ap-northeast-2")
        .expect("known region")
        .offering("c7g.large")
        .expect("c7g.large in ap-northeast-2");
    assert!(prices.on_demand.estimated);
    assert_eq!(
        prices.on_demand.source,
        OnDemandSource::EstimatedFromBaseRegionRatio
    );
    assert!((prices.on_demand.usd_per_hour - base * ratio).abs() < 1e-6);
    // No 2022 pool, but listed by the 2025 advisor: estimated Spot in every zone.
    let savings = prices.interruption.as_ref().expect("advisor").savings_pct;
    assert_eq!(prices.spot.len(), 4);
    for spot in prices.spot.values() {
        assert!(spot.estimated);
        assert_eq!(spot.placement_score, None);
        let expected = prices.on_demand.usd_per_hour * (1.0 - f64::from(savings) / 100.0);
        assert!((spot.usd_per_hour - expected).abs() < 1e-6);
    }
}

#[test]
fn types_without_karpenter_allocatable_are_estimated() {
    let catalog = embedded();
    let spec = catalog.instance_type("p3.2xlarge").expect("p3.2xlarge");
    assert!(spec.allocatable_estimated);
    assert_eq!(spec.max_pods_source, MaxPodsSource::VpcCniEniLimit);
    assert_eq!(spec.allocatable.cpu_millicores, 7910);
    // 62464 − ceil(62464 × 0.075) − (11 × 58 + 255) − 100
    assert_eq!(spec.allocatable.memory_mib, 56786);
    let check = &catalog.meta.allocatable_check;
    assert_eq!(check.exact, check.compared);
    assert!(check.compared > 1000);
}

#[test]
fn every_offering_is_consistent() {
    let catalog = embedded();
    let mut offered = std::collections::BTreeSet::new();
    for region_name in catalog.regions() {
        let region = catalog.region(region_name).expect("listed region");
        for (spec, prices) in region.offerings() {
            offered.insert(spec.name.clone());
            assert_eq!(catalog.instance_type(&spec.name), Some(spec));
            assert!(prices.on_demand.usd_per_hour > 0.0, "{}", spec.name);
            assert_eq!(
                prices.on_demand.estimated,
                prices.on_demand.source == OnDemandSource::EstimatedFromBaseRegionRatio
            );
            for zone in prices.spot.keys() {
                assert!(region.zone(zone).is_some(), "{} {zone}", spec.name);
            }
            if let Some(interruption) = &prices.interruption {
                assert_eq!(
                    INTERRUPTION_BANDS[usize::from(interruption.band_index)],
                    interruption.band
                );
            }
        }
    }
    // No instance type is kept that no region offers.
    assert_eq!(offered.len(), catalog.instance_types().count());
}

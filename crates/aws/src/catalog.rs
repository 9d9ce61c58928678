//! The instance types of the region as the solver sees them: the embedded catalog (crate
//! `spotter-catalog`: specifications, allocatable, on-demand prices) brought up to date with
//! the region's own answers — DescribeInstanceTypes (which types exist), DescribeInstanceType
//! Offerings (which zones offer them; the others become unavailable) and
//! DescribeSpotPriceHistory (the latest Spot price per type and zone) — and with the on-demand
//! prices of the AWS Pricing API (GetProducts, [`crate::pricing`]), which override the
//! embedded ones. When an EC2 call fails the embedded catalog is used as it is; when the
//! Pricing API fails (not permitted, throttled, unreachable) the embedded on-demand prices are
//! kept. Each is logged once per kind of failure, until the API answers again.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use spotter_core::instance_type::InstanceType;
use spotter_core::offering::CapacityType;

use crate::ec2::{Ec2, Ec2Error, SpotPrice};
use crate::pricing::{OnDemandPrices, Pricing, PricingFailure, on_demand_prices, product_filters};

/// How far back Spot prices are read.
pub const SPOT_PRICE_WINDOW: Duration = Duration::from_secs(3 * 60 * 60);

/// Where the instance types came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CatalogSource {
    /// The embedded catalog updated with the region's answers.
    Api,
    /// The embedded catalog alone, because a call failed.
    Embedded {
        /// The failure.
        reason: String,
    },
}

/// Where the on-demand prices came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PriceSource {
    /// The Pricing API.
    Api {
        /// Instance types it priced.
        instance_types: usize,
        /// Products skipped because they could not be read.
        malformed: usize,
    },
    /// The embedded catalog, because the Pricing API did not answer with prices.
    Embedded {
        /// The kind of failure.
        failure: PricingFailure,
        /// The failure.
        reason: String,
    },
}

/// The region's instance types, and where their parts came from.
#[derive(Clone, Debug)]
pub struct CatalogRead {
    /// The instance types with their offerings and prices.
    pub instance_types: Vec<InstanceType>,
    /// Where the types, zones and Spot prices came from.
    pub source: CatalogSource,
    /// Where the on-demand prices came from.
    pub on_demand_prices: PriceSource,
}

/// Why no instance types could be given.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    /// The embedded catalog does not know the region.
    #[error(
        "failed to load instance types: the embedded catalog has no region {region}; use a region it covers or extend crates/catalog"
    )]
    UnknownRegion {
        /// The region.
        region: String,
    },
}

/// The region's instance types, refreshed from the API.
#[derive(Debug, Default)]
pub struct RegionCatalog {
    fallback_logged: AtomicBool,
    /// The kinds of Pricing API failure logged since it last answered.
    pricing_failures_logged: Mutex<BTreeSet<PricingFailure>>,
}

impl RegionCatalog {
    /// The instance types of `region` at `now` from EC2 and the Pricing API over the embedded
    /// catalog, and where each part came from.
    pub async fn read<E: Ec2, P: Pricing>(
        &self,
        ec2: &E,
        pricing: &P,
        region: &str,
        now: SystemTime,
    ) -> Result<CatalogRead, CatalogError> {
        let embedded = embedded_instance_types(region)?;
        let (instance_types, source) = match from_api(ec2, now).await {
            Ok(answers) => {
                self.fallback_logged.store(false, Ordering::Relaxed);
                (overlay(embedded, &answers), CatalogSource::Api)
            }
            Err(error) => {
                if !self.fallback_logged.swap(true, Ordering::Relaxed) {
                    tracing::warn!(%error, region, "using the embedded EC2 catalog: the region's API could not be read");
                }
                (
                    embedded,
                    CatalogSource::Embedded {
                        reason: error.to_string(),
                    },
                )
            }
        };
        let (instance_types, on_demand_prices) = match read_prices(pricing, region).await {
            Ok(prices) => {
                self.logged_failures().clear();
                if prices.malformed > 0 {
                    tracing::warn!(
                        region,
                        malformed = prices.malformed,
                        "skipped Pricing API products that could not be read"
                    );
                }
                let source = PriceSource::Api {
                    instance_types: prices.prices.len(),
                    malformed: prices.malformed,
                };
                (overlay_on_demand_prices(instance_types, &prices), source)
            }
            Err((failure, reason)) => {
                if self.logged_failures().insert(failure) {
                    tracing::warn!(
                        region,
                        failure = failure.as_str(),
                        %reason,
                        "using the embedded on-demand prices: the Pricing API did not answer; {}",
                        failure.advice()
                    );
                }
                (instance_types, PriceSource::Embedded { failure, reason })
            }
        };
        Ok(CatalogRead {
            instance_types,
            source,
            on_demand_prices,
        })
    }

    fn logged_failures(&self) -> std::sync::MutexGuard<'_, BTreeSet<PricingFailure>> {
        self.pricing_failures_logged
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// The region's on-demand prices from the Pricing API, or why there are none.
async fn read_prices<P: Pricing>(
    pricing: &P,
    region: &str,
) -> Result<OnDemandPrices, (PricingFailure, String)> {
    let items = pricing
        .get_products(&product_filters(region))
        .await
        .map_err(|error| (PricingFailure::of(&error), error.to_string()))?;
    let prices = on_demand_prices(&items);
    if prices.prices.is_empty() {
        return Err((
            PricingFailure::NoPrices,
            format!(
                "GetProducts answered {} products, {} of them unreadable, and no on-demand price",
                items.len(),
                prices.malformed
            ),
        ));
    }
    Ok(prices)
}

/// The on-demand offerings of the types `prices` has take its price (no longer estimated);
/// the others keep the embedded one.
pub fn overlay_on_demand_prices(
    mut instance_types: Vec<InstanceType>,
    prices: &OnDemandPrices,
) -> Vec<InstanceType> {
    for instance_type in &mut instance_types {
        let Some(price) = prices.prices.get(&instance_type.name) else {
            continue;
        };
        for offering in &mut instance_type.offerings {
            if offering.capacity_type == CapacityType::OnDemand {
                offering.price_per_hour = *price;
                offering.price_estimated = false;
            }
        }
    }
    instance_types
}

/// What the region's API answered.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ApiAnswers {
    /// Instance types that exist in the region.
    pub instance_types: BTreeSet<String>,
    /// (instance type, zone) pairs offered.
    pub offered: BTreeSet<(String, String)>,
    /// Spot price points.
    pub spot_prices: Vec<SpotPrice>,
}

async fn from_api<E: Ec2>(ec2: &E, now: SystemTime) -> Result<ApiAnswers, Ec2Error> {
    let instance_types = ec2
        .describe_instance_types()
        .await?
        .into_iter()
        .map(|info| info.name)
        .collect();
    let offered = ec2
        .describe_instance_type_offerings()
        .await?
        .into_iter()
        .collect();
    let start = now.checked_sub(SPOT_PRICE_WINDOW).unwrap_or(now);
    let spot_prices = ec2.describe_spot_price_history(start).await?;
    Ok(ApiAnswers {
        instance_types,
        offered,
        spot_prices,
    })
}

/// The embedded catalog's instance types of `region`.
pub fn embedded_instance_types(region: &str) -> Result<Vec<InstanceType>, CatalogError> {
    let catalog = spotter_catalog::embedded();
    let region_catalog = catalog
        .region(region)
        .map_err(|_| CatalogError::UnknownRegion {
            region: region.to_string(),
        })?;
    Ok(spotter_catalog::instance_types::instance_types(
        region_catalog,
    ))
}

/// The embedded instance types brought up to date: types the region does not list are
/// dropped (when it lists any), offerings in zones that do not offer the type become
/// unavailable (when offerings were answered), Spot prices take the latest price point.
pub fn overlay(embedded: Vec<InstanceType>, answers: &ApiAnswers) -> Vec<InstanceType> {
    let mut latest: BTreeMap<(&str, &str), (Option<SystemTime>, f64)> = BTreeMap::new();
    for point in &answers.spot_prices {
        let key = (point.instance_type.as_str(), point.zone.as_str());
        let newer = latest
            .get(&key)
            .is_none_or(|(timestamp, _)| point.timestamp >= *timestamp);
        if newer {
            latest.insert(key, (point.timestamp, point.price_per_hour));
        }
    }
    embedded
        .into_iter()
        .filter(|instance_type| {
            answers.instance_types.is_empty()
                || answers.instance_types.contains(&instance_type.name)
        })
        .map(|mut instance_type| {
            let name = instance_type.name.clone();
            for offering in &mut instance_type.offerings {
                if !answers.offered.is_empty()
                    && !answers
                        .offered
                        .contains(&(name.clone(), offering.zone.clone()))
                {
                    offering.available = false;
                }
                if offering.capacity_type == CapacityType::Spot
                    && let Some((_, price)) = latest.get(&(name.as_str(), offering.zone.as_str()))
                {
                    offering.price_per_hour = *price;
                    offering.price_estimated = false;
                }
            }
            instance_type
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_answers_mark_unoffered_zones_and_update_spot_prices() {
        let embedded = embedded_instance_types("us-east-1").expect("embedded region");
        let m5 = embedded
            .iter()
            .find(|instance_type| instance_type.name == "m5.large")
            .expect("m5.large embedded");
        let spot_zone = m5
            .offerings
            .iter()
            .find(|offering| offering.capacity_type == CapacityType::Spot)
            .map(|offering| offering.zone.clone())
            .expect("a Spot offering");
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let answers = ApiAnswers {
            instance_types: BTreeSet::from(["m5.large".to_string()]),
            offered: BTreeSet::from([("m5.large".to_string(), spot_zone.clone())]),
            spot_prices: vec![
                SpotPrice {
                    instance_type: "m5.large".to_string(),
                    zone: spot_zone.clone(),
                    price_per_hour: 0.5,
                    timestamp: Some(now - Duration::from_secs(60)),
                },
                SpotPrice {
                    instance_type: "m5.large".to_string(),
                    zone: spot_zone.clone(),
                    price_per_hour: 0.0123,
                    timestamp: Some(now),
                },
            ],
        };
        let updated = overlay(embedded, &answers);
        assert_eq!(updated.len(), 1, "only the types the region lists");
        for offering in &updated[0].offerings {
            assert_eq!(
                offering.available,
                offering.zone == spot_zone,
                "{offering:?}"
            );
            if offering.capacity_type == CapacityType::Spot && offering.zone == spot_zone {
                assert_eq!(offering.price_per_hour, 0.0123, "the latest price point");
                assert!(!offering.price_estimated);
            }
        }
    }

    #[test]
    fn api_on_demand_prices_override_the_embedded_ones_of_their_types_only() {
        let embedded = embedded_instance_types("us-east-1").expect("embedded region");
        let price_of = |types: &[InstanceType], name: &str, capacity_type: CapacityType| {
            types
                .iter()
                .find(|instance_type| instance_type.name == name)
                .and_then(|instance_type| {
                    instance_type
                        .offerings
                        .iter()
                        .find(|offering| offering.capacity_type == capacity_type)
                })
                .map(|offering| offering.price_per_hour)
        };
        let c5_before = price_of(&embedded, "c5.large", CapacityType::OnDemand);
        let m5_spot_before = price_of(&embedded, "m5.large", CapacityType::Spot);
        let prices = OnDemandPrices {
            prices: BTreeMap::from([("m5.large".to_string(), 0.5)]),
            malformed: 0,
        };
        let updated = overlay_on_demand_prices(embedded, &prices);
        let cases = [
            ("m5.large", CapacityType::OnDemand, Some(0.5)),
            ("m5.large", CapacityType::Spot, m5_spot_before),
            ("c5.large", CapacityType::OnDemand, c5_before),
        ];
        for (name, capacity_type, expected) in cases {
            assert_eq!(
                price_of(&updated, name, capacity_type),
                expected,
                "{name} {capacity_type:?}"
            );
        }
    }

    #[test]
    fn an_unknown_region_is_an_error_that_says_so() {
        assert_eq!(
            embedded_instance_types("xx-nowhere-1").map(|types| types.len()),
            Err(CatalogError::UnknownRegion {
                region: "xx-nowhere-1".to_string()
            })
        );
    }
}

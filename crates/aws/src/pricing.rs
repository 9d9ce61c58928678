//! On-demand prices from the AWS Pricing API: the [`Pricing`] seam (one call, GetProducts,
//! every page), the filters that select the region's Linux, shared-tenancy, on-demand EC2
//! products, the price list items (JSON strings) read into typed values, and what kind of
//! failure an unanswered call was. A product that cannot be read is skipped and counted, never
//! fatal. [`crate::sdk_pricing::SdkPricing`] implements the seam on `aws-sdk-pricing`.

use std::collections::BTreeMap;
use std::future::Future;

use serde::Deserialize;

use crate::ec2::Ec2Error;

/// Every API operation the [`Pricing`] seam calls, with the IAM action that allows it.
pub const OPERATIONS: [(&str, &str); 1] = [("GetProducts", "pricing:GetProducts")];

/// The Pricing API's service code for EC2.
pub const SERVICE_CODE: &str = "AmazonEC2";

/// The currency the prices are read in.
pub const CURRENCY: &str = "USD";

/// The region whose Pricing API endpoint serves `region`. The Pricing API has endpoints in a
/// few regions only; this is what Karpenter's `pricing.NewAPI` does
/// (aws/karpenter-provider-aws, `pkg/providers/pricing/pricing.go`): `ap-south-1` for `ap-*`
/// regions, `cn-northwest-1` for `cn-*`, `eu-central-1` for `eu-*`, else `us-east-1`. The
/// products asked for are still the ones of `region` (the `regionCode` filter).
pub fn endpoint_region(region: &str) -> &'static str {
    if region.starts_with("ap-") {
        "ap-south-1"
    } else if region.starts_with("cn-") {
        "cn-northwest-1"
    } else if region.starts_with("eu-") {
        "eu-central-1"
    } else {
        "us-east-1"
    }
}

/// A GetProducts `TERM_MATCH` filter: the product attribute `field` equals `value`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TermMatch {
    /// The attribute (`regionCode`).
    pub field: &'static str,
    /// The value it must have.
    pub value: String,
}

/// The filters of the on-demand Linux products of `region`: shared tenancy, no pre-installed
/// software, capacity status `Used` (not reservations), on-demand. These are Karpenter's
/// filters for its first query, without its `productFamily=Compute Instance`; Karpenter also
/// asks for `tenancy=Dedicated`, `productFamily=Compute Instance (bare metal)`, which Spotter
/// does not, so bare-metal types keep their embedded on-demand price.
pub fn product_filters(region: &str) -> Vec<TermMatch> {
    [
        ("regionCode", region),
        ("serviceCode", SERVICE_CODE),
        ("operatingSystem", "Linux"),
        ("tenancy", "Shared"),
        ("preInstalledSw", "NA"),
        ("capacitystatus", "Used"),
        ("marketoption", "OnDemand"),
    ]
    .into_iter()
    .map(|(field, value)| TermMatch {
        field,
        value: value.to_string(),
    })
    .collect()
}

/// The Pricing API call the provider makes.
pub trait Pricing: Send + Sync {
    /// GetProducts of [`SERVICE_CODE`] with `filters`, every page: the price list items (one
    /// JSON document per product).
    fn get_products(
        &self,
        filters: &[TermMatch],
    ) -> impl Future<Output = Result<Vec<String>, Ec2Error>> + Send;
}

/// The on-demand prices read from price list items.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OnDemandPrices {
    /// USD per hour, by instance type.
    pub prices: BTreeMap<String, f64>,
    /// Products skipped because they could not be read (not JSON, no instance type, no
    /// positive USD price).
    pub malformed: usize,
}

/// Reads price list items; unreadable ones are counted in [`OnDemandPrices::malformed`].
pub fn on_demand_prices(items: &[String]) -> OnDemandPrices {
    let mut read = OnDemandPrices::default();
    for item in items {
        match price_of(item) {
            Some((instance_type, price)) => {
                read.prices.insert(instance_type, price);
            }
            None => read.malformed += 1,
        }
    }
    read
}

/// The instance type and its hourly on-demand price in one price list item.
fn price_of(item: &str) -> Option<(String, f64)> {
    let item: PriceListItem = serde_json::from_str(item).ok()?;
    let instance_type = item.product.attributes.instance_type?;
    if instance_type.is_empty() {
        return None;
    }
    let price = item
        .terms
        .on_demand
        .values()
        .flat_map(|term| term.price_dimensions.values())
        .filter(|dimension| dimension.unit.as_deref().is_none_or(|unit| unit == "Hrs"))
        .filter_map(|dimension| dimension.price_per_unit.get(CURRENCY)?.parse::<f64>().ok())
        .find(|price| price.is_finite() && *price > 0.0)?;
    Some((instance_type, price))
}

/// What a price list item holds that is read (the rest is ignored).
#[derive(Debug, Deserialize)]
struct PriceListItem {
    product: Product,
    #[serde(default)]
    terms: Terms,
}

#[derive(Debug, Deserialize)]
struct Product {
    attributes: Attributes,
}

#[derive(Debug, Deserialize)]
struct Attributes {
    #[serde(rename = "instanceType")]
    instance_type: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Terms {
    #[serde(rename = "OnDemand", default)]
    on_demand: BTreeMap<String, Term>,
}

#[derive(Debug, Deserialize)]
struct Term {
    #[serde(rename = "priceDimensions", default)]
    price_dimensions: BTreeMap<String, PriceDimension>,
}

#[derive(Debug, Deserialize)]
struct PriceDimension {
    unit: Option<String>,
    #[serde(rename = "pricePerUnit", default)]
    price_per_unit: BTreeMap<String, String>,
}

/// Why on-demand prices did not come from the Pricing API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PricingFailure {
    /// The credentials may not call it (`AccessDenied…`, 403): allow `pricing:GetProducts`.
    NotPermitted,
    /// It throttled the calls.
    Throttled,
    /// No answer, or a server error (endpoint unreachable, as from an isolated VPC).
    Unavailable,
    /// It answered, but no product had a readable price.
    NoPrices,
    /// Any other error it answered.
    Failed,
}

impl PricingFailure {
    /// Every kind.
    pub const ALL: [PricingFailure; 5] = [
        PricingFailure::NotPermitted,
        PricingFailure::Throttled,
        PricingFailure::Unavailable,
        PricingFailure::NoPrices,
        PricingFailure::Failed,
    ];

    /// The kind of a failed call.
    pub fn of(error: &Ec2Error) -> Self {
        let code = error.code.as_deref().unwrap_or_default();
        if code.starts_with("AccessDenied")
            || code == "UnauthorizedOperation"
            || code == "UnrecognizedClientException"
            || error.status == Some(403)
        {
            PricingFailure::NotPermitted
        } else if code.contains("Throttl")
            || code == "RequestLimitExceeded"
            || error.status == Some(429)
        {
            PricingFailure::Throttled
        } else if error.transport
            || code == "InternalErrorException"
            || error.status.is_some_and(|status| status >= 500)
        {
            PricingFailure::Unavailable
        } else {
            PricingFailure::Failed
        }
    }

    /// The metric label value (`not_permitted`).
    pub fn as_str(self) -> &'static str {
        match self {
            PricingFailure::NotPermitted => "not_permitted",
            PricingFailure::Throttled => "throttled",
            PricingFailure::Unavailable => "unavailable",
            PricingFailure::NoPrices => "no_prices",
            PricingFailure::Failed => "failed",
        }
    }

    /// What an operator can do about it.
    pub fn advice(self) -> &'static str {
        match self {
            PricingFailure::NotPermitted => {
                "allow pricing:GetProducts (Resource \"*\") in the controller's IAM policy"
            }
            PricingFailure::Throttled => "the next refresh tries again",
            PricingFailure::Unavailable => {
                "the Pricing API endpoint did not answer (an isolated VPC cannot reach it); the next refresh tries again"
            }
            PricingFailure::NoPrices => "the region's price list had no readable on-demand price",
            PricingFailure::Failed => "the next refresh tries again",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(instance_type: &str, usd: &str) -> String {
        serde_json::json!({
            "product": {"productFamily": "Compute Instance", "attributes": {"instanceType": instance_type, "regionCode": "us-east-1"}, "sku": "SKU1"},
            "serviceCode": "AmazonEC2",
            "terms": {"OnDemand": {"SKU1.JRTCKXETXF": {"priceDimensions": {"SKU1.JRTCKXETXF.6YS6EN2CT7": {
                "unit": "Hrs", "endRange": "Inf", "beginRange": "0", "pricePerUnit": {"USD": usd}
            }}, "sku": "SKU1", "offerTermCode": "JRTCKXETXF"}}},
            "version": "20251201000000"
        })
        .to_string()
    }

    /// Price list items, the prices expected from them, and how many are malformed.
    type Case = (Vec<String>, &'static [(&'static str, f64)], usize);

    #[test]
    fn price_list_items_are_read_and_bad_ones_counted() {
        let cases: [Case; 6] = [
            (
                vec![item("m5.large", "0.0960000000")],
                &[("m5.large", 0.096)],
                0,
            ),
            (
                vec![item("m5.large", "0.096"), item("c5.large", "0.085")],
                &[("c5.large", 0.085), ("m5.large", 0.096)],
                0,
            ),
            (vec!["{not json".to_string()], &[], 1),
            (vec![item("", "0.1")], &[], 1),
            (vec![item("m5.large", "zero")], &[], 1),
            (
                vec![item("m5.large", "0.0000000000"), item("c5.large", "0.085")],
                &[("c5.large", 0.085)],
                1,
            ),
        ];
        for (items, expected, malformed) in cases {
            let read = on_demand_prices(&items);
            let expected: BTreeMap<String, f64> = expected
                .iter()
                .map(|(name, price)| (name.to_string(), *price))
                .collect();
            assert_eq!(read.prices, expected, "{items:?}");
            assert_eq!(read.malformed, malformed, "{items:?}");
        }
    }

    #[test]
    fn the_endpoint_region_is_karpenters() {
        for (region, endpoint) in [
            ("us-east-1", "us-east-1"),
            ("us-west-2", "us-east-1"),
            ("ap-northeast-2", "ap-south-1"),
            ("eu-west-1", "eu-central-1"),
            ("cn-north-1", "cn-northwest-1"),
            ("sa-east-1", "us-east-1"),
        ] {
            assert_eq!(endpoint_region(region), endpoint, "{region}");
        }
    }

    #[test]
    fn failures_are_sorted_by_kind() {
        let cases = [
            (
                Ec2Error::service("GetProducts", "AccessDeniedException", "no", 400),
                PricingFailure::NotPermitted,
            ),
            (
                Ec2Error::service("GetProducts", "ThrottlingException", "slow", 400),
                PricingFailure::Throttled,
            ),
            (
                Ec2Error::service("GetProducts", "InternalErrorException", "oops", 500),
                PricingFailure::Unavailable,
            ),
            (
                Ec2Error {
                    operation: "GetProducts",
                    code: None,
                    message: "connection refused".to_string(),
                    status: None,
                    transport: true,
                },
                PricingFailure::Unavailable,
            ),
            (
                Ec2Error::service("GetProducts", "InvalidParameterException", "bad", 400),
                PricingFailure::Failed,
            ),
        ];
        for (error, expected) in cases {
            assert_eq!(PricingFailure::of(&error), expected, "{error}");
        }
    }

    #[test]
    fn the_filters_select_the_regions_linux_on_demand_products() {
        let filters = product_filters("eu-west-1");
        let field = |name: &str| {
            filters
                .iter()
                .find(|filter| filter.field == name)
                .map(|filter| filter.value.as_str())
        };
        for (name, value) in [
            ("regionCode", "eu-west-1"),
            ("operatingSystem", "Linux"),
            ("tenancy", "Shared"),
            ("preInstalledSw", "NA"),
            ("capacitystatus", "Used"),
        ] {
            assert_eq!(field(name), Some(value), "{name}");
        }
    }
}

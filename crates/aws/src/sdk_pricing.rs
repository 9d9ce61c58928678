//! [`SdkPricing`]: the [`Pricing`] seam on `aws-sdk-pricing`. The client calls the Pricing
//! endpoint of [`endpoint_region`] (the SDK configuration's endpoint URL, `AWS_ENDPOINT_URL`,
//! still wins, so tests point it at a local peer); GetProducts is paged through to the end.

use aws_sdk_pricing::types::{Filter as PricingFilter, FilterType};

use crate::ec2::Ec2Error;
use crate::pricing::{Pricing, SERVICE_CODE, TermMatch, endpoint_region};
use crate::sdk::sdk_error;

/// The most products one GetProducts page holds (the API's maximum).
pub const PAGE_SIZE: i32 = 100;

/// The Pricing API client.
#[derive(Clone, Debug)]
pub struct SdkPricing {
    client: aws_sdk_pricing::Client,
}

impl SdkPricing {
    /// A client for the products of `region`, on the endpoint that serves it.
    pub fn new(config: &aws_config::SdkConfig, region: &str) -> Self {
        let pricing_config = aws_sdk_pricing::config::Builder::from(config)
            .region(aws_sdk_pricing::config::Region::new(endpoint_region(
                region,
            )))
            .build();
        SdkPricing {
            client: aws_sdk_pricing::Client::from_conf(pricing_config),
        }
    }

    /// A client built already (tests pass mock clients).
    pub fn from_client(client: aws_sdk_pricing::Client) -> Self {
        SdkPricing { client }
    }
}

impl Pricing for SdkPricing {
    async fn get_products(&self, filters: &[TermMatch]) -> Result<Vec<String>, Ec2Error> {
        let filters: Vec<PricingFilter> = filters
            .iter()
            .filter_map(|filter| {
                PricingFilter::builder()
                    .r#type(FilterType::TermMatch)
                    .field(filter.field)
                    .value(&filter.value)
                    .build()
                    .ok()
            })
            .collect();
        let mut items = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let answer = self
                .client
                .get_products()
                .service_code(SERVICE_CODE)
                .set_filters(Some(filters.clone()))
                .format_version("aws_v1")
                .max_results(PAGE_SIZE)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|error| sdk_error("GetProducts", error))?;
            items.extend(answer.price_list().iter().cloned());
            token = answer
                .next_token()
                .filter(|token| !token.is_empty())
                .map(str::to_string);
            if token.is_none() {
                return Ok(items);
            }
        }
    }
}

//! `karpenter_cloudprovider_instance_type_offering_available` and
//! `karpenter_cloudprovider_instance_type_offering_price_estimate`: one series per offering
//! (instance type, zone, capacity type), written when the exposition is encoded from the
//! state's own instance types and one availability flag per offering. Families would own three
//! label strings per offering in two maps, megabytes for a region's catalog (hundreds of
//! instance types in every zone, Spot and on-demand) that never change while the instance
//! types stay the same.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;
use spotter_core::instance_type::InstanceType;
use spotter_core::offering::{CapacityType, Offering};
use spotter_core::resources::Resources;

/// The name of the availability family.
const AVAILABLE: &str = "karpenter_cloudprovider_instance_type_offering_available";
/// The name of the price family.
const PRICE_ESTIMATE: &str = "karpenter_cloudprovider_instance_type_offering_price_estimate";

/// The offerings last observed, shared with the collector the registry encodes.
#[derive(Clone, Debug, Default)]
pub(crate) struct OfferingSeries {
    offerings: Arc<Mutex<Arc<Offerings>>>,
}

impl OfferingSeries {
    /// Replaces the offerings with those of `instance_types`, each available as
    /// `available(instance type, offering)` says.
    pub fn observe(
        &self,
        instance_types: &Arc<Vec<InstanceType>>,
        mut available: impl FnMut(&InstanceType, &Offering) -> bool,
    ) {
        let flags = offerings_of(instance_types)
            .map(|(instance_type, offering)| available(instance_type, offering))
            .collect();
        *self.lock() = Arc::new(Offerings {
            instance_types: Arc::clone(instance_types),
            available: flags,
        });
    }

    /// One series of each family with example label values (for [`crate::describe`]).
    pub fn touch(&self) {
        let instance_type = InstanceType::new(
            "m5.large",
            BTreeMap::new(),
            Resources::new(),
            Resources::new(),
            vec![Offering {
                capacity_type: CapacityType::Spot,
                zone: "us-east-1a".to_string(),
                zone_id: None,
                price_per_hour: 0.0,
                price_estimated: false,
                available: true,
                interruption_band: None,
            }],
        );
        self.observe(&Arc::new(vec![instance_type]), |_, _| true);
    }

    /// The collector to register: it encodes both families.
    pub fn collector(&self) -> Box<dyn Collector> {
        Box::new(self.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Arc<Offerings>> {
        self.offerings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Collector for OfferingSeries {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        // A snapshot: the lock is not held while the series are written out.
        let offerings = Arc::clone(&self.lock());
        {
            let mut metric_encoder = encoder.encode_descriptor(
                AVAILABLE,
                "1 when the offering can be launched, 0 while it is unavailable (no capacity, or in the unavailable-offerings cache).",
                None,
                MetricType::Gauge,
            )?;
            for ((instance_type, offering), available) in
                offerings_of(&offerings.instance_types).zip(&offerings.available)
            {
                metric_encoder
                    .encode_family(&labels(instance_type, offering))?
                    .encode_gauge(&i64::from(*available))?;
            }
        }
        let mut metric_encoder = encoder.encode_descriptor(
            PRICE_ESTIMATE,
            "The offering's price in USD per hour.",
            None,
            MetricType::Gauge,
        )?;
        for (instance_type, offering) in offerings_of(&offerings.instance_types) {
            metric_encoder
                .encode_family(&labels(instance_type, offering))?
                .encode_gauge(&offering.price_per_hour)?;
        }
        Ok(())
    }
}

#[derive(Debug, Default)]
struct Offerings {
    instance_types: Arc<Vec<InstanceType>>,
    /// One flag per offering, in the order [`offerings_of`] gives them.
    available: Vec<bool>,
}

/// Every offering of every instance type, in order.
fn offerings_of(
    instance_types: &[InstanceType],
) -> impl Iterator<Item = (&InstanceType, &Offering)> {
    instance_types.iter().flat_map(|instance_type| {
        instance_type
            .offerings
            .iter()
            .map(move |offering| (instance_type, offering))
    })
}

/// An offering's labels, in Karpenter's order.
fn labels<'a>(
    instance_type: &'a InstanceType,
    offering: &'a Offering,
) -> [(&'static str, &'a str); 3] {
    [
        ("instance_type", instance_type.name.as_str()),
        ("capacity_type", offering.capacity_type.as_str()),
        ("zone", offering.zone.as_str()),
    ]
}

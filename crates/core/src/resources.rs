//! Resource lists (`cpu`, `memory`, `pods`, `ephemeral-storage` and extended resources such as
//! `nvidia.com/gpu`) held as exact integers: CPU in millicores, the rest in whole units.

use std::fmt;

use crate::quantity::{Quantity, QuantityError, format_bytes, format_millicores};

/// The resource name of CPU.
pub const CPU: &str = "cpu";
/// The resource name of memory.
pub const MEMORY: &str = "memory";
/// The resource name of the pod count.
pub const PODS: &str = "pods";
/// The resource name of ephemeral storage.
pub const EPHEMERAL_STORAGE: &str = "ephemeral-storage";
/// The resource name a NodePool uses in `limits` to cap its node count.
pub const NODES: &str = "nodes";

/// An amount of every resource a pod asks for or a node offers.
///
/// The four core resources are fields so that the solver's fit checks are a few integer
/// comparisons; extended resources (GPUs, `vpc.amazonaws.com/pod-eni`, ...) are kept sorted by
/// name in `extended` and are usually absent.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Resources {
    /// CPU in millicores.
    pub cpu_millicores: i64,
    /// Memory in bytes.
    pub memory_bytes: i64,
    /// Number of pods.
    pub pods: i64,
    /// Ephemeral storage in bytes.
    pub ephemeral_storage_bytes: i64,
    /// Any other resource, by name, in whole units, sorted by name.
    pub extended: Vec<(String, i64)>,
}

/// Why a resource list could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResourcesError {
    /// A quantity did not parse.
    #[error("failed to read resource {name:?}: {source}")]
    Quantity {
        /// The resource name.
        name: String,
        /// The parse error.
        source: QuantityError,
    },
    /// A quantity was negative.
    #[error("failed to read resource {name:?}: {value} is negative")]
    Negative {
        /// The resource name.
        name: String,
        /// The value given.
        value: String,
    },
}

impl Resources {
    /// No resources at all.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a resource list from `(name, quantity)` pairs in Kubernetes syntax.
    pub fn parse<'a>(
        entries: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, ResourcesError> {
        let mut resources = Self::new();
        for (name, text) in entries {
            let quantity = Quantity::parse(text).map_err(|source| ResourcesError::Quantity {
                name: name.to_string(),
                source,
            })?;
            if quantity.milli_units() < 0 {
                return Err(ResourcesError::Negative {
                    name: name.to_string(),
                    value: text.to_string(),
                });
            }
            resources.set_quantity(name, quantity);
        }
        Ok(resources)
    }

    /// Sets one resource from a quantity (CPU keeps millicores, the rest round up to units).
    pub fn set_quantity(&mut self, name: &str, quantity: Quantity) {
        let value = if name == CPU {
            quantity.milli_units()
        } else {
            quantity.units_rounded_up()
        };
        self.set(name, value);
    }

    /// Sets one resource in its integer unit (millicores for CPU, whole units otherwise).
    pub fn set(&mut self, name: &str, value: i64) {
        match name {
            CPU => self.cpu_millicores = value,
            MEMORY => self.memory_bytes = value,
            PODS => self.pods = value,
            EPHEMERAL_STORAGE => self.ephemeral_storage_bytes = value,
            _ => match self
                .extended
                .binary_search_by(|(key, _)| key.as_str().cmp(name))
            {
                Ok(index) => self.extended[index].1 = value,
                Err(index) => self.extended.insert(index, (name.to_string(), value)),
            },
        }
    }

    /// One resource in its integer unit; zero when absent.
    pub fn get(&self, name: &str) -> i64 {
        match name {
            CPU => self.cpu_millicores,
            MEMORY => self.memory_bytes,
            PODS => self.pods,
            EPHEMERAL_STORAGE => self.ephemeral_storage_bytes,
            _ => self
                .extended
                .binary_search_by(|(key, _)| key.as_str().cmp(name))
                .map_or(0, |index| self.extended[index].1),
        }
    }

    /// Every resource with a non-zero amount, core resources first.
    pub fn iter(&self) -> impl Iterator<Item = (&str, i64)> {
        [
            (CPU, self.cpu_millicores),
            (MEMORY, self.memory_bytes),
            (PODS, self.pods),
            (EPHEMERAL_STORAGE, self.ephemeral_storage_bytes),
        ]
        .into_iter()
        .chain(
            self.extended
                .iter()
                .map(|(name, value)| (name.as_str(), *value)),
        )
        .filter(|(_, value)| *value != 0)
    }

    /// Adds `other` to `self`, resource by resource.
    pub fn add(&mut self, other: &Resources) {
        self.cpu_millicores += other.cpu_millicores;
        self.memory_bytes += other.memory_bytes;
        self.pods += other.pods;
        self.ephemeral_storage_bytes += other.ephemeral_storage_bytes;
        for (name, value) in &other.extended {
            let current = self.get(name);
            self.set(name, current + value);
        }
    }

    /// Subtracts `other` from `self`, resource by resource (values may go negative).
    pub fn subtract(&mut self, other: &Resources) {
        self.cpu_millicores -= other.cpu_millicores;
        self.memory_bytes -= other.memory_bytes;
        self.pods -= other.pods;
        self.ephemeral_storage_bytes -= other.ephemeral_storage_bytes;
        for (name, value) in &other.extended {
            let current = self.get(name);
            self.set(name, current - value);
        }
    }

    /// `self + other`.
    pub fn plus(&self, other: &Resources) -> Resources {
        let mut sum = self.clone();
        sum.add(other);
        sum
    }

    /// The larger of the two, resource by resource.
    pub fn max(&self, other: &Resources) -> Resources {
        let mut maximum = Resources {
            cpu_millicores: self.cpu_millicores.max(other.cpu_millicores),
            memory_bytes: self.memory_bytes.max(other.memory_bytes),
            pods: self.pods.max(other.pods),
            ephemeral_storage_bytes: self
                .ephemeral_storage_bytes
                .max(other.ephemeral_storage_bytes),
            extended: self.extended.clone(),
        };
        for (name, value) in &other.extended {
            let current = maximum.get(name);
            maximum.set(name, current.max(*value));
        }
        maximum
    }

    /// Whether every resource of `self` is at most what `capacity` has.
    #[inline]
    pub fn fits_in(&self, capacity: &Resources) -> bool {
        self.cpu_millicores <= capacity.cpu_millicores
            && self.memory_bytes <= capacity.memory_bytes
            && self.pods <= capacity.pods
            && self.ephemeral_storage_bytes <= capacity.ephemeral_storage_bytes
            && self
                .extended
                .iter()
                .all(|(name, value)| *value <= 0 || *value <= capacity.get(name))
    }

    /// The resources of `self` that exceed `capacity`, for messages ("cpu 4 > 3.5").
    pub fn excess_over(&self, capacity: &Resources) -> Vec<String> {
        self.iter()
            .filter(|(name, value)| *value > capacity.get(name))
            .map(|(name, value)| {
                format!(
                    "{name} {} > {}",
                    format_amount(name, value),
                    format_amount(name, capacity.get(name))
                )
            })
            .collect()
    }
}

/// Formats one amount in the unit a person expects for that resource.
pub fn format_amount(name: &str, value: i64) -> String {
    match name {
        CPU => format_millicores(value),
        MEMORY | EPHEMERAL_STORAGE => format_bytes(value),
        _ => value.to_string(),
    }
}

impl fmt::Display for Resources {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (name, value) in self.iter() {
            if !first {
                formatter.write_str(", ")?;
            }
            first = false;
            write!(formatter, "{name}={}", format_amount(name, value))?;
        }
        if first {
            formatter.write_str("none")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_adds_resource_lists() {
        let Ok(mut requests) =
            Resources::parse([("cpu", "500m"), ("memory", "1Gi"), ("nvidia.com/gpu", "1")])
        else {
            panic!("valid resources")
        };
        assert_eq!(requests.cpu_millicores, 500);
        assert_eq!(requests.memory_bytes, 1 << 30);
        assert_eq!(requests.get("nvidia.com/gpu"), 1);
        requests.add(&requests.clone());
        assert_eq!(requests.cpu_millicores, 1000);
        assert_eq!(requests.get("nvidia.com/gpu"), 2);
        assert_eq!(requests.to_string(), "cpu=1, memory=2Gi, nvidia.com/gpu=2");
    }

    #[test]
    fn fit_checks_every_resource_including_extended_ones() {
        let capacity =
            Resources::parse([("cpu", "2"), ("memory", "4Gi"), ("pods", "10")]).unwrap_or_default();
        let cases = [
            (vec![("cpu", "2")], true),
            (vec![("cpu", "2001m")], false),
            (vec![("memory", "4Gi"), ("pods", "10")], true),
            (vec![("nvidia.com/gpu", "1")], false),
            (vec![], true),
        ];
        for (request, fits) in cases {
            let requests = Resources::parse(request.clone()).unwrap_or_default();
            assert_eq!(requests.fits_in(&capacity), fits, "{request:?}");
        }
        let too_big = Resources::parse([("cpu", "3"), ("memory", "1Gi")]).unwrap_or_default();
        assert_eq!(
            too_big.excess_over(&capacity),
            vec!["cpu 3 > 2".to_string()]
        );
    }

    #[test]
    fn rejects_negative_and_malformed_amounts() {
        assert!(matches!(
            Resources::parse([("cpu", "-1")]),
            Err(ResourcesError::Negative { .. })
        ));
        assert!(matches!(
            Resources::parse([("memory", "lots")]),
            Err(ResourcesError::Quantity { .. })
        ));
    }
}

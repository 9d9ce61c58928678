//! Which offerings a set of requirements allows. An offering is allowed by its zone, zone ID
//! and capacity type only, so the question is answered once per distinct domain (a few per
//! region) and then looked up per offering as a bit, instead of three label lookups per
//! offering.

use crate::instance_type::{InstanceType, offering_allowed};
use crate::offering::Offering;
use crate::requirements::Requirements;

/// The offerings some requirements allow.
#[derive(Debug)]
pub(crate) struct AllowedOfferings<'a> {
    domain_of: &'a [Vec<u8>],
    /// Bit `d` is set when domain `d` is allowed; `None` when there are more domains than bits,
    /// and every offering is checked against `requirements` instead.
    mask: Option<u64>,
    requirements: &'a Requirements,
    instance_types: &'a [InstanceType],
}

impl<'a> AllowedOfferings<'a> {
    /// `domains` holds one offering per domain, in the order `domain_of` numbers them.
    pub fn new(
        domain_of: &'a [Vec<u8>],
        domains: &[&Offering],
        instance_types: &'a [InstanceType],
        requirements: &'a Requirements,
    ) -> Self {
        let mask = (domains.len() <= 64).then(|| {
            domains
                .iter()
                .enumerate()
                .filter(|(_, offering)| offering_allowed(offering, requirements))
                .fold(0u64, |mask, (domain, _)| mask | 1 << domain)
        });
        Self {
            domain_of,
            mask,
            requirements,
            instance_types,
        }
    }

    /// Whether offering `offering` of instance type `instance_type` is allowed.
    #[inline]
    pub fn allows(&self, instance_type: u32, offering: usize) -> bool {
        match self.mask {
            Some(mask) => {
                let domain = self.domain_of[instance_type as usize][offering];
                domain < 64 && mask & (1 << domain) != 0
            }
            None => offering_allowed(
                &self.instance_types[instance_type as usize].offerings[offering],
                self.requirements,
            ),
        }
    }
}

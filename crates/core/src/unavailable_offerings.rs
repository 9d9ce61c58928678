//! Offerings that must not be launched: the insufficient-capacity cache, and what a user asks
//! "what if this were out?" about.
//!
//! An offering is a capacity type × instance type × zone. The cloud's insufficient-capacity
//! answers mark exactly the failed offerings for a TTL (3 minutes, as Karpenter); with a
//! [`Backoff`], an offering that keeps failing stays out longer each time (so that an ICE storm
//! does not turn into thousands of NodeClaims), and a successful launch forgives it at once.
//! Spot interruptions and offerings avoided for interrupting too often are marked with their
//! own expiry. Wider entries ([`OfferingSelector`] with fields left open) match many offerings.
//! Besides, an instance family in a zone or a whole zone can be *avoided* for a capacity type
//! ([`AvoidLevel`]), which is softer than unavailable: launches and the solver take every other
//! offering first, and an avoided one only when nothing else can serve (a pod that requires
//! the zone still gets it). Time is always passed in, never read.

use std::collections::HashMap;
use std::time::Duration;

use crate::interruption_evidence::instance_family;
use crate::offering::CapacityType;

/// A pattern over offerings: each field that is set must match.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct OfferingSelector {
    /// Only offerings of this capacity type.
    pub capacity_type: Option<CapacityType>,
    /// Only offerings of this instance type.
    pub instance_type: Option<String>,
    /// Only offerings in this zone.
    pub zone: Option<String>,
}

/// How the cache treats insufficient-capacity answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheSettings {
    /// How long an offering stays out after its first insufficient-capacity answer.
    pub ttl: Duration,
    /// Longer stays for offerings that fail again and again; `None` keeps every stay at `ttl`
    /// (plain Karpenter).
    pub backoff: Option<Backoff>,
}

/// Exponential backoff per offering: the `n`th consecutive failure keeps the offering out for
/// `ttl × 2^(n-1)`, at most `max_ttl`; a failure more than `reset_after` after the previous
/// one counts as a first failure again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The longest stay.
    pub max_ttl: Duration,
    /// Failures further apart than this are not consecutive.
    pub reset_after: Duration,
}

/// Why an offering is out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UnavailableReason {
    /// The cloud answered insufficient capacity.
    InsufficientCapacity,
    /// A node of the offering received a Spot interruption warning.
    SpotInterruption,
    /// The offering's nodes were interrupted too often lately.
    InterruptionProne,
    /// Marked by hand (`spotter plan --unavailable`, tests).
    Manual,
}

/// What an avoidance covers, in the zone and for the capacity type it names.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AvoidLevel {
    /// Every instance type of one family (`m5`).
    FamilyInZone {
        /// The family.
        family: String,
    },
    /// Every instance type.
    Zone,
}

/// A family in a zone, or a zone, avoided for a capacity type until a time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Avoided {
    /// What is avoided.
    pub level: AvoidLevel,
    /// For which capacity type.
    pub capacity_type: CapacityType,
    /// The zone.
    pub zone: String,
    /// Until when.
    pub until: Duration,
}

/// What the cache remembers of one offering.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OfferingRecord {
    /// Until when it is out; in the past once it expired (the record stays while its failure
    /// history matters for backoff).
    pub until: Duration,
    /// Until when its latest insufficient-capacity answer keeps it out without backoff: what
    /// a probe for returning to Spot honours.
    pub base_until: Duration,
    /// Why it is out (the latest reason).
    pub reason: UnavailableReason,
    /// Consecutive insufficient-capacity answers.
    pub strikes: u32,
    /// When it last failed (an insufficient-capacity answer or an interruption), if ever.
    pub last_failure: Option<Duration>,
    active: bool,
}

/// The set of offerings currently unavailable.
#[derive(Clone, Debug)]
pub struct UnavailableOfferings {
    settings: CacheSettings,
    /// Wide entries (some field open), with their expiry (`None`: for good).
    selectors: Vec<(OfferingSelector, Option<Duration>)>,
    /// Exact offerings by instance type, then capacity type and zone.
    offerings: HashMap<String, Vec<(CapacityType, String, OfferingRecord)>>,
    active_offerings: usize,
    /// Families in zones and zones avoided (not unavailable: taken last).
    avoided: Vec<Avoided>,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(180),
            backoff: None,
        }
    }
}

impl Default for UnavailableOfferings {
    fn default() -> Self {
        Self::with_settings(CacheSettings::default())
    }
}

impl OfferingSelector {
    /// A selector matching exactly one offering.
    pub fn offering(instance_type: &str, capacity_type: CapacityType, zone: &str) -> Self {
        Self {
            capacity_type: Some(capacity_type),
            instance_type: Some(instance_type.to_string()),
            zone: Some(zone.to_string()),
        }
    }

    /// Whether the offering `(instance_type, capacity_type, zone)` matches.
    pub fn matches(&self, instance_type: &str, capacity_type: CapacityType, zone: &str) -> bool {
        self.capacity_type
            .is_none_or(|wanted| wanted == capacity_type)
            && self
                .instance_type
                .as_deref()
                .is_none_or(|wanted| wanted == instance_type)
            && self.zone.as_deref().is_none_or(|wanted| wanted == zone)
    }
}

impl OfferingRecord {
    /// Whether the record keeps its offering out now (until [`UnavailableOfferings::expire`]
    /// passes its expiry).
    pub fn is_active(&self) -> bool {
        self.active
    }
}

impl UnavailableOfferings {
    /// Nothing unavailable, Karpenter's TTL, no backoff.
    pub fn new() -> Self {
        Self::default()
    }

    /// Nothing unavailable, with these rules for insufficient-capacity answers.
    pub fn with_settings(settings: CacheSettings) -> Self {
        Self {
            settings,
            selectors: Vec::new(),
            offerings: HashMap::new(),
            active_offerings: 0,
            avoided: Vec::new(),
        }
    }

    /// The rules in force.
    pub fn settings(&self) -> &CacheSettings {
        &self.settings
    }

    /// Marks every offering matching `selector` unavailable for good.
    pub fn mark(&mut self, selector: OfferingSelector) {
        match exact(&selector) {
            Some((instance_type, capacity_type, zone)) => {
                let record = self.record_mut(instance_type, capacity_type, zone);
                record.until = Duration::MAX;
                record.base_until = Duration::MAX;
                record.reason = UnavailableReason::Manual;
                self.activate(instance_type, capacity_type, zone);
            }
            None => {
                self.selectors.retain(|(existing, _)| *existing != selector);
                self.selectors.push((selector, None));
            }
        }
    }

    /// Marks every offering matching `selector` unavailable until `until` for `reason` (an
    /// existing entry is extended, never shortened). Returns the entry's expiry.
    pub fn mark_until(
        &mut self,
        selector: OfferingSelector,
        until: Duration,
        reason: UnavailableReason,
    ) -> Duration {
        match exact(&selector) {
            Some((instance_type, capacity_type, zone)) => {
                let record = self.record_mut(instance_type, capacity_type, zone);
                if !record.active || until > record.until {
                    record.reason = reason;
                }
                record.until = if record.active {
                    record.until.max(until)
                } else {
                    until
                };
                record.base_until = record.base_until.max(until);
                let expiry = record.until;
                self.activate(instance_type, capacity_type, zone);
                expiry
            }
            None => {
                if let Some((_, expiry)) = self
                    .selectors
                    .iter_mut()
                    .find(|(existing, _)| *existing == selector)
                {
                    if let Some(current) = expiry {
                        *current = (*current).max(until);
                    }
                    return expiry.unwrap_or(Duration::MAX);
                }
                self.selectors.push((selector, Some(until)));
                until
            }
        }
    }

    /// Records an insufficient-capacity answer for one offering at `now`: it is out for the
    /// TTL, or longer under backoff when it failed just before too. Returns until when.
    pub fn record_insufficient_capacity(
        &mut self,
        instance_type: &str,
        capacity_type: CapacityType,
        zone: &str,
        now: Duration,
    ) -> Duration {
        let settings = self.settings.clone();
        let record = self.record_mut(instance_type, capacity_type, zone);
        let consecutive = match (&settings.backoff, record.last_failure) {
            (Some(backoff), Some(last)) => {
                record.strikes > 0 && now.saturating_sub(last) <= backoff.reset_after
            }
            _ => false,
        };
        record.strikes = if consecutive { record.strikes + 1 } else { 1 };
        record.last_failure = Some(now);
        let stay = match &settings.backoff {
            Some(backoff) => {
                let doublings = (record.strikes - 1).min(16);
                settings
                    .ttl
                    .saturating_mul(1 << doublings)
                    .min(backoff.max_ttl.max(settings.ttl))
            }
            None => settings.ttl,
        };
        let until = now + stay;
        // A longer stay for another reason (an offering avoided for its interruptions) wins.
        if !record.active || record.until <= until {
            record.reason = UnavailableReason::InsufficientCapacity;
            record.until = until;
        }
        record.base_until = now + settings.ttl;
        let expiry = record.until;
        self.activate(instance_type, capacity_type, zone);
        expiry
    }

    /// Records that a node of this offering was interrupted at `now` (its failure time, for
    /// the hysteresis of returning to Spot; marking it out is a separate decision).
    pub fn record_interruption(
        &mut self,
        instance_type: &str,
        capacity_type: CapacityType,
        zone: &str,
        now: Duration,
    ) {
        let record = self.record_mut(instance_type, capacity_type, zone);
        record.last_failure = Some(record.last_failure.map_or(now, |last| last.max(now)));
    }

    /// Records a successful launch of one offering: its insufficient-capacity history is
    /// forgiven and, if it was out only for that, it is available again. Returns whether it
    /// became available.
    pub fn record_success(
        &mut self,
        instance_type: &str,
        capacity_type: CapacityType,
        zone: &str,
    ) -> bool {
        let Some(records) = self.offerings.get_mut(instance_type) else {
            return false;
        };
        let Some(position) = records
            .iter()
            .position(|(kind, name, _)| *kind == capacity_type && name == zone)
        else {
            return false;
        };
        let record = &mut records[position].2;
        record.strikes = 0;
        if record.active && record.reason == UnavailableReason::InsufficientCapacity {
            record.active = false;
            record.until = Duration::ZERO;
            record.base_until = Duration::ZERO;
            self.active_offerings -= 1;
            return true;
        }
        false
    }

    /// Drops the entries that expired at or before `now`; an offering's record is kept while
    /// its failures still count for backoff. Returns whether any offering became available.
    pub fn expire(&mut self, now: Duration) -> bool {
        let selectors_before = self.selectors.len();
        self.selectors
            .retain(|(_, until)| until.is_none_or(|until| until > now));
        let mut changed = self.selectors.len() != selectors_before;
        let reset_after = self
            .settings
            .backoff
            .as_ref()
            .map_or(Duration::ZERO, |backoff| backoff.reset_after);
        let mut deactivated = 0;
        self.offerings.retain(|_, records| {
            records.retain_mut(|(_, _, record)| {
                if record.active && record.until <= now {
                    record.active = false;
                    deactivated += 1;
                }
                record.active
                    || record
                        .last_failure
                        .is_some_and(|last| last + reset_after.max(HISTORY) > now)
            });
            !records.is_empty()
        });
        self.active_offerings -= deactivated;
        changed |= deactivated > 0;
        let avoided_before = self.avoided.len();
        self.avoided.retain(|avoided| avoided.until > now);
        changed |= self.avoided.len() != avoided_before;
        changed
    }

    /// Avoids a family in a zone, or a zone, for a capacity type until `until` (an existing
    /// avoidance is extended, never shortened). Returns its expiry.
    pub fn avoid_until(
        &mut self,
        level: AvoidLevel,
        capacity_type: CapacityType,
        zone: &str,
        until: Duration,
    ) -> Duration {
        match self.avoided.iter_mut().find(|avoided| {
            avoided.level == level && avoided.capacity_type == capacity_type && avoided.zone == zone
        }) {
            Some(avoided) => {
                avoided.until = avoided.until.max(until);
                avoided.until
            }
            None => {
                self.avoided.push(Avoided {
                    level,
                    capacity_type,
                    zone: zone.to_string(),
                    until,
                });
                until
            }
        }
    }

    /// Whether the offering is avoided (taken only when nothing else can serve; call
    /// [`Self::expire`] first).
    pub fn avoids(&self, instance_type: &str, capacity_type: CapacityType, zone: &str) -> bool {
        self.avoided.iter().any(|avoided| {
            avoided.capacity_type == capacity_type
                && avoided.zone == zone
                && match &avoided.level {
                    AvoidLevel::Zone => true,
                    AvoidLevel::FamilyInZone { family } => instance_family(instance_type) == family,
                }
        })
    }

    /// Whether a whole zone is avoided for a capacity type.
    pub fn avoids_zone(&self, capacity_type: CapacityType, zone: &str) -> bool {
        self.avoided.iter().any(|avoided| {
            avoided.level == AvoidLevel::Zone
                && avoided.capacity_type == capacity_type
                && avoided.zone == zone
        })
    }

    /// Whether anything is avoided.
    pub fn avoids_any(&self) -> bool {
        !self.avoided.is_empty()
    }

    /// Every family-in-zone and zone avoided now.
    pub fn avoided(&self) -> &[Avoided] {
        &self.avoided
    }

    /// Whether the offering is unavailable (call [`Self::expire`] first).
    pub fn contains(&self, instance_type: &str, capacity_type: CapacityType, zone: &str) -> bool {
        (self.active_offerings > 0
            && self
                .record(instance_type, capacity_type, zone)
                .is_some_and(OfferingRecord::is_active))
            || self
                .selectors
                .iter()
                .any(|(selector, _)| selector.matches(instance_type, capacity_type, zone))
    }

    /// What the cache remembers of one offering, active or not.
    pub fn record(
        &self,
        instance_type: &str,
        capacity_type: CapacityType,
        zone: &str,
    ) -> Option<&OfferingRecord> {
        self.offerings.get(instance_type).and_then(|records| {
            records
                .iter()
                .find(|(kind, name, _)| *kind == capacity_type && name == zone)
                .map(|(_, _, record)| record)
        })
    }

    /// The cache as a probe for returning to Spot sees it at `now`: backoff beyond the TTL of
    /// the latest insufficient-capacity answer does not count (a probe is one launch, not a
    /// storm), everything else does.
    pub fn probe_view(&self, now: Duration) -> UnavailableOfferings {
        let mut view = self.clone();
        let mut deactivated = 0;
        for records in view.offerings.values_mut() {
            for (_, _, record) in records.iter_mut() {
                if record.active
                    && record.reason == UnavailableReason::InsufficientCapacity
                    && record.base_until <= now
                {
                    record.active = false;
                    deactivated += 1;
                }
            }
        }
        view.active_offerings -= deactivated;
        view
    }

    /// Every offering out now, with its record, in no particular order.
    pub fn active(&self) -> impl Iterator<Item = (&str, CapacityType, &str, &OfferingRecord)> {
        self.offerings.iter().flat_map(|(instance_type, records)| {
            records.iter().filter(|(_, _, record)| record.active).map(
                move |(capacity_type, zone, record)| {
                    (
                        instance_type.as_str(),
                        *capacity_type,
                        zone.as_str(),
                        record,
                    )
                },
            )
        })
    }

    /// Whether nothing is marked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The number of entries in force (offerings and wide entries).
    pub fn len(&self) -> usize {
        self.active_offerings + self.selectors.len()
    }

    fn record_mut(
        &mut self,
        instance_type: &str,
        capacity_type: CapacityType,
        zone: &str,
    ) -> &mut OfferingRecord {
        let records = self.offerings.entry(instance_type.to_string()).or_default();
        let position = match records
            .iter()
            .position(|(kind, name, _)| *kind == capacity_type && name == zone)
        {
            Some(position) => position,
            None => {
                records.push((
                    capacity_type,
                    zone.to_string(),
                    OfferingRecord {
                        until: Duration::ZERO,
                        base_until: Duration::ZERO,
                        reason: UnavailableReason::InsufficientCapacity,
                        strikes: 0,
                        last_failure: None,
                        active: false,
                    },
                ));
                records.len() - 1
            }
        };
        &mut records[position].2
    }

    fn activate(&mut self, instance_type: &str, capacity_type: CapacityType, zone: &str) {
        let record = self.record_mut(instance_type, capacity_type, zone);
        if !record.active {
            record.active = true;
            self.active_offerings += 1;
        }
    }
}

/// How long an offering's failure time is remembered after it is available again, for the
/// hysteresis of returning to Spot.
const HISTORY: Duration = Duration::from_secs(3600);

fn exact(selector: &OfferingSelector) -> Option<(&str, CapacityType, &str)> {
    match selector {
        OfferingSelector {
            capacity_type: Some(capacity_type),
            instance_type: Some(instance_type),
            zone: Some(zone),
        } => Some((instance_type, *capacity_type, zone)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    fn backoff_cache() -> UnavailableOfferings {
        UnavailableOfferings::with_settings(CacheSettings {
            ttl: 3 * MINUTE,
            backoff: Some(Backoff {
                max_ttl: 20 * MINUTE,
                reset_after: 30 * MINUTE,
            }),
        })
    }

    #[test]
    fn selectors_match_on_every_field_that_is_set() {
        let mut unavailable = UnavailableOfferings::new();
        unavailable.mark(OfferingSelector::offering(
            "m5.large",
            CapacityType::Spot,
            "zone-a",
        ));
        unavailable.mark(OfferingSelector {
            capacity_type: None,
            instance_type: Some("c5.large".into()),
            zone: None,
        });
        let cases = [
            ("m5.large", CapacityType::Spot, "zone-a", true),
            ("m5.large", CapacityType::Spot, "zone-b", false),
            ("m5.large", CapacityType::OnDemand, "zone-a", false),
            ("c5.large", CapacityType::OnDemand, "zone-c", true),
            ("r5.large", CapacityType::Spot, "zone-a", false),
        ];
        for (instance_type, capacity_type, zone, expected) in cases {
            assert_eq!(
                unavailable.contains(instance_type, capacity_type, zone),
                expected,
                "{instance_type} {capacity_type} {zone}"
            );
        }
        assert_eq!(unavailable.len(), 2);
    }

    #[test]
    fn without_backoff_every_answer_keeps_the_offering_out_for_the_ttl() {
        let mut cache = UnavailableOfferings::new();
        for failure in 0..4u32 {
            let now = MINUTE * (10 * failure);
            let until =
                cache.record_insufficient_capacity("m5.large", CapacityType::Spot, "zone-a", now);
            assert_eq!(until, now + 3 * MINUTE, "failure {failure}");
            cache.expire(until);
            assert!(!cache.contains("m5.large", CapacityType::Spot, "zone-a"));
        }
    }

    #[test]
    fn backoff_doubles_consecutive_stays_up_to_the_maximum() {
        // (minutes since start of the failure, expected stay in minutes)
        let cases = [(0, 3), (3, 6), (9, 12), (21, 20), (41, 20), (120, 3)];
        let mut cache = backoff_cache();
        for (at, stay) in cases {
            let now = MINUTE * at;
            cache.expire(now);
            let until =
                cache.record_insufficient_capacity("m5.large", CapacityType::Spot, "zone-a", now);
            assert_eq!(until, now + MINUTE * stay, "failure at minute {at}");
        }
    }

    #[test]
    fn a_success_forgives_the_offering() {
        let mut cache = backoff_cache();
        cache.record_insufficient_capacity("m5.large", CapacityType::Spot, "zone-a", MINUTE);
        cache.record_insufficient_capacity("m5.large", CapacityType::Spot, "zone-a", 4 * MINUTE);
        assert!(cache.contains("m5.large", CapacityType::Spot, "zone-a"));
        assert!(cache.record_success("m5.large", CapacityType::Spot, "zone-a"));
        assert!(!cache.contains("m5.large", CapacityType::Spot, "zone-a"));
        assert_eq!(cache.len(), 0);
        let until = cache.record_insufficient_capacity(
            "m5.large",
            CapacityType::Spot,
            "zone-a",
            5 * MINUTE,
        );
        assert_eq!(until, 8 * MINUTE, "strikes start over");
    }

    #[test]
    fn a_probe_ignores_backoff_but_not_the_ttl_nor_interruptions() {
        let mut cache = backoff_cache();
        for at in [0, 3, 9] {
            cache.record_insufficient_capacity(
                "m5.large",
                CapacityType::Spot,
                "zone-a",
                MINUTE * at,
            );
        }
        cache.mark_until(
            OfferingSelector::offering("c5.large", CapacityType::Spot, "zone-a"),
            60 * MINUTE,
            UnavailableReason::InterruptionProne,
        );
        let cases = [
            (10, true, true),
            (12, true, false),
            (20, true, false),
            (21, false, false),
        ];
        for (at, out_for_provisioning, out_for_probe) in cases {
            let now = MINUTE * at;
            cache.expire(now);
            assert_eq!(
                cache.contains("m5.large", CapacityType::Spot, "zone-a"),
                out_for_provisioning,
                "provisioning at minute {at}"
            );
            let probe = cache.probe_view(now);
            assert_eq!(
                probe.contains("m5.large", CapacityType::Spot, "zone-a"),
                out_for_probe,
                "probe at minute {at}"
            );
            assert!(probe.contains("c5.large", CapacityType::Spot, "zone-a"));
        }
    }

    #[test]
    fn expiry_keeps_failure_times_for_a_while() {
        let mut cache = backoff_cache();
        cache.record_insufficient_capacity("m5.large", CapacityType::Spot, "zone-a", MINUTE);
        assert!(cache.expire(10 * MINUTE));
        assert!(!cache.contains("m5.large", CapacityType::Spot, "zone-a"));
        let record = cache
            .record("m5.large", CapacityType::Spot, "zone-a")
            .expect("kept for its history");
        assert_eq!(record.last_failure, Some(MINUTE));
        assert!(!cache.expire(30 * MINUTE));
        cache.expire(2 * HISTORY);
        assert!(
            cache
                .record("m5.large", CapacityType::Spot, "zone-a")
                .is_none()
        );
    }

    #[test]
    fn marks_are_extended_never_shortened() {
        let mut cache = UnavailableOfferings::new();
        let selector = OfferingSelector::offering("m5.large", CapacityType::Spot, "zone-a");
        cache.mark_until(
            selector.clone(),
            10 * MINUTE,
            UnavailableReason::SpotInterruption,
        );
        let until = cache.mark_until(selector, 5 * MINUTE, UnavailableReason::SpotInterruption);
        assert_eq!(until, 10 * MINUTE);
        cache.expire(9 * MINUTE);
        assert!(cache.contains("m5.large", CapacityType::Spot, "zone-a"));
        cache.expire(10 * MINUTE);
        assert!(!cache.contains("m5.large", CapacityType::Spot, "zone-a"));
    }

    #[test]
    fn avoided_families_and_zones_are_soft_and_expire() {
        let mut cache = UnavailableOfferings::new();
        let family = AvoidLevel::FamilyInZone {
            family: "m5".to_string(),
        };
        assert_eq!(
            cache.avoid_until(family.clone(), CapacityType::Spot, "a", 10 * MINUTE),
            10 * MINUTE
        );
        assert_eq!(
            cache.avoid_until(family, CapacityType::Spot, "a", 5 * MINUTE),
            10 * MINUTE
        );
        cache.avoid_until(AvoidLevel::Zone, CapacityType::Spot, "b", 20 * MINUTE);
        // (instance type, capacity type, zone, avoided before 10 min, avoided after)
        let cases = [
            ("m5.large", CapacityType::Spot, "a", true, false),
            ("m5.2xlarge", CapacityType::Spot, "a", true, false),
            ("m5d.large", CapacityType::Spot, "a", false, false),
            ("m5.large", CapacityType::OnDemand, "a", false, false),
            ("c5.large", CapacityType::Spot, "b", true, true),
            ("c5.large", CapacityType::OnDemand, "b", false, false),
            ("c5.large", CapacityType::Spot, "c", false, false),
        ];
        for (instance_type, capacity_type, zone, before, _) in cases {
            assert_eq!(
                cache.avoids(instance_type, capacity_type, zone),
                before,
                "{instance_type} {capacity_type} {zone} before"
            );
            assert!(!cache.contains(instance_type, capacity_type, zone));
        }
        assert!(cache.is_empty(), "avoided offerings are not unavailable");
        assert!(cache.expire(10 * MINUTE));
        for (instance_type, capacity_type, zone, _, after) in cases {
            assert_eq!(
                cache.avoids(instance_type, capacity_type, zone),
                after,
                "{instance_type} {capacity_type} {zone} after"
            );
        }
        assert!(cache.avoids_zone(CapacityType::Spot, "b"));
        assert!(cache.expire(20 * MINUTE));
        assert!(!cache.avoids_any());
    }
}

//! The simulated EC2: a [`CloudProvider`] whose offerings are the embedded catalog's real ones
//! (instance types, zones, on-demand and Spot prices, Spot-advisor interruption bands) and whose
//! Spot pools run out of capacity and come back, and interrupt running instances with a
//! 2-minute warning at the rate their band says.
//!
//! Everything is a function of the seed and the calls made, on a virtual clock the caller
//! passes in: the simulator asks for [`SimulatedCloud::next_event_time`] and calls
//! [`SimulatedCloud::advance`] to receive what happened. It also answers what EC2 tells up
//! front, Spot placement scores per zone, from its own ground truth.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::future::Future;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use spotter_core::instance_type::InstanceType;
use spotter_core::offering::CapacityType;
use spotter_core::placement_scores::PlacementScores;

use spotter_cloud::{CloudError, CloudProvider, Instance, LaunchRequest, Launched, OfferingKey};
use spotter_core::random::Random;

use crate::spot_pool::{MarketModel, Pool};

/// How long EC2 warns before it reclaims a Spot instance.
pub const SPOT_INTERRUPTION_WARNING: Duration = Duration::from_secs(120);
/// How long a terminating instance takes to be gone.
pub const SHUTDOWN_TIME: Duration = Duration::from_secs(30);

/// Something the simulated cloud did on its own.
#[derive(Clone, Debug, PartialEq)]
pub enum CloudEvent {
    /// EC2 will reclaim this Spot instance at `terminate_at`.
    SpotInterruptionWarning {
        /// The instance.
        instance_id: String,
        /// When it goes away.
        terminate_at: Duration,
    },
    /// The instance is gone.
    InstanceTerminated {
        /// The instance.
        instance_id: String,
    },
}

/// The simulated EC2 of one region: a [`CloudProvider`] (answering at once, on the virtual
/// clock [`SimulatedCloud::advance`] moves) and the market's own events.
#[derive(Debug)]
pub struct SimulatedCloud {
    market: Mutex<Market>,
}

/// The market behind the provider.
#[derive(Debug)]
struct Market {
    /// The virtual time, as last advanced.
    now: Duration,
    model: MarketModel,
    pools: BTreeMap<OfferingKey, Pool>,
    instances: BTreeMap<String, SimulatedInstance>,
    instance_by_claim: BTreeMap<String, String>,
    outages: Vec<Outage>,
    timeline: BinaryHeap<Reverse<(Duration, u64, TimelineEntry)>>,
    sequence: u64,
    next_instance: u64,
    random: Random,
}

#[derive(Debug)]
struct SimulatedInstance {
    instance: Instance,
    terminating: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum TimelineEntry {
    Interrupt(String),
    Terminate(String),
}

/// A forced lack of capacity (a scenario fault).
#[derive(Clone, Debug, PartialEq)]
pub struct Outage {
    /// Capacity type affected, or all.
    pub capacity_type: Option<CapacityType>,
    /// Zone affected, or all.
    pub zone: Option<String>,
    /// Instance type affected, or all.
    pub instance_type: Option<String>,
    /// From.
    pub start: Duration,
    /// Until.
    pub end: Duration,
}

impl Outage {
    /// Whether the outage applies to the offering (at some time).
    pub fn covers(&self, offering: &OfferingKey) -> bool {
        self.capacity_type
            .is_none_or(|capacity_type| capacity_type == offering.capacity_type)
            && self
                .zone
                .as_deref()
                .is_none_or(|zone| zone == offering.zone)
            && self
                .instance_type
                .as_deref()
                .is_none_or(|name| name == offering.instance_type)
    }
}

impl Market {
    fn new(instance_types: &[InstanceType], model: MarketModel, seed: u64) -> Self {
        let random = Random::new(seed);
        let mut pools = BTreeMap::new();
        for instance_type in instance_types {
            for offering in &instance_type.offerings {
                let key = OfferingKey {
                    capacity_type: offering.capacity_type,
                    instance_type: instance_type.name.clone(),
                    zone: offering.zone.clone(),
                };
                let settings = model.settings_for(&key, offering.interruption_band);
                let stream = Random::stream_of(&key.to_string());
                pools.insert(key, Pool::new(settings, random.fork(stream)));
            }
        }
        Self {
            now: Duration::ZERO,
            model,
            pools,
            instances: BTreeMap::new(),
            instance_by_claim: BTreeMap::new(),
            outages: Vec::new(),
            timeline: BinaryHeap::new(),
            sequence: 0,
            next_instance: 1,
            random: random.fork(0x1257),
        }
    }

    /// Adds a forced outage.
    pub fn add_outage(&mut self, outage: Outage) {
        self.outages.push(outage);
    }

    /// The Spot placement score of every zone at `now`, from the ground truth: 1 plus 9 times
    /// the share of the zone's Spot pools that have capacity and do not reclaim every node
    /// they launch, rounded (EC2's scores are 1 to 10 per Availability Zone).
    pub fn placement_scores(&self, now: Duration) -> PlacementScores {
        let keys: Vec<&OfferingKey> = self
            .pools
            .keys()
            .filter(|key| key.capacity_type == CapacityType::Spot)
            .collect();
        let mut by_zone: BTreeMap<String, (u32, u32)> = BTreeMap::new();
        for key in keys {
            let forced_out = self
                .outages
                .iter()
                .any(|outage| outage.start <= now && now < outage.end && outage.covers(key));
            let healthy = !forced_out
                && self
                    .pools
                    .get(key)
                    .is_some_and(|pool| pool.peek_available_at(now) && !pool.reclaims_at(now));
            let (good, all) = by_zone.entry(key.zone.clone()).or_default();
            *good += u32::from(healthy);
            *all += 1;
        }
        let mut scores = PlacementScores::default();
        for (zone, (good, all)) in by_zone {
            let share = f64::from(good) / f64::from(all.max(1));
            scores.set_spot(&zone, (1.0 + 9.0 * share).round() as u8);
        }
        scores
    }

    /// Whether an offering has capacity at `now`.
    pub fn has_capacity(&mut self, offering: &OfferingKey, now: Duration) -> bool {
        let forced_out = self
            .outages
            .iter()
            .any(|outage| outage.start <= now && now < outage.end && outage.covers(offering));
        if forced_out {
            return false;
        }
        match self.pools.get_mut(offering) {
            Some(pool) => pool.available_at(now),
            None => false,
        }
    }

    /// The earliest time in `from..=to` (`to` being now) at which any of `offerings` had
    /// capacity, outages and shortages both considered; `None` if none had any. This is the
    /// simulation's ground truth, which Spotter itself only learns by launching.
    pub fn capacity_since(
        &mut self,
        offerings: &[OfferingKey],
        from: Duration,
        to: Duration,
    ) -> Option<Duration> {
        let mut earliest: Option<Duration> = None;
        for offering in offerings {
            let Some(pool) = self.pools.get_mut(offering) else {
                continue;
            };
            pool.available_at(to);
            let outages: Vec<&Outage> = self
                .outages
                .iter()
                .filter(|outage| outage.covers(offering))
                .collect();
            let mut candidates: Vec<Duration> = std::iter::once(from)
                .chain(pool.returns_between(from, to))
                .chain(
                    outages
                        .iter()
                        .map(|outage| outage.end)
                        .filter(|end| *end > from && *end <= to),
                )
                .collect();
            candidates.sort();
            let found = candidates.into_iter().find(|&time| {
                pool.was_available_at(time)
                    && !outages
                        .iter()
                        .any(|outage| outage.start <= time && time < outage.end)
            });
            if let Some(time) = found {
                earliest = Some(earliest.map_or(time, |current| current.min(time)));
                if time == from {
                    break;
                }
            }
        }
        earliest
    }

    /// Interrupts the instance now (a scenario fault): a 2-minute warning follows at once.
    pub fn interrupt(&mut self, instance_id: &str, now: Duration) {
        self.schedule(now, TimelineEntry::Interrupt(instance_id.to_string()));
    }

    /// Every instance not terminated yet, without copying them.
    pub fn instances(&self) -> impl Iterator<Item = &Instance> {
        self.instances.values().map(|instance| &instance.instance)
    }

    /// Running Spot instances, for faults that pick among them.
    pub fn spot_instances(&self) -> Vec<&Instance> {
        self.instances
            .values()
            .filter(|instance| {
                !instance.terminating
                    && instance.instance.offering.capacity_type == CapacityType::Spot
            })
            .map(|instance| &instance.instance)
            .collect()
    }

    /// When the next event is due, if any.
    pub fn next_event_time(&self) -> Option<Duration> {
        self.timeline.peek().map(|Reverse((time, _, _))| *time)
    }

    /// Everything that happened up to `now`, in order.
    pub fn advance(&mut self, now: Duration) -> Vec<CloudEvent> {
        self.now = self.now.max(now);
        let mut events = Vec::new();
        while let Some(Reverse((time, _, _))) = self.timeline.peek() {
            if *time > now {
                break;
            }
            let Some(Reverse((time, _, entry))) = self.timeline.pop() else {
                break;
            };
            match entry {
                TimelineEntry::Interrupt(instance_id) => {
                    let Some(instance) = self.instances.get_mut(&instance_id) else {
                        continue;
                    };
                    if instance.terminating {
                        continue;
                    }
                    instance.terminating = true;
                    let terminate_at = time + SPOT_INTERRUPTION_WARNING;
                    self.schedule(terminate_at, TimelineEntry::Terminate(instance_id.clone()));
                    events.push(CloudEvent::SpotInterruptionWarning {
                        instance_id,
                        terminate_at,
                    });
                }
                TimelineEntry::Terminate(instance_id) => {
                    if let Some(instance) = self.instances.remove(&instance_id) {
                        self.instance_by_claim.remove(&instance.instance.node_claim);
                        if let Some(pool) = self.pools.get_mut(&instance.instance.offering) {
                            pool.release();
                        }
                        events.push(CloudEvent::InstanceTerminated { instance_id });
                    }
                }
            }
        }
        events
    }

    fn schedule(&mut self, time: Duration, entry: TimelineEntry) {
        self.sequence += 1;
        self.timeline.push(Reverse((time, self.sequence, entry)));
    }

    /// The market settings in force.
    pub fn model(&self) -> &MarketModel {
        &self.model
    }
}

impl Market {
    fn create(&mut self, request: &LaunchRequest) -> Result<Launched, CloudError> {
        let now = self.now;
        if let Some(instance) = self
            .instance_by_claim
            .get(&request.node_claim)
            .and_then(|instance_id| self.instances.get(instance_id))
        {
            return Ok(Launched {
                instance: instance.instance.clone(),
                unavailable: Vec::new(),
            });
        }
        if request.offerings.is_empty() {
            return Err(CloudError::InvalidRequest {
                reason: format!("NodeClaim {} asked for no offering", request.node_claim),
            });
        }
        let mut unavailable = Vec::new();
        for candidate in &request.offerings {
            if !self.has_capacity(&candidate.offering, now) {
                unavailable.push(candidate.offering.clone());
                continue;
            }
            let Some(pool) = self.pools.get_mut(&candidate.offering) else {
                unavailable.push(candidate.offering.clone());
                continue;
            };
            pool.acquire();
            let interruption_after = pool.draw_interruption_after(now);
            let id = format!("i-{:017x}", self.next_instance);
            let instance = Instance {
                provider_id: format!("sim:///{}/{id}", candidate.offering.zone),
                id,
                node_claim: request.node_claim.clone(),
                node_pool: request.node_pool.clone(),
                offering: candidate.offering.clone(),
                price_per_hour: candidate.price_per_hour,
                launched_at: now,
            };
            self.next_instance += 1;
            if let Some(after) = interruption_after {
                self.schedule(now + after, TimelineEntry::Interrupt(instance.id.clone()));
            }
            self.instance_by_claim
                .insert(request.node_claim.clone(), instance.id.clone());
            self.instances.insert(
                instance.id.clone(),
                SimulatedInstance {
                    instance: instance.clone(),
                    terminating: false,
                },
            );
            return Ok(Launched {
                instance,
                unavailable,
            });
        }
        Err(CloudError::InsufficientCapacity {
            offerings: unavailable,
        })
    }

    fn delete(&mut self, instance_id: &str) -> Result<(), CloudError> {
        let now = self.now;
        let Some(instance) = self.instances.get_mut(instance_id) else {
            return Err(CloudError::NotFound {
                what: format!("instance {instance_id}"),
            });
        };
        if !instance.terminating {
            instance.terminating = true;
            self.schedule(
                now + SHUTDOWN_TIME,
                TimelineEntry::Terminate(instance_id.to_string()),
            );
        }
        Ok(())
    }

    fn get(&self, node_claim: &str) -> Option<Instance> {
        self.instance_by_claim
            .get(node_claim)
            .and_then(|instance_id| self.instances.get(instance_id))
            .map(|instance| instance.instance.clone())
    }

    fn list(&self) -> Vec<Instance> {
        self.instances
            .values()
            .map(|instance| instance.instance.clone())
            .collect()
    }
}

impl SimulatedCloud {
    /// A cloud offering every offering of `instance_types`, seeded with `seed`.
    pub fn new(instance_types: &[InstanceType], model: MarketModel, seed: u64) -> Self {
        Self {
            market: Mutex::new(Market::new(instance_types, model, seed)),
        }
    }

    /// The market, without locking (the caller holds the cloud exclusively).
    fn market(&mut self) -> &mut Market {
        self.market
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The market, locked for a call through the provider trait.
    fn locked(&self) -> MutexGuard<'_, Market> {
        self.market.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a forced outage.
    pub fn add_outage(&mut self, outage: Outage) {
        self.market().add_outage(outage);
    }

    /// Whether an offering has capacity at `now`.
    pub fn has_capacity(&mut self, offering: &OfferingKey, now: Duration) -> bool {
        self.market().has_capacity(offering, now)
    }

    /// The up-front Spot placement score of every zone at `now` (see
    /// [`Market::placement_scores`]): what the AWS provider reads from EC2.
    pub fn placement_scores(&mut self, now: Duration) -> PlacementScores {
        self.market().placement_scores(now)
    }

    /// The earliest time in `from..=to` (`to` being now) at which any of `offerings` had
    /// capacity, outages and shortages both considered; `None` if none had any. This is the
    /// simulation's ground truth, which Spotter itself only learns by launching.
    pub fn capacity_since(
        &mut self,
        offerings: &[OfferingKey],
        from: Duration,
        to: Duration,
    ) -> Option<Duration> {
        self.market().capacity_since(offerings, from, to)
    }

    /// Interrupts the instance now (a scenario fault): a 2-minute warning follows at once.
    pub fn interrupt(&mut self, instance_id: &str, now: Duration) {
        self.market().interrupt(instance_id, now);
    }

    /// Every instance not terminated yet, without copying them.
    pub fn instances(&mut self) -> impl Iterator<Item = &Instance> {
        self.market().instances()
    }

    /// Running Spot instances, for faults that pick among them.
    pub fn spot_instances(&mut self) -> Vec<&Instance> {
        self.market().spot_instances()
    }

    /// When the next event is due, if any.
    pub fn next_event_time(&mut self) -> Option<Duration> {
        self.market().next_event_time()
    }

    /// Moves the virtual clock to `now`; returns everything that happened up to then, in
    /// order.
    pub fn advance(&mut self, now: Duration) -> Vec<CloudEvent> {
        self.market().advance(now)
    }

    /// The market settings in force.
    pub fn model(&mut self) -> &MarketModel {
        self.market().model()
    }

    /// A deterministic draw for callers that pick among instances (e.g. a fault's fraction).
    pub fn draw_unit(&mut self) -> f64 {
        self.market().random.unit()
    }
}

impl CloudProvider for SimulatedCloud {
    fn create(
        &self,
        request: &LaunchRequest,
    ) -> impl Future<Output = Result<Launched, CloudError>> + Send {
        std::future::ready(self.locked().create(request))
    }

    fn delete(&self, instance_id: &str) -> impl Future<Output = Result<(), CloudError>> + Send {
        std::future::ready(self.locked().delete(instance_id))
    }

    fn get(
        &self,
        node_claim: &str,
    ) -> impl Future<Output = Result<Option<Instance>, CloudError>> + Send {
        std::future::ready(Ok(self.locked().get(node_claim)))
    }

    fn list(&self) -> impl Future<Output = Result<Vec<Instance>, CloudError>> + Send {
        std::future::ready(Ok(self.locked().list()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spotter_cloud::OfferingRequest;
    use spotter_cloud::ready::now_or_never;
    use spotter_core::builders::instance_type;

    use crate::spot_pool::PoolOverride;

    fn cloud(model: MarketModel) -> SimulatedCloud {
        let types = vec![
            instance_type("m5.large")
                .offering(CapacityType::Spot, "zone-a", 0.04)
                .offering(CapacityType::Spot, "zone-b", 0.05)
                .offering(CapacityType::OnDemand, "zone-a", 0.1)
                .build(),
        ];
        SimulatedCloud::new(&types, model, 1)
    }

    /// Launches at a virtual time through the provider trait.
    fn create_at(
        cloud: &mut SimulatedCloud,
        request: &LaunchRequest,
        now: Duration,
    ) -> Result<Launched, CloudError> {
        cloud.advance(now);
        now_or_never(cloud.create(request)).expect("the simulated cloud answers at once")
    }

    fn request(claim: &str, offerings: &[(CapacityType, &str)]) -> LaunchRequest {
        LaunchRequest {
            node_claim: claim.into(),
            node_pool: "pool".into(),
            node_class: "default".into(),
            allocation: Default::default(),
            labels: Default::default(),
            taints: Vec::new(),
            offerings: offerings
                .iter()
                .map(|(capacity_type, zone)| OfferingRequest {
                    offering: OfferingKey {
                        capacity_type: *capacity_type,
                        instance_type: "m5.large".into(),
                        zone: (*zone).into(),
                    },
                    price_per_hour: 0.04,
                })
                .collect(),
        }
    }

    #[test]
    fn launches_are_idempotent_per_node_claim() {
        let mut cloud = cloud(MarketModel::calm());
        let first = create_at(
            &mut cloud,
            &request("claim-1", &[(CapacityType::Spot, "zone-a")]),
            Duration::ZERO,
        );
        let second = create_at(
            &mut cloud,
            &request("claim-1", &[(CapacityType::Spot, "zone-a")]),
            Duration::from_secs(5),
        );
        let (Ok(first), Ok(second)) = (first, second) else {
            panic!("both launches succeed");
        };
        assert_eq!(first.instance.id, second.instance.id);
        assert_eq!(
            now_or_never(cloud.list())
                .expect("ready")
                .map(|list| list.len()),
            Ok(1)
        );
    }

    #[test]
    fn an_outage_answers_insufficient_capacity_naming_the_offerings() {
        let mut cloud = cloud(MarketModel::calm());
        cloud.add_outage(Outage {
            capacity_type: Some(CapacityType::Spot),
            zone: Some("zone-a".into()),
            instance_type: None,
            start: Duration::ZERO,
            end: Duration::from_secs(3600),
        });
        let only_a = create_at(
            &mut cloud,
            &request("claim-1", &[(CapacityType::Spot, "zone-a")]),
            Duration::from_secs(10),
        );
        match only_a {
            Err(CloudError::InsufficientCapacity { offerings }) => {
                assert_eq!(offerings.len(), 1);
                assert_eq!(offerings[0].zone, "zone-a");
            }
            other => panic!("expected insufficient capacity, got {other:?}"),
        }
        let a_then_b = create_at(
            &mut cloud,
            &request(
                "claim-2",
                &[
                    (CapacityType::Spot, "zone-a"),
                    (CapacityType::Spot, "zone-b"),
                ],
            ),
            Duration::from_secs(10),
        );
        let Ok(launched) = a_then_b else {
            panic!("zone-b has capacity");
        };
        assert_eq!(launched.instance.offering.zone, "zone-b");
        assert_eq!(launched.unavailable.len(), 1);
        // After the outage zone-a launches again.
        assert!(
            create_at(
                &mut cloud,
                &request("claim-3", &[(CapacityType::Spot, "zone-a")]),
                Duration::from_secs(3600)
            )
            .is_ok()
        );
    }

    #[test]
    fn placement_scores_follow_the_ground_truth() {
        let hour = Duration::from_secs(3600);
        let mut model = MarketModel::calm();
        model.overrides.push(PoolOverride {
            zone: Some("zone-b".into()),
            capacity_type: Some(CapacityType::Spot),
            interruption_interval: Some(Duration::from_secs(1800)),
            interruption_until: Some(2 * hour),
            ..PoolOverride::default()
        });
        let mut cloud = cloud(model);
        cloud.add_outage(Outage {
            capacity_type: Some(CapacityType::Spot),
            zone: Some("zone-a".into()),
            instance_type: None,
            start: hour,
            end: 3 * hour,
        });
        // (time, zone-a's score, zone-b's score): zone-a out from 1 h to 3 h, zone-b
        // reclaiming every node until 2 h; on-demand pools have no score.
        let cases = [
            (Duration::ZERO, 10, 1),
            (hour, 1, 1),
            (2 * hour, 1, 10),
            (3 * hour, 10, 10),
        ];
        for (now, zone_a, zone_b) in cases {
            let scores = cloud.placement_scores(now);
            assert_eq!(scores.spot("zone-a"), Some(zone_a), "zone-a at {now:?}");
            assert_eq!(scores.spot("zone-b"), Some(zone_b), "zone-b at {now:?}");
            assert_eq!(scores.iter().count(), 2, "at {now:?}");
        }
        // Launched before 2 h, a zone-b node is interrupted 30 minutes after; after, never
        // (the calm market interrupts nothing else).
        let before = create_at(
            &mut cloud,
            &request("claim-1", &[(CapacityType::Spot, "zone-b")]),
            hour,
        );
        let mut events = cloud.advance(2 * hour);
        let after = create_at(
            &mut cloud,
            &request("claim-2", &[(CapacityType::Spot, "zone-b")]),
            2 * hour,
        );
        let (Ok(before), Ok(_)) = (before, after) else {
            panic!("zone-b has capacity");
        };
        events.extend(cloud.advance(10 * hour));
        let warned: Vec<String> = events
            .into_iter()
            .filter_map(|event| match event {
                CloudEvent::SpotInterruptionWarning { instance_id, .. } => Some(instance_id),
                _ => None,
            })
            .collect();
        assert_eq!(warned, [before.instance.id]);
    }

    #[test]
    fn interruptions_warn_two_minutes_before_termination() {
        let mut cloud = cloud(MarketModel::calm());
        let Ok(launched) = create_at(
            &mut cloud,
            &request("claim-1", &[(CapacityType::Spot, "zone-a")]),
            Duration::ZERO,
        ) else {
            panic!("launch succeeds");
        };
        let id = launched.instance.id;
        cloud.interrupt(&id, Duration::from_secs(100));
        assert_eq!(cloud.next_event_time(), Some(Duration::from_secs(100)));
        let events = cloud.advance(Duration::from_secs(100));
        assert_eq!(
            events,
            vec![CloudEvent::SpotInterruptionWarning {
                instance_id: id.clone(),
                terminate_at: Duration::from_secs(220),
            }]
        );
        assert!(cloud.advance(Duration::from_secs(219)).is_empty());
        assert_eq!(
            cloud.advance(Duration::from_secs(220)),
            vec![CloudEvent::InstanceTerminated { instance_id: id }]
        );
        assert_eq!(now_or_never(cloud.list()).expect("ready"), Ok(Vec::new()));
    }

    #[test]
    fn capacity_since_finds_when_an_outage_ended() {
        let mut cloud = cloud(MarketModel::calm());
        let hour = Duration::from_secs(3600);
        cloud.add_outage(Outage {
            capacity_type: Some(CapacityType::Spot),
            zone: None,
            instance_type: None,
            start: hour,
            end: 3 * hour,
        });
        cloud.add_outage(Outage {
            capacity_type: Some(CapacityType::Spot),
            zone: Some("zone-b".into()),
            instance_type: None,
            start: 3 * hour,
            end: 4 * hour,
        });
        let key = |zone: &str| OfferingKey {
            capacity_type: CapacityType::Spot,
            instance_type: "m5.large".into(),
            zone: zone.into(),
        };
        // (offerings, from, to, expected)
        let cases = [
            (vec![key("zone-a")], 2 * hour, 5 * hour, Some(3 * hour)),
            (vec![key("zone-b")], 2 * hour, 5 * hour, Some(4 * hour)),
            (
                vec![key("zone-a"), key("zone-b")],
                2 * hour,
                5 * hour,
                Some(3 * hour),
            ),
            (vec![key("zone-b")], 2 * hour, 3 * hour + hour / 2, None),
            (
                vec![key("zone-a")],
                Duration::ZERO,
                hour,
                Some(Duration::ZERO),
            ),
        ];
        for (offerings, from, to, expected) in cases {
            assert_eq!(
                cloud.capacity_since(&offerings, from, to),
                expected,
                "{offerings:?} from {from:?} to {to:?}"
            );
        }
    }

    #[test]
    fn deleting_an_unknown_instance_is_not_found() {
        let cloud = cloud(MarketModel::calm());
        assert!(matches!(
            now_or_never(cloud.delete("i-missing")).expect("ready"),
            Err(CloudError::NotFound { .. })
        ));
    }
}

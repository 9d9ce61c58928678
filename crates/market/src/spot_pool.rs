//! The Spot market model: per pool (capacity type × instance type × zone), alternating
//! periods with and without capacity, and the interruption rate of running instances derived
//! from the pool's Spot-advisor band (the band is the share of instances interrupted per month).

use std::time::Duration;

use spotter_core::offering::CapacityType;

use spotter_cloud::OfferingKey;
use spotter_core::random::Random;

/// A month, as the Spot Instance Advisor counts it.
pub const MONTH: Duration = Duration::from_secs(30 * 24 * 3600);

/// The share of instances interrupted per month at the middle of each advisor band
/// (`<5%`, `5-10%`, `10-15%`, `15-20%`, `>20%`; the last band is taken as 25%).
pub const BAND_MONTHLY_SHARE: [f64; 5] = [0.025, 0.075, 0.125, 0.175, 0.25];

/// Market-wide settings, with overrides per pool.
#[derive(Clone, Debug, PartialEq)]
pub struct MarketModel {
    /// Mean time between capacity shortages of one Spot pool.
    pub spot_ice_mean_interval: Duration,
    /// Mean length of a shortage.
    pub spot_ice_mean_duration: Duration,
    /// Multiplies every band's interruption rate.
    pub interruption_scale: f64,
    /// Per-pool overrides, the first matching one wins.
    pub overrides: Vec<PoolOverride>,
}

/// Settings for the pools an override matches.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PoolOverride {
    /// Capacity type matched, or all.
    pub capacity_type: Option<CapacityType>,
    /// Instance type matched, or all.
    pub instance_type: Option<String>,
    /// Zone matched, or all.
    pub zone: Option<String>,
    /// Replaces the mean time between shortages.
    pub ice_mean_interval: Option<Duration>,
    /// Replaces the mean shortage length.
    pub ice_mean_duration: Option<Duration>,
    /// Replaces the interruption scale.
    pub interruption_scale: Option<f64>,
    /// Interrupts each instance exactly this long after launch.
    pub interruption_interval: Option<Duration>,
    /// `interruption_interval` holds for instances launched before this time only (the pool
    /// recovers then); `None`: for the whole run.
    pub interruption_until: Option<Duration>,
}

/// The settings one pool runs with.
#[derive(Clone, Debug, PartialEq)]
pub struct PoolSettings {
    /// Whether the pool ever runs short (Spot pools, and pools an override says so for).
    pub has_shortages: bool,
    /// Mean time between shortages.
    pub ice_mean_interval: Duration,
    /// Mean shortage length.
    pub ice_mean_duration: Duration,
    /// Mean time from launch to interruption, if instances are interrupted at random.
    pub interruption_mean: Option<Duration>,
    /// Deterministic interruption after launch.
    pub interruption_interval: Option<Duration>,
    /// ... for instances launched before this time (`None`: always).
    pub interruption_until: Option<Duration>,
}

impl MarketModel {
    /// Shortages once a day per pool for half an hour on average; interruptions at the
    /// advisor's rates.
    pub fn realistic() -> Self {
        Self {
            spot_ice_mean_interval: Duration::from_secs(24 * 3600),
            spot_ice_mean_duration: Duration::from_secs(30 * 60),
            interruption_scale: 1.0,
            overrides: Vec::new(),
        }
    }

    /// No shortages and no interruptions unless forced: for tests.
    pub fn calm() -> Self {
        Self {
            spot_ice_mean_interval: Duration::ZERO,
            spot_ice_mean_duration: Duration::ZERO,
            interruption_scale: 0.0,
            overrides: Vec::new(),
        }
    }

    /// The settings of one pool, given its advisor band.
    pub fn settings_for(&self, key: &OfferingKey, band: Option<u8>) -> PoolSettings {
        let matching = self.overrides.iter().find(|candidate| {
            candidate
                .capacity_type
                .is_none_or(|capacity_type| capacity_type == key.capacity_type)
                && candidate
                    .instance_type
                    .as_deref()
                    .is_none_or(|name| name == key.instance_type)
                && candidate
                    .zone
                    .as_deref()
                    .is_none_or(|zone| zone == key.zone)
        });
        let spot = key.capacity_type == CapacityType::Spot;
        let ice_mean_interval = matching
            .and_then(|candidate| candidate.ice_mean_interval)
            .unwrap_or(self.spot_ice_mean_interval);
        let ice_mean_duration = matching
            .and_then(|candidate| candidate.ice_mean_duration)
            .unwrap_or(self.spot_ice_mean_duration);
        let has_shortages = (spot
            || matching
                .and_then(|candidate| candidate.ice_mean_interval)
                .is_some())
            && !ice_mean_interval.is_zero()
            && !ice_mean_duration.is_zero();
        let scale = matching
            .and_then(|candidate| candidate.interruption_scale)
            .unwrap_or(self.interruption_scale);
        let interruption_mean = if spot && scale > 0.0 {
            let share = BAND_MONTHLY_SHARE[usize::from(band.unwrap_or(2).min(4))];
            // P(interrupted within a month) = share = 1 - exp(-rate * month).
            let rate_per_second = -(1.0 - share).ln() / MONTH.as_secs_f64() * scale;
            Some(Duration::from_secs_f64(1.0 / rate_per_second))
        } else {
            None
        };
        PoolSettings {
            has_shortages,
            ice_mean_interval,
            ice_mean_duration,
            interruption_mean,
            interruption_interval: matching.and_then(|candidate| candidate.interruption_interval),
            interruption_until: matching.and_then(|candidate| candidate.interruption_until),
        }
    }
}

/// One pool's state: its own random stream, its next capacity change, the changes so far
/// (for questions about the past), its running count.
#[derive(Clone, Debug)]
pub(super) struct Pool {
    settings: PoolSettings,
    random: Random,
    available: bool,
    next_change: Duration,
    /// The times capacity went away or came back, oldest first (it starts available).
    changes: Vec<Duration>,
    running: u32,
}

impl Pool {
    pub fn new(settings: PoolSettings, mut random: Random) -> Self {
        let next_change = if settings.has_shortages {
            Duration::from_secs_f64(random.exponential(settings.ice_mean_interval.as_secs_f64()))
        } else {
            Duration::MAX
        };
        Self {
            settings,
            random,
            available: true,
            next_change,
            changes: Vec::new(),
            running: 0,
        }
    }

    /// Whether the pool has capacity at `now` (times must not go backwards).
    pub fn available_at(&mut self, now: Duration) -> bool {
        while self.next_change <= now {
            self.available = !self.available;
            self.changes.push(self.next_change);
            let mean = if self.available {
                self.settings.ice_mean_interval
            } else {
                self.settings.ice_mean_duration
            };
            let length =
                Duration::from_secs_f64(self.random.exponential(mean.as_secs_f64()).max(1.0));
            self.next_change = self.next_change.saturating_add(length);
        }
        self.available
    }

    /// Whether the pool has capacity at `now`, asked of a copy: the pool's own random stream
    /// is not drawn from, so that asking changes nothing that follows.
    pub fn peek_available_at(&self, now: Duration) -> bool {
        if self.next_change > now {
            return self.available;
        }
        self.clone().available_at(now)
    }

    /// Whether the pool had capacity at `time`, which must not be after the latest time asked
    /// of [`Self::available_at`].
    pub fn was_available_at(&self, time: Duration) -> bool {
        self.changes.partition_point(|change| *change <= time) % 2 == 0
    }

    /// The times after `from` and up to `to` when capacity came back (asked after
    /// [`Self::available_at`]`(to)`).
    pub fn returns_between(&self, from: Duration, to: Duration) -> impl Iterator<Item = Duration> {
        let start = self.changes.partition_point(|change| *change <= from);
        self.changes
            .iter()
            .enumerate()
            .skip(start)
            .take_while(move |(_, change)| **change <= to)
            .filter(|(index, _)| index % 2 == 1)
            .map(|(_, change)| *change)
    }

    pub fn acquire(&mut self) {
        self.running += 1;
    }

    pub fn release(&mut self) {
        self.running = self.running.saturating_sub(1);
    }

    /// Whether instances launched at `now` get the deterministic interruption.
    pub fn reclaims_at(&self, now: Duration) -> bool {
        self.settings.interruption_interval.is_some()
            && self
                .settings
                .interruption_until
                .is_none_or(|until| now < until)
    }

    /// How long after a launch at `now` a new instance of this pool will be interrupted, if
    /// ever.
    pub fn draw_interruption_after(&mut self, now: Duration) -> Option<Duration> {
        if let Some(interval) = self.settings.interruption_interval
            && self.reclaims_at(now)
        {
            return Some(interval);
        }
        self.settings.interruption_mean.map(|mean| {
            Duration::from_secs_f64(self.random.exponential(mean.as_secs_f64()).max(1.0))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spot_key() -> OfferingKey {
        OfferingKey {
            capacity_type: CapacityType::Spot,
            instance_type: "m5.large".into(),
            zone: "zone-a".into(),
        }
    }

    #[test]
    fn interruption_rate_follows_the_band() {
        let model = MarketModel::realistic();
        let calm_band = model.settings_for(&spot_key(), Some(0)).interruption_mean;
        let hot_band = model.settings_for(&spot_key(), Some(4)).interruption_mean;
        let (Some(calm_band), Some(hot_band)) = (calm_band, hot_band) else {
            panic!("Spot pools are interrupted");
        };
        assert!(hot_band < calm_band);
        // <5% a month: mean time to interruption is about 39 months.
        let months = calm_band.as_secs_f64() / MONTH.as_secs_f64();
        assert!((38.0..41.0).contains(&months), "{months}");
        let on_demand = OfferingKey {
            capacity_type: CapacityType::OnDemand,
            ..spot_key()
        };
        assert_eq!(model.settings_for(&on_demand, None).interruption_mean, None);
        assert!(!model.settings_for(&on_demand, None).has_shortages);
    }

    #[test]
    fn pools_alternate_between_capacity_and_shortage() {
        let settings = MarketModel::realistic().settings_for(&spot_key(), Some(1));
        let mut pool = Pool::new(settings, Random::new(3));
        let mut available_minutes = 0;
        let minutes = 60 * 24 * 60;
        for minute in 0..minutes {
            if pool.available_at(Duration::from_secs(minute * 60)) {
                available_minutes += 1;
            }
        }
        // Mean 24 h up, 30 min down: about 98% available.
        let share = available_minutes as f64 / minutes as f64;
        assert!((0.95..0.995).contains(&share), "{share}");
    }

    #[test]
    fn pools_remember_when_capacity_went_and_came_back() {
        let settings = MarketModel::realistic().settings_for(&spot_key(), Some(1));
        let mut pool = Pool::new(settings, Random::new(3));
        let end = Duration::from_secs(30 * 24 * 3600);
        let step = Duration::from_secs(60);
        let mut live = Vec::new();
        let mut time = Duration::ZERO;
        while time < end {
            live.push((time, pool.available_at(time)));
            time += step;
        }
        for (time, available) in live {
            assert_eq!(pool.was_available_at(time), available, "at {time:?}");
        }
        let returns: Vec<Duration> = pool.returns_between(Duration::ZERO, end).collect();
        assert!(!returns.is_empty());
        for back in returns {
            assert!(pool.was_available_at(back));
            assert!(!pool.was_available_at(back - Duration::from_millis(1)));
        }
    }

    #[test]
    fn overrides_apply_to_matching_pools_only() {
        let mut model = MarketModel::realistic();
        model.overrides.push(PoolOverride {
            zone: Some("zone-a".into()),
            interruption_interval: Some(Duration::from_secs(1200)),
            ..PoolOverride::default()
        });
        assert_eq!(
            model
                .settings_for(&spot_key(), Some(0))
                .interruption_interval,
            Some(Duration::from_secs(1200))
        );
        let other_zone = OfferingKey {
            zone: "zone-b".into(),
            ..spot_key()
        };
        assert_eq!(
            model
                .settings_for(&other_zone, Some(0))
                .interruption_interval,
            None
        );
    }
}

//! NodePool limits during one solve. Karpenter counts a planned NodeClaim against its pool's
//! limits at the largest instance type it may launch, so with `limits: {cpu: 1000}` a dozen
//! one-pod claims (each free to launch a 192-vCPU type) exhaust a pool that would hold a
//! hundred small nodes. Spotter narrows instead: each pool has a *size cap* (an instance
//! type's size is the largest share of a limit one node takes), and when a new claim would not
//! fit within what is left, the cap is lowered to the largest level at which every claim of the
//! pool, narrowed to the candidates no larger than the cap, still fits. A claim is never
//! narrowed below what keeps its `minValues` and its zones and capacity types. Only when no
//! level fits does the pod spill to the next pool; when the pool would still have room if the
//! claims launched their smallest candidates, the reason says so.

use crate::resources::{self, Resources};

use super::{Solver, release_resources, within};
use crate::requirements::Requirements;

impl Solver<'_> {
    /// The candidates of `fitting` a new claim of pool `pool_index` may have now: no larger
    /// than the pool's size cap (or its floor) and each within what is left of the limits.
    pub(super) fn within_limits(
        &self,
        pool_index: usize,
        fitting: &[u32],
        requirements: &Requirements,
    ) -> Vec<u32> {
        let pool = &self.pools[pool_index];
        let level = if pool.size_cap.is_finite() {
            pool.size_cap
                .max(self.floor_level(pool_index, fitting, requirements, false))
        } else {
            f64::INFINITY
        };
        fitting
            .iter()
            .copied()
            .filter(|&index| {
                let capacity = &self.input.instance_types[index as usize].capacity;
                (level.is_infinite() || self.type_size(pool_index, index) <= level)
                    && within(&pool.remaining, capacity)
            })
            .collect()
    }

    /// Lowers pool `pool_index`'s size cap to the largest level at which its claims, narrowed,
    /// leave room for a new claim with candidates `fitting`, and narrows them; false (and
    /// nothing changed) when no level does.
    pub(super) fn lower_size_cap(
        &mut self,
        pool_index: usize,
        fitting: &[u32],
        requirements: &Requirements,
    ) -> bool {
        if self.pools[pool_index].limit_scale.is_empty() {
            return false;
        }
        let claims = self.pools[pool_index].claims.clone();
        for &claim in &claims {
            self.ensure_floor(claim);
        }
        let base = self.base_remaining(pool_index);
        let cap = self.pools[pool_index].size_cap;
        let mut levels: Vec<f64> = claims
            .iter()
            .flat_map(|&claim| self.claims[claim].instance_types.iter().copied())
            .chain(fitting.iter().copied())
            .map(|index| self.type_size(pool_index, index))
            .filter(|&size| size < cap)
            .collect();
        levels.sort_by(|left, right| right.total_cmp(left));
        levels.dedup();
        let new_floor = self.floor_level(pool_index, fitting, requirements, false);
        // Fitting is monotone: a lower level charges every claim less. Find the largest level
        // that fits (levels are in descending order).
        let fits = |level: f64| {
            let mut room = base.clone();
            for &claim in &claims {
                let kept = self.kept_at(pool_index, claim, level);
                reserve_resources(&mut room, &self.charge_of(&kept));
            }
            let new_level = level.max(new_floor);
            fitting.iter().any(|&index| {
                self.type_size(pool_index, index) <= new_level
                    && within(&room, &self.input.instance_types[index as usize].capacity)
            })
        };
        let first_fitting = levels.partition_point(|&level| !fits(level));
        let Some(&level) = levels.get(first_fitting) else {
            return false;
        };
        for &claim in &claims {
            let kept = self.kept_at(pool_index, claim, level);
            if kept.len() == self.claims[claim].instance_types.len() {
                continue;
            }
            let largest = self.largest_allocatable(&kept);
            self.claims[claim].narrow(kept, largest);
            self.recharge(claim);
        }
        self.pools[pool_index].size_cap = level;
        self.changes += 1;
        true
    }

    /// Why pool `pool_index` cannot take a new claim with candidates `fitting`: its limits are
    /// reached, or they would have room if the planned claims launched their smallest types.
    pub(super) fn limits_reason(&self, pool_index: usize, fitting: &[u32]) -> String {
        let pool = &self.pools[pool_index];
        let left: Vec<String> = pool
            .remaining
            .iter()
            .filter(|(name, _)| name != resources::NODES)
            .map(|(name, left)| {
                format!(
                    "{name} {} left",
                    resources::format_amount(name, (*left).max(0))
                )
            })
            .collect();
        let mut optimistic = self.base_remaining(pool_index);
        for &claim in &pool.claims {
            let mut smallest: Option<Resources> = None;
            for &index in &self.claims[claim].instance_types {
                let capacity = &self.input.instance_types[index as usize].capacity;
                smallest = Some(match smallest {
                    None => capacity.clone(),
                    Some(smallest) => minimum(&smallest, capacity),
                });
            }
            if let Some(smallest) = smallest {
                reserve_resources(&mut optimistic, &smallest);
            }
        }
        let room_if_smaller = fitting.iter().any(|&index| {
            within(
                &optimistic,
                &self.input.instance_types[index as usize].capacity,
            )
        });
        if room_if_smaller {
            format!(
                "limits leave room only if in-flight NodeClaims launch smaller instance types than the largest they may launch ({} when each is counted at its largest)",
                left.join(", ")
            )
        } else {
            format!("limits reached: {}", left.join(", "))
        }
    }

    /// The largest capacity of `candidates`, resource by resource: what a claim is counted at.
    pub(super) fn charge_of(&self, candidates: &[u32]) -> Resources {
        let mut largest = Resources::new();
        for &index in candidates {
            largest = largest.max(&self.input.instance_types[index as usize].capacity);
        }
        largest
    }

    /// Counts claim `claim_index` at its current candidates (which only ever shrink).
    pub(super) fn recharge(&mut self, claim_index: usize) {
        let claim = &self.claims[claim_index];
        let pool_index = claim.pool;
        // Candidates only ever shrink: as many as when last counted is the same list.
        if self.pools[pool_index].limit_scale.is_empty()
            || claim.charged_count == claim.instance_types.len()
        {
            return;
        }
        let charged = self.charge_of(&claim.instance_types);
        let claim = &mut self.claims[claim_index];
        claim.charged_count = claim.instance_types.len();
        let previous = std::mem::replace(&mut claim.charged, charged.clone());
        let remaining = &mut self.pools[pool_index].remaining;
        release_resources(remaining, &previous);
        reserve_resources(remaining, &charged);
    }

    /// The size of instance type `index` for pool `pool_index`: the largest share of one of the
    /// pool's limits its capacity takes.
    fn type_size(&self, pool_index: usize, index: u32) -> f64 {
        let capacity = &self.input.instance_types[index as usize].capacity;
        self.pools[pool_index]
            .limit_scale
            .iter()
            .map(|(name, limit)| capacity.get(name) as f64 / limit)
            .fold(0.0, f64::max)
    }

    /// What is left of pool `pool_index`'s limits with none of its claims counted.
    fn base_remaining(&self, pool_index: usize) -> Vec<(String, i64)> {
        let pool = &self.pools[pool_index];
        let mut base = pool.remaining.clone();
        for &claim in &pool.claims {
            release_resources(&mut base, &self.claims[claim].charged);
        }
        base
    }

    /// Claim `claim`'s candidates at size cap `level` (never below its floor).
    fn kept_at(&self, pool_index: usize, claim: usize, level: f64) -> Vec<u32> {
        let state = &self.claims[claim];
        let floor = state.floor.map_or(f64::INFINITY, |(_, floor)| floor);
        let level = level.max(floor);
        state
            .instance_types
            .iter()
            .copied()
            .filter(|&index| self.type_size(pool_index, index) <= level)
            .collect()
    }

    /// Computes claim `claim`'s floor unless it is known for its current candidates.
    fn ensure_floor(&mut self, claim: usize) {
        let state = &self.claims[claim];
        if state
            .floor
            .is_some_and(|(count, _)| count == state.instance_types.len())
        {
            return;
        }
        let floor = self.floor_level(state.pool, &state.instance_types, &state.requirements, true);
        let state = &mut self.claims[claim];
        state.floor = Some((state.instance_types.len(), floor));
    }

    /// The lowest size cap at which `candidates` keep their `minValues` and (with
    /// `keep_domains`, for a claim that may still land in several zones or capacity types)
    /// every zone and capacity type they offer.
    fn floor_level(
        &self,
        pool_index: usize,
        candidates: &[u32],
        requirements: &Requirements,
        keep_domains: bool,
    ) -> f64 {
        let mut sizes: Vec<f64> = candidates
            .iter()
            .map(|&index| self.type_size(pool_index, index))
            .collect();
        sizes.sort_by(f64::total_cmp);
        sizes.dedup();
        let has_min_values = requirements
            .iter()
            .any(|(_, requirement)| requirement.min_values().is_some());
        let full_domains = keep_domains
            .then(|| self.domains(candidates, requirements))
            .filter(|(zones, capacity_types)| zones.len() > 1 || capacity_types.len() > 1);
        if !has_min_values && full_domains.is_none() {
            return sizes.first().copied().unwrap_or(f64::INFINITY);
        }
        for &level in &sizes {
            let kept: Vec<u32> = candidates
                .iter()
                .copied()
                .filter(|&index| self.type_size(pool_index, index) <= level)
                .collect();
            if has_min_values && !self.min_values_met(&kept, requirements) {
                continue;
            }
            if let Some(full) = &full_domains
                && self.domains(&kept, requirements) != *full
            {
                continue;
            }
            return level;
        }
        sizes.last().copied().unwrap_or(f64::INFINITY)
    }
}

/// Takes `capacity` (not a node) out of the limits.
fn reserve_resources(remaining: &mut [(String, i64)], capacity: &Resources) {
    for (name, left) in remaining.iter_mut() {
        if name != resources::NODES {
            *left -= capacity.get(name);
        }
    }
}

/// The smaller of both, resource by resource.
fn minimum(left: &Resources, right: &Resources) -> Resources {
    let mut smallest = left.clone();
    for (name, value) in left.iter() {
        let other = right.get(name);
        if other < value {
            smallest.set(name, other);
        }
    }
    smallest
}

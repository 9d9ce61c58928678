//! The conversion from the public EC2 source files to the catalog data file,
//! shared by the `generate-catalog` binary and the freshness test.
//!
//! [`SourceTexts::read_dir`] is the crate's only file read, and nothing but the
//! binary and the freshness test calls it. [`generate_catalog_json`] itself is
//! pure: the same texts always give the same bytes (sorted rows, `BTreeMap`
//! keys, computed prices rounded to 6 decimals).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::error::CatalogError;
use crate::format::{CatalogFile, FORMAT_VERSION, OfferingRecord, RegionRecord, parse_catalog};
use crate::model::{
    AdvisorSource, Allocatable, AllocatableCheck, DroppedOffering, INTERRUPTION_BANDS,
    InstanceTypeSpec, Interruption, MaxPodsSource, Meta, OnDemandPrice, OnDemandRatio,
    OnDemandSource, SpotPrice, Zone,
};
use crate::overhead::{KUBELET_DEFAULT_MAX_PODS, estimate_allocatable};
use crate::source::{
    InstanceTypesFile, PricesFile, SourceAdvisor, SourceInstanceType, SourcePrices,
};
use crate::zones::zone_name_for_id;

/// The regions the catalog covers, sorted.
pub const REGIONS: [&str; 2] = ["ap-northeast-2", "us-east-1"];

/// The region whose on-demand prices fill gaps in the other regions.
pub const BASE_REGION: &str = "us-east-1";

/// The instance-type source file name.
pub const INSTANCE_TYPES_FILE: &str = "instance-types.json";

/// The price source file name of `region`.
pub fn prices_file_name(region: &str) -> String {
    format!("prices-{region}.json")
}

/// Something is wrong with the source files or the output.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// A source file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A source file is not the JSON the generator expects.
    #[error("{file}: unexpected JSON at {path}: {message}")]
    Parse {
        /// The file name.
        file: String,
        /// JSON path to the offending value.
        path: String,
        /// What was wrong there.
        message: String,
    },
    /// A source file parses but its content cannot be used.
    #[error("{file}: {detail}")]
    Invalid {
        /// The file name.
        file: String,
        /// What is wrong.
        detail: String,
    },
    /// The catalog could not be serialized.
    #[error("cannot serialize the catalog: {0}")]
    Render(#[from] serde_json::Error),
    /// The generated catalog fails the checks the library applies when loading.
    #[error("the generated catalog fails its own load checks: {0}")]
    SelfCheck(#[source] CatalogError),
    /// The output file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// The texts of the source files the catalog is generated from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceTexts {
    /// The text of `instance-types.json`.
    pub instance_types: String,
    /// Region → the text of `prices-<region>.json`, for every region of
    /// [`REGIONS`].
    pub prices: BTreeMap<String, String>,
}

impl SourceTexts {
    /// Reads `instance-types.json` and `prices-<region>.json` for every region
    /// of [`REGIONS`] from `dir`.
    // The generator's input: read by the `generate-catalog` binary and the freshness test,
    // never by the embedded catalog at run time.
    #[allow(clippy::disallowed_methods)]
    pub fn read_dir(dir: &Path) -> Result<Self, GenerateError> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read_to_string(&path).map_err(|source| GenerateError::Read { path, source })
        };
        let instance_types = read(INSTANCE_TYPES_FILE)?;
        let mut prices = BTreeMap::new();
        for region in REGIONS {
            prices.insert(region.to_owned(), read(&prices_file_name(region))?);
        }
        Ok(Self {
            instance_types,
            prices,
        })
    }
}

/// Converts the source texts to the catalog data file's text, then checks that
/// the result loads.
pub fn generate_catalog_json(sources: &SourceTexts) -> Result<String, GenerateError> {
    let instance_types: InstanceTypesFile =
        parse_source(INSTANCE_TYPES_FILE, &sources.instance_types)?;
    let specs = index_specs(instance_types.instance_types)?;
    let prices = parse_prices(sources)?;

    let mut source_notes = instance_types.meta.sources.clone();
    for (region, (file, prices_file)) in &prices {
        for (key, value) in &prices_file.meta.sources {
            match source_notes.get(key) {
                Some(existing) if existing != value => {
                    return Err(invalid(
                        file,
                        format!("source {key:?} of {region} differs from another file's"),
                    ));
                }
                _ => {
                    source_notes.insert(key.clone(), value.clone());
                }
            }
        }
    }

    let base = prices
        .get(BASE_REGION)
        .map(|(_, file)| index_prices(&file.instance_types))
        .ok_or_else(|| invalid(&prices_file_name(BASE_REGION), "missing".to_owned()))?;
    let mut on_demand_ratios = BTreeMap::new();
    let mut regions = Vec::new();
    let mut dropped = Vec::new();
    let mut kept_types = BTreeSet::new();
    for (region, (file, prices_file)) in &prices {
        let ratio = if region == BASE_REGION {
            None
        } else {
            let ratio = median_ratio(&prices_file.instance_types, &base);
            if let Some(ratio) = &ratio {
                on_demand_ratios.insert(region.clone(), ratio.clone());
            }
            ratio
        };
        let builder = RegionBuilder {
            region,
            file,
            prices: prices_file,
            specs: &specs,
            base: &base,
            ratio: ratio.as_ref(),
        };
        let record = builder.build(&mut dropped)?;
        kept_types.extend(record.offerings.iter().map(|o| o.instance_type.clone()));
        regions.push(record);
    }

    let instance_type_specs = kept_types
        .iter()
        .filter_map(|name| specs.get(name.as_str()))
        .map(convert_spec)
        .collect();
    let meta = Meta {
        format_version: FORMAT_VERSION,
        sources: source_notes,
        on_demand_ratios,
        allocatable_check: check_allocatable_formula(specs.values()),
        dropped,
        notes: notes(),
    };
    let file = CatalogFile {
        meta,
        regions,
        instance_types: instance_type_specs,
    };
    let text = file.render()?;
    parse_catalog(&text).map_err(GenerateError::SelfCheck)?;
    Ok(text)
}

/// Rounds a computed price to 6 decimals, so output does not depend on
/// floating-point noise.
fn round_usd(usd: f64) -> f64 {
    (usd * 1e6).round() / 1e6
}

fn invalid(file: &str, detail: String) -> GenerateError {
    GenerateError::Invalid {
        file: file.to_owned(),
        detail,
    }
}

fn parse_source<T: serde::de::DeserializeOwned>(
    file: &str,
    text: &str,
) -> Result<T, GenerateError> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|error| GenerateError::Parse {
        file: file.to_owned(),
        path: error.path().to_string(),
        message: error.inner().to_string(),
    })
}

fn index_specs(
    rows: Vec<SourceInstanceType>,
) -> Result<BTreeMap<String, SourceInstanceType>, GenerateError> {
    let mut specs = BTreeMap::new();
    for row in rows {
        let name = row.instance_type.clone();
        if specs.insert(name.clone(), row).is_some() {
            return Err(invalid(
                INSTANCE_TYPES_FILE,
                format!("instance type {name:?} appears twice"),
            ));
        }
    }
    Ok(specs)
}

/// Region → (file name, parsed file), checking that each file is for its region.
fn parse_prices(
    sources: &SourceTexts,
) -> Result<BTreeMap<String, (String, PricesFile)>, GenerateError> {
    let mut parsed = BTreeMap::new();
    for region in REGIONS {
        let file = prices_file_name(region);
        let text = sources
            .prices
            .get(region)
            .ok_or_else(|| invalid(&file, "not provided".to_owned()))?;
        let prices: PricesFile = parse_source(&file, text)?;
        if prices.meta.region != region {
            return Err(invalid(
                &file,
                format!(
                    "meta.region is {:?}, expected {region:?}",
                    prices.meta.region
                ),
            ));
        }
        let mut seen = BTreeSet::new();
        for row in &prices.instance_types {
            if !seen.insert(row.instance_type.as_str()) {
                return Err(invalid(
                    &file,
                    format!("instance type {:?} appears twice", row.instance_type),
                ));
            }
        }
        parsed.insert(region.to_owned(), (file, prices));
    }
    Ok(parsed)
}

fn index_prices(rows: &[SourcePrices]) -> BTreeMap<&str, &SourcePrices> {
    rows.iter()
        .map(|row| (row.instance_type.as_str(), row))
        .collect()
}

/// The median of region / base 2022-11 price-list prices over the types both
/// have, or `None` when they share none.
fn median_ratio(
    rows: &[SourcePrices],
    base: &BTreeMap<&str, &SourcePrices>,
) -> Option<OnDemandRatio> {
    let mut ratios: Vec<f64> = rows
        .iter()
        .filter_map(|row| {
            let price = row.on_demand_2022_11_usd_per_hour?;
            let base_price = base
                .get(row.instance_type.as_str())?
                .on_demand_2022_11_usd_per_hour?;
            (price > 0.0 && base_price > 0.0).then(|| price / base_price)
        })
        .collect();
    if ratios.is_empty() {
        return None;
    }
    ratios.sort_by(f64::total_cmp);
    let middle = ratios.len() / 2;
    let median = if ratios.len().is_multiple_of(2) {
        (ratios[middle - 1] + ratios[middle]) / 2.0
    } else {
        ratios[middle]
    };
    Some(OnDemandRatio {
        base_region: BASE_REGION.to_owned(),
        median: round_usd(median),
        pairs: u32::try_from(ratios.len()).unwrap_or(u32::MAX),
        basis: format!(
            "on_demand_2022_11_usd_per_hour (ec2details-2022-11-22, the same price list for \
             both regions) of every type priced in both; the estimate multiplies {BASE_REGION}'s \
             best on-demand price by the median"
        ),
    })
}

/// Builds one region's record from its price file.
struct RegionBuilder<'a> {
    region: &'a str,
    file: &'a str,
    prices: &'a PricesFile,
    specs: &'a BTreeMap<String, SourceInstanceType>,
    base: &'a BTreeMap<&'a str, &'a SourcePrices>,
    ratio: Option<&'a OnDemandRatio>,
}

impl RegionBuilder<'_> {
    fn build(&self, dropped: &mut Vec<DroppedOffering>) -> Result<RegionRecord, GenerateError> {
        let zone_ids = &self.prices.meta.az_ids_seen_in_spot_snapshot;
        let mut zones = Vec::with_capacity(zone_ids.len());
        for id in zone_ids {
            zones.push(Zone {
                name: self.zone_name(id)?,
                id: id.clone(),
            });
        }
        zones.sort_by(|a, b| a.name.cmp(&b.name));

        let mut rows: Vec<&SourcePrices> = self.prices.instance_types.iter().collect();
        rows.sort_by(|a, b| a.instance_type.cmp(&b.instance_type));
        let mut offerings = Vec::with_capacity(rows.len());
        for row in rows {
            let mut drop = |reason: &str| {
                dropped.push(DroppedOffering {
                    region: self.region.to_owned(),
                    instance_type: row.instance_type.clone(),
                    reason: reason.to_owned(),
                });
            };
            if !self.specs.contains_key(&row.instance_type) {
                drop("no specification in instance-types.json");
                continue;
            }
            let Some(on_demand) = self.on_demand(row)? else {
                drop("no on-demand price in this region or the base region");
                continue;
            };
            let interruption = self.interruption(row)?;
            let spot = self.spot(row, &on_demand, &zones)?;
            offerings.push(OfferingRecord {
                instance_type: row.instance_type.clone(),
                on_demand,
                interruption,
                spot,
            });
        }
        Ok(RegionRecord {
            name: self.region.to_owned(),
            zones,
            offerings,
        })
    }

    fn zone_name(&self, zone_id: &str) -> Result<String, GenerateError> {
        let known = self
            .prices
            .meta
            .az_ids_seen_in_spot_snapshot
            .iter()
            .any(|id| id == zone_id);
        match zone_name_for_id(self.region, zone_id) {
            Some(name) if known => Ok(name),
            _ => Err(invalid(
                self.file,
                format!(
                    "zone ID {zone_id:?} is not a zone of {} (meta.az_ids_seen_in_spot_snapshot)",
                    self.region
                ),
            )),
        }
    }

    fn on_demand(&self, row: &SourcePrices) -> Result<Option<OnDemandPrice>, GenerateError> {
        let context = &row.instance_type;
        if let Some(usd) = row.on_demand_usd_per_hour {
            self.check_price(context, "on_demand_usd_per_hour", usd)?;
            let source = row.on_demand_source.ok_or_else(|| {
                invalid(
                    self.file,
                    format!("{context}: on_demand_usd_per_hour without on_demand_source"),
                )
            })?;
            return Ok(Some(OnDemandPrice {
                usd_per_hour: usd,
                source,
                estimated: false,
            }));
        }
        let Some(base_usd) = self
            .base
            .get(row.instance_type.as_str())
            .and_then(|base| base.on_demand_usd_per_hour)
        else {
            return Ok(None);
        };
        let ratio = self.ratio.ok_or_else(|| {
            invalid(
                self.file,
                format!(
                    "{context}: on-demand price missing and no type is priced in both \
                     {} and {BASE_REGION} to estimate it",
                    self.region
                ),
            )
        })?;
        Ok(Some(OnDemandPrice {
            usd_per_hour: round_usd(base_usd * ratio.median),
            source: OnDemandSource::EstimatedFromBaseRegionRatio,
            estimated: true,
        }))
    }

    fn interruption(&self, row: &SourcePrices) -> Result<Option<Interruption>, GenerateError> {
        let (advisor, source) = match (&row.spot_advisor_2025_06, &row.spot_advisor_2022_07) {
            (Some(advisor), _) => (advisor, AdvisorSource::SpotAdvisor202506),
            (None, Some(advisor)) => (advisor, AdvisorSource::SpotAdvisor202207),
            (None, None) => return Ok(None),
        };
        let band_index = band_index(&advisor.interruption_band).ok_or_else(|| {
            invalid(
                self.file,
                format!(
                    "{}: unknown interruption band {:?}, expected one of {INTERRUPTION_BANDS:?}",
                    row.instance_type, advisor.interruption_band
                ),
            )
        })?;
        Ok(Some(Interruption {
            band: advisor.interruption_band.clone(),
            band_index,
            savings_pct: advisor.savings_pct,
            source,
        }))
    }

    fn spot(
        &self,
        row: &SourcePrices,
        on_demand: &OnDemandPrice,
        zones: &[Zone],
    ) -> Result<BTreeMap<String, SpotPrice>, GenerateError> {
        let context = &row.instance_type;
        let mut spot = BTreeMap::new();
        if !row.spot_2022_07_12_usd_per_hour_by_az.is_empty() {
            for (zone_id, usd) in &row.spot_2022_07_12_usd_per_hour_by_az {
                self.check_price(context, "spot_2022_07_12_usd_per_hour_by_az", *usd)?;
                spot.insert(
                    self.zone_name(zone_id)?,
                    SpotPrice {
                        usd_per_hour: *usd,
                        estimated: false,
                        placement_score: row
                            .spot_2022_07_12_placement_score_by_az
                            .get(zone_id)
                            .copied(),
                    },
                );
            }
        } else if let Some(SourceAdvisor { savings_pct, .. }) = &row.spot_advisor_2025_06 {
            if *savings_pct >= 100 {
                return Err(invalid(
                    self.file,
                    format!("{context}: savings_pct {savings_pct} leaves no Spot price"),
                ));
            }
            let usd = round_usd(on_demand.usd_per_hour * (1.0 - f64::from(*savings_pct) / 100.0));
            for zone in zones {
                spot.insert(
                    zone.name.clone(),
                    SpotPrice {
                        usd_per_hour: usd,
                        estimated: true,
                        placement_score: None,
                    },
                );
            }
        }
        Ok(spot)
    }

    fn check_price(&self, context: &str, field: &str, usd: f64) -> Result<(), GenerateError> {
        if usd.is_finite() && usd > 0.0 {
            Ok(())
        } else {
            Err(invalid(
                self.file,
                format!("{context}: {field} is {usd}, expected a positive price"),
            ))
        }
    }
}

fn band_index(band: &str) -> Option<u8> {
    INTERRUPTION_BANDS
        .iter()
        .position(|known| *known == band)
        .and_then(|index| u8::try_from(index).ok())
}

fn max_pods(source: &SourceInstanceType) -> (u32, MaxPodsSource) {
    if let Some(allocatable) = &source.karpenter_allocatable {
        (allocatable.pods, MaxPodsSource::Karpenter)
    } else if let Some(pods) = source.max_pods_eni {
        (pods, MaxPodsSource::VpcCniEniLimit)
    } else if let Some(pods) = source.eks_ami_max_pods {
        (pods, MaxPodsSource::EksAmi)
    } else {
        (KUBELET_DEFAULT_MAX_PODS, MaxPodsSource::KubeletDefault)
    }
}

fn convert_spec(source: &SourceInstanceType) -> InstanceTypeSpec {
    let (max_pods, max_pods_source) = max_pods(source);
    let (allocatable, allocatable_estimated) = match &source.karpenter_allocatable {
        Some(documented) => (
            Allocatable {
                cpu_millicores: documented.cpu_millicores,
                memory_mib: documented.memory_mib,
                pods: documented.pods,
                ephemeral_storage_gib: documented.ephemeral_storage_gib,
                nvidia_gpu: documented.nvidia_gpu,
                amd_gpu: documented.amd_gpu,
                neuron: documented.neuron,
                neuroncore: documented.neuroncore,
                efa: documented.efa,
                pod_eni: documented.pod_eni,
            },
            false,
        ),
        None => (
            estimate_allocatable(source.vcpu, source.memory_mib, max_pods, source.arch),
            true,
        ),
    };
    InstanceTypeSpec {
        name: source.instance_type.clone(),
        family: source.family.clone(),
        category: source.category.clone(),
        generation: source.generation,
        size: source.size.clone(),
        vcpu: source.vcpu,
        memory_mib: source.memory_mib,
        arch: source.arch,
        cpu_manufacturer: source.cpu_manufacturer.clone(),
        gpu_count: source.gpu_count,
        gpu_name: source.gpu_name.clone(),
        gpu_manufacturer: source.gpu_manufacturer.clone(),
        gpu_memory_mib: source.gpu_memory_mib,
        accelerator_count: source.accelerator_count,
        accelerator_name: source.accelerator_name.clone(),
        accelerator_manufacturer: source.accelerator_manufacturer.clone(),
        local_nvme_gib: source.local_nvme_gib,
        network_bandwidth_mbps: source.network_bandwidth_mbps,
        hypervisor: source.hypervisor.clone(),
        bare_metal: source.bare_metal,
        max_pods,
        max_pods_source,
        allocatable,
        allocatable_estimated,
    }
}

/// Compares the overhead formula with every documented allocatable.
fn check_allocatable_formula<'a>(
    specs: impl Iterator<Item = &'a SourceInstanceType>,
) -> AllocatableCheck {
    let mut check = AllocatableCheck {
        compared: 0,
        exact: 0,
    };
    for spec in specs {
        let Some(documented) = &spec.karpenter_allocatable else {
            continue;
        };
        let estimate = estimate_allocatable(spec.vcpu, spec.memory_mib, documented.pods, spec.arch);
        check.compared += 1;
        if estimate.cpu_millicores == documented.cpu_millicores
            && estimate.memory_mib == documented.memory_mib
            && estimate.pods == documented.pods
            && estimate.ephemeral_storage_gib == documented.ephemeral_storage_gib
        {
            check.exact += 1;
        }
    }
    check
}

fn notes() -> Vec<String> {
    [
        "Prices are USD per instance-hour, Linux/UNIX, shared tenancy.",
        "Zone names are derived from zone IDs by a fixed rule: zone azN of a region gets the \
         N-th letter (use1-az1 -> us-east-1a ... use1-az6 -> us-east-1f, apne2-az1 -> \
         ap-northeast-2a ... apne2-az4 -> ap-northeast-2d). Real AWS accounts map names to IDs \
         differently; the zone ID names the physical zone.",
        "On-demand capacity is assumed in every zone of a region: the sources have no per-zone \
         offering lists.",
        "A missing on-demand price outside the base region is the base region's on-demand price \
         x on_demand_ratios[region].median, rounded to 6 decimals, source \
         estimated-from-base-region-ratio, estimated: true. A type with no on-demand price in \
         the region or the base region is dropped from the region.",
        "Spot: a type with 2022-07-12 Spot pools in the region is offered as Spot in exactly \
         those zones at those prices, with the 2022-07-12 placement score. A type with no 2022 \
         pool in the region that the 2025-06 Spot Instance Advisor lists there is offered as \
         Spot in every zone at on-demand x (1 - savings_pct/100), rounded to 6 decimals, \
         estimated: true. Any other type is on-demand only.",
        "interruption: the 2025-06 Spot Instance Advisor band and savings, else the 2022-07 \
         advisor values from the SpotLake snapshot; source says which.",
        "allocatable: Karpenter's documented values; where Karpenter has none, computed with \
         its default overheads and marked allocatable_estimated (extended resources unset). \
         max_pods: Karpenter's pods, else the VPC CNI ENI limit, else the EKS AMI value, else \
         the kubelet default 110; max_pods_source says which.",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect()
}

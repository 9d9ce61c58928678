//! The data-file format: the JSON records, the line-per-record writer, and the
//! parser that checks a file and turns it into a [`Catalog`].
//!
//! Layout of `data/ec2-catalog.json` (valid JSON, one record per line so that
//! diffs stay readable):
//!
//! ```text
//! {
//! "meta": { ...pretty-printed... },
//! "regions": [
//! {"name":"ap-northeast-2","zones":[...],"offerings":[
//! {"instance_type":"a1.large","on_demand":{...},"interruption":{...},"spot":{...}},
//! ...
//! ]},
//! ...
//! ],
//! "instance_types": [
//! {"name":"a1.2xlarge",...},
//! ...
//! ]
//! }
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::CatalogError;
use crate::model::{
    Catalog, INTERRUPTION_BANDS, InstanceTypeSpec, Interruption, Meta, OnDemandPrice, Region,
    RegionalPrices, SpotPrice, Zone,
};

/// Version written to and expected in [`Meta::format_version`].
pub const FORMAT_VERSION: u32 = 1;

/// Parses and checks catalog JSON in the format of `data/ec2-catalog.json`.
pub fn parse_catalog(text: &str) -> Result<Catalog, CatalogError> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let file: CatalogFile =
        serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
            CatalogError::Malformed {
                path: error.path().to_string(),
                message: error.inner().to_string(),
            }
        })?;
    deserializer
        .end()
        .map_err(|error| CatalogError::Malformed {
            path: ".".to_owned(),
            message: error.to_string(),
        })?;
    file.into_catalog()
}

/// The whole data file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CatalogFile {
    pub(crate) meta: Meta,
    pub(crate) regions: Vec<RegionRecord>,
    pub(crate) instance_types: Vec<InstanceTypeSpec>,
}

/// One region as stored in the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RegionRecord {
    pub(crate) name: String,
    pub(crate) zones: Vec<Zone>,
    pub(crate) offerings: Vec<OfferingRecord>,
}

/// One (region, instance type) line of the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OfferingRecord {
    pub(crate) instance_type: String,
    pub(crate) on_demand: OnDemandPrice,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) interruption: Option<Interruption>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) spot: BTreeMap<String, SpotPrice>,
}

impl CatalogFile {
    /// Writes the file in its canonical layout. Equal files give equal bytes.
    pub(crate) fn render(&self) -> Result<String, serde_json::Error> {
        let mut out = String::from("{\n\"meta\": ");
        out.push_str(&serde_json::to_string_pretty(&self.meta)?);
        out.push_str(",\n\"regions\": [\n");
        let mut region_blocks = Vec::with_capacity(self.regions.len());
        for region in &self.regions {
            let mut block = format!(
                "{{\"name\":{},\"zones\":{},\"offerings\":[\n",
                serde_json::to_string(&region.name)?,
                serde_json::to_string(&region.zones)?
            );
            block.push_str(&render_lines(&region.offerings)?);
            block.push_str("\n]}");
            region_blocks.push(block);
        }
        out.push_str(&region_blocks.join(",\n"));
        out.push_str("\n],\n\"instance_types\": [\n");
        out.push_str(&render_lines(&self.instance_types)?);
        out.push_str("\n]\n}\n");
        Ok(out)
    }

    /// Checks the file's invariants and builds the [`Catalog`].
    pub(crate) fn into_catalog(self) -> Result<Catalog, CatalogError> {
        if self.meta.format_version != FORMAT_VERSION {
            return Err(CatalogError::Inconsistent(format!(
                "format_version is {}, this build reads {FORMAT_VERSION}",
                self.meta.format_version
            )));
        }
        check_sorted(
            "instance_types",
            self.instance_types.iter().map(|t| &t.name),
        )?;
        check_sorted("regions", self.regions.iter().map(|r| &r.name))?;
        let instance_types: Vec<Arc<InstanceTypeSpec>> =
            self.instance_types.into_iter().map(Arc::new).collect();
        let mut regions = Vec::with_capacity(self.regions.len());
        for record in self.regions {
            regions.push(build_region(record, &instance_types)?);
        }
        Ok(Catalog {
            meta: self.meta,
            regions,
            instance_types,
        })
    }
}

fn render_lines<T: Serialize>(items: &[T]) -> Result<String, serde_json::Error> {
    let lines = items
        .iter()
        .map(serde_json::to_string)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(lines.join(",\n"))
}

fn check_sorted<'a>(
    what: &str,
    names: impl Iterator<Item = &'a String>,
) -> Result<(), CatalogError> {
    let mut previous: Option<&String> = None;
    for name in names {
        if let Some(previous) = previous
            && previous >= name
        {
            return Err(CatalogError::Inconsistent(format!(
                "{what} are not sorted and unique: {previous:?} comes before {name:?}"
            )));
        }
        previous = Some(name);
    }
    Ok(())
}

fn build_region(
    record: RegionRecord,
    instance_types: &[Arc<InstanceTypeSpec>],
) -> Result<Region, CatalogError> {
    let region_name = record.name;
    check_sorted(
        &format!("zones of {region_name}"),
        record.zones.iter().map(|z| &z.name),
    )?;
    check_sorted(
        &format!("offerings of {region_name}"),
        record.offerings.iter().map(|o| &o.instance_type),
    )?;
    let mut offerings = Vec::with_capacity(record.offerings.len());
    for offering in record.offerings {
        let context = format!("{region_name} {}", offering.instance_type);
        let spec = instance_types
            .binary_search_by(|spec| spec.name.cmp(&offering.instance_type))
            .map(|index| Arc::clone(&instance_types[index]))
            .map_err(|_| {
                CatalogError::Inconsistent(format!("{context}: instance type has no specification"))
            })?;
        check_price(&context, "on-demand", offering.on_demand.usd_per_hour)?;
        for (zone, spot) in &offering.spot {
            if !record.zones.iter().any(|z| &z.name == zone) {
                return Err(CatalogError::Inconsistent(format!(
                    "{context}: spot price for unknown zone {zone:?}"
                )));
            }
            check_price(&context, "spot", spot.usd_per_hour)?;
        }
        if let Some(interruption) = &offering.interruption {
            let expected = INTERRUPTION_BANDS.get(usize::from(interruption.band_index));
            if expected != Some(&interruption.band.as_str()) {
                return Err(CatalogError::Inconsistent(format!(
                    "{context}: interruption band {:?} does not match index {}",
                    interruption.band, interruption.band_index
                )));
            }
        }
        offerings.push((
            spec,
            RegionalPrices {
                on_demand: offering.on_demand,
                interruption: offering.interruption,
                spot: offering.spot,
            },
        ));
    }
    Ok(Region {
        name: region_name,
        zones: record.zones,
        offerings,
    })
}

fn check_price(context: &str, kind: &str, usd_per_hour: f64) -> Result<(), CatalogError> {
    if usd_per_hour.is_finite() && usd_per_hour > 0.0 {
        Ok(())
    } else {
        Err(CatalogError::Inconsistent(format!(
            "{context}: {kind} price {usd_per_hour} is not a positive number"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedded::EMBEDDED_CATALOG_JSON;

    fn embedded_file() -> CatalogFile {
        serde_json::from_str(EMBEDDED_CATALOG_JSON).expect("embedded file parses")
    }

    fn error_of(file: CatalogFile) -> String {
        match file.into_catalog() {
            Ok(_) => panic!("the change must be rejected"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn rendering_the_parsed_file_gives_the_same_bytes() {
        let rendered = embedded_file().render().expect("renders");
        assert!(rendered == EMBEDDED_CATALOG_JSON, "render is not canonical");
    }

    #[test]
    fn malformed_json_names_the_path() {
        let text = EMBEDDED_CATALOG_JSON.replacen("\"vcpu\":", "\"vcpu\":-", 1);
        let error = parse_catalog(&text).expect_err("negative vcpu");
        assert!(
            error.to_string().contains("instance_types[0].vcpu"),
            "{error}"
        );
    }

    #[test]
    fn inconsistencies_are_rejected() {
        let mut file = embedded_file();
        file.instance_types.swap(0, 1);
        assert!(error_of(file).contains("instance_types are not sorted"));

        let mut file = embedded_file();
        let name = file.regions[0].offerings[0].instance_type.clone();
        file.instance_types.retain(|spec| spec.name != name);
        assert!(error_of(file).contains("has no specification"));

        let mut file = embedded_file();
        let offering = &mut file.regions[0].offerings[0];
        let spot = SpotPrice {
            usd_per_hour: 0.01,
            estimated: false,
            placement_score: None,
        };
        offering.spot.insert("mars-1a".to_owned(), spot);
        assert!(error_of(file).contains("unknown zone \"mars-1a\""));

        let mut file = embedded_file();
        let interruption = file.regions[0]
            .offerings
            .iter_mut()
            .find_map(|offering| offering.interruption.as_mut())
            .expect("an offering with an interruption band");
        interruption.band_index = (interruption.band_index + 1) % 5;
        assert!(error_of(file).contains("does not match index"));

        let mut file = embedded_file();
        file.regions[0].offerings[0].on_demand.usd_per_hour = 0.0;
        assert!(error_of(file).contains("is not a positive number"));

        let mut file = embedded_file();
        file.meta.format_version += 1;
        assert!(error_of(file).contains("format_version"));
    }
}

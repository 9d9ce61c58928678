//! A quantity as it appears in YAML: a string (`"4Gi"`, `"500m"`) or a bare number (`1000`).

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize};

/// The text of a quantity, whether YAML gave it as a string or a number.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct QuantityText(String);

impl QuantityText {
    /// A quantity with this text.
    pub fn new(text: impl Into<String>) -> Self {
        QuantityText(text.into())
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for QuantityText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Integer(i64),
            Float(f64),
        }
        Ok(QuantityText(match Raw::deserialize(deserializer)? {
            Raw::Text(text) => text,
            Raw::Integer(value) => value.to_string(),
            Raw::Float(value) => value.to_string(),
        }))
    }
}

/// In a CRD: an integer or a string in Kubernetes' quantity syntax (`x-kubernetes-int-or-string`).
impl JsonSchema for QuantityText {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Quantity".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        crate::crd::schema::quantity_schema()
    }
}

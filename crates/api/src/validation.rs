//! Syntax checks shared by every manifest: label keys and values (Kubernetes qualified names)
//! and taint effects.

use spotter_core::taints::Effect;

/// Checks a label key: an optional DNS-subdomain prefix of at most 253 characters and `/`, then
/// a name of 1–63 alphanumerics, `-`, `_` or `.`, starting and ending with an alphanumeric.
pub fn check_label_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        let valid_prefix = !prefix.is_empty()
            && prefix.len() <= 253
            && prefix.split('.').all(|part| {
                !part.is_empty()
                    && part.len() <= 63
                    && part.bytes().all(|byte| {
                        byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-'
                    })
                    && !part.starts_with('-')
                    && !part.ends_with('-')
            });
        if !valid_prefix {
            return Err(format!(
                "{key:?} is not a valid label key: its prefix must be a lowercase DNS subdomain"
            ));
        }
    }
    if name.is_empty() || name.len() > 63 || !is_name(name) {
        return Err(format!(
            "{key:?} is not a valid label key: the name must be 1-63 characters of letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
        ));
    }
    Ok(())
}

/// Checks a label value: empty, or 1–63 alphanumerics, `-`, `_` or `.`, starting and ending with
/// an alphanumeric.
pub fn check_label_value(value: &str) -> Result<(), String> {
    if value.is_empty() || (value.len() <= 63 && is_name(value)) {
        Ok(())
    } else {
        Err(format!(
            "{value:?} is not a valid label value: at most 63 characters of letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
        ))
    }
}

/// Parses a taint effect.
pub fn parse_effect(text: &str) -> Result<Effect, String> {
    match text {
        "NoSchedule" => Ok(Effect::NoSchedule),
        "PreferNoSchedule" => Ok(Effect::PreferNoSchedule),
        "NoExecute" => Ok(Effect::NoExecute),
        other => Err(format!(
            "unknown effect {other:?}: expected NoSchedule, PreferNoSchedule or NoExecute"
        )),
    }
}

fn is_name(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
        && bytes
            .iter()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_keys_and_values_follow_kubernetes_syntax() {
        for key in [
            "team",
            "example.com/team",
            "karpenter.sh/capacity-type",
            "a_b.c",
        ] {
            assert!(check_label_key(key).is_ok(), "{key}");
        }
        for key in ["", "-team", "Example.com/team", "/team", "a/b/c", "team-"] {
            assert!(check_label_key(key).is_err(), "{key}");
        }
        for value in ["", "spot", "m5.large", "a-b_c"] {
            assert!(check_label_value(value).is_ok(), "{value}");
        }
        for value in ["-a", "a b", &"x".repeat(64)] {
            assert!(check_label_value(value).is_err(), "{value}");
        }
    }
}

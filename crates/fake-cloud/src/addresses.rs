//! The addresses of fake nodes and their pods, drawn from names and UIDs so that they are
//! stable across writes and restarts: nodes in 10.128.0.0/9, pods in 10.0.0.0/9.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::Ipv4Addr;

/// The InternalIP of a fake node, drawn from its name (10.128.0.0/9).
pub fn node_ip(node_name: &str) -> Ipv4Addr {
    let [a, b, c] = draw(node_name);
    Ipv4Addr::new(10, a | 0x80, b, c)
}

/// The IP of a pod on a fake node, drawn from its UID (10.0.0.0/9).
pub fn pod_ip(pod_uid: &str) -> Ipv4Addr {
    let [a, b, c] = draw(pod_uid);
    Ipv4Addr::new(10, a & 0x7f, b, c)
}

/// Three octets from `seed`, the last never 0 or 255.
fn draw(seed: &str) -> [u8; 3] {
    let mut hasher = DefaultHasher::new();
    seed.hash(&mut hasher);
    let [a, b, c, ..] = hasher.finish().to_be_bytes();
    [a, b, c.clamp(1, 254)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_and_pod_addresses_do_not_overlap_and_are_stable() {
        for seed in ["a", "b", "batch-x7k2p", "", "6c1f-0000"] {
            let node = node_ip(seed).octets();
            let pod = pod_ip(seed).octets();
            assert!(node[0] == 10 && node[1] >= 0x80, "{seed}");
            assert!(pod[0] == 10 && pod[1] < 0x80, "{seed}");
            assert!(
                (1..=254).contains(&node[3]) && (1..=254).contains(&pod[3]),
                "{seed}"
            );
            assert_eq!(node_ip(seed), node_ip(seed));
        }
    }
}

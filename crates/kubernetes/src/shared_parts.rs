//! [`SharedParts`]: one copy of the parts that the pods of a template have in common. Every pod
//! of a Deployment carries the same labels, nodeSelector and tolerations (the two that the
//! admission controller adds to every pod, at least); converted one by one they would be a
//! map and a vector per pod, about two kilobytes (a `BTreeMap` node holds room for eleven
//! entries), twenty megabytes at 10,000 pods. The driver passes each pod it keeps through
//! [`SharedParts::share`], which swaps those parts for the copy already held when there is one.

use std::collections::{BTreeMap, HashSet};
use std::hash::Hash;
use std::sync::Arc;

use spotter_core::pod::Pod;
use spotter_core::taints::Toleration;

/// The shared copies; those no pod uses any more are dropped every [`PURGE_INTERVAL`] pods.
#[derive(Debug, Default)]
pub struct SharedParts {
    maps: Interner<BTreeMap<String, String>>,
    tolerations: Interner<Vec<Toleration>>,
    shared_since_purge: usize,
}

/// How many pods are shared between two purges of the copies no pod holds.
const PURGE_INTERVAL: usize = 4096;

impl SharedParts {
    /// Makes `pod`'s labels, nodeSelector and tolerations the copies held, when equal ones are.
    pub fn share(&mut self, pod: &mut Pod) {
        pod.labels = self.maps.intern(&pod.labels);
        pod.node_selector = self.maps.intern(&pod.node_selector);
        pod.tolerations = self.tolerations.intern(&pod.tolerations);
        self.shared_since_purge += 1;
        if self.shared_since_purge >= PURGE_INTERVAL {
            self.shared_since_purge = 0;
            self.maps.purge();
            self.tolerations.purge();
        }
    }

    /// How many distinct copies are held (for tests).
    pub fn held(&self) -> usize {
        self.maps.values.len() + self.tolerations.values.len()
    }
}

/// One shared copy of each distinct value.
#[derive(Debug)]
struct Interner<T> {
    values: HashSet<Arc<T>>,
}

impl<T> Default for Interner<T> {
    fn default() -> Self {
        Self {
            values: HashSet::new(),
        }
    }
}

impl<T: Hash + Eq> Interner<T> {
    /// The copy held equal to `value`, or `value` itself, now held.
    fn intern(&mut self, value: &Arc<T>) -> Arc<T> {
        if let Some(held) = self.values.get(value) {
            return Arc::clone(held);
        }
        self.values.insert(Arc::clone(value));
        Arc::clone(value)
    }

    /// Drops the copies only this interner holds.
    fn purge(&mut self) {
        self.values.retain(|value| Arc::strong_count(value) > 1);
    }
}

#[cfg(test)]
mod tests {
    use spotter_core::builders::pod;

    use super::*;

    #[test]
    fn pods_of_one_template_share_their_parts_and_others_keep_their_own() {
        let template = |name: &str| {
            pod(name)
                .label("app", "web")
                .node_selector("karpenter.sh/nodepool", "batch")
                .build()
        };
        let mut shared = SharedParts::default();
        let mut first = template("web-1");
        let mut second = template("web-2");
        let mut other = pod("db-1").label("app", "db").build();
        shared.share(&mut first);
        shared.share(&mut second);
        shared.share(&mut other);
        assert!(Arc::ptr_eq(&first.labels, &second.labels));
        assert!(Arc::ptr_eq(&first.node_selector, &second.node_selector));
        assert!(Arc::ptr_eq(&first.tolerations, &second.tolerations));
        assert!(!Arc::ptr_eq(&first.labels, &other.labels));
        assert_eq!(other.labels.get("app").map(String::as_str), Some("db"));
        assert_eq!(first, template("web-1"), "sharing changes no value");
    }

    #[test]
    fn copies_no_pod_holds_are_dropped_at_a_purge() {
        let mut shared = SharedParts::default();
        let mut kept = pod("kept").label("app", "kept").build();
        shared.share(&mut kept);
        for index in 0..PURGE_INTERVAL {
            let mut gone = pod(&format!("gone-{index}"))
                .label("index", &index.to_string())
                .build();
            shared.share(&mut gone);
        }
        // Left of 4,097 distinct label maps: the kept pod's three parts, and the labels of
        // the pod alive at the purge and of the one shared after it.
        assert!(shared.held() <= 5, "held {}", shared.held());
        let mut again = pod("again").label("app", "kept").build();
        shared.share(&mut again);
        assert!(Arc::ptr_eq(&kept.labels, &again.labels));
    }
}

//! Outside input never panics the manifest reader: random text, and the seed's real manifests
//! truncated or with bytes replaced, give `Ok` or an error, nothing else. (A fuzzer with a
//! coverage-guided engine needs a nightly toolchain; these property tests run on stable in CI.)

use proptest::prelude::*;
use spotter_api::Manifests;

const SEED_FILES: [&str; 4] = [
    include_str!("../../../examples/seed/nodepools.yaml"),
    include_str!("../../../examples/seed/ec2nodeclass.yaml"),
    include_str!("../../../examples/seed/pod.yaml"),
    include_str!("../../../examples/seed/deployment.yaml"),
];

fn read(text: &str) {
    let mut manifests = Manifests::default();
    if manifests.add("fuzz.yaml", text).is_ok() {
        let _ = manifests.finish();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_text_never_panics(text in "\\PC{0,400}") {
        read(&text);
    }

    #[test]
    fn mutated_manifests_never_panic(
        file in 0..SEED_FILES.len(),
        cut in 0.0f64..=1.0,
        replacements in proptest::collection::vec((0.0f64..1.0, prop_oneof![
            Just(":"), Just("-"), Just(" "), Just("\n"), Just("["), Just("{"), Just("\""),
            Just("0"), Just("-1"), Just("1e99"), Just("Gt"), Just("~"), Just("&a"), Just("*a"),
        ]), 0..6),
    ) {
        let source = SEED_FILES[file];
        let mut text: String = source.chars().take((source.chars().count() as f64 * cut) as usize).collect();
        for (position, replacement) in replacements {
            let mut boundary = (text.len() as f64 * position) as usize;
            while !text.is_char_boundary(boundary) {
                boundary -= 1;
            }
            text.insert_str(boundary, replacement);
        }
        read(&text);
    }
}

//! Replays the committed fuzz corpus seeds (and random mutations of them) through the fuzz
//! entry points on stable, so the targets' invariants are checked by every `cargo test`.

use proptest::prelude::*;

fn seeds(dir: &str) -> Vec<Vec<u8>> {
    let mut v: Vec<_> =
        std::fs::read_dir(format!("{}/fuzz/corpus/{dir}", env!("CARGO_MANIFEST_DIR")))
            .unwrap()
            .map(|e| std::fs::read(e.unwrap().path()).unwrap())
            .collect();
    v.sort();
    assert!(!v.is_empty());
    v
}

#[test]
fn corpus_seeds_hold_invariants() {
    for s in seeds("lanes_config") {
        assay_runner::fuzzing::lanes_config(&s);
    }
    for s in seeds("change_list") {
        assay_runner::fuzzing::change_list(&s);
    }
    for s in seeds("ring_record") {
        assay_runner::fuzzing::ring_record(&s);
    }
    for s in seeds("verify_bundle") {
        assay_runner::fuzzing::verify_bundle(&s);
    }
    for s in seeds("report_input") {
        assay_runner::fuzzing::report_input(&s);
    }
    for s in seeds("policy_file") {
        assay_runner::policy::fuzzing::policy_file(&s);
    }
    for s in seeds("mcp_framing") {
        assay_runner::policy::fuzzing::framing(&s);
    }
    for s in seeds("layer_logs") {
        assay_runner::fuzzing::layer_logs(&s);
    }
    for s in seeds("unix_table") {
        assay_runner::fuzzing::unix_table(&s);
    }
    for s in seeds("dns_answer") {
        assay_runner::fuzzing::dns_answer(&s);
    }
    for s in seeds("client_hello") {
        assay_runner::fuzzing::client_hello(&s);
    }
    for s in seeds("attestation") {
        assay_runner::fuzzing::attestation(&s);
    }
    for s in seeds("docker_request") {
        for step in [1, 7, 1 << 16] {
            assay_runner::docker::fuzzing::request_stream(&s, step);
        }
        assay_runner::docker::fuzzing::create_body(&s);
    }
}

/// The attestation seeds reach the statement paths: the envelope opens with the seeds' test
/// key, and the statement seed is the payload it carries.
#[test]
fn attestation_seeds_open_with_their_key() {
    use assay_runner::attest;
    let dir = format!("{}/fuzz/corpus/attestation", env!("CARGO_MANIFEST_DIR"));
    let env = attest::parse_envelope(
        "seed",
        &std::fs::read(format!("{dir}/seed-envelope")).unwrap(),
    )
    .unwrap();
    let key = attest::keys::VerifyingKey::from_pem("test", assay_runner::fuzzing::ATTEST_TEST_KEY)
        .unwrap();
    let payload = attest::dsse::open(&env, "application/vnd.in-toto+json", &key).unwrap();
    assert_eq!(
        payload,
        std::fs::read(format!("{dir}/seed-statement")).unwrap()
    );
    assert!(attest::parse_statement("seed", &payload).is_ok());
}

/// The name seeds reach the naming paths: each answer and hello seed but the error one names
/// something.
#[test]
fn name_seeds_name_what_they_were_made_for() {
    use assay_runner::layers::names;
    let dir = format!("{}/fuzz/corpus", env!("CARGO_MANIFEST_DIR"));
    let read = |p: &str| std::fs::read(format!("{dir}/{p}")).unwrap();
    assert_eq!(
        names::parse_dns_response(&read("dns_answer/seed-a"))
            .unwrap()
            .name,
        "service.assay.test"
    );
    assert!(names::parse_dns_response(&read("dns_answer/seed-nxdomain")).is_err());
    assert_eq!(
        names::parse_client_hello_sni(&read("client_hello/seed-openssl3")).unwrap(),
        "tls.assay.test"
    );
}

/// The layer-log seeds reach the accepting paths (not only the rejecting ones).
#[test]
fn layer_log_seeds_are_accepted_as_written() {
    use assay_runner::contracts::health::OtherLayer;
    use assay_runner::correlation::provenance::Attestation;
    let mut att = Attestation::default();
    att.runners.insert(10, "p0/assay-runner#1".into());
    att.parents.insert(11, 10);
    att.readers.insert("/p.yaml".into(), [10].into());
    att.writers.insert("/l/sdk.ndjson".into(), [5].into());
    for pid in [5, 10, 11] {
        att.pids.insert(pid, vec![pid]); // one process per pid (no reuse)
    }
    let dir = format!("{}/fuzz/corpus/layer_logs", env!("CARGO_MANIFEST_DIR"));
    let policy = std::fs::read(format!("{dir}/seed-policy.ndjson")).unwrap();
    let sdk = std::fs::read(format!("{dir}/seed-sdk.ndjson")).unwrap();
    let p = assay_runner::correlation::policy::accept("r", Some(&policy), false, &att, "/p.yaml");
    assert_eq!(p.state, OtherLayer::Complete, "{:?}", p.notes);
    let s = assay_runner::correlation::sdk::accept("r", Some(&sdk), false, &att, "/l/sdk.ndjson");
    assert_eq!(s.state, OtherLayer::Complete, "{:?}", s.notes);
}

/// The committed verify seed is the sample bundle of this version (regenerate it when the
/// contracts change: `ASSAY_UPDATE_SEEDS=1 cargo test --test fuzz_seeds`).
#[test]
fn verify_seed_is_the_current_sample_bundle() {
    let p = format!(
        "{}/fuzz/corpus/verify_bundle/seed-sample",
        env!("CARGO_MANIFEST_DIR")
    );
    let want = assay_runner::fuzzing::sample_bundle("r");
    if std::env::var_os("ASSAY_UPDATE_SEEDS").is_some_and(|v| v == "1") {
        std::fs::write(&p, &want).unwrap();
    }
    assert_eq!(
        std::fs::read(&p).unwrap(),
        want,
        "stale seed: rerun with ASSAY_UPDATE_SEEDS=1"
    );
}

/// A seed with one byte set and cut after a point no earlier than that byte.
fn mutate(seed: &[u8], pos: prop::sample::Index, byte: u8, cut: prop::sample::Index) -> Vec<u8> {
    let mut s = seed.to_vec();
    if !s.is_empty() {
        let i = pos.index(s.len());
        s[i] = byte;
        s.truncate(cut.index(s.len() + 1).max(i));
    }
    s
}

proptest! {
    #[test]
    fn mutated_configs_never_panic(idx in 0usize..4, pos in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<prop::sample::Index>()) {
        let all = seeds("lanes_config");
        let s = mutate(&all[idx % all.len()], pos, byte, cut);
        assay_runner::fuzzing::lanes_config(&s);
    }

    #[test]
    fn mutated_name_seeds_never_panic(which in 0usize..2, idx in 0usize..3, pos in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<prop::sample::Index>()) {
        let all = seeds(["dns_answer", "client_hello"][which]);
        let s = mutate(&all[idx % all.len()], pos, byte, cut);
        if which == 0 {
            assay_runner::fuzzing::dns_answer(&s);
        } else {
            assay_runner::fuzzing::client_hello(&s);
        }
    }

    #[test]
    fn mutated_policy_and_framing_seeds_never_panic(which in 0usize..2, idx in 0usize..3, pos in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<prop::sample::Index>()) {
        let all = seeds(["policy_file", "mcp_framing"][which]);
        let s = mutate(&all[idx % all.len()], pos, byte, cut);
        if which == 0 {
            assay_runner::policy::fuzzing::policy_file(&s);
        } else {
            assay_runner::policy::fuzzing::framing(&s);
        }
    }
}

use super::*;
use crate::contracts::kernel_event::{KernelEvent, Kind};
use crate::contracts::policy_event::{self, IdSource, Outcome, PolicyDiag, PolicyEvent};
use crate::layers::kernel::{Origin, ProcessInfo};

fn record(id: &str, decision: Decision, window: Option<(u64, Option<u64>)>) -> PolicyEvent {
    PolicyEvent {
        schema: policy_event::SCHEMA.into(),
        run_id: "r".into(),
        seq: 0,
        tool_call_id: id.into(),
        tool_call_id_source: IdSource::Meta,
        tool: format!("tool-{id}"),
        decision,
        rule: "x".into(),
        reason: "rule-allow: x".into(),
        outcome: if decision == Decision::Allow {
            Outcome::Ok
        } else {
            Outcome::Denied
        },
        diag: Some(PolicyDiag {
            jsonrpc_id: None,
            wrapper_pid: 10,
            server_pid: 11,
            received_ns: 0,
            forwarded_ns: window.map(|w| w.0),
            held_ns: None,
            responded_ns: window.and_then(|w| w.1),
            recorded_unix_ms: 0,
            arguments_sha256: None,
        }),
    }
}

fn layer(records: Vec<PolicyEvent>) -> PolicyLayer {
    PolicyLayer {
        state: OtherLayer::Complete,
        records,
        notes: Vec::new(),
    }
}

fn open(process: &str, path: &str, access: &str) -> KernelEvent {
    KernelEvent {
        path: Some(path.into()),
        access: Some(access.into()),
        ..KernelEvent::new("r", 0, process, Kind::Open)
    }
}

fn exec(process: &str, path: &str) -> KernelEvent {
    KernelEvent {
        path: Some(path.into()),
        ..KernelEvent::new("r", 0, process, Kind::Exec)
    }
}

/// Client p0 (pid 5), wrapper (10), server (11) and a child of the server (12).
fn projection(events: Vec<(u32, u64, KernelEvent)>) -> Projection {
    let proc = |label: &str, pid, ppid| ProcessInfo {
        label: String::from(label),
        key: pid,
        parent: ppid,
        pid,
        ppid,
        exec: None,
        first_ns: 0,
        exit_ns: None,
    };
    Projection {
        origins: events
            .iter()
            .map(|(pid, ns, _)| Origin {
                key: *pid,
                pid: *pid,
                ns: *ns,
            })
            .collect(),
        events: events.into_iter().map(|(_, _, e)| e).collect(),
        processes: vec![
            proc("p0", 5, None),
            proc("p0/assay-runner#1", 10, Some(5)),
            proc("p0/assay-runner#1/node#1", 11, Some(10)),
            proc("p0/assay-runner#1/node#1/cat#1", 12, Some(11)),
        ],
        stats: Default::default(),
    }
}

const SERVER: &str = "p0/assay-runner#1/node#1";

#[test]
fn effects_land_in_their_call_and_denied_calls_have_none() {
    let l = layer(vec![
        record("a", Decision::Allow, Some((100, Some(200)))),
        record("b", Decision::Deny, None),
        record("c", Decision::Allow, Some((300, Some(400)))),
    ]);
    let p = projection(vec![
        (11, 50, open(SERVER, "/srv/boot.js", "read")),
        (11, 150, open(SERVER, "<work>/data/a.txt", "read")),
        (
            12,
            180,
            exec("p0/assay-runner#1/node#1/cat#1", "/usr/bin/cat"),
        ),
        (
            10,
            150,
            open("p0/assay-runner#1", "/run/x/policy.ndjson", "write"),
        ),
        (5, 150, open("p0", "<work>/client-only", "write")),
        (11, 250, open(SERVER, "<work>/between", "read")),
        (11, 350, open(SERVER, "<work>/out/c.txt", "write")),
        (11, 350, open(SERVER, "/etc/ld.so.cache", "read")),
    ]);
    let r = correlate("r", &l, None, &p, &NoiseFilter::default_filter());
    assert_eq!(r.status, Status::Clean, "{:?}", r.ambiguities);
    assert_eq!(r.bindings.len(), 3);
    assert_eq!(
        r.bindings[0].effects.filesystem_paths,
        ["<work>/data/a.txt"]
    );
    assert_eq!(r.bindings[0].effects.process_execs, ["/usr/bin/cat"]);
    assert_eq!(r.bindings[0].server, SERVER);
    assert!(r.bindings[1].effects.is_empty());
    assert_eq!(r.bindings[1].server, "");
    assert_eq!(
        r.bindings[2].effects.filesystem_writes,
        ["<work>/out/c.txt"]
    );
    assert_eq!(
        r.unattributed.filesystem_paths,
        ["/srv/boot.js", "<work>/between"]
    );
    let everywhere = serde_json::to_string(&r).unwrap();
    assert!(!everywhere.contains("client-only") && !everywhere.contains("policy.ndjson"));
}

#[test]
fn concurrent_open_and_duplicate_calls_are_ambiguous_never_guessed() {
    let l = layer(vec![
        record("d", Decision::Allow, Some((500, Some(600)))),
        record("e", Decision::Allow, Some((550, Some(650)))),
        record("g", Decision::Allow, Some((800, Some(900)))),
        record("g", Decision::Allow, Some((1000, Some(1100)))),
        record("f", Decision::Allow, Some((1200, None))),
    ]);
    let p = projection(vec![
        (11, 520, open(SERVER, "<work>/only-d", "read")),
        (11, 580, open(SERVER, "<work>/d-or-e", "read")),
        (11, 850, open(SERVER, "<work>/g", "read")),
        (11, 1250, open(SERVER, "<work>/after-f", "read")),
    ]);
    let r = correlate("r", &l, None, &p, &NoiseFilter::none());
    assert_eq!(r.status, Status::Partial);
    assert_eq!(r.bindings[0].effects.filesystem_paths, ["<work>/only-d"]);
    assert!(r.bindings[1].effects.is_empty());
    let amb: Vec<(&str, Vec<&str>, Vec<&str>)> = r
        .ambiguities
        .iter()
        .map(|a| {
            (
                a.code.as_str(),
                a.tool_call_ids.iter().map(String::as_str).collect(),
                a.effects
                    .filesystem_paths
                    .iter()
                    .map(String::as_str)
                    .collect(),
            )
        })
        .collect();
    assert_eq!(
        amb,
        [
            ("duplicate-tool-call-id", vec!["g"], vec!["<work>/g"]),
            ("open-window", vec!["f"], vec!["<work>/after-f"]),
            ("overlapping-windows", vec!["d", "e"], vec!["<work>/d-or-e"]),
        ]
    );
    for b in &r.bindings[2..] {
        assert!(b.effects.is_empty(), "{b:?}");
    }
}

#[test]
fn an_unattested_layer_fails_the_correlation() {
    let mut l = layer(vec![record("a", Decision::Allow, Some((1, Some(2))))]);
    l.state = OtherLayer::Partial;
    let r = correlate("r", &l, None, &projection(Vec::new()), &NoiseFilter::none());
    assert_eq!(r.status, Status::Failed);
    l.records[0].diag.as_mut().unwrap().server_pid = 77;
    l.state = OtherLayer::Complete;
    let r = correlate("r", &l, None, &projection(Vec::new()), &NoiseFilter::none());
    assert_eq!(r.ambiguities[0].code, "unknown-server");
    assert_eq!(r.status, Status::Partial);
}

fn sdk_layer(calls: &[(&str, &str)]) -> SdkLayer {
    use crate::contracts::sdk_event::{self, EventType, Sdk, SdkEvent, ToolOutcome};
    let mut records = Vec::new();
    let mut push = |t: EventType, call: Option<(&str, &str)>| {
        records.push(SdkEvent {
            schema: sdk_event::SCHEMA.into(),
            run_id: "r".into(),
            seq: records.len() as u64,
            event_type: t,
            tool_call_id: call.map(|c| c.0.to_string()),
            tool: call.map(|c| c.1.to_string()),
            outcome: (t == EventType::ToolCallFinished).then_some(ToolOutcome::Ok),
            sdk: Sdk {
                name: "@google/genai".into(),
                version: "1.0.0".into(),
            },
            diag: None,
        })
    };
    push(EventType::RunStarted, None);
    for c in calls {
        push(EventType::ToolCallStarted, Some(*c));
        push(EventType::ToolCallFinished, Some(*c));
    }
    push(EventType::RunFinished, None);
    SdkLayer {
        state: OtherLayer::Complete,
        records,
        notes: Vec::new(),
    }
}

#[test]
fn sdk_calls_join_policy_records_by_id_and_mismatches_are_partial() {
    let l = layer(vec![
        record("a", Decision::Allow, Some((100, Some(200)))),
        record("b", Decision::Deny, None),
    ]);
    let p = projection(vec![(11, 150, open(SERVER, "<work>/a", "read"))]);
    let same = sdk_layer(&[("a", "tool-a"), ("b", "tool-b")]);
    let r = correlate("r", &l, Some(&same), &p, &NoiseFilter::none());
    assert_eq!(r.status, Status::Clean, "{:?}", r.ambiguities);
    assert!(r.bindings.iter().all(|b| b.sdk_outcome.is_some()));
    assert_eq!(r.bindings[0].effects.filesystem_paths, ["<work>/a"]);

    type Calls<'a> = &'a [(&'a str, &'a str)];
    let cases: [(Calls, Calls); 3] = [
        (&[("a", "tool-a")], &[("policy-without-sdk", "b")]),
        (
            &[("a", "tool-a"), ("b", "tool-b"), ("c", "tool-c")],
            &[("sdk-without-policy", "c")],
        ),
        (
            &[("a", "tool-a"), ("b", "tool-x")],
            &[("tool-mismatch", "b")],
        ),
    ];
    for (calls, want) in cases {
        let r = correlate("r", &l, Some(&sdk_layer(calls)), &p, &NoiseFilter::none());
        assert_eq!(r.status, Status::Partial);
        let got: Vec<(&str, &str)> = r
            .ambiguities
            .iter()
            .map(|a| (a.code.as_str(), a.tool_call_ids[0].as_str()))
            .collect();
        assert_eq!(got, want);
        // The kernel attribution does not depend on the join.
        assert_eq!(r.bindings[0].effects.filesystem_paths, ["<work>/a"]);
    }
    let mut broken = sdk_layer(&[("a", "tool-a"), ("b", "tool-b")]);
    broken.state = OtherLayer::Partial;
    let r = correlate("r", &l, Some(&broken), &p, &NoiseFilter::none());
    assert_eq!(r.status, Status::Failed);
}

/// A call's destinations read as their surface entries: named by the run's earned DNS answers,
/// the same rule as the surface; without names they stay addresses.
#[test]
fn call_destinations_are_named_like_the_surface() {
    let l = layer(vec![record("a", Decision::Allow, Some((100, Some(200))))]);
    let connect = KernelEvent {
        endpoint: Some("tcp:127.0.0.2:443".into()),
        ..KernelEvent::new("r", 0, SERVER, Kind::NetConnect)
    };
    let p = projection(vec![(11, 150, connect)]);
    let mut names = Names::default();
    names.event(&KernelEvent {
        endpoint: Some("udp:127.0.0.1:53".into()),
        name: Some("api.assay.test".into()),
        addresses: vec!["127.0.0.2".into()],
        earned: true,
        ..KernelEvent::new("r", 0, "net", Kind::DnsAnswer)
    });
    let named = correlate_named("r", &l, None, &p, &NoiseFilter::none(), &names);
    assert_eq!(
        named.bindings[0].effects.network_endpoints,
        ["tcp:api.assay.test:443"]
    );
    let plain = correlate("r", &l, None, &p, &NoiseFilter::none());
    assert_eq!(
        plain.bindings[0].effects.network_endpoints,
        ["tcp:127.0.0.2:443"]
    );
}

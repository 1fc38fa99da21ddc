//! `assay-runner demo`: the pipeline on the bundled fixtures, from the repository root:
//! lanes self-test and classification, a measured run of `fixtures/kernel/demo.sh`, offline
//! verification of its bundle, a `kernel-policy` run of the MCP fixture (fixtures/policy: a client
//! and server talking through `mcp-wrap`) with the kernel effects of each tool call, then the
//! `demo` proof of `proofs.yaml` (three runs, determinism gate, diff against
//! `goldens/demo.surface.json`, verdict).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

use super::args::DemoArgs;
use super::run_cmd;
use crate::contracts::verdict::{ProofVerdict, Verdict};
use crate::exit::Exit;
use crate::kernel::session::RunSpec;
use crate::lanes::{LanesConfig, changes, render, selftest};
use crate::pipeline::Measured;
use crate::proofs::Proofs;
use crate::surface::NoiseFilter;
use crate::verify::{Keep, Limits};

/// `demo`: the pipeline end to end on this repository's fixtures, step by step (lanes,
/// a measured run, offline verification, the MCP and SDK layers, a proof, the report).
pub fn run(a: DemoArgs) -> anyhow::Result<i32> {
    let lanes_ok = lanes_step()?;
    let (m, bundle) = match measure_step(&a.out_dir)? {
        Ok(measured) => measured,
        Err(code) => return Ok(code),
    };
    let verified = verify_step(&bundle)?;
    let policy_ok = policy_step(&a.out_dir)? && sdk_step(&a.out_dir)?;
    let pv = prove_step(&a.out_dir)?;
    report_step(&pv);
    Ok(
        if lanes_ok && m.exit_code == 0 && verified && policy_ok && pv.verdict == Verdict::Pass {
            Exit::Ok.code()
        } else {
            Exit::Failed.code()
        },
    )
}

/// Steps 1 and 2: this repository's lanes self-test, and the lane of a sample change list.
/// True when the self-test passed.
fn lanes_step() -> anyhow::Result<bool> {
    let cfg_path = Path::new("lanes/lanes.yaml");
    let bytes = std::fs::read(cfg_path).with_context(|| {
        format!(
            "cannot read {}: run the demo from the repository root",
            cfg_path.display()
        )
    })?;
    let config = LanesConfig::parse("lanes/lanes.yaml", &bytes)?;
    println!("== 1. lanes self-test (lanes/lanes.yaml)");
    let report = selftest::run(&config, Path::new("."))?;
    print!("{}", render::self_test(&config, &report));
    println!("\n== 2. classify fixtures/demo/changes.txt");
    let list = std::fs::read("fixtures/demo/changes.txt")
        .context("cannot read fixtures/demo/changes.txt")?;
    let decision = config.classify(&changes::parse(&list)?);
    print!(
        "{}",
        render::human(&render::contract(&config, "lanes/lanes.yaml", &decision))
    );
    Ok(report.passed())
}

/// Step 3: `fixtures/kernel/demo.sh` measured, its bundle written; or the exit code when the
/// run could not be observed.
fn measure_step(out_dir: &Path) -> anyhow::Result<Result<(Measured, PathBuf), i32>> {
    println!("\n== 3. measured run: fixtures/kernel/demo.sh, observed by eBPF in its own cgroup");
    let work = run_cmd::fresh_work_dir(&out_dir.join("work"), Path::new("fixtures/kernel/seed"))?;
    // The script runs from the work dir so the surface names it `<work>/demo.sh` on every machine.
    std::fs::copy("fixtures/kernel/demo.sh", work.join("demo.sh"))
        .context("cannot copy fixtures/kernel/demo.sh")?;
    let spec = demo_spec(vec![work.join("demo.sh").into_os_string()], work, false);
    crate::kernel::session::install_interrupt_handlers();
    let m = match crate::pipeline::measure("demo", &spec, &NoiseFilter::default_filter()) {
        Ok(m) => m,
        Err(crate::pipeline::MeasureError::Session(e)) => {
            eprintln!(
                "assay-runner: {e}\nassay-runner: run `assay-runner doctor` to see what this host lacks"
            );
            return Ok(Err(Exit::ObservationFailed.code()));
        }
        Err(e) => {
            eprintln!("assay-runner: {e}");
            return Ok(Err(Exit::RunnerError.code()));
        }
    };
    let bundle = out_dir.join("demo.tar.gz");
    crate::bundle::write(&bundle, "demo", &crate::pipeline::entries(&m))?;
    print!("{}", run_cmd::summary(&m, Some(&bundle)));
    Ok(Ok((m, bundle)))
}

/// Step 4: the bundle verified offline, as hostile input. True when it is valid.
fn verify_step(bundle: &Path) -> anyhow::Result<bool> {
    println!(
        "\n== 4. verify {} offline, as hostile input",
        bundle.display()
    );
    let v = crate::verify::verify_path(bundle, &Limits::default(), Keep::Documents)?;
    if v.ok() {
        println!(
            "valid: {} members, every hash, schema and consistency rule holds ({})",
            v.report.members.len(),
            v.report.bundle_sha256.as_deref().unwrap_or("?")
        );
    }
    for p in &v.report.problems {
        println!("{}: {}: {}", p.member, p.code, p.message);
    }
    Ok(v.ok())
}

/// Step 6: the `demo` proof of `proofs.yaml`, three runs against its golden.
fn prove_step(out_dir: &Path) -> anyhow::Result<ProofVerdict> {
    println!(
        "\n== 6. prove `demo` (proofs.yaml): 3 runs, identical canonical members, golden diff"
    );
    let proofs = Proofs::load(Path::new("proofs.yaml"))?;
    let proof = proofs
        .get("demo")
        .context("proofs.yaml has no proof named `demo`")?;
    let opts = crate::prove::Options::new(3, out_dir.join("proofs"));
    let o = crate::prove::prove_one(proof, &opts, &mut |s| println!("  {s}"))?;
    let pv = o.verdict;
    if let Some(d) = &pv.diff {
        print!("{}", crate::diff::human(d));
    }
    for r in &pv.reasons {
        println!("  {r}");
    }
    if let Some(d) = &o.determinism_diff {
        println!("{d}");
    }
    println!(
        "verdict: {} (deterministic across {} runs: {})",
        format!("{:?}", pv.verdict).to_lowercase(),
        pv.runs,
        pv.deterministic
    );
    Ok(pv)
}

/// Step 7: what the check run on the PR would say.
fn report_step(pv: &ProofVerdict) {
    println!("\n== 7. report: what the check run on the PR would say (`assay-runner report`)");
    let set = crate::prove::set_verdict("lane:kernel-only", Some("kernel-only"), vec![pv.clone()]);
    let c = crate::report::Conclusion::Failure;
    println!(
        "check run `assay-runner proofs`: conclusion {}, {} annotation(s); summary:\n",
        crate::report::conclusion(set.verdict, c).as_str(),
        crate::report::annotations(&set, "").len()
    );
    print!(
        "{}",
        crate::report::markdown::report(&set, "assay-runner proofs", c)
    );
}

/// Step 5: the MCP fixture through `mcp-wrap`, observed; prints each tool call's decision next
/// to the kernel effects attributed to it. True when the policy layer and correlation are clean.
fn policy_step(out_dir: &Path) -> anyhow::Result<bool> {
    use crate::contracts::correlation_report::Status;
    use crate::contracts::health::OtherLayer;
    println!(
        "\n== 5. tool calls through mcp-wrap: fixtures/policy (MCP SDK client and server), kernel effects per call"
    );
    let dist = Path::new("fixtures/policy/dist");
    if !dist.join("server.mjs").exists() {
        anyhow::bail!(
            "fixtures/policy/dist/server.mjs is missing: run scripts/setup (it installs and bundles the MCP fixture)"
        );
    }
    let work = run_cmd::fresh_work_dir(&out_dir.join("policy-work"), dist)?;
    run_cmd::fresh_work_dir(&work.join("data"), Path::new("fixtures/policy/seed/data"))?;
    let spec = demo_spec(vec!["node".into(), "client.mjs".into()], work, true);
    let layers = crate::pipeline::Layers::Policy {
        policy: "fixtures/policy/policy.yaml".into(),
    };
    let m = crate::pipeline::measure_with(
        "demo-policy",
        &spec,
        &NoiseFilter::default_filter(),
        &layers,
        &crate::surface::normalize::Rules::defaults(),
    )?;
    let bundle = out_dir.join("demo-policy.tar.gz");
    crate::bundle::write(&bundle, "demo-policy", &crate::pipeline::entries(&m))?;
    let Some(c) = &m.correlation else {
        return Ok(false);
    };
    for b in &c.bindings {
        let e = &b.effects;
        let reads: Vec<String> = e
            .filesystem_paths
            .iter()
            .filter(|p| !e.filesystem_writes.contains(p))
            .cloned()
            .collect();
        let effects: Vec<String> = [
            ("read", &reads),
            ("wrote", &e.filesystem_writes),
            ("connected", &e.network_endpoints),
            ("executed", &e.process_execs),
        ]
        .iter()
        .flat_map(|(verb, list)| list.iter().map(move |x| format!("{verb} {x}")))
        .collect();
        let decision = match b.decision {
            crate::contracts::policy_event::Decision::Allow => "allow",
            crate::contracts::policy_event::Decision::Deny => "DENY ",
        };
        println!(
            "  {decision} {:<20} {:<16} kernel: {}",
            b.tool_call_id,
            b.tool,
            if effects.is_empty() {
                "no effect".to_string()
            } else {
                effects.join(", ")
            }
        );
    }
    println!(
        "policy_layer {:?}, correlation {:?}; bundle: {}",
        m.health.policy_layer,
        c.status,
        bundle.display()
    );
    Ok(m.health.policy_layer == OtherLayer::Complete
        && c.status == Status::Clean
        && m.exit_code == 0)
}

/// Step 5b: the `@openai/agents` fixture in mode `sdk`: one tool call id followed from the SDK's
/// record through the policy decision to the kernel effects. True when every layer is clean.
fn sdk_step(out_dir: &Path) -> anyhow::Result<bool> {
    use crate::contracts::correlation_report::Status;
    use crate::contracts::health::OtherLayer;
    println!(
        "\n== 5b. an agent runtime (@openai/agents, scripted local model, fixtures/sdk): one tool call id through every layer"
    );
    let agent = Path::new("fixtures/sdk/dist/openai-agent.mjs");
    if !agent.exists() {
        anyhow::bail!(
            "{} is missing: run scripts/setup (it installs and bundles the SDK fixtures)",
            agent.display()
        );
    }
    let work =
        run_cmd::fresh_work_dir(&out_dir.join("sdk-work"), Path::new("fixtures/policy/dist"))?;
    std::fs::remove_file(work.join("client.mjs")).ok();
    std::fs::copy(agent, work.join("openai-agent.mjs"))
        .with_context(|| format!("cannot copy {}", agent.display()))?;
    run_cmd::fresh_work_dir(&work.join("data"), Path::new("fixtures/policy/seed/data"))?;
    let spec = demo_spec(vec!["node".into(), "openai-agent.mjs".into()], work, true);
    let layers = crate::pipeline::Layers::Sdk {
        policy: "fixtures/policy/policy.yaml".into(),
    };
    let m = crate::pipeline::measure_with(
        "demo-sdk",
        &spec,
        &NoiseFilter::default_filter(),
        &layers,
        &crate::surface::normalize::Rules::defaults(),
    )?;
    let bundle = out_dir.join("demo-sdk.tar.gz");
    crate::bundle::write(&bundle, "demo-sdk", &crate::pipeline::entries(&m))?;
    let (Some(c), Some(sdk), Some(policy)) = (&m.correlation, &m.sdk, &m.policy) else {
        return Ok(false);
    };
    let sdk_name = sdk
        .records
        .first()
        .map(|r| format!("{} {}", r.sdk.name, r.sdk.version))
        .unwrap_or_default();
    for b in c.bindings.iter().take(2) {
        print_call(b, policy, &sdk_name);
    }
    println!(
        "sdk_layer {:?}, policy_layer {:?}, correlation {:?} ({} calls joined by id); bundle: {}",
        m.health.sdk_layer,
        m.health.policy_layer,
        c.status,
        c.bindings
            .iter()
            .filter(|b| b.sdk_outcome.is_some())
            .count(),
        bundle.display()
    );
    Ok(m.health.sdk_layer == OtherLayer::Complete
        && m.health.policy_layer == OtherLayer::Complete
        && c.status == Status::Clean
        && m.exit_code == 0)
}

/// One tool call as each layer saw it: the SDK's call, the policy's decision, the kernel's
/// effects attributed to it.
fn print_call(
    b: &crate::contracts::correlation_report::Binding,
    policy: &crate::correlation::policy::PolicyLayer,
    sdk_name: &str,
) {
    let id = &b.tool_call_id;
    let rec = policy.records.iter().find(|r| &r.tool_call_id == id);
    println!("  {id}");
    println!(
        "    sdk     ({sdk_name}): called {}, saw {:?}",
        b.tool, b.sdk_outcome
    );
    if let Some(r) = rec {
        println!(
            "    policy  (mcp-wrap): {:?} by rule `{}`: {}",
            r.decision, r.rule, r.reason
        );
    }
    let e = &b.effects;
    let mut effects: Vec<String> = e
        .filesystem_paths
        .iter()
        .map(|p| format!("opened {p}"))
        .collect();
    effects.extend(e.network_endpoints.iter().map(|p| format!("connected {p}")));
    effects.extend(e.process_execs.iter().map(|p| format!("executed {p}")));
    println!(
        "    kernel  (eBPF): {}",
        if effects.is_empty() {
            "no effect".into()
        } else {
            effects.join(", ")
        }
    );
}

/// How the demo runs a fixture: detached, a 60 s timeout, the default ring and grace.
fn demo_spec(argv: Vec<std::ffi::OsString>, work: std::path::PathBuf, quiet: bool) -> RunSpec {
    RunSpec {
        argv,
        work_dir: work,
        ring_bytes: 16 << 20,
        wakeup_bytes: 256 << 10,
        grace: Duration::from_secs(2),
        timeout: Some(Duration::from_secs(60)),
        user: None,
        env: None,
        detach: true,
        output: if quiet {
            crate::kernel::session::Output::Null
        } else {
            crate::kernel::session::Output::Inherit
        },
        private_tmp: false,
    }
}

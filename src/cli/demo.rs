//! `assay-runner demo`: the pipeline on the bundled fixtures, from the repository root:
//! lanes self-test and classification, a measured run of `fixtures/kernel/demo.sh`, offline
//! verification of its bundle, then the `demo` proof of `proofs.yaml` (three runs, determinism
//! gate, diff against `goldens/demo.surface.json`, verdict).

use std::path::Path;
use std::time::Duration;

use anyhow::Context;

use super::args::DemoArgs;
use super::run_cmd;
use crate::contracts::verdict::Verdict;
use crate::exit;
use crate::kernel::session::RunSpec;
use crate::lanes::{LanesConfig, changes, render, selftest};
use crate::proofs::Proofs;
use crate::surface::NoiseFilter;
use crate::verify::{Keep, Limits};

pub fn run(a: DemoArgs) -> anyhow::Result<i32> {
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

    println!("\n== 3. measured run: fixtures/kernel/demo.sh, observed by eBPF in its own cgroup");
    let work = run_cmd::fresh_work_dir(&a.out_dir.join("work"), Path::new("fixtures/kernel/seed"))?;
    // The script runs from the work dir so the surface names it `<work>/demo.sh` on every machine.
    std::fs::copy("fixtures/kernel/demo.sh", work.join("demo.sh"))
        .context("cannot copy fixtures/kernel/demo.sh")?;
    let spec = RunSpec {
        argv: vec![work.join("demo.sh").into_os_string()],
        work_dir: work,
        ring_bytes: 16 << 20,
        wakeup_bytes: 256 << 10,
        grace: Duration::from_secs(2),
        timeout: Some(Duration::from_secs(60)),
        user: None,
        env: None,
        detach: true,
        quiet: false,
    };
    crate::kernel::session::install_interrupt_handlers();
    let m = match crate::pipeline::measure("demo", &spec, &NoiseFilter::default_filter()) {
        Ok(m) => m,
        Err(crate::pipeline::MeasureError::Session(e)) => {
            eprintln!(
                "assay-runner: {e}\nassay-runner: run `assay-runner doctor` to see what this host lacks"
            );
            return Ok(exit::OBSERVATION_FAILED);
        }
        Err(e) => {
            eprintln!("assay-runner: {e}");
            return Ok(exit::RUNNER_ERROR);
        }
    };
    let bundle = a.out_dir.join("demo.tar.gz");
    crate::bundle::write(&bundle, "demo", &crate::pipeline::entries(&m))?;
    print!("{}", run_cmd::summary(&m, Some(&bundle)));

    println!(
        "\n== 4. verify {} offline, as hostile input",
        bundle.display()
    );
    let v = crate::verify::verify_path(&bundle, &Limits::default(), Keep::Documents)?;
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

    println!(
        "\n== 5. prove `demo` (proofs.yaml): 3 runs, identical canonical members, golden diff"
    );
    let proofs = Proofs::load(Path::new("proofs.yaml"))?;
    let proof = proofs
        .get("demo")
        .context("proofs.yaml has no proof named `demo`")?;
    let opts = crate::prove::Options::new(3, a.out_dir.join("proofs"));
    let o = crate::prove::prove_one(proof, &opts, &mut |s| println!("  {s}"))?;
    let pv = &o.verdict;
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

    println!("\n== 6. report: what the check run on the PR would say (`assay-runner report`)");
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
    Ok(
        if report.passed() && m.exit_code == 0 && v.ok() && pv.verdict == Verdict::Pass {
            exit::OK
        } else {
            exit::FAILED
        },
    )
}

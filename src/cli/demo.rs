//! `assay-runner demo`: the pipeline on the bundled fixtures, from the repository root:
//! lanes self-test and classification, then a measured run of `fixtures/kernel/demo.sh`.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;

use super::args::DemoArgs;
use super::run_cmd;
use crate::exit;
use crate::kernel::session::RunSpec;
use crate::lanes::{LanesConfig, changes, render, selftest};
use crate::surface::NoiseFilter;

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
    };
    crate::kernel::session::install_interrupt_handlers();
    let m = match crate::pipeline::measure("demo", &spec, &NoiseFilter::default_filter()) {
        Ok(m) => m,
        Err(e) => {
            eprintln!(
                "assay-runner: {e}\nassay-runner: run `assay-runner doctor` to see what this host lacks"
            );
            return Ok(exit::OBSERVATION_FAILED);
        }
    };
    let bundle = a.out_dir.join("demo.tar.gz");
    crate::bundle::write(&bundle, "demo", &crate::pipeline::entries(&m))?;
    print!("{}", run_cmd::summary(&m, Some(&bundle)));
    Ok(if report.passed() && m.exit_code == 0 {
        exit::OK
    } else {
        exit::FAILED
    })
}

//! `assay-runner demo`: the pipeline on the bundled fixtures, from the repository root.

use std::path::Path;

use anyhow::Context;

use crate::exit;
use crate::lanes::{LanesConfig, changes, render, selftest};

pub fn run() -> anyhow::Result<i32> {
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
    Ok(if report.passed() {
        exit::OK
    } else {
        exit::FAILED
    })
}

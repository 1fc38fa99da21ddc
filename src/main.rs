//! The `assay-runner` binary: everything lives in the library; see `cli`.

fn main() {
    std::process::exit(assay_runner::cli::main())
}

//! clap definitions of the v0 command tree (design §3). Names are part of the contract.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Kernel-observed CI verdicts for agents, MCP tool servers and build steps.
#[derive(Debug, Parser)]
#[command(
    name = "assay-runner",
    version,
    about,
    propagate_version = true,
    after_help = "Examples:\n  assay-runner lanes classify --base origin/main --head HEAD\n  assay-runner run --out run.tar.gz -- make test\n  assay-runner demo\n\nExit codes: 0 ok; 1 a check failed; 2 usage/config/IO error; 4 inconclusive (prove, report,\ncross-diff: observation not clean). `run` and `mcp-wrap` exit with the command's own status\n(128+N if killed by signal N), 120 observation could not start, 124 timeout, 125 the runner\nfailed after the command started; see README."
)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Output format of commands a script may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Concise text for people.
    Human,
    /// One JSON document (the command's contract).
    Json,
    /// Human text plus `$GITHUB_OUTPUT` and `$GITHUB_STEP_SUMMARY` when those are set.
    Github,
}

/// The v0 commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Classify a PR's changed files into cost lanes, explain, and self-test the lanes file.
    #[command(subcommand)]
    Lanes(LanesCommand),
    /// Run a command in a fresh cgroup, observed by eBPF, and write an evidence bundle.
    #[command(
        after_help = "Examples:\n  assay-runner run --out run.tar.gz -- ./build.sh --fast\n  assay-runner run --user nobody --grace-ms 500 --timeout 60 --out r.tar.gz -- make test\n\nExit status: the command's own (128+N if killed by signal N); 120 observation could not start;\n124 timeout; 125 runner error; 126/127 command not executable/found."
    )]
    Run(RunArgs),
    /// Run proofs N times, verify, check determinism and compare with goldens.
    #[command(
        after_help = "Examples:\n  assay-runner prove --all\n  assay-runner prove --lane kernel-only --runs 3 --out-dir .assay/proofs\n  assay-runner prove --list --lane sdk --format json\n\nExit codes: 0 every proof passed; 1 a proof failed or needs approval; 4 inconclusive\n(observation not clean, nothing failed); 2 usage/config/IO error. The JSON summary (assay.runner.verdict.v4) is\nwritten to OUT_DIR/verdict.json."
    )]
    Prove(ProveArgs),
    /// Check a bundle offline, treating it as hostile input; or an attestation (`--attestation`).
    #[command(
        after_help = "Examples:\n  assay-runner verify run.tar.gz\n  assay-runner verify run.tar.gz --format json\n  assay-runner verify --attestation target/assay-proofs/verdict.intoto.json --key assay.pub\n\nExit codes: 0 valid; 1 invalid (one line per problem, naming the member or subject); 2 usage/IO error."
    )]
    Verify(VerifyArgs),
    /// Who did it: each surface entry's first kernel witness, process chain and tool call.
    #[command(
        after_help = "Examples:\n  assay-runner explain run.tar.gz\n  assay-runner explain run.tar.gz tcp:127.0.0.1:9 '<work>/out/report.txt'\n\nExit codes: 0 explained; 1 a named entry is not in the surface; 2 usage/IO error or a bundle that does not verify."
    )]
    Explain(EffectsExplainArgs),
    /// Sign a verdict and its bundles: an in-toto Statement in a DSSE envelope.
    #[command(
        after_help = "Examples:\n  assay-runner attest --verdict target/assay-proofs/verdict.json --key assay.pem --out target/assay-proofs/verdict.intoto.json\n  assay-runner attest --verdict target/assay-proofs/verdict.json --predicate-out predicate.json\n\nBundle paths in the verdict are relative to --root (default: the current directory, where prove ran).\nExit codes: 0 written; 2 usage/IO error, an invalid verdict or a bundle that does not verify."
    )]
    Attest(AttestArgs),
    /// Diff a bundle's capability surface against a golden or another bundle.
    #[command(
        after_help = "Examples:\n  assay-runner diff --golden goldens/demo.surface.json head.tar.gz\n  assay-runner diff --base base.tar.gz head.tar.gz --format markdown\n\nExit codes: 0 unchanged; 1 changed; 2 error (unreadable or invalid input)."
    )]
    Diff(DiffArgs),
    /// Review pending goldens (`*.new`): accept them.
    #[command(subcommand)]
    Golden(GoldenCommand),
    /// Diff the same fixture across two SDK runtimes (two bundles of `sdk` runs).
    #[command(
        after_help = "Example:\n  assay-runner cross-diff sdk-openai/run-1.tar.gz sdk-genai/run-1.tar.gz --format markdown\n\nCompares the tool surfaces (tools called, decisions, per-tool kernel effects); what only one\nruntime's own process did is listed as set aside. Exit codes: 0 same; 1 different; 4\ninconclusive (a side's evidence is not clean); 2 error (unreadable, invalid or not an sdk\nbundle). Format and rules: docs/contracts/cross_runtime_diff.md."
    )]
    CrossDiff(CrossDiffArgs),
    /// Wrap an MCP stdio server, deciding each tools/call by policy.
    #[command(
        after_help = "Examples:\n  assay-runner mcp-wrap --policy policy.yaml --decision-log d.ndjson -- node server.js\n  ASSAY_POLICY_LOG=d.ndjson assay-runner mcp-wrap --policy policy.yaml -- npx my-server\n\nstdin/stdout belong to the MCP client; notes and (without a decision log) the decision\nrecords go to stderr. Exit status: the server's own (128+N if killed by signal N); 2 bad\npolicy or usage; 125 the decision log could not be written; 126/127 server not executable/found.\nPolicy format and odd-input behaviour: docs/policy.md."
    )]
    McpWrap(McpWrapArgs),
    /// Publish a verdict: check run, step summary, annotations, outputs.
    #[command(
        after_help = "Examples:\n  assay-runner report .assay/proofs/verdict.json            # Markdown to stdout\n  assay-runner report --check-run --step-summary --outputs .assay/proofs/verdict.json\n  assay-runner report --annotations proofs-a/verdict.json proofs-b/verdict.json\n\nThe check run goes to the PR head commit from $GITHUB_EVENT_PATH, at $GITHUB_API_URL, with\n$GITHUB_TOKEN. A read-only token (fork PR, or HTTP 403) falls back to the step summary and at\nmost 10 ::error/::warning annotations.\n\nExit codes: 0 pass (or inconclusive concluded success/neutral); 1 fail; 4 inconclusive;\n2 usage/IO error or the check run could not be written (the fallback is still printed)."
    )]
    Report(ReportArgs),
    /// Print the JSON Schemas of the contracts.
    #[command(
        after_help = "Examples:\n  assay-runner schema\n  assay-runner schema capability_surface > capability_surface.schema.json"
    )]
    Schema(SchemaArgs),
    /// Report what this host can observe, and why not.
    #[command(after_help = "Examples:\n  assay-runner doctor\n  assay-runner doctor --format json")]
    Doctor(DoctorArgs),
    /// Run the whole pipeline on the bundled fixtures.
    #[command(after_help = "Example:\n  assay-runner demo")]
    Demo(DemoArgs),
}

/// `report` arguments.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// `verdict.json` files written by `prove` (or directories holding one); several are
    /// merged into one report (a CI matrix of proof jobs). None: see `--proofs`.
    #[arg(value_name = "VERDICT", required_unless_present = "proofs")]
    pub verdicts: Vec<PathBuf>,
    /// With no VERDICT: report `--lane` as passing because this proofs file requires no proof
    /// for it (an error when it does: a skipped proof is never a pass).
    #[arg(
        long,
        value_name = "FILE",
        requires = "lane",
        conflicts_with = "verdicts"
    )]
    pub proofs: Option<PathBuf>,
    /// Create a check run on the PR head commit, with annotations on golden lines.
    #[arg(long)]
    pub check_run: bool,
    /// Append the Markdown report (≤ 1 MiB) to `$GITHUB_STEP_SUMMARY`.
    #[arg(long)]
    pub step_summary: bool,
    /// Print workflow-command annotations (`::error file=…`), at most 10.
    #[arg(long)]
    pub annotations: bool,
    /// Append `lane`, `verdict` and `bundles` to `$GITHUB_OUTPUT`.
    #[arg(long)]
    pub outputs: bool,
    /// Check run name; required checks match on it, so keep it stable.
    #[arg(long, default_value = "assay-runner proofs")]
    pub name: String,
    /// Conclusion for an inconclusive verdict.
    #[arg(long, value_enum, default_value_t = crate::report::Conclusion::Failure)]
    pub inconclusive_conclusion: crate::report::Conclusion,
    /// Lane to report when the verdict files do not name one (`prove --proof/--all`).
    #[arg(long, value_name = "LANE")]
    pub lane: Option<String>,
    /// Prefix for annotation paths: the proofs' directory relative to the repository root.
    #[arg(long, value_name = "DIR", default_value = "")]
    pub path_prefix: String,
    /// Also write the full (untruncated) Markdown report here, for an artifact.
    #[arg(long, value_name = "FILE")]
    pub markdown_out: Option<PathBuf>,
    /// Also write the merged verdict (`assay.runner.verdict.v4`) here: what `attest --verdict`
    /// signs for a matrix of proof jobs.
    #[arg(long, value_name = "FILE")]
    pub verdict_out: Option<PathBuf>,
    /// Also write the offline HTML report here: one file (no network, opens from `file://`)
    /// with each change's process chain and tool call, the process trees and the tool-call
    /// timelines, drawn from the verdict's bundles.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Event payload (default: `$GITHUB_EVENT_PATH`).
    #[arg(long, value_name = "PATH")]
    pub event: Option<PathBuf>,
    /// Commit for the check run (default: `pull_request.head.sha` of the event payload).
    #[arg(long, value_name = "SHA")]
    pub head_sha: Option<String>,
    /// Repository `owner/name` (default: `$GITHUB_REPOSITORY`).
    #[arg(long, value_name = "OWNER/NAME")]
    pub repo: Option<String>,
    /// REST API base (default: `$GITHUB_API_URL`, else https://api.github.com).
    #[arg(long, value_name = "URL")]
    pub api_url: Option<String>,
    /// Name of the environment variable holding the token (the token itself is never an
    /// argument: arguments are visible to every process on the host).
    #[arg(long, value_name = "VAR", default_value = "GITHUB_TOKEN")]
    pub token_env: String,
    /// Who may approve a proof that needs approval (its surface changed to exactly the golden
    /// the PR carries): `write` — an approving review of the PR's head commit by someone with
    /// write access or more who is not the PR's author, read through the API; `none` — such a
    /// proof stays red (merge its golden first).
    #[arg(long, value_enum, default_value_t = Approvers::Write)]
    pub approval: Approvers,
    /// Exit 2 when the check run could not be written (by default that is a warning and the
    /// verdict decides the exit code, as on every other path).
    #[arg(long)]
    pub require_check_run: bool,
    /// Attempts per API request (retries on 5xx, rate limits, timeouts).
    #[arg(long, default_value_t = 5, hide = true)]
    pub attempts: u32,
    /// First retry backoff in milliseconds (doubled per attempt, capped at 60 s).
    #[arg(long, default_value_t = 1000, hide = true)]
    pub retry_base_ms: u64,
    /// Per-request connect/read/write timeout in seconds.
    #[arg(long, default_value_t = 30, hide = true)]
    pub timeout_secs: u64,
}

/// `mcp-wrap` arguments.
#[derive(Debug, Args)]
pub struct McpWrapArgs {
    /// The policy file (docs/policy.md; default: $ASSAY_POLICY, which `run --mode
    /// kernel-policy` and `prove` set to the run's policy).
    #[arg(long, value_name = "POLICY.yaml")]
    pub policy: Option<PathBuf>,
    /// Append one `assay.runner.policy_event.v2` line per tools/call here, fsynced before the
    /// call's answer is forwarded (default: $ASSAY_POLICY_LOG; without either, records go to
    /// stderr).
    #[arg(long, value_name = "FILE")]
    pub decision_log: Option<PathBuf>,
    /// What `<work>` stands for in the policy (default: $ASSAY_WORK_DIR, else the current dir).
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
    /// Largest JSON-RPC message (one line) passed in either direction.
    #[arg(long, value_name = "BYTES", default_value_t = crate::policy::wrap::DEFAULT_MAX_MESSAGE_BYTES)]
    pub max_message_bytes: usize,
    /// After the client closes stdin, how long the server may take to exit before SIGTERM
    /// (then SIGKILL 2 s later).
    #[arg(long, value_name = "MS", default_value_t = 5000)]
    pub shutdown_grace_ms: u64,
    /// How allowed tools/calls reach the server: `one-at-a-time` holds a call while another is
    /// in flight, so each call's kernel effects bind to it alone (docs/policy.md); default:
    /// $ASSAY_MCP_CALLS, else one-at-a-time in a measured run ($ASSAY_RUN_ID set), else
    /// concurrent.
    #[arg(long, value_enum, value_name = "ORDER")]
    pub calls: Option<CallsArg>,
    /// The server command and its arguments.
    #[arg(last = true, required = true)]
    pub command: Vec<std::ffi::OsString>,
}

/// `mcp-wrap --calls`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CallsArg {
    /// Hold a call while another to the same server is in flight.
    OneAtATime,
    /// Forward calls as the client sends them.
    Concurrent,
}

/// `cross-diff` arguments.
#[derive(Debug, Args)]
pub struct CrossDiffArgs {
    /// The base runtime's bundle.
    pub base: PathBuf,
    /// The head runtime's bundle.
    pub head: PathBuf,
    /// Output format (`json`: `assay.runner.cross_runtime_diff.v0`).
    #[arg(long, value_enum, default_value_t = DiffFormat::Human)]
    pub format: DiffFormat,
}

/// Output format of a report a script may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// Concise text for people.
    Human,
    /// The command's JSON contract.
    Json,
}

/// Output format of `diff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    /// Concise text for people.
    Human,
    /// `assay.runner.capability_diff.v2`.
    Json,
    /// GitHub-flavoured Markdown tables.
    Markdown,
}

/// `verify`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["bundle", "attestation"])))]
pub struct VerifyArgs {
    /// The bundle (`.tar.gz`).
    pub bundle: Option<PathBuf>,
    /// A DSSE envelope `attest` wrote: checks its signature with `--key`, its statement against
    /// the schema, and every subject (bundles verified, digests equal) under `--root`.
    #[arg(long, value_name = "ENVELOPE", requires = "key")]
    pub attestation: Option<PathBuf>,
    /// The signer's public key (PEM `PUBLIC KEY`, Ed25519 or ECDSA P-256).
    #[arg(long, value_name = "PUB")]
    pub key: Option<PathBuf>,
    /// Where the statement's subject names are relative to.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub root: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Human)]
    pub format: ReportFormat,
    /// Refuse to decompress more than this many bytes.
    #[arg(long, default_value_t = 4 << 30)]
    pub max_bytes: u64,
    /// Refuse archives with more members than this.
    #[arg(long, default_value_t = 64)]
    pub max_members: usize,
}

/// `explain` (of a bundle's effects; `lanes explain` is another).
#[derive(Debug, Args)]
pub struct EffectsExplainArgs {
    /// The bundle (`.tar.gz`); it must verify.
    pub bundle: PathBuf,
    /// Only these surface entries (default: every entry of the kernel categories).
    pub entries: Vec<String>,
}

/// `attest`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("output").required(true).multiple(true).args(["out", "statement_out", "predicate_out", "checksums_out"])))]
pub struct AttestArgs {
    /// The verdict `prove` wrote.
    #[arg(long, value_name = "FILE")]
    pub verdict: PathBuf,
    /// Where the verdict's bundle paths are relative to (where `prove` ran).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub root: PathBuf,
    /// Private key to sign with (PEM: PKCS#8 Ed25519 or ECDSA P-256, or SEC1 P-256).
    #[arg(long, value_name = "FILE", requires = "out")]
    pub key: Option<PathBuf>,
    /// The signed DSSE envelope.
    #[arg(long, value_name = "FILE", requires = "key")]
    pub out: Option<PathBuf>,
    /// The unsigned in-toto Statement.
    #[arg(long, value_name = "FILE")]
    pub statement_out: Option<PathBuf>,
    /// The predicate alone (for `actions/attest`'s `predicate-path`).
    #[arg(long, value_name = "FILE")]
    pub predicate_out: Option<PathBuf>,
    /// The subjects as `sha256sum` lines (for `actions/attest`'s `subject-checksums`).
    #[arg(long, value_name = "FILE")]
    pub checksums_out: Option<PathBuf>,
}

/// `schema`.
#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Contract name (`capability_surface`) or schema id; without it, list the contracts.
    pub name: Option<String>,
}

/// `diff`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("base_side").required(true).args(["golden", "base"])))]
pub struct DiffArgs {
    /// A golden surface file (one entry per line) as the base.
    #[arg(long, value_name = "FILE")]
    pub golden: Option<PathBuf>,
    /// A bundle as the base.
    #[arg(long, value_name = "BUNDLE")]
    pub base: Option<PathBuf>,
    /// The head bundle.
    pub head: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = DiffFormat::Human)]
    pub format: DiffFormat,
}

/// `golden` subcommands.
#[derive(Debug, Subcommand)]
pub enum GoldenCommand {
    /// Promote pending goldens written by `prove` (`OUT_DIR/<proof>/<golden>.new`), like
    /// `cargo insta accept`.
    #[command(
        after_help = "Examples:\n  assay-runner golden accept            # every pending golden in .assay/proofs\n  assay-runner golden accept demo       # only the proof `demo`\n  assay-runner golden accept --out-dir target/assay-proofs demo\n  assay-runner golden accept --check    # list pending and stale goldens, change nothing\n\nA proof whose last run failed, was unclean or not deterministic has no pending golden:\naccept says why (from OUT_DIR/verdict.json) and changes nothing.\n\nExit codes: 0 done (with --check: nothing pending or stale); 1 --check found pending or\nstale goldens; 2 usage/config/IO error."
    )]
    Accept(GoldenAcceptArgs),
}

/// `golden accept`.
#[derive(Debug, Args)]
pub struct GoldenAcceptArgs {
    /// Proof names (default: every proof with a pending golden).
    pub names: Vec<String>,
    /// The proofs file.
    #[arg(long, default_value = "proofs.yaml")]
    pub proofs: PathBuf,
    /// Where `prove` wrote the pending goldens (its `--out-dir`).
    #[arg(long, default_value = ".assay/proofs")]
    pub out_dir: PathBuf,
    /// Only list pending and stale goldens; change nothing.
    #[arg(long)]
    pub check: bool,
}

/// Who may approve an intended golden change (`report --approval`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Approvers {
    /// Nobody: such a proof stays red.
    None,
    /// A reviewer with write access or more, not the PR's author, approving the head commit.
    Write,
}

/// `prove`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("selection").args(["proof", "lane", "all"])))]
pub struct ProveArgs {
    /// The proofs file.
    #[arg(long, default_value = "proofs.yaml")]
    pub proofs: PathBuf,
    /// A proof to run (repeatable).
    #[arg(long, value_name = "NAME")]
    pub proof: Vec<String>,
    /// Run the proofs this lane requires.
    #[arg(long, value_name = "LANE")]
    pub lane: Option<String>,
    /// Run every proof.
    #[arg(long)]
    pub all: bool,
    /// Restore the judge — the proofs file and every golden it names — from git at this
    /// revision (the PR's base) into the work tree first, so a PR cannot weaken its own proofs.
    /// A golden missing at that revision is removed (its proof then fails: no golden).
    #[arg(long, value_name = "REV")]
    pub judge_from_ref: Option<String>,
    /// Runs per proof; canonical members must be identical across them.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub runs: u32,
    /// Where bundles, work dirs and `verdict.json` go.
    #[arg(long, default_value = ".assay/proofs")]
    pub out_dir: PathBuf,
    /// Only list the selected proofs (for a CI matrix); run nothing.
    #[arg(long)]
    pub list: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Human)]
    pub format: ReportFormat,
}

/// Which layers a run observes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Kernel observation only.
    Kernel,
    /// Kernel + the decision records of `mcp-wrap` processes (needs `--policy`).
    KernelPolicy,
    /// Kernel + policy + the agent runtime's SDK events (needs `--policy`).
    Sdk,
}

/// `run` arguments.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Layers to observe.
    #[arg(long, value_enum, default_value_t = Mode::Kernel)]
    pub mode: Mode,
    /// The policy every `mcp-wrap` of the session must use (modes `kernel-policy` and `sdk`);
    /// wrappers find it in $ASSAY_POLICY.
    #[arg(long, value_name = "POLICY.yaml")]
    pub policy: Option<PathBuf>,
    /// Run id recorded in every artifact (default: derived from time and pid).
    #[arg(long, value_name = "ID")]
    pub run_id: Option<String>,
    /// Directory the command runs in; shown as `<work>` in artifacts (default: current dir).
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
    /// Write the evidence bundle (.tar.gz) here.
    #[arg(long, value_name = "BUNDLE")]
    pub out: Option<PathBuf>,
    /// Ring-buffer size in bytes (a power of two >= 4096).
    #[arg(long, value_name = "N", default_value_t = 16 * 1024 * 1024)]
    pub ring_bytes: u32,
    /// Wake the reader only when this many bytes are pending (it also polls every 50 ms).
    #[arg(long, value_name = "N", default_value_t = 256 * 1024, hide = true)]
    pub wakeup_bytes: u64,
    /// How long descendants may outlive the command before the session is killed.
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    pub grace_ms: u64,
    /// Kill the whole session after this many seconds.
    #[arg(long, value_name = "S")]
    pub timeout: Option<f64>,
    /// Run the command as this user (the runner stays root).
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// Noise filter file (one glob per line) replacing the default list.
    #[arg(long, value_name = "FILE", conflicts_with = "no_noise_filter")]
    pub noise_filter: Option<PathBuf>,
    /// Keep every path in the surface.
    #[arg(long)]
    pub no_noise_filter: bool,
    /// Summary format (printed to stderr; stdout belongs to the command).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// The command and its arguments.
    #[arg(last = true, required = true)]
    pub command: Vec<std::ffi::OsString>,
}

/// `doctor` arguments.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// `human` (a line per check, with the fix for each failure) or `json`
    /// (`assay.runner.doctor_report.v0`).
    #[arg(long, value_enum, default_value = "human")]
    pub format: Format,
    /// Print only the hash of the BPF sources the embedded object was built from.
    #[arg(long, hide = true)]
    pub bpf_source_hash: bool,
}

/// `demo` arguments.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where the demo writes its bundle.
    #[arg(long, value_name = "DIR", default_value = "target/assay-demo")]
    pub out_dir: PathBuf,
}

/// `lanes` subcommands.
#[derive(Debug, Subcommand)]
pub enum LanesCommand {
    /// Classify changed files into the PR's lane.
    #[command(
        after_help = "Examples:\n  git diff --name-status origin/main...HEAD | assay-runner lanes classify --files -\n  assay-runner lanes classify --base origin/main --head HEAD --format json\n  assay-runner lanes classify --event \"$GITHUB_EVENT_PATH\" --config-from-ref origin/main --format github"
    )]
    Classify(ClassifyArgs),
    /// Run every case and forbid check of the lanes file.
    #[command(
        name = "self-test",
        after_help = "Example:\n  assay-runner lanes self-test --config lanes/lanes.yaml"
    )]
    SelfTest(SelfTestArgs),
    /// Show, for each path, every rule considered and why it did or did not apply.
    #[command(
        after_help = "Example:\n  assay-runner lanes explain crates/kernel/src/lib.rs docs/guide.md"
    )]
    Explain(ExplainArgs),
}

/// Where the lanes file comes from.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// The lanes file.
    #[arg(long, default_value = "lanes/lanes.yaml")]
    pub config: PathBuf,
    /// Read the lanes file from git at this revision (e.g. the PR's base), not the work tree.
    #[arg(long, value_name = "REV")]
    pub config_from_ref: Option<String>,
    /// The git repository to run git in.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub repo: PathBuf,
}

/// `lanes classify`.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("input").required(true).multiple(false))]
pub struct ClassifyArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Changed paths, one per line (`-` = stdin); `git diff --name-status [-z]` output accepted.
    #[arg(long, value_name = "FILE", group = "input")]
    pub files: Option<PathBuf>,
    /// Base revision (the diff is `base...head`, from the merge base).
    #[arg(long, value_name = "REV", requires = "head", group = "input")]
    pub base: Option<String>,
    /// Head revision.
    #[arg(long, value_name = "REV", requires = "base")]
    pub head: Option<String>,
    /// A `pull_request` event payload; base and head SHAs are taken from it.
    #[arg(long, value_name = "PATH", group = "input")]
    pub event: Option<PathBuf>,
    /// Read the lanes file from the base revision (`--base`, or the event's base SHA), so a
    /// PR cannot weaken its own judge. Shorthand for `--config-from-ref <base>`.
    #[arg(long, conflicts_with_all = ["config_from_ref", "files"])]
    pub config_from_base: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

/// `lanes self-test`.
#[derive(Debug, Args)]
pub struct SelfTestArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Repository root that `forbid` paths are relative to (default: the git top level).
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
}

/// `lanes explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Repo-relative paths to explain.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<std::ffi::OsString>,
}

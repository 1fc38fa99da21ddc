pub fn prove(_a: super::args::ProveArgs) -> anyhow::Result<i32> {
    todo!()
}
pub fn accept(_a: super::args::GoldenAcceptArgs) -> anyhow::Result<i32> {
    todo!()
}

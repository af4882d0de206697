//! Compiles `proto/ledger.proto` for the gRPC example and its tests, with protox (a protobuf
//! compiler in Rust) so that no system `protoc` is needed. Only this `publish = false` package
//! (tests and examples) has a build script: a user's build of `mruntime` compiles no proto.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/ledger.proto");
    let descriptors = protox::compile(["proto/ledger.proto"], ["proto"])?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(descriptors)?;
    Ok(())
}

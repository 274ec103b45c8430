//! The facegate binary's integration tests, one binary (fifteen once, each linking the whole server): real
//! `facegate` processes on free ports driven over HTTP, from the command line and from real clients, with the
//! shared faces. Every module's trials are named `module::case`; `cargo test --workspace --test suite --
//! api:: cli::` runs two modules. PostgreSQL (FACEGATE_TEST_POSTGRES_URL, or one throwaway cluster) starts on
//! the first trial that needs it and stops after the last.

/// A trial named `module::name` after the module it is written in.
macro_rules! trial {
    ($name:expr, $run:expr) => {
        libtest_mimic::Trial::test(format!("{}::{}", crate::support::module_name(module_path!()), $name), $run)
    };
}

/// The module's `trials()`: plain test functions (a panic fails one), each a trial named after its function.
macro_rules! tests {
    ($($f:ident),* $(,)?) => {
        pub fn trials() -> Vec<libtest_mimic::Trial> {
            vec![$(trial!(stringify!($f), || {
                $f();
                Ok(())
            })),*]
        }
    };
}

mod support;

mod access;
mod amplify;
mod analysis;
mod api;
mod architecture;
mod browser;
mod cli;
mod compat;
mod connections;
mod console;
mod crash;
mod erasure;
mod hostile;
mod hostile_doors;
mod liveness;
mod openapi_client;
mod readme;
mod rekognition;
mod text_input;

fn main() {
    let trials: Vec<libtest_mimic::Trial> = [
        access::trials(),
        amplify::trials(),
        analysis::trials(),
        api::trials(),
        architecture::trials(),
        browser::trials(),
        cli::trials(),
        compat::trials(),
        connections::trials(),
        console::trials(),
        crash::trials(),
        erasure::trials(),
        hostile::trials(),
        hostile_doors::trials(),
        liveness::trials(),
        openapi_client::trials(),
        readme::trials(),
        rekognition::trials(),
        text_input::trials(),
    ]
    .into_iter()
    .flatten()
    .collect();
    let conclusion = testkit::trials::run(trials);
    support::stop_postgres();
    conclusion.exit();
}

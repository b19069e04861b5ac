//! The `protect-lab` package (`e2e/`, binary `protect-lab`): the lab and the product together.
//! The emulator (`protect-lab-apiserver`) and the simulators never import product crates
//! (DESIGN 2); this crate is where they meet, and it is never published.
//!
//! - [`stack`]: the lab's world on a real-time clock with the real `protect-webhook`
//!   (registered in `quorum` over HTTPS with a generated CA) and the real
//!   `protect-controller`, all in one process.
//! - [`up`]: `protect-lab up` serves the stack until interrupted and prints what to try.
//! - [`demo`]: `protect-lab demo` runs the guide's Example 1, an admission denial and
//!   unprotect, and says which step failed if one did.

pub mod age;
pub mod certs;
pub mod commands;
pub mod demo;
pub mod stack;
pub mod up;

/// Log to stderr; `RUST_LOG` overrides the default filter.
pub fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

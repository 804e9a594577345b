//! The benchmark harness's reusable parts: DNS query wire building, a bounded load generator,
//! the minimal "limit" responders, dnsperf output parsing and per-process CPU and memory
//! readings. `src/main.rs` (the `scoped-bench` command) runs the side-by-side comparison on top;
//! docs/benchmarks.md says what it measures and how to read the table.
#![forbid(unsafe_code)]

pub mod dnsperf;
pub mod load;
pub mod process;
pub mod responder;
pub mod wire;

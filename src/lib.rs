//! The `scoped` binary's parts as a library: the configuration file, the control endpoint and
//! its client, the demo and `scoped trace`. `src/main.rs` is the command line on top; the fuzz
//! targets (`fuzz/`) drive the configuration parser through it.
#![forbid(unsafe_code)]

pub mod allowlist;
pub mod config;
pub mod control;
pub mod ctl;
pub mod demo;
pub mod locate;
pub mod logging;
pub mod notify;
pub mod privileges;
pub mod reconfigure;
pub mod reload;
pub mod trace;

use std::sync::Arc;

use scoped_cache::RecordCache;
use scoped_recursor::{NetTransport, Recursor};

use crate::config::Config;

/// The recursion engine a configuration describes, with real sockets upstream.
pub fn build_recursor(config: &Config) -> Recursor {
    recursor_on(
        config,
        Arc::new(NetTransport::new(&config.outgoing_addresses)),
    )
}

/// The recursion engine a configuration describes, talking upstream through `transport`.
pub fn recursor_on(config: &Config, transport: Arc<NetTransport>) -> Recursor {
    let cache = RecordCache::new(config.cache.clone());
    Recursor::new(config.recursor.clone(), cache, transport)
}

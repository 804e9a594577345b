//! Telling systemd (`Type=notify`) where the service stands: READY=1 once every socket and the
//! control endpoint are up, RELOADING=1 with the monotonic time (systemd 253 and later want it)
//! while a reload runs and READY=1 after it, STOPPING=1 when shutting down. Without
//! `NOTIFY_SOCKET` in the environment (not started by systemd) nothing is sent.

use sd_notify::NotifyState;
use tracing::warn;

/// Every socket and the control endpoint are up.
pub fn ready() {
    send(&[NotifyState::Ready]);
}

/// A reload starts; follow with [`ready`] when it is over.
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now]),
        Err(e) => {
            warn!("cannot read the monotonic clock for systemd ({e})");
            send(&[NotifyState::Reloading]);
        }
    }
}

/// Shutting down.
pub fn stopping() {
    send(&[NotifyState::Stopping]);
}

fn send(states: &[NotifyState]) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    if let Err(e) = sd_notify::notify(states) {
        warn!("cannot notify systemd: {e}");
    }
}

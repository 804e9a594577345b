//! Running scoped as a service, end to end with the real binary: start-up errors that say what
//! went wrong, logs that name the configuration and suit files and the journal, `scoped ctl`
//! finding the endpoint from the configuration, the privilege drop, and systemd notifications.

mod ctl;
mod daemon;
mod logs;
mod notify;
mod package;
mod privileges;
mod reload;

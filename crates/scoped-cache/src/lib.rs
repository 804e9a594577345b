//! scoped's caches (being built).

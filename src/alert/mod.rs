//! Alerts: rules ([`rule`]) that read window reports, and the pure pending / firing /
//! resolved state machine ([`state`]). Nothing here knows of Kafka, HTTP, the clock or the
//! metrics registry: time is the reports' event time, and transitions are returned to the
//! caller, which ships and counts them.

pub mod rule;
pub mod state;

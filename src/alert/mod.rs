//! Alerts: rules ([`rule`]), how their conditions read window reports ([`evaluate`]), the
//! built-in rules ([`defaults`]), and the pure pending / firing / resolved state machine
//! ([`state`]). Nothing here knows of Kafka, HTTP, the clock or the
//! metrics registry: time is the reports' event time, and transitions are returned to the
//! caller, which ships and counts them.

pub mod defaults;
pub mod evaluate;
pub mod rule;
pub mod state;

//! Prometheus metrics: counts only, never ids or content.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

/// Label: an error code.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CodeLabel {
    /// The protocol error code.
    pub code: String,
}

/// Label: a frame direction.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DirectionLabel {
    /// `in` (from devices) or `out`.
    pub direction: &'static str,
}

/// Every metric the relay exports.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Open connections (TLS established).
    pub connections: Gauge,
    /// Authenticated connections.
    pub authenticated: Gauge,
    /// Connections accepted since start.
    pub connections_total: Counter,
    /// Frames, by direction.
    pub frames: Family<DirectionLabel, Counter>,
    /// Publishes stored (room, to-device, statements).
    pub publishes: Counter,
    /// Inbox entries pushed to devices.
    pub deliveries: Counter,
    /// Error answers and closes, by code.
    pub errors: Family<CodeLabel, Counter>,
    /// TLS handshakes that failed (wrong version, bad client hello, ...).
    pub tls_failures: Counter,
    /// Connections turned away at accept: too many not yet signed in.
    pub pre_auth_refused: Counter,
    /// Enrolled devices (at scrape time).
    pub devices: Gauge<u64, AtomicU64>,
    /// Entries waiting in all inboxes (at scrape time).
    pub inbox_entries: Gauge<u64, AtomicU64>,
    /// The deepest inbox (at scrape time).
    pub max_inbox_depth: Gauge<u64, AtomicU64>,
}

impl Metrics {
    /// A registry exporting these metrics under `belfry_relay_`.
    pub fn registry(&self) -> Registry {
        let mut r = Registry::with_prefix("belfry_relay");
        r.register("connections", "Open TLS connections", self.connections.clone());
        r.register("authenticated_connections", "Authenticated device connections", self.authenticated.clone());
        r.register(
            "pre_auth_refused",
            "Connections refused at accept: too many not signed in (per address or in all)",
            self.pre_auth_refused.clone(),
        );
        r.register("connections_accepted", "Connections accepted since start", self.connections_total.clone());
        r.register("frames", "WebSocket frames by direction", self.frames.clone());
        r.register("publishes", "Publishes stored durably", self.publishes.clone());
        r.register("deliveries", "Inbox entries pushed to devices", self.deliveries.clone());
        r.register("errors", "Protocol errors answered, by code", self.errors.clone());
        r.register("tls_handshake_failures", "TLS handshakes that failed", self.tls_failures.clone());
        r.register("devices", "Enrolled devices", self.devices.clone());
        r.register("inbox_entries", "Entries waiting in all inboxes", self.inbox_entries.clone());
        r.register("max_inbox_depth", "Entries in the deepest inbox", self.max_inbox_depth.clone());
        r
    }

    /// Counts an error answer.
    pub fn error(&self, code: belfry_protocol::ErrorCode) {
        self.errors.get_or_create(&CodeLabel { code: format!("{code:?}") }).inc();
    }

    /// Counts a frame.
    pub fn frame(&self, direction: &'static str) {
        self.frames.get_or_create(&DirectionLabel { direction }).inc();
    }
}

//! Placeholder: replaced by the connector's own module.

use super::http::HttpPolicy;
use super::{Connector, ConnectorError, ConnectorResult, Secrets, SourceConfig};

pub const NOT_COVERED: &[&str] = &[];

pub fn build(
    config: &SourceConfig,
    _secrets: &Secrets,
    _policy: &HttpPolicy,
) -> ConnectorResult<Box<dyn Connector>> {
    Err(ConnectorError::Config {
        kind: config.kind,
        detail: "not built yet".into(),
    })
}

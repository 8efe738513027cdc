//! TLS and SASL for listeners: the channel builder of each listener from the `ssl.*` and
//! `sasl.*` keys, with Kafka's per-listener prefix `listener.name.<name>.` taking precedence.

use std::collections::HashMap;
use std::sync::Arc;

use kafka_network::auth::{FileCredentialStore, SaslMechanism, SaslServerConfig};
use kafka_network::transport::{SecurityProtocol, SslServerConfig, SslServerConfigBuilder};
use kafka_network::{AuthMode, ChannelBuilder, SecureChannelBuilder, TlsMode};
use kafka_server::{ChannelBuilderFactory, ListenerConfig};

use crate::apis::advertised_apis;
use crate::config::BrokerConfig;
use crate::error::{Error, Result};

use crate::dynamic::listener_value;

/// The channel builder of every listener that needs TLS or SASL, and the TLS configuration of
/// each TLS listener (shared with its builder, for key store reloads).
pub(crate) fn channel_builders(
    config: &BrokerConfig,
    listeners: &[ListenerConfig],
) -> Result<(
    HashMap<String, ChannelBuilderFactory>,
    HashMap<String, SslServerConfig>,
)> {
    let mut out: HashMap<String, ChannelBuilderFactory> = HashMap::new();
    let mut tls_configs = HashMap::new();
    for l in listeners {
        let protocol = l.security_protocol;
        if protocol == SecurityProtocol::Plaintext {
            continue;
        }
        let name = l.name.clone();
        let tls = if protocol.uses_tls() {
            let built =
                SslServerConfigBuilder::from_properties(|k| listener_value(config, &name, k))
                    .and_then(|b| b.build())
                    .map_err(|e| Error::Config(format!("listener {name}: {e}")))?;
            tls_configs.insert(name.clone(), built.clone());
            TlsMode::Server(Arc::new(built))
        } else {
            TlsMode::None
        };
        let auth = if protocol.uses_sasl() {
            let mechanisms = SaslMechanism::parse_list(
                &listener_value(config, &name, "sasl.enabled.mechanisms").unwrap_or_default(),
            )
            .map_err(|e| Error::Config(format!("listener {name}: sasl.enabled.mechanisms: {e}")))?;
            let file = listener_value(config, &name, "sasl.credentials.file").ok_or_else(|| {
                Error::Config(format!(
                    "listener {name} uses SASL but sasl.credentials.file is not set (create one with `broker --scram-credential USER:PASSWORD`)"
                ))
            })?;
            let store = FileCredentialStore::load(&file)
                .map_err(|e| Error::Config(format!("{file}: {e}")))?;
            let reauth = listener_value(config, &name, "connections.max.reauth.ms")
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
            let sasl =
                SaslServerConfig::new(mechanisms, Arc::new(store), advertised_apis().clone())
                    .map_err(|e| Error::Config(format!("listener {name}: {e}")))?
                    .with_connections_max_reauth_ms(reauth)
                    .with_api_versions_response(crate::apis::api_versions_response().clone());
            AuthMode::SaslServer(Arc::new(sasl))
        } else {
            AuthMode::None
        };
        let builder = SecureChannelBuilder::new(tls, auth);
        let factory: ChannelBuilderFactory =
            Arc::new(move || Box::new(builder.clone()) as Box<dyn ChannelBuilder>);
        out.insert(l.name.clone(), factory);
    }
    Ok((out, tls_configs))
}

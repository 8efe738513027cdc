//! `--command-config`: the client properties file of Kafka's tools, with librdkafka's
//! spellings of the security keys accepted too (so one file serves kcat and this tool).

use kafka_client::config::Properties;

/// Reads client properties from `file` (if any), applies `key=value` overrides and
/// `--bootstrap-server`, and translates librdkafka keys.
pub(crate) fn load(
    file: Option<&std::path::Path>,
    overrides: &[String],
    bootstrap: Option<&str>,
) -> Result<Properties, String> {
    let mut props = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            Properties::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => Properties::new(),
    };
    for kv in overrides {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| format!("expected key=value, got '{kv}'"))?;
        props.set(k.trim(), v.trim());
    }
    if let Some(b) = bootstrap {
        props.set("bootstrap.servers", b);
    }
    translate(&mut props, |path| {
        std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))
    })?;
    if props.get("bootstrap.servers").is_none() {
        return Err(
            "--bootstrap-server (or bootstrap.servers in --command-config) is required".into(),
        );
    }
    if props.get("client.id").is_none() {
        props.set("client.id", "kafka-admin");
    }
    Ok(props)
}

/// librdkafka's keys as the Java client's: `ssl.ca.location` is a PEM trust store,
/// `ssl.certificate.location` and `ssl.key.location` are read into the inline key store,
/// `sasl.mechanisms` is `sasl.mechanism`. A key both spell is the Java one's if set.
fn translate(
    props: &mut Properties,
    read: impl Fn(&str) -> Result<String, String>,
) -> Result<(), String> {
    let mut rename = |from: &str, to: &str| {
        if let Some(v) = props.remove(from) {
            if props.get(to).is_none() {
                props.set(to, v);
            }
        }
    };
    rename("ssl.ca.location", "ssl.truststore.location");
    rename("sasl.mechanisms", "sasl.mechanism");
    for (from, to) in [
        ("ssl.certificate.location", "ssl.keystore.certificate.chain"),
        ("ssl.key.location", "ssl.keystore.key"),
    ] {
        if let Some(path) = props.remove(from) {
            if props.get(to).is_none() {
                props.set(to, read(&path)?);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn librdkafka_keys_become_java_keys() {
        let mut p = Properties::new()
            .with("ssl.ca.location", "/ca.pem")
            .with("sasl.mechanisms", "SCRAM-SHA-256")
            .with("ssl.certificate.location", "/c.pem")
            .with("ssl.key.location", "/k.pem");
        translate(&mut p, |path| Ok(format!("PEM of {path}"))).unwrap();
        assert_eq!(p.get("ssl.truststore.location"), Some("/ca.pem"));
        assert_eq!(p.get("sasl.mechanism"), Some("SCRAM-SHA-256"));
        assert_eq!(
            p.get("ssl.keystore.certificate.chain"),
            Some("PEM of /c.pem")
        );
        assert_eq!(p.get("ssl.keystore.key"), Some("PEM of /k.pem"));
        assert_eq!(p.get("ssl.ca.location"), None);
    }

    #[test]
    fn java_keys_win() {
        let mut p = Properties::new()
            .with("ssl.ca.location", "/a.pem")
            .with("ssl.truststore.location", "/b.pem");
        translate(&mut p, |_| Err("not read".into())).unwrap();
        assert_eq!(p.get("ssl.truststore.location"), Some("/b.pem"));
    }

    #[test]
    fn overrides_and_bootstrap() {
        let p = load(None, &["request.timeout.ms=5".into()], Some("h:1")).unwrap();
        assert_eq!(p.get("bootstrap.servers"), Some("h:1"));
        assert_eq!(p.get("request.timeout.ms"), Some("5"));
        assert_eq!(p.get("client.id"), Some("kafka-admin"));
        assert!(load(None, &[], None).is_err());
        assert!(load(None, &["novalue".into()], Some("h:1")).is_err());
    }
}

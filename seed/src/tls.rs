//! TLS for `https://` targets, with rustls (the `ring` provider) as the
//! services use it: the target's certificate is checked against the CAs of
//! `--ca-file` (a private CA) or else the system's roots. One config per run;
//! each connection does its own handshake and then carries many requests.

use anyhow::Context;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use std::path::Path;
use std::sync::Arc;
use tokio_rustls::TlsConnector;

/// What a connection to an `https://` target needs for its handshake.
#[derive(Clone)]
pub struct Tls {
    pub connector: TlsConnector,
    pub server_name: ServerName<'static>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl Tls {
    /// Verifies `host` against the CAs in `ca_file`, else the system's roots.
    pub fn new(host: &str, ca_file: Option<&Path>) -> anyhow::Result<Self> {
        let roots = match ca_file {
            Some(path) => roots_from(path)?,
            None => {
                let mut roots = RootCertStore::empty();
                roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
                roots
            }
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_root_certificates(roots)
            .with_no_client_auth();
        // HTTP/1.1 only, as the plain connections speak it.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let server_name = ServerName::try_from(host.trim_matches(['[', ']']).to_owned())
            .with_context(|| format!("{host:?} is not a host name TLS can check"))?;
        Ok(Self {
            connector: TlsConnector::from(Arc::new(config)),
            server_name,
        })
    }
}

fn roots_from(path: &Path) -> anyhow::Result<RootCertStore> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("--ca-file {}", path.display()))?;
    anyhow::ensure!(
        !certs.is_empty(),
        "--ca-file {} holds no PEM certificate",
        path.display()
    );
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots
            .add(cert)
            .with_context(|| format!("--ca-file {}", path.display()))?;
    }
    Ok(roots)
}

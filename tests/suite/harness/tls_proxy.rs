//! A TLS-terminating relay in front of a plain HTTP server, as an Ingress
//! with TLS stands in front of vote: rustls (tokio-rustls) with a
//! certificate of the test's own CA ([`super::tls::Authority`]).

use super::tls::ServerFiles;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

#[derive(Debug)]
pub struct TlsProxy {
    pub port: u16,
    accepting: tokio::task::JoinHandle<()>,
}

impl TlsProxy {
    /// Serves `files`' certificate on a free loopback port and relays each
    /// connection's plaintext to `upstream`.
    pub async fn start(files: &ServerFiles, upstream: SocketAddr) -> Self {
        let certs = CertificateDer::pem_file_iter(&files.cert)
            .expect("read the certificate")
            .collect::<Result<Vec<_>, _>>()
            .expect("parse the certificate");
        let key = PrivateKeyDer::from_pem_file(&files.key).expect("read the key");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .expect("the server certificate");
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let port = listener.local_addr().unwrap().port();
        let accepting = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut client) = acceptor.accept(client).await else {
                        return;
                    };
                    let Ok(mut server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                });
            }
        });
        Self { port, accepting }
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

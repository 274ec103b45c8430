//! HTTPS in the binary (`tls_cert` / `tls_key`): rustls over the accepted TCP connections, with no proxy in
//! front. Browsers' WebSocket clients that force `wss://` (Amplify's liveness component) need it, and every
//! deployment beyond one machine wants it.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// Why the certificate or its key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading the TLS certificate {path}: {message}")]
    Certificate { path: String, message: String },
    #[error("reading the TLS key {path}: {message}")]
    Key { path: String, message: String },
    #[error("the TLS certificate and key do not make a server configuration: {0}")]
    Config(String),
}

/// The acceptor for the certificate chain at `cert` and the private key at `key` (both PEM), speaking HTTP/1.1.
pub fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
    let shown = |p: &Path| p.display().to_string();
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| TlsError::Certificate { path: shown(cert), message: e.to_string() })?;
    if chain.is_empty() {
        return Err(TlsError::Certificate { path: shown(cert), message: "no certificate in the file".into() });
    }
    let private =
        PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Key { path: shown(key), message: e.to_string() })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(chain, private))
        .map_err(|e| TlsError::Config(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

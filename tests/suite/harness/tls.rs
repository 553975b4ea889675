//! A throw-away certificate authority per test, and the files a TLS server
//! needs from it (written into the test's directory).

use super::TestDir;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use std::path::PathBuf;

/// A CA made for one test; nothing outside the test trusts it.
pub struct Authority {
    issuer: CertifiedIssuer<'static, KeyPair>,
    pub ca_file: PathBuf,
}

/// A server's certificate and key, and the CA that signed it, as PEM files.
#[derive(Debug, Clone)]
pub struct ServerFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
}

impl Authority {
    /// A new CA named `name`; its certificate is written to `<dir>/<name>-ca.pem`.
    pub fn new(dir: &TestDir, name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, format!("votingapp test CA {name}"));
        let key = KeyPair::generate().expect("generate the CA key");
        let issuer = CertifiedIssuer::self_signed(params, key).expect("self-sign the CA");
        let ca_file = dir.join(&format!("{name}-ca.pem"));
        std::fs::write(&ca_file, issuer.pem()).expect("write the CA certificate");
        Self { issuer, ca_file }
    }

    /// A server certificate for `names` (DNS names), signed by this CA, with
    /// its key readable by its owner only (Postgres insists).
    pub fn server(&self, dir: &TestDir, server: &str, names: &[&str]) -> ServerFiles {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).expect("server parameters");
        params.distinguished_name.push(DnType::CommonName, server);
        let key = KeyPair::generate().expect("generate the server key");
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("sign the server certificate");
        let files = ServerFiles {
            cert: dir.join(&format!("{server}.crt")),
            key: dir.join(&format!("{server}.key")),
            ca: self.ca_file.clone(),
        };
        std::fs::write(&files.cert, cert.pem()).expect("write the certificate");
        std::fs::write(&files.key, key.serialize_pem()).expect("write the key");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&files.key, std::fs::Permissions::from_mode(0o600))
            .expect("restrict the key");
        files
    }
}

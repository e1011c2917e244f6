//! RSA key pairs for simulated Apps. Generating one takes a noticeable moment, so each slot is
//! generated once per process and shared by every simulator in it.
//! Must not: be used for anything but simulated Apps and the simulated OIDC issuer.

use std::sync::OnceLock;

use rsa::pkcs1::{EncodeRsaPrivateKey, EncodeRsaPublicKey, LineEnding};

#[derive(Debug, Clone)]
pub struct KeyPair {
    /// PKCS#1 PEM, as GitHub hands out App keys.
    pub private_pem: String,
    pub public_pem: String,
}

static SLOTS: [OnceLock<KeyPair>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];

/// The key pair in `slot` (0: the simulator's default App, 1: an App made by the manifest flow,
/// 2: the Actions OIDC issuer).
pub fn app_key_pair(slot: usize) -> KeyPair {
    SLOTS[slot]
        .get_or_init(|| {
            let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)
                .expect("RSA key generation");
            KeyPair {
                private_pem: private
                    .to_pkcs1_pem(LineEnding::LF)
                    .expect("PEM encoding")
                    .to_string(),
                public_pem: rsa::RsaPublicKey::from(&private)
                    .to_pkcs1_pem(LineEnding::LF)
                    .expect("PEM encoding"),
            }
        })
        .clone()
}

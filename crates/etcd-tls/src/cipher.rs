//! `--cipher-suites`: Go's cipher suite names mapped onto the suites rustls offers.
//!
//! As in Go, the list restricts TLS 1.2 only; TLS 1.3 suites are always enabled. rustls offers no CBC, RSA
//! key-exchange or 3DES suites, so naming one of those is refused rather than silently ignored.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::crypto::ring::default_provider;
use rustls::{ProtocolVersion, SupportedCipherSuite};

use crate::error::TlsError;

/// The Go name of a suite (Go drops `_SHA256` from the ChaCha20 suites' names; both forms are accepted).
fn go_names(suite: &SupportedCipherSuite) -> [String; 2] {
    let name = format!("{:?}", suite.suite());
    let short = name
        .strip_suffix("_POLY1305_SHA256")
        .map_or_else(|| name.clone(), |s| format!("{s}_POLY1305"));
    [name, short]
}

/// The crypto provider for a `--cipher-suites` list; all of rustls' suites when the list is empty.
pub(crate) fn provider(names: &[String]) -> Result<Arc<CryptoProvider>, TlsError> {
    let mut provider = default_provider();
    if names.is_empty() {
        return Ok(Arc::new(provider));
    }
    let all = provider.cipher_suites.clone();
    let is_tls13 = |s: &SupportedCipherSuite| s.version().version == ProtocolVersion::TLSv1_3;
    let mut chosen: Vec<SupportedCipherSuite> = all.iter().copied().filter(is_tls13).collect();
    for name in names {
        let name = name.trim();
        let found = all
            .iter()
            .find(|s| !is_tls13(s) && go_names(s).iter().any(|n| n == name));
        match found {
            Some(suite) => chosen.push(*suite),
            None => {
                let offered: Vec<String> = all
                    .iter()
                    .filter(|s| !is_tls13(s))
                    .map(|s| go_names(s)[1].clone())
                    .collect();
                return Err(TlsError::CipherSuite(name.to_owned(), offered.join(", ")));
            }
        }
    }
    provider.cipher_suites = chosen;
    Ok(Arc::new(provider))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_names_select_tls12_suites_and_keep_tls13() {
        let p = provider(&["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".to_owned()]).expect("known");
        let names: Vec<String> = p
            .cipher_suites
            .iter()
            .map(|s| go_names(s)[0].clone())
            .collect();
        assert!(names.contains(&"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".to_owned()));
        assert!(names.iter().any(|n| n.starts_with("TLS13_")));
        assert!(!names.contains(&"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384".to_owned()));
        assert!(provider(&["TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305".to_owned()]).is_ok());
    }

    #[test]
    fn unsupported_suites_are_refused_by_name() {
        let err = provider(&["TLS_RSA_WITH_AES_128_CBC_SHA".to_owned()]).expect_err("refused");
        assert!(
            err.to_string().contains("TLS_RSA_WITH_AES_128_CBC_SHA"),
            "{err}"
        );
    }
}

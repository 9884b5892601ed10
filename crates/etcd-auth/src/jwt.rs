//! JWT tokens (`--auth-token jwt,pub-key=…,priv-key=…,sign-method=…,ttl=…`), as etcd makes them: a signed token
//! whose claims name the user, the auth revision at login and the expiry (`{"exp":…,"revision":…,"username":…}`).
//! Any member with the public key accepts it until it expires; a member with only the public key
//! (verify-only) cannot log anyone in.

use std::path::PathBuf;
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};

use crate::error::AuthError;

/// etcd's default JWT lifetime.
pub const DEFAULT_JWT_TTL: Duration = Duration::from_secs(5 * 60);

/// The options after `jwt,` in `--auth-token`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtOptions {
    /// `pub-key`: the key tokens are checked with.
    pub public_key: Option<PathBuf>,
    /// `priv-key`: the key tokens are signed with (for HS* methods, the shared secret).
    pub private_key: Option<PathBuf>,
    /// `sign-method`: RS256/384/512, PS256/384/512, ES256/384, HS256/384/512 or EdDSA.
    pub sign_method: String,
    /// `ttl`: how long a token is valid.
    pub ttl: Duration,
}

/// A `--auth-token` value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenOptionError {
    /// Not `simple` or `jwt`, or an option etcd does not know (etcd's words).
    #[error("auth: invalid auth options")]
    InvalidOptions,
    /// A signing method this build cannot use.
    #[error("auth: invalid auth signature: {0}")]
    InvalidMethod(String),
    /// Neither key given.
    #[error("auth: missing key data")]
    MissingKey,
    /// A key file that cannot be read or parsed.
    #[error("auth: cannot use key {path}: {why}")]
    BadKey {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
}

/// What `--auth-token` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenKind {
    /// `simple`.
    Simple,
    /// `jwt,...`.
    Jwt(JwtOptions),
}

/// Reads `--auth-token`: `simple`, or `jwt` with comma-separated `key=value` options. `parse_duration` reads
/// `ttl` (Go's duration syntax, which the caller knows).
pub fn parse_token_option(
    value: &str,
    parse_duration: impl Fn(&str) -> Option<Duration>,
) -> Result<TokenKind, TokenOptionError> {
    let mut parts = value.split(',');
    match parts.next() {
        Some("simple") => return Ok(TokenKind::Simple),
        Some("jwt") => {}
        _ => return Err(TokenOptionError::InvalidOptions),
    }
    let mut options = JwtOptions {
        public_key: None,
        private_key: None,
        sign_method: String::new(),
        ttl: DEFAULT_JWT_TTL,
    };
    for part in parts {
        let (key, value) = part
            .split_once('=')
            .ok_or(TokenOptionError::InvalidOptions)?;
        match key {
            "pub-key" => options.public_key = Some(PathBuf::from(value)),
            "priv-key" => options.private_key = Some(PathBuf::from(value)),
            "sign-method" => options.sign_method = value.to_owned(),
            "ttl" => options.ttl = parse_duration(value).ok_or(TokenOptionError::InvalidOptions)?,
            _ => return Err(TokenOptionError::InvalidOptions),
        }
    }
    Ok(TokenKind::Jwt(options))
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Claims {
    exp: u64,
    revision: u64,
    username: String,
}

/// Signs and checks JWT tokens.
pub struct JwtTokens {
    algorithm: Algorithm,
    signing: Option<EncodingKey>,
    checking: DecodingKey,
    ttl: Duration,
}

impl std::fmt::Debug for JwtTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtTokens")
            .field("algorithm", &self.algorithm)
            .field("verify_only", &self.signing.is_none())
            .field("ttl", &self.ttl)
            .finish()
    }
}

impl JwtTokens {
    /// Reads the keys `options` name.
    pub fn new(options: &JwtOptions) -> Result<JwtTokens, TokenOptionError> {
        let algorithm = match options.sign_method.as_str() {
            "RS256" => Algorithm::RS256,
            "RS384" => Algorithm::RS384,
            "RS512" => Algorithm::RS512,
            "PS256" => Algorithm::PS256,
            "PS384" => Algorithm::PS384,
            "PS512" => Algorithm::PS512,
            "ES256" => Algorithm::ES256,
            "ES384" => Algorithm::ES384,
            "HS256" => Algorithm::HS256,
            "HS384" => Algorithm::HS384,
            "HS512" => Algorithm::HS512,
            "EdDSA" => Algorithm::EdDSA,
            other => return Err(TokenOptionError::InvalidMethod(other.to_owned())),
        };
        let read = |path: &PathBuf| {
            std::fs::read(path).map_err(|e| TokenOptionError::BadKey {
                path: path.clone(),
                why: e.to_string(),
            })
        };
        let bad = |path: &PathBuf, e: jsonwebtoken::errors::Error| TokenOptionError::BadKey {
            path: path.clone(),
            why: e.to_string(),
        };
        let hmac = matches!(
            algorithm,
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
        );
        let signing = match &options.private_key {
            None => None,
            Some(path) => {
                let pem = read(path)?;
                let key = match algorithm {
                    _ if hmac => Ok(EncodingKey::from_secret(&pem)),
                    Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(&pem),
                    Algorithm::EdDSA => EncodingKey::from_ed_pem(&pem),
                    _ => EncodingKey::from_rsa_pem(&pem),
                };
                Some(key.map_err(|e| bad(path, e))?)
            }
        };
        let checking = match (&options.public_key, &options.private_key) {
            (Some(path), _) if !hmac => {
                let pem = read(path)?;
                match algorithm {
                    Algorithm::ES256 | Algorithm::ES384 => DecodingKey::from_ec_pem(&pem),
                    Algorithm::EdDSA => DecodingKey::from_ed_pem(&pem),
                    _ => DecodingKey::from_rsa_pem(&pem),
                }
                .map_err(|e| bad(path, e))?
            }
            (_, Some(path)) if hmac => DecodingKey::from_secret(&read(path)?),
            _ => return Err(TokenOptionError::MissingKey),
        };
        Ok(JwtTokens {
            algorithm,
            signing,
            checking,
            ttl: options.ttl,
        })
    }

    /// Whether this member has the private key (else it is verify-only).
    pub fn can_sign(&self) -> bool {
        self.signing.is_some()
    }

    /// A token for `user` logged in at auth `revision`, valid `ttl` from `now_unix_secs`.
    pub fn sign(&self, user: &str, revision: u64, now_unix_secs: u64) -> Result<String, AuthError> {
        let key = self.signing.as_ref().ok_or(AuthError::VerifyOnly)?;
        let claims = Claims {
            exp: now_unix_secs + self.ttl.as_secs(),
            revision,
            username: user.to_owned(),
        };
        jsonwebtoken::encode(&Header::new(self.algorithm), &claims, key)
            .map_err(|_| AuthError::InvalidAuthToken)
    }

    /// The user and auth revision a token names, if its signature holds and it has not expired by
    /// `now_unix_secs`.
    pub fn check(&self, token: &str, now_unix_secs: u64) -> Result<(String, u64), AuthError> {
        let mut validation = Validation::new(self.algorithm);
        // Expiry is checked below against the caller's clock.
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        let data = jsonwebtoken::decode::<Claims>(token, &self.checking, &validation)
            .map_err(|_| AuthError::InvalidAuthToken)?;
        if data.claims.exp <= now_unix_secs {
            return Err(AuthError::InvalidAuthToken);
        }
        Ok((data.claims.username, data.claims.revision))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn go_duration(s: &str) -> Option<Duration> {
        s.strip_suffix('m')
            .and_then(|m| m.parse().ok())
            .map(|m: u64| Duration::from_secs(m * 60))
    }

    #[test]
    fn options_are_read_as_etcd_reads_them() {
        assert_eq!(
            parse_token_option("simple", go_duration),
            Ok(TokenKind::Simple)
        );
        let jwt = parse_token_option(
            "jwt,pub-key=/k.pub,priv-key=/k,sign-method=RS256,ttl=10m",
            go_duration,
        );
        assert_eq!(
            jwt,
            Ok(TokenKind::Jwt(JwtOptions {
                public_key: Some("/k.pub".into()),
                private_key: Some("/k".into()),
                sign_method: "RS256".into(),
                ttl: Duration::from_secs(600),
            }))
        );
        for bad in ["foo", "jwt,colour=red", "jwt,ttl=soon", "jwt,pub-key"] {
            assert_eq!(
                parse_token_option(bad, go_duration),
                Err(TokenOptionError::InvalidOptions),
                "{bad}"
            );
        }
    }

    #[test]
    fn an_hmac_token_round_trips_and_expires() {
        let dir = std::env::temp_dir().join(format!("etcd-auth-jwt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let secret = dir.join("secret");
        std::fs::write(&secret, b"not so secret").expect("write");
        let options = JwtOptions {
            public_key: None,
            private_key: Some(secret),
            sign_method: "HS256".into(),
            ttl: Duration::from_secs(60),
        };
        let tokens = JwtTokens::new(&options).expect("keys");
        let token = tokens.sign("alice", 7, 1_000).expect("sign");
        assert_eq!(tokens.check(&token, 1_059), Ok(("alice".into(), 7)));
        assert_eq!(
            tokens.check(&token, 1_060),
            Err(AuthError::InvalidAuthToken)
        );
        assert_eq!(
            tokens.check("not.a.token", 1_000),
            Err(AuthError::InvalidAuthToken)
        );
        let mut forged = token.clone();
        forged.pop();
        assert_eq!(
            tokens.check(&forged, 1_000),
            Err(AuthError::InvalidAuthToken)
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}

//! `--auth-token`, `--auth-token-ttl`, `--bcrypt-cost` and `--client-cert-auth`, read as etcd reads them.

use std::time::Duration;

use etcd_auth::TokenKind;
use etcd_server::{AuthOptions, TokenOptions};

use crate::flags::Flags;

/// The member's auth settings. A bcrypt cost out of range falls back to the default with a warning, as etcd
/// does; a token type or option etcd does not know, or a JWT key that cannot be used, stops the member.
pub fn from_flags(flags: &Flags) -> anyhow::Result<AuthOptions> {
    let mut bcrypt_cost = flags.bcrypt_cost;
    if !(etcd_auth::MIN_BCRYPT_COST..=etcd_auth::MAX_BCRYPT_COST).contains(&bcrypt_cost) {
        tracing::warn!(
            min_cost = etcd_auth::MIN_BCRYPT_COST,
            max_cost = etcd_auth::MAX_BCRYPT_COST,
            default_cost = etcd_auth::DEFAULT_BCRYPT_COST,
            given_cost = bcrypt_cost,
            "use default bcrypt cost instead of the invalid given cost"
        );
        bcrypt_cost = etcd_auth::DEFAULT_BCRYPT_COST;
    }
    let kind =
        etcd_auth::parse_token_option(&flags.auth_token, |d| crate::go_duration::parse(d).ok())?;
    let token = match kind {
        TokenKind::Simple => TokenOptions::Simple {
            ttl: Duration::from_secs(flags.auth_token_ttl),
        },
        TokenKind::Jwt(jwt) => {
            // Checked here so a bad key stops the member before it starts, with the reason.
            etcd_auth::JwtTokens::new(&jwt)?;
            TokenOptions::Jwt(jwt)
        }
    };
    Ok(AuthOptions {
        token,
        bcrypt_cost,
        client_cert_auth: flags.client_cert_auth,
    })
}

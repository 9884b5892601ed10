//! `--auth-token`, `--auth-token-ttl`, `--bcrypt-cost` and `--client-cert-auth`, read as etcd reads them.

use std::time::Duration;

use anyhow::bail;
use etcd_server::{AuthOptions, TokenOptions};

use crate::flags::Flags;

/// The member's auth settings. A bcrypt cost out of range falls back to the default with a warning, as etcd
/// does; a token type etcd does not know stops the member with etcd's words.
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
    let kind = flags.auth_token.split(',').next().unwrap_or_default();
    let token = match kind {
        "simple" => TokenOptions::Simple {
            ttl: Duration::from_secs(flags.auth_token_ttl),
        },
        "jwt" => bail!("--auth-token jwt is not supported by etcd-node yet: use simple"),
        _ => bail!("auth: invalid auth options"),
    };
    Ok(AuthOptions {
        token,
        bcrypt_cost,
        client_cert_auth: flags.client_cert_auth,
    })
}

//! Tokens: what `Authenticate` hands out and every later request carries (gRPC metadata `token`).
//!
//! `--auth-token` chooses the provider: `simple` (etcd's default: a random token each member remembers for
//! `--auth-token-ttl` seconds after its last use; not persisted, so a restart forgets it) or `jwt` (a signed
//! token naming the user and the auth revision, valid on every member until it expires).
//!
//! A simple token is 16 random letters, a dot and the raft index of the `Authenticate` entry, as etcd forms
//! it: the letters are chosen by the member that proposes, the index makes it unique cluster-wide.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rand::Rng;

/// etcd's default `--auth-token-ttl`, seconds.
pub const DEFAULT_TOKEN_TTL_SECS: u64 = 300;

const SIMPLE_TOKEN_LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const SIMPLE_TOKEN_LENGTH: usize = 16;

/// The random part of a new simple token.
pub fn simple_token_prefix() -> String {
    let mut rng = rand::thread_rng();
    (0..SIMPLE_TOKEN_LENGTH)
        .map(|_| char::from(SIMPLE_TOKEN_LETTERS[rng.gen_range(0..SIMPLE_TOKEN_LETTERS.len())]))
        .collect()
}

/// The whole simple token of the `Authenticate` entry at `index`.
pub fn simple_token(prefix: &str, index: u64) -> String {
    format!("{prefix}.{index}")
}

/// The simple tokens this member knows, each with the user it names and when it runs out.
#[derive(Debug)]
pub struct SimpleTokens {
    ttl: Duration,
    tokens: HashMap<String, (String, Instant)>,
    /// When expired tokens were last swept out.
    swept: Option<Instant>,
}

impl SimpleTokens {
    /// No tokens; each lives `ttl` after its last use.
    pub fn new(ttl: Duration) -> SimpleTokens {
        SimpleTokens {
            ttl,
            tokens: HashMap::new(),
            swept: None,
        }
    }

    /// Remembers `token` for `user` from `now`.
    pub fn assign(&mut self, token: String, user: &str, now: Instant) {
        self.sweep(now);
        self.tokens.insert(token, (user.to_owned(), now + self.ttl));
    }

    /// The user `token` names, if it is known and alive at `now`; its life starts again.
    pub fn user_of(&mut self, token: &str, now: Instant) -> Option<String> {
        let ttl = self.ttl;
        match self.tokens.get_mut(token) {
            Some((user, deadline)) if *deadline > now => {
                *deadline = now + ttl;
                Some(user.clone())
            }
            Some(_) => {
                self.tokens.remove(token);
                None
            }
            None => None,
        }
    }

    /// Forgets every token of `user` (deleted, or its password changed).
    pub fn forget_user(&mut self, user: &str) {
        self.tokens.retain(|_, (u, _)| u != user);
    }

    /// Forgets every token (auth turned off).
    pub fn clear(&mut self) {
        self.tokens.clear();
    }

    /// How many tokens are remembered.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether no token is remembered.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Drops run-out tokens, at most once a TTL, so memory stays bounded by the logins of one TTL.
    fn sweep(&mut self, now: Instant) {
        if self.swept.is_some_and(|at| now < at + self.ttl) {
            return;
        }
        self.tokens.retain(|_, (_, deadline)| *deadline > now);
        self.swept = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_simple_token_lives_its_ttl_after_its_last_use() {
        let t0 = Instant::now();
        let mut tokens = SimpleTokens::new(Duration::from_secs(10));
        let token = simple_token(&simple_token_prefix(), 42);
        assert_eq!(token.len(), 16 + 3);
        assert!(token.ends_with(".42"));
        tokens.assign(token.clone(), "alice", t0);
        assert_eq!(
            tokens
                .user_of(&token, t0 + Duration::from_secs(9))
                .as_deref(),
            Some("alice")
        );
        assert_eq!(
            tokens
                .user_of(&token, t0 + Duration::from_secs(18))
                .as_deref(),
            Some("alice"),
            "used at 9 s, it lives until 19 s"
        );
        assert_eq!(tokens.user_of(&token, t0 + Duration::from_secs(29)), None);
        assert_eq!(tokens.user_of("nope", t0), None);
    }

    #[test]
    fn forgetting_a_user_or_everything() {
        let t0 = Instant::now();
        let mut tokens = SimpleTokens::new(Duration::from_secs(10));
        tokens.assign("a.1".into(), "alice", t0);
        tokens.assign("b.2".into(), "bob", t0);
        tokens.forget_user("alice");
        assert_eq!(tokens.user_of("a.1", t0), None);
        assert_eq!(tokens.user_of("b.2", t0).as_deref(), Some("bob"));
        tokens.clear();
        assert!(tokens.is_empty());
    }

    #[test]
    fn run_out_tokens_are_swept_when_new_ones_come() {
        let t0 = Instant::now();
        let mut tokens = SimpleTokens::new(Duration::from_secs(1));
        for i in 0..100 {
            tokens.assign(format!("t.{i}"), "u", t0);
        }
        tokens.assign("late.1".into(), "u", t0 + Duration::from_secs(5));
        assert_eq!(tokens.len(), 1);
    }
}

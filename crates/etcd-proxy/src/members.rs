//! Where the v2 proxy learns the members' URLs: the binary hands it its own way of asking peers `/members` (the
//! one a joining member uses, dialing as the raft transport does), so the proxy builds no peer client of its own.

use std::future::Future;
use std::pin::Pin;

/// A boxed future, for [`MemberSource`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// (every member's client URLs, every member's peer URLs), or why no peer answered.
pub type MemberUrls = Result<(Vec<String>, Vec<String>), String>;

/// Asks the cluster who its members are.
pub trait MemberSource: Send + Sync + 'static {
    /// The members' URLs, from the first of `peer_urls` that answers.
    fn members<'a>(&'a self, peer_urls: &'a [String]) -> BoxFuture<'a, MemberUrls>;
}

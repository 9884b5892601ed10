//! The members' client URLs the proxy forwards to, in the order they are tried, each unavailable for a while
//! after a failure; and the peer URLs the list is refreshed through.

use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rand::seq::SliceRandom;

struct Endpoint {
    url: String,
    unavailable_until: Option<Instant>,
}

struct Inner {
    endpoints: Vec<Endpoint>,
    peer_urls: Vec<String>,
}

/// Where requests go.
pub struct Endpoints {
    inner: Mutex<Inner>,
    failure_wait: Duration,
}

impl Endpoints {
    /// No client URLs yet; `peer_urls` to find them through.
    pub fn new(peer_urls: Vec<String>, failure_wait: Duration) -> Endpoints {
        Endpoints {
            inner: Mutex::new(Inner {
                endpoints: Vec::new(),
                peer_urls,
            }),
            failure_wait,
        }
    }

    /// The client URLs that may be tried now, in order.
    pub fn available(&self) -> Vec<String> {
        let now = Instant::now();
        self.inner
            .lock()
            .endpoints
            .iter()
            .filter(|e| e.unavailable_until.is_none_or(|until| until <= now))
            .map(|e| e.url.clone())
            .collect()
    }

    /// Every known client URL, available or not.
    pub fn all(&self) -> Vec<String> {
        self.inner
            .lock()
            .endpoints
            .iter()
            .map(|e| e.url.clone())
            .collect()
    }

    /// `url` failed: skip it for the failure wait.
    pub fn mark_failed(&self, url: &str) {
        let until = Instant::now() + self.failure_wait;
        for e in self.inner.lock().endpoints.iter_mut() {
            if e.url == url {
                e.unavailable_until = Some(until);
                tracing::warn!(endpoint = url, wait = ?self.failure_wait, "proxy: endpoint failed, skipping it for a while");
            }
        }
    }

    /// The peer URLs to refresh through.
    pub fn peer_urls(&self) -> Vec<String> {
        self.inner.lock().peer_urls.clone()
    }

    /// A refresh found these members: the client URLs in a new random order (spreading proxies over the
    /// members, as etcd does), keeping the failure marks of URLs still present.
    pub fn replace(&self, mut client_urls: Vec<String>, peer_urls: Vec<String>) {
        client_urls.sort();
        client_urls.dedup();
        client_urls.shuffle(&mut rand::thread_rng());
        let mut inner = self.inner.lock();
        let endpoints = client_urls
            .into_iter()
            .map(|url| {
                let unavailable_until = inner
                    .endpoints
                    .iter()
                    .find(|e| e.url == url)
                    .and_then(|e| e.unavailable_until);
                Endpoint {
                    url,
                    unavailable_until,
                }
            })
            .collect();
        inner.endpoints = endpoints;
        if !peer_urls.is_empty() {
            inner.peer_urls = peer_urls;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_endpoint_is_skipped_until_the_wait_is_over() {
        let e = Endpoints::new(vec!["http://p".to_owned()], Duration::from_millis(50));
        e.replace(
            vec!["http://a".to_owned(), "http://b".to_owned()],
            Vec::new(),
        );
        assert_eq!(e.available().len(), 2);
        e.mark_failed("http://a");
        assert_eq!(e.available(), vec!["http://b".to_owned()]);
        // A refresh keeps the mark.
        e.replace(
            vec!["http://b".to_owned(), "http://a".to_owned()],
            Vec::new(),
        );
        assert_eq!(e.available(), vec!["http://b".to_owned()]);
        assert_eq!(e.peer_urls(), vec!["http://p".to_owned()]);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(e.available().len(), 2);
    }
}

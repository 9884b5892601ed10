//! Real handshakes over loopback with certificates made by a test CA: who is let in and who is refused.

use etcd_tls::testing::TestCa;
use etcd_tls::{TlsAcceptor, TlsInfo};
use rustls_pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Serves one connection with `server` and exchanges a byte with a client using `client`; whether it worked.
async fn exchange(server: &TlsInfo, client: &TlsInfo) -> bool {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let acceptor = TlsAcceptor::new(server.server_config().expect("server config"));
    let serving = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.ok()?;
        let mut tls = acceptor.accept(stream).await.ok()?;
        let mut byte = [0u8; 1];
        tls.read_exact(&mut byte).await.ok()?;
        tls.write_all(&byte).await.ok()?;
        tls.flush().await.ok()
    });
    let connector =
        tokio_rustls::TlsConnector::from(client.client_config().expect("client config"));
    let worked = async {
        let stream = TcpStream::connect(addr).await.ok()?;
        let name = ServerName::try_from("127.0.0.1").ok()?;
        let mut tls = connector.connect(name, stream).await.ok()?;
        tls.write_all(b"x").await.ok()?;
        tls.flush().await.ok()?;
        let mut byte = [0u8; 1];
        tls.read_exact(&mut byte).await.ok()?;
        (byte == *b"x").then_some(())
    }
    .await
    .is_some();
    let _ = serving.await;
    worked
}

struct Pki {
    dir: tempfile::TempDir,
    ca: TestCa,
}

impl Pki {
    fn new() -> Pki {
        Pki {
            dir: tempfile::tempdir().expect("tempdir"),
            ca: TestCa::new("test CA").expect("CA"),
        }
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    fn ca_file(&self) -> std::path::PathBuf {
        self.ca.write_cert(&self.path("ca.pem")).expect("CA file")
    }

    /// Server-side flags: a server certificate, client certificates checked against the CA.
    fn server(&self) -> TlsInfo {
        let issued = self
            .ca
            .issue(self.dir.path(), "server", "server", &["127.0.0.1"])
            .expect("server cert");
        TlsInfo {
            cert_file: Some(issued.cert),
            key_file: Some(issued.key),
            trusted_ca_file: Some(self.ca_file()),
            ..TlsInfo::default()
        }
    }

    /// Client-side flags with a certificate named `cn` issued by `ca`.
    fn client(&self, ca: &TestCa, cn: &str) -> (TlsInfo, u64) {
        let issued = ca
            .issue(self.dir.path(), &format!("client-{cn}"), cn, &["127.0.0.1"])
            .expect("client cert");
        let info = TlsInfo {
            cert_file: Some(issued.cert),
            key_file: Some(issued.key),
            trusted_ca_file: Some(self.ca_file()),
            ..TlsInfo::default()
        };
        (info, issued.serial)
    }
}

#[tokio::test]
async fn a_trusted_ca_alone_requires_client_certificates_from_that_ca() {
    let pki = Pki::new();
    let server = pki.server();
    let (good, _) = pki.client(&pki.ca, "alice");
    assert!(exchange(&server, &good).await, "a certificate from the CA");
    let no_cert = TlsInfo {
        trusted_ca_file: Some(pki.ca_file()),
        ..TlsInfo::default()
    };
    assert!(!exchange(&server, &no_cert).await, "no client certificate");
    let other = TestCa::new("another CA").expect("CA");
    let (foreign, _) = pki.client(&other, "mallory");
    assert!(
        !exchange(&server, &foreign).await,
        "a certificate from another CA"
    );
    // Without client-certificate checking anyone with the server's CA gets in.
    let open = TlsInfo {
        trusted_ca_file: None,
        ..server.clone()
    };
    assert!(exchange(&open, &no_cert).await);
}

#[tokio::test]
async fn a_revoked_certificate_is_refused() {
    let pki = Pki::new();
    let (revoked, serial) = pki.client(&pki.ca, "revoked");
    let (kept, _) = pki.client(&pki.ca, "kept");
    let crl = pki
        .ca
        .write_crl(&pki.path("crl.pem"), &[serial])
        .expect("CRL");
    let server = TlsInfo {
        crl_file: Some(crl),
        ..pki.server()
    };
    assert!(!exchange(&server, &revoked).await, "revoked");
    assert!(exchange(&server, &kept).await, "not revoked");
}

#[tokio::test]
async fn only_the_allowed_cn_is_let_in() {
    let pki = Pki::new();
    let server = TlsInfo {
        allowed_cn: Some("etcd-peer".to_owned()),
        client_cert_auth: true,
        ..pki.server()
    };
    let (peer, _) = pki.client(&pki.ca, "etcd-peer");
    let (stranger, _) = pki.client(&pki.ca, "someone-else");
    assert!(exchange(&server, &peer).await);
    assert!(!exchange(&server, &stranger).await);
}

#[tokio::test]
async fn a_plain_http_request_gets_a_quick_400() {
    let pki = Pki::new();
    let acceptor = TlsAcceptor::new(pki.server().server_config().expect("config"));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let serving = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accept");
        acceptor.accept(stream).await.is_err()
    });
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(b"GET /v2/keys HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut answer = String::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(5),
        stream.read_to_string(&mut answer),
    )
    .await
    .expect("no hang")
    .expect("read");
    assert!(answer.starts_with("HTTP/1.0 400 Bad Request"), "{answer}");
    assert!(answer.contains("Client sent an HTTP request to an HTTPS server."));
    assert!(serving.await.expect("task"));
}

#[test]
fn bad_files_are_named_in_the_error() {
    let pki = Pki::new();
    let missing = TlsInfo {
        cert_file: Some(pki.path("nope.pem")),
        key_file: Some(pki.path("nope-key.pem")),
        ..TlsInfo::default()
    };
    let err = missing.server_config().expect_err("refused").to_string();
    assert!(
        err.contains("nope.pem") && err.contains("certificate file"),
        "{err}"
    );

    let a = pki
        .ca
        .issue(pki.dir.path(), "a", "a", &["127.0.0.1"])
        .expect("a");
    let b = pki
        .ca
        .issue(pki.dir.path(), "b", "b", &["127.0.0.1"])
        .expect("b");
    let mismatched = TlsInfo {
        cert_file: Some(a.cert.clone()),
        key_file: Some(b.key.clone()),
        ..TlsInfo::default()
    };
    let err = mismatched.server_config().expect_err("refused").to_string();
    assert!(err.contains("a.pem") && err.contains("b-key.pem"), "{err}");

    std::fs::write(pki.path("garbage.pem"), "not PEM at all").expect("write");
    let garbage = TlsInfo {
        cert_file: Some(a.cert.clone()),
        key_file: Some(pki.path("garbage.pem")),
        ..TlsInfo::default()
    };
    let err = garbage.server_config().expect_err("refused").to_string();
    assert!(
        err.contains("garbage.pem") && err.contains("key file"),
        "{err}"
    );

    let half = TlsInfo {
        cert_file: Some(a.cert),
        ..TlsInfo::default()
    };
    assert!(half.server_config().is_err());
}

#[tokio::test]
async fn auto_tls_makes_a_certificate_once_and_dials_without_verifying_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fixtures = dir.path().join("fixtures/peer");
    let hosts = ["127.0.0.1".to_owned(), "localhost".to_owned()];
    let info = etcd_tls::self_signed(&fixtures, &hosts).expect("auto TLS");
    let first = std::fs::read(fixtures.join("cert.pem")).expect("cert");
    let again = etcd_tls::self_signed(&fixtures, &hosts).expect("reused");
    assert_eq!(again, info);
    assert_eq!(
        std::fs::read(fixtures.join("cert.pem")).expect("cert"),
        first
    );
    let key_mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(fixtures.join("key.pem"))
            .expect("key")
            .permissions(),
    );
    assert_eq!(key_mode & 0o077, 0, "the key is private");
    assert!(exchange(&info, &info).await);
}

#[tokio::test]
async fn rsa_pkcs1_ec_sec1_and_ed25519_pkcs8_keys_serve_handshakes() {
    // Made with openssl (tests/data): `genrsa -traditional`, `ecparam -genkey -noout`, `genpkey -algorithm
    // ed25519`, each with a self-signed certificate for 127.0.0.1.
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    for (cert, key) in [
        ("rsa-cert.pem", "rsa-pkcs1-key.pem"),
        ("ec-cert.pem", "ec-sec1-key.pem"),
        ("ed25519-cert.pem", "ed25519-pkcs8-key.pem"),
    ] {
        let server = TlsInfo {
            cert_file: Some(data.join(cert)),
            key_file: Some(data.join(key)),
            ..TlsInfo::default()
        };
        // The client checks the handshake signature made with the key, not the self-signed chain.
        let client = TlsInfo {
            self_signed: true,
            ..TlsInfo::default()
        };
        assert!(exchange(&server, &client).await, "{key}");
    }
}

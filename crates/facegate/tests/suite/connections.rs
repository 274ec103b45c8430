//! Slow and idle clients against a server with a file-descriptor limit of 165 (the probe's setting, where 200
//! slowloris connections used to lock every new client out): hundreds of connections that send half their
//! headers, send nothing, or send a body a byte at a time. The server must keep serving new clients while they
//! are open, refuse an address's connections beyond its cap with 429, answer slow bodies 408, and close every
//! one of them within its timeouts. The whole run is bounded (well under a minute). And the listener over TLS,
//! with a certificate made at run time.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::support::*;
use libtest_mimic::{Failed, Trial};
use socket2::{Domain, Socket, Type};

const HEADER_TIMEOUT_S: u64 = 2;
const BODY_TIMEOUT_S: u64 = 3;
const PER_ADDRESS: usize = 60;

/// A connection to `server` from the loopback address `from` (127.0.0.x: one client address each).
fn connect_from(from: [u8; 4], server: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    socket.bind(&SocketAddr::new(IpAddr::from(from), 0).into())?;
    socket.connect_timeout(&server.into(), Duration::from_secs(5))?;
    Ok(socket.into())
}

/// Reads until the server closes the connection (or `until` passes): what it sent, and whether it closed.
fn read_to_close(stream: &mut TcpStream, until: Instant) -> (String, bool) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return (String::from_utf8_lossy(&got).into_owned(), false);
        }
        let _ = stream.set_read_timeout(Some(left.min(Duration::from_millis(500))));
        match stream.read(&mut buf) {
            Ok(0) => return (String::from_utf8_lossy(&got).into_owned(), true),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            // A reset is the server closing too (an evicted connection may be cut mid-headers).
            Err(_) => return (String::from_utf8_lossy(&got).into_owned(), true),
        }
    }
}

fn status_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

fn slow_clients() -> Result<(), Failed> {
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("facegate.toml");
    std::fs::write(
        &config,
        format!(
            "http_header_timeout_seconds = {HEADER_TIMEOUT_S}\nhttp_body_timeout_seconds = {BODY_TIMEOUT_S}\n\
             max_connections_per_address = {PER_ADDRESS}\n"
        ),
    )?;
    let config = config.to_string_lossy().into_owned();
    let served = Served::start_limited(dir.path(), None, &["--config", &config], &[], Some(165));
    let server: SocketAddr = served.base.trim_start_matches("http://").parse()?;
    let started = Instant::now();

    // 200 slowloris connections from one address: half a request's headers, then nothing more.
    let mut slowloris = Vec::new();
    for _ in 0..200 {
        let mut s = connect_from([127, 0, 0, 2], server)?;
        let _ = s.write_all(b"GET /health HTTP/1.1\r\nHost: facegate\r\nX-Slow: ");
        slowloris.push(s);
    }
    // 200 connections from another address that send nothing at all.
    let mut idle = Vec::new();
    for _ in 0..200 {
        idle.push(connect_from([127, 0, 0, 3], server)?);
    }
    // 50 requests from a third address whose bodies never finish arriving.
    let mut slow_body = Vec::new();
    for _ in 0..50 {
        let mut s = connect_from([127, 0, 0, 4], server)?;
        s.write_all(
            b"POST /v1/detect HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
              Content-Length: 100000\r\n\r\n{\"image\": \"",
        )?;
        slow_body.push(s);
    }

    // New clients are served while all of that is open.
    let c = client();
    for i in 0..10 {
        let resp = c.get(served.url("/health")).timeout(Duration::from_secs(10)).send();
        match resp {
            Ok(r) if r.status() == 200 => {}
            Ok(r) => return Err(format!("new client {i} during the attack: {}", r.status()).into()),
            Err(e) => return Err(format!("new client {i} during the attack: {e}").into()),
        }
    }
    // A fresh connection from the loopback address itself, on raw TCP, as well.
    let mut fresh = connect_from([127, 0, 0, 1], server)?;
    fresh.write_all(b"GET /health HTTP/1.1\r\nHost: facegate\r\nConnection: close\r\n\r\n")?;
    let (answer, _) = read_to_close(&mut fresh, Instant::now() + Duration::from_secs(10));
    if !answer.starts_with("HTTP/1.1 200") {
        return Err(format!("a raw new client during the attack got {:?}", status_line(&answer)).into());
    }

    // Two Host headers make a request ambiguous (RFC 9112 §3.2): 400.
    let mut twice = connect_from([127, 0, 0, 1], server)?;
    twice.write_all(b"GET /health HTTP/1.1\r\nHost: facegate\r\nHost: elsewhere\r\nConnection: close\r\n\r\n")?;
    let (answer, _) = read_to_close(&mut twice, Instant::now() + Duration::from_secs(10));
    if !answer.starts_with("HTTP/1.1 400") || !answer.contains("invalid_request") {
        return Err(format!("two Host headers got {:?}", status_line(&answer)).into());
    }

    // Every attacking connection is closed by the server within its timeouts (plus slack for a loaded CI
    // machine): the ones over the per-address cap at once with 429, the others when their headers or bodies
    // time out, or earlier when a newer connection took their place.
    let until = started + Duration::from_secs(HEADER_TIMEOUT_S.max(BODY_TIMEOUT_S) + 20);
    let mut refused_per_address = 0;
    for (i, s) in slowloris.iter_mut().enumerate() {
        let (text, closed) = read_to_close(s, until);
        if !closed {
            return Err(format!("slowloris connection {i} still open after {:?}", started.elapsed()).into());
        }
        if text.starts_with("HTTP/1.1 429") {
            refused_per_address += 1;
        }
    }
    if refused_per_address < 200 - PER_ADDRESS {
        return Err(format!(
            "only {refused_per_address} of 200 connections from one address refused (cap {PER_ADDRESS})"
        )
        .into());
    }
    for (i, s) in idle.iter_mut().enumerate() {
        let (_, closed) = read_to_close(s, until);
        if !closed {
            return Err(format!("idle connection {i} still open after {:?}", started.elapsed()).into());
        }
    }
    let mut timed_out_bodies = 0;
    for (i, s) in slow_body.iter_mut().enumerate() {
        let (text, closed) = read_to_close(s, until);
        if !closed {
            return Err(format!("slow-body connection {i} still open after {:?}", started.elapsed()).into());
        }
        if text.starts_with("HTTP/1.1 408") {
            timed_out_bodies += 1;
        } else if !text.is_empty() && !text.starts_with("HTTP/1.1 503") {
            return Err(format!("slow-body connection {i} answered {:?}", status_line(&text)).into());
        }
    }
    if timed_out_bodies == 0 {
        return Err("no slow body was answered 408".into());
    }

    // The server is well afterwards, never ran out of file descriptors, and said why it refused.
    let resp = c.get(served.url("/health")).timeout(Duration::from_secs(10)).send()?;
    if resp.status() != 200 {
        return Err(format!("after the attack: {}", resp.status()).into());
    }
    let log = served.log_text();
    if log.contains("Too many open files") || log.contains("accepting a connection failed") {
        return Err(format!("the server ran out of file descriptors:\n{log}").into());
    }
    println!(
        "slow clients: 450 attacking connections closed in {:.1} s, {refused_per_address} refused 429, \
         {timed_out_bodies} slow bodies 408",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// A self-signed certificate for `localhost` and 127.0.0.1, made now with Debian's openssl: (certificate, key).
pub(crate) fn self_signed(dir: &std::path::Path) -> Result<(std::path::PathBuf, std::path::PathBuf), Failed> {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
        .args(["-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        // A server's certificate, not an authority's: rustls clients refuse a CA certificate as the end entity.
        .args(["-addext", "basicConstraints=critical,CA:FALSE", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()?;
    if !made.status.success() {
        return Err(format!("openssl: {}", String::from_utf8_lossy(&made.stderr)).into());
    }
    Ok((cert, key))
}

/// HTTPS in the binary: with `tls_cert` / `tls_key` the server answers over TLS only and says `https` on its
/// listening line; a certificate without its key, or files that hold none, stop its start with their name.
fn https_with_its_own_certificate() -> Result<(), Failed> {
    let dir = tempfile::tempdir()?;
    let (cert, key) = self_signed(dir.path())?;
    let tls = [
        "--set".to_string(),
        format!("tls_cert={}", cert.display()),
        "--set".to_string(),
        format!("tls_key={}", key.display()),
    ];
    let args: Vec<&str> = tls.iter().map(String::as_str).collect();
    let served = Served::start(&dir.path().join("data"), None, &args);
    if !served.base.starts_with("https://") {
        return Err(format!("listening on {}", served.base).into());
    }
    let trusted = reqwest::Certificate::from_pem(&std::fs::read(&cert)?)?;
    let c = reqwest::blocking::Client::builder().add_root_certificate(trusted).build()?;
    let (status, health) = json(c.get(served.url("/health")).send()?);
    if (status, health["status"].as_str()) != (200, Some("ok")) {
        return Err(format!("over TLS: {status} {health}").into());
    }
    // Plain HTTP on the same port gets no HTTP answer, and an untrusting client refuses the certificate.
    let plain = served.url("/health").replacen("https://", "http://", 1);
    if let Ok(r) = client().get(&plain).timeout(Duration::from_secs(5)).send() {
        return Err(format!("plain HTTP was answered {}", r.status()).into());
    }
    if client().get(served.url("/health")).send().is_ok() {
        return Err("a client that does not trust the certificate got an answer".into());
    }
    // Bad settings stop the start, naming what is wrong.
    let start = |sets: &[String]| -> Result<String, Failed> {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_facegate"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path().join("bad"))
            .args(sets)
            .env_remove("FACEGATE_MODELS_DIR")
            .env_remove("FACEGATE_CONFIG")
            .output()?;
        if out.status.success() {
            return Err("the server started".into());
        }
        Ok(String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let half = start(&tls[..2])?;
    if !half.contains("tls_key") {
        return Err(format!("a certificate without its key: {half}").into());
    }
    let not_pem = [
        "--set".to_string(),
        format!("tls_cert={}", key.display()),
        "--set".to_string(),
        format!("tls_key={}", key.display()),
    ];
    let wrong = start(&not_pem)?;
    if !wrong.contains("TLS certificate") {
        return Err(format!("a key given as the certificate: {wrong}").into());
    }
    Ok(())
}

pub fn trials() -> Vec<Trial> {
    vec![
        trial!("slow_and_idle_clients_are_closed_and_new_ones_served", slow_clients),
        trial!("https_with_its_own_certificate", https_with_its_own_certificate),
    ]
}

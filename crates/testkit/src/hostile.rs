//! A hostile client, for the tests that hold a listener (the standalone server, the local gateway)
//! to what it must survive: requests written byte for byte on a raw socket (no HTTP client
//! normalises them first), heads sized to the byte, header senders that never finish, and the
//! memory a process holds meanwhile, read from `/proc`.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Paths a backend could read as another path: each must be refused before routing. The first two
/// are not dot segments to a URL parser, but servlet containers and some frameworks cut a segment
/// at `;`, so behind them `/public/..;/orders` is `/orders`.
pub const AMBIGUOUS_PATHS: [&str; 7] = [
    "/public/..;/orders",
    "/public/x;y/../orders",
    "/public/../orders",
    "/public/%2e%2e/orders",
    "/public/.%2E/orders",
    "/public/a%2forders",
    "/public/..%5corders",
];

/// What a raw request got back: the status (0: none, the connection closed first) and everything
/// read until the server closed (bounded by 10 s).
#[derive(Debug, Clone)]
pub struct RawAnswer {
    /// The answer's status code, 0 when there was none.
    pub status: u16,
    /// The answer as bytes, head and body.
    pub bytes: Vec<u8>,
}

impl RawAnswer {
    /// The answer's body (after the blank line), as text.
    pub fn body(&self) -> String {
        let text = String::from_utf8_lossy(&self.bytes);
        text.split_once("\r\n\r\n")
            .map(|(_, body)| body.to_owned())
            .unwrap_or_default()
    }
}

/// Writes `request` as it is to `address` (`127.0.0.1:PORT`) and reads until the server closes
/// (ask for `connection: close`), at most 10 s.
pub async fn send_raw(address: &str, request: &[u8]) -> RawAnswer {
    let mut stream = TcpStream::connect(address).await.expect("connect");
    let _ = stream.write_all(request).await;
    let mut bytes = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut bytes)).await;
    let status = String::from_utf8_lossy(&bytes)
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    RawAnswer { status, bytes }
}

/// The body of `GET url` (`http://127.0.0.1:PORT/path`, a metrics endpoint): asked on a raw
/// socket, so the test needs no HTTP client of its own.
pub async fn scrape(url: &str) -> String {
    let rest = url.strip_prefix("http://").expect("an http:// URL");
    let (address, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let request = format!("GET {path} HTTP/1.1\r\nhost: {address}\r\nconnection: close\r\n\r\n");
    let answer = send_raw(address, request.as_bytes()).await;
    assert_eq!(answer.status, 200, "GET {url}");
    answer.body()
}

/// A `GET path` whose request line and header values together are exactly `size` bytes (API
/// Gateway's count): `host`, `connection: close`, and an `x-pad` header making up the rest.
pub fn get_of_size(path: &str, host: &str, size: usize) -> Vec<u8> {
    let line = format!("GET {path} HTTP/1.1");
    let fixed = line.len() + host.len() + "close".len();
    let pad = "p".repeat(
        size.checked_sub(fixed)
            .expect("size holds the request line"),
    );
    format!("{line}\r\nhost: {host}\r\nconnection: close\r\nx-pad: {pad}\r\n\r\n").into_bytes()
}

/// What [`slow_clients_beside_valid_requests`] saw.
#[derive(Debug, Clone, Copy)]
pub struct SlowClients {
    /// How long the median and the longest-lived slow client stayed connected.
    pub median: Duration,
    /// The longest.
    pub longest: Duration,
    /// Valid requests answered 200 while the slow clients were connected.
    pub answered: usize,
    /// The server's resident memory before and while they were connected, in KiB.
    pub rss_kib: (u64, u64),
}

impl std::fmt::Display for SlowClients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "all cut, the median after {:?}, the longest after {:?}; {} valid answers meanwhile; RSS {:.1} → {:.1} MiB",
            self.median,
            self.longest,
            self.answered,
            self.rss_kib.0 as f64 / 1024.0,
            self.rss_kib.1 as f64 / 1024.0
        )
    }
}

/// 200 clients on `address` (the server's process is `pid`), each sending a request head one
/// header line every 300 ms and never finishing it, while `GET valid_path` is asked again and
/// again beside them. Panics if a valid request is not answered 200, or a slow client is still
/// connected after 20 s.
pub async fn slow_clients_beside_valid_requests(
    address: &str,
    pid: u32,
    valid_path: &str,
) -> SlowClients {
    let before = memory_kib(pid, "VmRSS");
    let slow = tokio::spawn(slow_header_senders(
        address.to_owned(),
        200,
        Duration::from_millis(300),
        Duration::from_secs(20),
    ));
    let valid =
        format!("GET {valid_path} HTTP/1.1\r\nhost: {address}\r\nconnection: close\r\n\r\n");
    let mut answered = 0;
    while !slow.is_finished() && answered < 100 {
        let answer = send_raw(address, valid.as_bytes()).await;
        assert_eq!(
            answer.status, 200,
            "a valid request beside the slow clients"
        );
        answered += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let during = memory_kib(pid, "VmRSS");
    let lived = slow.await.expect("slow clients");
    let mut cut: Vec<Duration> = lived
        .iter()
        .map(|l| l.unwrap_or_else(|| panic!("a slow client was never cut: {lived:?}")))
        .collect();
    cut.sort();
    SlowClients {
        median: cut[cut.len() / 2],
        longest: cut[cut.len() - 1],
        answered,
        rss_kib: (before, during),
    }
}

/// `count` clients on `address`, each sending a request head one header line every `every` and
/// never finishing it: how long each connection lived until the server closed it (`None`: still
/// open after `give_up`).
async fn slow_header_senders(
    address: String,
    count: usize,
    every: Duration,
    give_up: Duration,
) -> Vec<Option<Duration>> {
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..count {
        let address = address.to_owned();
        clients.spawn(async move {
            let started = Instant::now();
            let mut stream = TcpStream::connect(&address).await.ok()?;
            let mut line: &[u8] = b"GET /public/slow HTTP/1.1\r\n";
            let mut buffer = [0u8; 512];
            while started.elapsed() < give_up {
                if stream.write_all(line).await.is_err() {
                    return Some(started.elapsed());
                }
                line = b"x-slow: 1\r\n";
                match tokio::time::timeout(every, stream.read(&mut buffer)).await {
                    // Closed, or an answer (a 408 or 431) before closing: either way cut.
                    Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
                    Ok(Ok(_)) => {}
                    Err(_) => {}
                }
            }
            None
        });
    }
    let mut lived = Vec::with_capacity(count);
    while let Some(client) = clients.join_next().await {
        lived.push(client.ok().flatten());
    }
    lived
}

/// A `kB` figure of `/proc/PID/status` (`VmRSS` now, `VmHWM` the peak so far), in KiB.
pub fn memory_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("/proc/{pid}/status has no {field}"))
}

//! belfry-relay benchmark: a real relay process over real TLS, against a raw
//! TLS WebSocket echo server on the same stack, measured in the same run.
//!
//! Run it with
//!
//! ```text
//! cargo bench -p belfry-relay --bench relay              # full run, a few minutes on 2 cores
//! cargo bench -p belfry-relay --bench relay -- --quick   # short run (under a minute)
//! cargo bench -p belfry-relay --bench relay -- --help    # sizes, fan-out, rate, ...
//! ```
//!
//! The relay binary: `cargo bench` builds the package's `belfry-relay`
//! binary in the bench profile (optimised, like release) before the
//! benchmark and hands its path in `CARGO_BIN_EXE_belfry-relay`, which the
//! shared test support (`tests/relay/support.rs`, included below) starts with
//! `init` and `serve`. So there is nothing to build by hand, and the relay
//! measured is always the current source, optimised.
//!
//! What it measures, each printed as a table row with the baseline beside it
//! and the ratio relay/baseline (machines are noisy; ratios travel better
//! than absolute figures):
//!
//! 1. Throughput: `--devices` enrolled devices, one connection each, each
//!    device publishing room messages to the next `--fanout` devices with
//!    `--window` publishes in flight, `--messages` publishes in all; every
//!    recipient acknowledges each pushed frame. Deliveries per second =
//!    inbox entries received by recipients / time until the last entry is
//!    received and every ack is answered (so acked deletes are durable too).
//!    The relay always commits with `synchronous=FULL`. Publishers are paced
//!    by publish acks only, so a backlog builds and pushes carry up to 256
//!    entries a frame: this is the relay's capacity, not its latency (the
//!    per-delivery times it prints are queueing). Baseline: echo round trips
//!    per second with the same connections, frame size and window.
//! 2. Latency at a fixed offered load: `--rate` publishes per second in all
//!    (open loop, spread over the devices, each to `--fanout` recipients),
//!    publish-to-deliver time of every delivery, p50 and p99. The body holds
//!    the scheduled send time (one process, monotonic clock; the scheduled
//!    time, not the actual one, so a stalled sender counts against the relay).
//!    Baseline: echo round-trip time at the same message rate.
//! 3. Idle connections: `--idle` authenticated idle connections (devices are
//!    reused, `limits.connections_per_device` is raised in relay.toml for
//!    this), relay RSS (`VmRSS` in /proc/PID/status) before and after, per
//!    connection. Baseline: the same for idle echo connections.
//!
//! The echo baseline runs in its own process (this binary, re-executed with
//! `--echo-server DIR`), so both servers are measured the same way: their own
//! tokio runtime and RSS, the load generator (this process) beside them on
//! the same cores. It is the relay's stack without the relay: tokio, rustls
//! with aws-lc-rs, TLS 1.3 only, X25519MLKEM768 preferred (the relay's own
//! `tls::server_config`, loaded from the relay directory), hyper HTTP/1.1,
//! axum's WebSocket upgrade with the relay's read buffer
//! (`server::WS_READ_BUFFER_BYTES`), and it echoes each binary message.
//!
//! Each phase also prints the CPU seconds of the server, of this process
//! (the load generator) and of every other process on the machine: a busy
//! neighbour (a build, say) skews a run on 2 cores, and that line shows it.
//!
//! File descriptors: the soft `RLIMIT_NOFILE` is raised to the hard limit at
//! start (the relay inherits it); 1,000 idle connections need about 2,100.
//!
//! Nothing here asserts a time: goals are printed as met or MISSED.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/relay/support.rs"]
mod support;

use anyhow::{Context as _, anyhow, bail};
use belfry_protocol::codec::{decode, encode};
use belfry_protocol::frames::{DeviceAddress, InboxItem};
use belfry_protocol::{ClientFrame, MessageId, Request, Response, RoomId, ServerFrame};
use clap::Parser;
use futures_util::{SinkExt as _, StreamExt as _};
use rustls::pki_types::ServerName;
use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use support::{Client, Identity, Relay};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

/// The relay benchmark and its echo baseline (see the file's header).
#[derive(Debug, Clone, Parser)]
#[command(name = "relay bench")]
struct Opts {
    /// Short run: fewer devices, messages and connections (CI-sized)
    #[arg(long)]
    quick: bool,
    /// Enrolled devices, one connection each, all sending and receiving
    /// [default: 100; quick: 40]
    #[arg(long)]
    devices: Option<usize>,
    /// Room messages published in the throughput phase [default: 60000; quick: 6000]
    #[arg(long)]
    messages: Option<usize>,
    /// Recipient devices per message
    #[arg(long, default_value_t = 10)]
    fanout: usize,
    /// Ciphertext bytes per message
    #[arg(long, default_value_t = 256)]
    size: usize,
    /// Publishes in flight per device in the throughput phase
    #[arg(long, default_value_t = 8)]
    window: usize,
    /// Offered load of the latency phase, messages per second (all devices)
    #[arg(long, default_value_t = 2000)]
    rate: u32,
    /// Length of the latency phase, seconds [default: 15; quick: 4]
    #[arg(long)]
    latency_secs: Option<f64>,
    /// Idle authenticated connections [default: 1000; quick: 300]
    #[arg(long)]
    idle: Option<usize>,
    /// Passed by `cargo bench`; without it (as under `cargo test --benches`)
    /// nothing runs
    #[arg(long, hide = true)]
    bench: bool,
    /// Internal: run the echo server for the relay directory DIR
    #[arg(long, hide = true, value_name = "DIR")]
    echo_server: Option<PathBuf>,
    /// Filters cargo may pass (ignored)
    #[arg(hide = true)]
    filters: Vec<String>,
}

/// The sizes of one run.
#[derive(Debug, Clone, Copy)]
struct Plan {
    devices: usize,
    messages: usize,
    fanout: usize,
    size: usize,
    window: usize,
    rate: u32,
    latency: Duration,
    idle: usize,
}

impl Opts {
    fn plan(&self) -> anyhow::Result<Plan> {
        let q = self.quick;
        let plan = Plan {
            devices: self.devices.unwrap_or(if q { 40 } else { 100 }),
            messages: self.messages.unwrap_or(if q { 6_000 } else { 60_000 }),
            fanout: self.fanout,
            size: self.size.max(16),
            window: self.window.max(1),
            rate: self.rate.max(1),
            latency: Duration::from_secs_f64(self.latency_secs.unwrap_or(if q { 4.0 } else { 15.0 }).max(0.5)),
            idle: self.idle.unwrap_or(if q { 300 } else { 1000 }),
        };
        if plan.devices < 2 || plan.fanout == 0 || plan.fanout >= plan.devices {
            bail!("need at least 2 devices and 1 <= fanout < devices");
        }
        if plan.fanout > belfry_protocol::limits::MAX_RECIPIENTS {
            bail!("fanout is above the protocol's {} recipients", belfry_protocol::limits::MAX_RECIPIENTS);
        }
        if plan.size > belfry_protocol::limits::MAX_ROOM_MESSAGE_LEN - 1024 {
            bail!("size is too large for a room message");
        }
        Ok(plan)
    }
}

// ---- time stamps in message bodies -----------------------------------------

static BASE: OnceLock<Instant> = OnceLock::new();

fn base() -> Instant {
    *BASE.get_or_init(Instant::now)
}

/// A message body: the send time (ns since [`base`]), a phase tag, padding.
fn body(size: usize, at: Instant, phase: u8) -> Vec<u8> {
    let mut b = vec![0x5a; size];
    let ns = u64::try_from(at.saturating_duration_since(base()).as_nanos()).unwrap_or(u64::MAX);
    b[..8].copy_from_slice(&ns.to_le_bytes());
    b[8] = phase;
    b
}

/// The phase tag and the time since the stamp, in microseconds.
fn stamp_of(body: &[u8], now: Instant) -> Option<(u8, u32)> {
    let ns = u64::from_le_bytes(body.get(..8)?.try_into().ok()?);
    let sent = base() + Duration::from_nanos(ns);
    let us = now.saturating_duration_since(sent).as_micros();
    Some((*body.get(8)?, u32::try_from(us).unwrap_or(u32::MAX)))
}

// ---- process figures ----------------------------------------------------------

/// Resident set size of a process, KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// User + system CPU time of a process so far (Linux clock ticks of 10 ms).
fn cpu_secs(pid: Option<u32>) -> f64 {
    let path = pid.map_or_else(|| "/proc/self/stat".to_owned(), |p| format!("/proc/{p}/stat"));
    let Ok(stat) = std::fs::read_to_string(path) else { return f64::NAN };
    let Some(after) = stat.rsplit_once(')').map(|(_, a)| a) else { return f64::NAN };
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After the command name: state is field 3, utime 14, stime 15.
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    (ticks(11) + ticks(12)) as f64 / 100.0
}

/// Busy CPU time of the whole machine so far (all cores, from /proc/stat).
fn machine_busy_secs() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else { return f64::NAN };
    let Some(line) = stat.lines().next() else { return f64::NAN };
    // cpu user nice system idle iowait irq softirq steal ...
    let v: Vec<u64> = line.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    let at = |i: usize| v.get(i).copied().unwrap_or(0);
    (at(0) + at(1) + at(2) + at(5) + at(6) + at(7)) as f64 / 100.0
}

/// CPU seconds over a phase: the server, this process (the load), and
/// everything else on the machine (a busy neighbour skews a run: see it).
#[derive(Debug, Clone, Copy, Default)]
struct Cpu {
    server: f64,
    load: f64,
    other: f64,
}

struct CpuMeter {
    pid: u32,
    start: Cpu,
    machine: f64,
}

impl CpuMeter {
    fn start(pid: u32) -> Self {
        let start = Cpu { server: cpu_secs(Some(pid)), load: cpu_secs(None), other: 0.0 };
        Self { pid, start, machine: machine_busy_secs() }
    }
    fn stop(&self) -> Cpu {
        let server = cpu_secs(Some(self.pid)) - self.start.server;
        let load = cpu_secs(None) - self.start.load;
        let other = (machine_busy_secs() - self.machine - server - load).max(0.0);
        Cpu { server, load, other }
    }
}

// ---- connections ----------------------------------------------------------------

type Ws = WebSocketStream<TlsStream<TcpStream>>;

/// The TLS client both servers are measured with: TLS 1.3, aws-lc-rs with
/// X25519MLKEM768 first (rustls' `prefer-post-quantum`), the relay's CA.
fn client_config(relay: &Relay) -> Arc<rustls::ClientConfig> {
    Arc::new(relay.tls_config())
}

async fn tls_connect(addr: SocketAddr, config: &Arc<rustls::ClientConfig>) -> anyhow::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await.with_context(|| format!("connecting to {addr}"))?;
    tcp.set_nodelay(true)?;
    let name = ServerName::try_from("localhost")?;
    Ok(tokio_rustls::TlsConnector::from(config.clone()).connect(name, tcp).await?)
}

/// "TLS 1.3, X25519MLKEM768" for one connection.
fn describe_tls(tls: &TlsStream<TcpStream>) -> String {
    let conn = tls.get_ref().1;
    let version = match conn.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLS 1.3".to_owned(),
        other => format!("{other:?}"),
    };
    let group = conn.negotiated_key_exchange_group().map(|g| format!("{:?}", g.name())).unwrap_or_default();
    let suite = conn.negotiated_cipher_suite().map(|s| format!("{:?}", s.suite())).unwrap_or_default();
    format!("{version}, {group}, {suite}")
}

/// An authenticated relay connection for `id`.
async fn relay_login(addr: SocketAddr, config: &Arc<rustls::ClientConfig>, id: &Identity) -> anyhow::Result<Client> {
    let tls = tls_connect(addr, config).await?;
    let mut c = Client::connect(tls).await;
    c.authenticate(id).await.map_err(|e| anyhow!("authentication refused: {e:?}"))?;
    Ok(c)
}

async fn echo_connect(addr: SocketAddr, config: &Arc<rustls::ClientConfig>) -> anyhow::Result<Ws> {
    let tls = tls_connect(addr, config).await?;
    let (ws, _) = tokio_tungstenite::client_async("wss://localhost/v1/ws", tls).await?;
    Ok(ws)
}

/// Runs `f(0..n)`, at most `concurrency` at a time, results in order.
async fn all<T, F, Fut>(n: usize, concurrency: usize, f: F) -> anyhow::Result<Vec<T>>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    futures_util::stream::iter((0..n).map(f)).buffered(concurrency).collect::<Vec<_>>().await.into_iter().collect()
}

async fn close_all(conns: Vec<Ws>) {
    let closing = conns.into_iter().map(|mut ws| async move {
        let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
    });
    futures_util::future::join_all(closing).await;
}

// ---- the echo baseline server (a child process) ----------------------------------

/// The echo server's process: this binary with `--echo-server DIR`.
struct EchoServer {
    child: Child,
    addr: SocketAddr,
}

impl EchoServer {
    fn start(relay_dir: &Path) -> anyhow::Result<Self> {
        let exe = std::env::current_exe()?;
        let mut child = Command::new(exe)
            .arg("--echo-server")
            .arg(relay_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .context("starting the echo server")?;
        let stdout = child.stdout.take().context("echo server stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let addr = loop {
            let line = lines.next().context("the echo server exited before listening")??;
            if let Some(rest) = line.strip_prefix("echo listening on ") {
                break rest.trim().parse()?;
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Ok(Self { child, addr })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The echo server: the relay's TLS configuration, hyper HTTP/1.1 and
/// axum's WebSocket upgrade, as in `belfry_relay::server`, echoing each
/// binary message. Exits when its standard input closes (its parent died).
fn echo_server_main(dir: &Path) -> anyhow::Result<()> {
    use axum::extract::WebSocketUpgrade;
    use axum::extract::ws::Message as AxMessage;
    use axum::response::IntoResponse as _;
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower::ServiceExt as _;

    std::thread::spawn(|| {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        std::process::exit(0);
    });
    let tls = belfry_relay::tls::server_config(&belfry_relay::config::Paths::new(dir), false)?;
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        println!("echo listening on {}", listener.local_addr()?);
        let max = belfry_protocol::limits::MAX_FRAME_LEN;
        let router = axum::Router::new().route(
            "/v1/ws",
            axum::routing::get(move |ws: WebSocketUpgrade| async move {
                ws.max_message_size(max)
                    .max_frame_size(max)
                    .read_buffer_size(belfry_relay::server::WS_READ_BUFFER_BYTES)
                    .on_upgrade(|mut socket| async move {
                        while let Some(Ok(msg)) = socket.recv().await {
                            let echo = match msg {
                                AxMessage::Binary(_) => msg,
                                AxMessage::Close(_) => break,
                                _ => continue,
                            };
                            if socket.send(echo).await.is_err() {
                                break;
                            }
                        }
                    })
                    .into_response()
            }),
        );
        loop {
            let (tcp, _) = match listener.accept().await {
                Ok(a) => a,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let (acceptor, router) = (acceptor.clone(), router.clone());
            tokio::spawn(async move {
                let _ = tcp.set_nodelay(true);
                let Ok(Ok(stream)) = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await else {
                    return;
                };
                let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    router.clone().oneshot(req)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(30))
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades()
                    .await;
            });
        }
        #[allow(unreachable_code)]
        anyhow::Ok(())
    })
}

// ---- load drivers -------------------------------------------------------------------

/// How a connection paces its sends.
#[derive(Debug, Clone, Copy)]
enum Pace {
    /// Closed loop: keep this many in flight.
    Window(usize),
    /// Open loop: one every `period` from `first`.
    Every { first: Instant, period: Duration },
}

/// What one connection saw.
#[derive(Debug, Default)]
struct Seen {
    sent: usize,
    received: usize,
    latencies_us: Vec<u32>,
    errors: Vec<String>,
    finished: Option<Instant>,
}

/// One device's part of a relay phase.
struct RelayJob {
    ws: Ws,
    me: Arc<Identity>,
    to: Vec<DeviceAddress>,
    room: RoomId,
    send: usize,
    expect: usize,
    pace: Pace,
    size: usize,
    phase: u8,
}

fn ticker(pace: Pace) -> Option<tokio::time::Interval> {
    match pace {
        Pace::Window(_) => None,
        Pace::Every { first, period } => {
            let mut t = tokio::time::interval_at(first.into(), period);
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            Some(t)
        }
    }
}

async fn tick(t: &mut Option<tokio::time::Interval>) -> Instant {
    match t {
        Some(t) => t.tick().await.into_std(),
        None => std::future::pending().await,
    }
}

/// Publishes `send` room messages, receives and acks `expect` deliveries.
/// Request ids: publishes even, acks odd.
async fn relay_driver(mut job: RelayJob) -> (Ws, Seen) {
    let mut seen = Seen::default();
    let (mut next_publish, mut next_ack) = (2u64, 1u64);
    let (mut in_flight, mut acks_pending) = (0usize, 0usize);
    let mut ticks = ticker(job.pace);
    let publish = |at: Instant, id: u64, job: &RelayJob| {
        let frame = ClientFrame {
            id,
            request: Request::PublishRoom {
                id: MessageId(support::random()),
                recipients: job.to.clone(),
                message: job.me.room_message(job.room, &body(job.size, at, job.phase)),
            },
        };
        Message::Binary(encode(&frame).into())
    };
    let result: anyhow::Result<()> = async {
        if let Pace::Window(w) = job.pace {
            while seen.sent < job.send && in_flight < w {
                job.ws.feed(publish(Instant::now(), next_publish, &job)).await?;
                next_publish += 2;
                seen.sent += 1;
                in_flight += 1;
            }
            job.ws.flush().await?;
        }
        loop {
            if seen.sent == job.send && in_flight == 0 && seen.received >= job.expect && acks_pending == 0 {
                seen.finished = Some(Instant::now());
                return Ok(());
            }
            tokio::select! {
                msg = job.ws.next() => {
                    let msg = msg.ok_or_else(|| anyhow!("the relay closed the connection"))??;
                    let Message::Binary(bytes) = msg else { continue };
                    match decode::<ServerFrame>(&bytes)? {
                        ServerFrame::Response { id, result } if id % 2 == 0 => {
                            in_flight -= 1;
                            if !matches!(result, Ok(Response::Published { .. })) {
                                bail!("publish answered {result:?}");
                            }
                            if let Pace::Window(_) = job.pace && seen.sent < job.send {
                                job.ws.feed(publish(Instant::now(), next_publish, &job)).await?;
                                next_publish += 2;
                                seen.sent += 1;
                                in_flight += 1;
                            }
                        }
                        ServerFrame::Response { result, .. } => {
                            acks_pending -= 1;
                            if result != Ok(Response::Ok) {
                                bail!("ack answered {result:?}");
                            }
                        }
                        ServerFrame::Inbox(entries) => {
                            let now = Instant::now();
                            for e in &entries {
                                if let InboxItem::Room(m) = &e.item
                                    && let Some((phase, us)) = stamp_of(&m.ciphertext, now)
                                    && phase == job.phase
                                {
                                    seen.received += 1;
                                    seen.latencies_us.push(us);
                                }
                            }
                            if let Some(last) = entries.last() {
                                let ack = ClientFrame { id: next_ack, request: Request::Ack { seq: last.seq } };
                                next_ack += 2;
                                acks_pending += 1;
                                job.ws.feed(Message::Binary(encode(&ack).into())).await?;
                            }
                        }
                        ServerFrame::Closing(e) => bail!("the relay closed the connection: {e:?}"),
                        ServerFrame::Revoked(_) => bail!("the relay refused a device as revoked"),
                        ServerFrame::DevicesChanged(_) | ServerFrame::Challenge { .. } => {}
                    }
                }
                at = tick(&mut ticks), if seen.sent < job.send => {
                    job.ws.feed(publish(at, next_publish, &job)).await?;
                    next_publish += 2;
                    seen.sent += 1;
                    in_flight += 1;
                }
            }
            job.ws.flush().await?;
        }
    }
    .await;
    if let Err(e) = result {
        seen.errors.push(e.to_string());
    }
    (job.ws, seen)
}

/// Sends `send` binary messages of `size` bytes and reads their echoes.
async fn echo_driver(mut ws: Ws, send: usize, pace: Pace, size: usize) -> (Ws, Seen) {
    let mut seen = Seen::default();
    let mut in_flight = 0usize;
    let mut ticks = ticker(pace);
    let message = |at: Instant| Message::Binary(body(size, at, 0).into());
    let result: anyhow::Result<()> = async {
        if let Pace::Window(w) = pace {
            while seen.sent < send && in_flight < w {
                ws.feed(message(Instant::now())).await?;
                seen.sent += 1;
                in_flight += 1;
            }
            ws.flush().await?;
        }
        loop {
            if seen.sent == send && in_flight == 0 {
                seen.finished = Some(Instant::now());
                return Ok(());
            }
            tokio::select! {
                msg = ws.next() => {
                    let msg = msg.ok_or_else(|| anyhow!("the echo server closed the connection"))??;
                    let Message::Binary(bytes) = msg else { continue };
                    let (_, us) = stamp_of(&bytes, Instant::now()).ok_or_else(|| anyhow!("short echo"))?;
                    seen.received += 1;
                    seen.latencies_us.push(us);
                    in_flight -= 1;
                    if let Pace::Window(_) = pace && seen.sent < send {
                        ws.feed(message(Instant::now())).await?;
                        seen.sent += 1;
                        in_flight += 1;
                    }
                }
                at = tick(&mut ticks), if seen.sent < send => {
                    ws.feed(message(at)).await?;
                    seen.sent += 1;
                    in_flight += 1;
                }
            }
            ws.flush().await?;
        }
    }
    .await;
    if let Err(e) = result {
        seen.errors.push(e.to_string());
    }
    (ws, seen)
}

/// A phase's figures.
#[derive(Debug, Default)]
struct Run {
    sent: usize,
    received: usize,
    elapsed: Duration,
    latencies_us: Vec<u32>,
    errors: Vec<String>,
    cpu: Cpu,
}

impl Run {
    fn per_sec(&self) -> f64 {
        self.received as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
    fn sent_per_sec(&self) -> f64 {
        self.sent as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
    /// Nearest-rank percentile, milliseconds (latencies are sorted).
    fn pct_ms(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let n = self.latencies_us.len();
        let rank = ((p / 100.0 * n as f64).ceil() as usize).clamp(1, n);
        f64::from(self.latencies_us[rank - 1]) / 1000.0
    }
}

/// Runs the drivers to completion (or `limit`), collecting their figures.
async fn run_drivers<F>(start: Instant, pid: u32, limit: Duration, drivers: Vec<F>) -> (Vec<Ws>, Run)
where
    F: std::future::Future<Output = (Ws, Seen)> + Send + 'static,
{
    let cpu = CpuMeter::start(pid);
    let mut set = JoinSet::new();
    for d in drivers {
        set.spawn(d);
    }
    let mut run = Run::default();
    let mut conns = Vec::new();
    let mut last = start;
    let deadline = tokio::time::sleep(limit);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            joined = set.join_next() => {
                let Some(joined) = joined else { break };
                match joined {
                    Ok((ws, seen)) => {
                        conns.push(ws);
                        run.sent += seen.sent;
                        run.received += seen.received;
                        run.latencies_us.extend(seen.latencies_us);
                        run.errors.extend(seen.errors);
                        last = last.max(seen.finished.unwrap_or(last));
                    }
                    Err(e) => run.errors.push(format!("driver task: {e}")),
                }
            }
            () = &mut deadline => {
                run.errors.push(format!("{} connections unfinished after {limit:?}", set.len()));
                set.abort_all();
                last = Instant::now();
                break;
            }
        }
    }
    run.elapsed = last.saturating_duration_since(start);
    run.cpu = cpu.stop();
    run.latencies_us.sort_unstable();
    (conns, run)
}

// ---- phases ------------------------------------------------------------------------------

/// Everything the phases share.
struct Bench {
    plan: Plan,
    relay: Relay,
    echo: EchoServer,
    config: Arc<rustls::ClientConfig>,
    ids: Arc<Vec<Arc<Identity>>>,
    relay_pid: u32,
    /// Wire size of one publish frame (the echo messages have this size).
    frame_len: usize,
}

/// Recipients of device `i`: the next `fanout` devices.
fn recipients(ids: &[Arc<Identity>], i: usize, fanout: usize) -> Vec<DeviceAddress> {
    (1..=fanout).map(|k| ids[(i + k) % ids.len()].address()).collect()
}

impl Bench {
    async fn relay_logins(&self) -> anyhow::Result<Vec<Ws>> {
        let (addr, config, ids) = (self.relay.addr, &self.config, &self.ids);
        let clients = all(ids.len(), 16, |i| relay_login(addr, config, &ids[i])).await?;
        Ok(clients.into_iter().map(|c| c.ws).collect())
    }

    async fn relay_phase(
        &self,
        phase: u8,
        per_device: usize,
        pace: impl Fn(usize, Instant) -> Pace,
    ) -> anyhow::Result<Run> {
        let p = self.plan;
        let conns = self.relay_logins().await?;
        let start = Instant::now();
        let drivers = conns
            .into_iter()
            .enumerate()
            .map(|(i, ws)| {
                relay_driver(RelayJob {
                    ws,
                    me: self.ids[i].clone(),
                    to: recipients(&self.ids, i, p.fanout),
                    room: RoomId(support::random()),
                    send: per_device,
                    expect: per_device * p.fanout,
                    pace: pace(i, start),
                    size: p.size,
                    phase,
                })
            })
            .collect();
        let (conns, run) = run_drivers(start, self.relay_pid, Duration::from_secs(240), drivers).await;
        close_all(conns).await;
        Ok(run)
    }

    async fn echo_phase(&self, per_conn: usize, pace: impl Fn(usize, Instant) -> Pace) -> anyhow::Result<Run> {
        let (addr, config) = (self.echo.addr, &self.config);
        let conns = all(self.plan.devices, 16, |_| echo_connect(addr, config)).await?;
        let start = Instant::now();
        let drivers = conns
            .into_iter()
            .enumerate()
            .map(|(i, ws)| echo_driver(ws, per_conn, pace(i, start), self.frame_len))
            .collect();
        let (conns, run) = run_drivers(start, self.echo.pid(), Duration::from_secs(240), drivers).await;
        close_all(conns).await;
        Ok(run)
    }

    /// Throughput: closed loop, `window` publishes in flight per device.
    async fn relay_throughput(&self) -> anyhow::Result<Run> {
        let per_device = self.plan.messages.div_ceil(self.plan.devices);
        self.relay_phase(1, per_device, |_, _| Pace::Window(self.plan.window)).await
    }

    /// The echo's round trips, as many as the relay's deliveries.
    async fn echo_throughput(&self) -> anyhow::Result<Run> {
        let per_conn = self.plan.messages.div_ceil(self.plan.devices) * self.plan.fanout;
        self.echo_phase(per_conn, |_, _| Pace::Window(self.plan.window)).await
    }

    /// Messages per device, and each device's schedule from the phase's
    /// start, for `rate` messages per second in all (devices staggered).
    fn paced(&self) -> (usize, impl Fn(usize, Instant) -> Pace + use<>) {
        let p = self.plan;
        let period = Duration::from_secs_f64(p.devices as f64 / f64::from(p.rate));
        let per_device = ((p.latency.as_secs_f64() / period.as_secs_f64()).round() as usize).max(1);
        let n = p.devices as f64;
        let pace = move |i: usize, start: Instant| Pace::Every {
            first: start + Duration::from_millis(50) + period.mul_f64(i as f64 / n),
            period,
        };
        (per_device, pace)
    }

    async fn relay_latency(&self) -> anyhow::Result<Run> {
        let (per_device, pace) = self.paced();
        self.relay_phase(2, per_device, pace).await
    }

    async fn echo_latency(&self) -> anyhow::Result<Run> {
        let (per_conn, pace) = self.paced();
        self.echo_phase(per_conn, pace).await
    }

    /// Opens `idle` authenticated relay connections; RSS before and after.
    async fn relay_idle(&self) -> anyhow::Result<Idle> {
        let (addr, config, ids) = (self.relay.addr, &self.config, &self.ids);
        settle().await;
        let before = rss_kib(self.relay_pid).context("relay RSS")?;
        let conns = all(self.plan.idle, 32, |i| relay_login(addr, config, &ids[i % ids.len()])).await?;
        settle().await;
        let after = rss_kib(self.relay_pid).context("relay RSS")?;
        close_all(conns.into_iter().map(|c| c.ws).collect()).await;
        Ok(Idle { connections: self.plan.idle, before, after })
    }

    async fn echo_idle(&self) -> anyhow::Result<Idle> {
        let (addr, config) = (self.echo.addr, &self.config);
        // Warm the echo server up as the relay was by enrolment.
        close_all(all(self.plan.devices, 16, |_| echo_connect(addr, config)).await?).await;
        settle().await;
        let before = rss_kib(self.echo.pid()).context("echo RSS")?;
        let conns = all(self.plan.idle, 32, |_| echo_connect(addr, config)).await?;
        settle().await;
        let after = rss_kib(self.echo.pid()).context("echo RSS")?;
        close_all(conns).await;
        Ok(Idle { connections: self.plan.idle, before, after })
    }
}

async fn settle() {
    tokio::time::sleep(Duration::from_millis(1500)).await;
}

#[derive(Debug, Clone, Copy)]
struct Idle {
    connections: usize,
    before: u64,
    after: u64,
}

impl Idle {
    fn kib_per_connection(&self) -> f64 {
        self.after.saturating_sub(self.before) as f64 / self.connections.max(1) as f64
    }
}

// ---- set-up --------------------------------------------------------------------------------

async fn setup(plan: Plan) -> anyhow::Result<Bench> {
    // One more seat per device than the idle phase needs.
    let seats = plan.idle.div_ceil(plan.devices) + 2;
    let relay = tokio::task::spawn_blocking(move || {
        Relay::start_with(|toml| {
            let from = "connections_per_device = 4";
            assert!(toml.contains(from), "relay.toml no longer has `{from}`");
            *toml = toml.replace(from, &format!("connections_per_device = {seats}"));
        })
    })
    .await?;
    let relay_pid = relay.pid().context("relay pid")?;
    let echo = EchoServer::start(&relay.relay_dir())?;
    let config = client_config(&relay);

    let relay_tls = describe_tls(&tls_connect(relay.addr, &config).await?);
    let echo_tls = describe_tls(&tls_connect(echo.addr, &config).await?);
    println!("relay pid {relay_pid} at {} ({relay_tls})", relay.addr);
    println!("echo  pid {} at {} ({echo_tls})", echo.pid(), echo.addr);

    let t = Instant::now();
    let ids: Vec<Arc<Identity>> = (0..plan.devices)
        .map(|i| Arc::new(Identity::new(&relay.org, &format!("user{i:05}"), "bench-device")))
        .collect();
    let enrolled = all(plan.devices, 16, |i| {
        let (relay, id) = (&relay, ids[i].clone());
        async move {
            let c = relay.enroll(&id, 0).await;
            Ok(c.ws)
        }
    })
    .await?;
    close_all(enrolled).await;
    println!("enrolled {} devices in {:.1} s", plan.devices, t.elapsed().as_secs_f64());

    let probe = ids[0].room_message(RoomId([0; 16]), &body(plan.size, Instant::now(), 0));
    let frame_len = encode(&ClientFrame {
        id: 2,
        request: Request::PublishRoom {
            id: MessageId([0; 16]),
            recipients: recipients(&ids, 0, plan.fanout),
            message: probe,
        },
    })
    .len();
    Ok(Bench { plan, relay, echo, config, ids: Arc::new(ids), relay_pid, frame_len })
}

// ---- the report --------------------------------------------------------------------------------

fn thousands(v: f64) -> String {
    if !v.is_finite() {
        return "n/a".into();
    }
    let s = format!("{:.0}", v);
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}

struct Row {
    what: String,
    relay: String,
    echo: String,
    ratio: String,
    goal: String,
    result: String,
}

fn print_table(rows: &[Row]) {
    let head = ["measure", "relay", "echo baseline", "relay/echo", "goal", "result"];
    let cells: Vec<[&str; 6]> =
        rows.iter().map(|r| [r.what.as_str(), &r.relay, &r.echo, &r.ratio, &r.goal, &r.result]).collect();
    let mut width = head.map(str::len);
    for c in &cells {
        for (w, s) in width.iter_mut().zip(c) {
            *w = (*w).max(s.chars().count());
        }
    }
    let line = |c: [&str; 6]| {
        let padded: Vec<String> = c.iter().zip(width).map(|(s, w)| format!("{s:<w$}")).collect();
        println!("| {} |", padded.join(" | "));
    };
    line(head);
    let rule: Vec<String> = width.iter().map(|w| "-".repeat(*w)).collect();
    println!("|-{}-|", rule.join("-|-"));
    for c in cells {
        line(c);
    }
}

fn report_run(name: &str, run: &Run) {
    println!(
        "  {name}: sent {} received {} in {:.2} s ({} sent/s, {} received/s), p50 {:.2} ms p99 {:.2} ms max {:.2} ms; \
         CPU s: server {:.1} ({:.1} us per message received), load generator {:.1}, other processes {:.1}{}",
        run.sent,
        run.received,
        run.elapsed.as_secs_f64(),
        thousands(run.sent_per_sec()),
        thousands(run.per_sec()),
        run.pct_ms(50.0),
        run.pct_ms(99.0),
        run.pct_ms(100.0),
        run.cpu.server,
        run.cpu.server * 1e6 / run.received.max(1) as f64,
        run.cpu.load,
        run.cpu.other,
        if run.errors.is_empty() { String::new() } else { format!("; ERRORS: {:?}", run.errors) },
    );
}

fn main() -> anyhow::Result<()> {
    let opts = Opts::parse();
    if let Some(dir) = &opts.echo_server {
        return echo_server_main(dir);
    }
    if !opts.bench {
        println!("relay bench: not run outside `cargo bench` (run: cargo bench -p belfry-relay --bench relay)");
        return Ok(());
    }
    let plan = opts.plan()?;
    base();
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) if (n as usize) < plan.idle * 2 + 200 => {
            eprintln!(
                "warning: only {n} file descriptors allowed; raise `ulimit -n` for {} idle connections",
                plan.idle
            )
        }
        Ok(_) => {}
        Err(e) => eprintln!("warning: cannot raise the file descriptor limit: {e}"),
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(bench(plan))
}

async fn bench(p: Plan) -> anyhow::Result<()> {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    println!(
        "belfry-relay bench: {} devices, {} messages x {} recipients ({} B ciphertext), window {}, \
         latency at {} msg/s for {:.0} s, {} idle connections; {cores} cores",
        p.devices,
        p.messages,
        p.fanout,
        p.size,
        p.window,
        p.rate,
        p.latency.as_secs_f64(),
        p.idle,
    );
    let b = setup(p).await?;
    println!("publish frame {} B on the wire (echo messages are this size)", b.frame_len);

    println!("idle connections ...");
    let relay_idle = b.relay_idle().await?;
    let echo_idle = b.echo_idle().await?;
    println!(
        "  relay RSS {} -> {} KiB, echo RSS {} -> {} KiB",
        relay_idle.before, relay_idle.after, echo_idle.before, echo_idle.after
    );

    println!("throughput ...");
    let echo_tp = b.echo_throughput().await?;
    report_run("echo ", &echo_tp);
    let relay_tp = b.relay_throughput().await?;
    report_run("relay", &relay_tp);

    println!("latency at {} msg/s ...", p.rate);
    let echo_lat = b.echo_latency().await?;
    report_run("echo ", &echo_lat);
    let relay_lat = b.relay_latency().await?;
    report_run("relay", &relay_lat);

    let clean = |r: &Run| r.errors.is_empty();
    let tp = relay_tp.per_sec();
    let (p50, p99) = (relay_lat.pct_ms(50.0), relay_lat.pct_ms(99.0));
    let (e50, e99) = (echo_lat.pct_ms(50.0), echo_lat.pct_ms(99.0));
    let per_idle = relay_idle.kib_per_connection();
    let echo_per_idle = echo_idle.kib_per_connection();
    let rows = [
        Row {
            what: format!("deliveries/s ({} devices, fan-out {}, durable, acked)", p.devices, p.fanout),
            relay: thousands(tp),
            echo: format!("{} round trips/s", thousands(echo_tp.per_sec())),
            ratio: format!("{:.2}", tp / echo_tp.per_sec()),
            goal: ">= 50,000".into(),
            result: verdict(clean(&relay_tp) && tp >= 50_000.0).into(),
        },
        Row {
            what: format!("publish-to-deliver p50 at {} msg/s (x{} deliveries)", p.rate, p.fanout),
            relay: format!("{p50:.2} ms"),
            echo: format!("{e50:.2} ms"),
            ratio: format!("{:.1}x", p50 / e50),
            goal: "-".into(),
            result: if clean(&relay_lat) { "-".into() } else { "ERRORS".into() },
        },
        Row {
            what: format!("publish-to-deliver p99 at {} msg/s (x{} deliveries)", p.rate, p.fanout),
            relay: format!("{p99:.2} ms"),
            echo: format!("{e99:.2} ms"),
            ratio: format!("{:.1}x", p99 / e99),
            goal: "< 20 ms".into(),
            result: verdict(clean(&relay_lat) && p99 < 20.0).into(),
        },
        Row {
            what: format!("RSS per idle connection ({} authenticated)", p.idle),
            relay: format!("{per_idle:.1} KiB"),
            echo: format!("{echo_per_idle:.1} KiB"),
            ratio: format!("{:.1}x", per_idle / echo_per_idle),
            goal: "< 32 KiB".into(),
            result: verdict(per_idle < 32.0).into(),
        },
    ];
    println!();
    print_table(&rows);
    for (name, run) in [("throughput", &relay_tp), ("latency", &relay_lat)] {
        let busy = run.cpu.other / run.elapsed.as_secs_f64().max(1e-9);
        if busy > 0.1 {
            println!(
                "note: other processes kept {:.0}% of a core busy during the relay {name} phase; \
                 its figures are pessimistic (rerun on a quiet machine)",
                busy * 100.0
            );
        }
    }
    Ok(())
}

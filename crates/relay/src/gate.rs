//! Connections before sign-in. A connection holds a [`PreAuth`] slot from
//! the moment it is accepted until it proves it belongs to someone: its
//! device authenticates on the WebSocket, or a blob request names a blob
//! that exists (the blob id is the capability). Until then it counts
//! against a cap per source address and a cap in all, it may make the relay
//! read only a small budget of bytes (so it can never make the relay buffer
//! a large frame), and it must get there within the sign-in deadline.

use std::collections::HashMap;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Where connections before sign-in are counted. An IPv6 source counts by
/// its /64 (what one host usually gets), an IPv4 one by its address.
#[derive(Debug)]
pub struct Gate {
    per_address: usize,
    total: usize,
    counts: Mutex<HashMap<IpAddr, usize>>,
    open: AtomicUsize,
}

/// Why a connection was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Its address already has the most connections before sign-in.
    PerAddress,
    /// The relay already has the most connections before sign-in.
    Total,
}

fn bucket(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

impl Gate {
    /// A gate admitting `per_address` connections before sign-in per
    /// source and `total` in all.
    pub fn new(per_address: usize, total: usize) -> Arc<Self> {
        Arc::new(Self { per_address, total, counts: Mutex::new(HashMap::new()), open: AtomicUsize::new(0) })
    }

    /// A slot for a new connection from `ip`, or why there is none.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Arc<PreAuth>, Refusal> {
        let key = bucket(ip);
        let mut counts = match self.counts.lock() {
            Ok(c) => c,
            Err(p) => p.into_inner(),
        };
        if self.open.load(Ordering::Relaxed) >= self.total {
            return Err(Refusal::Total);
        }
        let n = counts.entry(key).or_insert(0);
        if *n >= self.per_address {
            return Err(Refusal::PerAddress);
        }
        *n += 1;
        self.open.fetch_add(1, Ordering::Relaxed);
        Ok(Arc::new(PreAuth { gate: self.clone(), key, released: AtomicBool::new(false) }))
    }

    /// Connections not signed in yet.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    fn give_back(&self, key: IpAddr) {
        let mut counts = match self.counts.lock() {
            Ok(c) => c,
            Err(p) => p.into_inner(),
        };
        if let Some(n) = counts.get_mut(&key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&key);
            }
        }
        self.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One connection's slot before sign-in; given back on
/// [`release`](Self::release) (it signed in) or when dropped.
#[derive(Debug)]
pub struct PreAuth {
    gate: Arc<Gate>,
    key: IpAddr,
    released: AtomicBool,
}

impl PreAuth {
    /// The connection signed in: it no longer counts, and its reads are no
    /// longer limited.
    pub fn release(&self) {
        if !self.released.swap(true, Ordering::AcqRel) {
            self.gate.give_back(self.key);
        }
    }

    /// Whether the connection signed in.
    pub fn released(&self) -> bool {
        self.released.load(Ordering::Acquire)
    }
}

impl Drop for PreAuth {
    fn drop(&mut self) {
        self.release();
    }
}

/// A connection's socket that lets the relay read at most `budget` bytes
/// (TLS records included) until the connection signs in; past it a read
/// fails and the connection closes. Holds the connection's slot.
#[derive(Debug)]
pub struct Budgeted<T> {
    inner: T,
    slot: Arc<PreAuth>,
    left: usize,
}

impl<T> Budgeted<T> {
    /// Wraps `inner`.
    pub fn new(inner: T, slot: Arc<PreAuth>, budget: usize) -> Self {
        Self { inner, slot, left: budget }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Budgeted<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        if self.slot.released() {
            return Pin::new(&mut self.inner).poll_read(cx, buf);
        }
        if self.left == 0 {
            return Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "too much data before sign-in",
            )));
        }
        // Never read past the budget, so nothing beyond it is buffered.
        let room = buf.remaining().min(self.left);
        let mut view = ReadBuf::new(buf.initialize_unfilled_to(room));
        let polled = Pin::new(&mut self.inner).poll_read(cx, &mut view);
        let n = view.filled().len();
        if let Poll::Ready(Ok(())) = polled {
            buf.advance(n);
            self.left -= n;
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Budgeted<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

//! Deadlines on every connection, before any route, authentication or parsing sees a byte: a
//! request's headers must arrive in full within [`Deadlines::header_read`] of its first byte
//! (a client trickling a header a byte at a time cannot hold a connection open), and a
//! connection silent for [`Deadlines::idle`] is closed (by the server, see `startup`). The body
//! has its own deadline and size limit in the middleware.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use poem::http::uri::Scheme;
use poem::listener::Acceptor;
use poem::web::{LocalAddr, RemoteAddr};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// The server's connection deadlines.
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    /// From a request's first byte to the end of its headers.
    pub header_read: Duration,
    /// A connection with no traffic at all for this long is closed (keep-alive included). Longer
    /// than a load balancer's idle timeout (the ALB's default is 60 s), so the balancer, not the
    /// gateway, closes idle connections.
    pub idle: Duration,
    /// From the end of the headers to the end of the body.
    pub body_read: Duration,
}

impl Default for Deadlines {
    fn default() -> Self {
        Self {
            header_read: Duration::from_secs(10),
            idle: Duration::from_secs(75),
            body_read: Duration::from_secs(10),
        }
    }
}

/// An acceptor whose connections enforce the header-read deadline.
pub struct WithDeadlines<A> {
    inner: A,
    header_read: Duration,
}

impl<A> WithDeadlines<A> {
    pub fn new(inner: A, deadlines: Deadlines) -> Self {
        Self {
            inner,
            header_read: deadlines.header_read,
        }
    }
}

impl<A: Acceptor> Acceptor for WithDeadlines<A> {
    type Io = HeaderDeadline<A::Io>;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.inner.local_addr()
    }

    async fn accept(&mut self) -> io::Result<(Self::Io, LocalAddr, RemoteAddr, Scheme)> {
        let (io, local, remote, scheme) = self.inner.accept().await?;
        Ok((
            HeaderDeadline::new(io, self.header_read),
            local,
            remote,
            scheme,
        ))
    }
}

/// A connection that fails its reads once a request's headers take longer than the deadline.
/// Between requests (before the first byte of the next one) no deadline runs: an idle
/// keep-alive connection is the idle timeout's business.
pub struct HeaderDeadline<T> {
    io: T,
    limit: Duration,
    /// Reading a request's headers since this deadline was armed; `None` between requests and
    /// while a body or response is under way.
    deadline: Option<Pin<Box<Sleep>>>,
    in_headers: bool,
    /// The last (up to three) bytes seen, to find `\r\n\r\n` across reads.
    tail: Vec<u8>,
}

impl<T> HeaderDeadline<T> {
    fn new(io: T, limit: Duration) -> Self {
        Self {
            io,
            limit,
            deadline: None,
            in_headers: true,
            tail: Vec::new(),
        }
    }

    /// Follows the bytes a read delivered: arms the deadline at a request's first byte and
    /// disarms it at the blank line that ends its headers.
    fn saw(&mut self, bytes: &[u8]) {
        if !self.in_headers || bytes.is_empty() {
            return;
        }
        if self.deadline.is_none() {
            self.deadline = Some(Box::pin(tokio::time::sleep_until(
                Instant::now() + self.limit,
            )));
        }
        let mut window = std::mem::take(&mut self.tail);
        window.extend_from_slice(bytes);
        let ended = window.windows(4).any(|w| w == b"\r\n\r\n");
        self.tail = window[window.len().saturating_sub(3)..].to_vec();
        if ended {
            self.in_headers = false;
            self.deadline = None;
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for HeaderDeadline<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if let Some(deadline) = this.deadline.as_mut()
            && deadline.as_mut().poll(cx).is_ready()
        {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "request headers did not arrive in time",
            )));
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.io).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            let fresh = buf.filled()[before..].to_vec();
            this.saw(&fresh);
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for HeaderDeadline<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        // A response is being written: the next bytes read start a new request.
        self.in_headers = true;
        self.tail.clear();
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.in_headers = true;
        self.tail.clear();
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test(start_paused = true)]
    async fn headers_trickled_past_the_deadline_fail_the_read() {
        let (client, server) = tokio::io::duplex(1024);
        let mut conn = HeaderDeadline::new(server, Duration::from_secs(10));
        let mut client = client;
        client.write_all(b"POST /x HTTP/1.1\r\n").await.unwrap();
        let mut buf = [0u8; 64];
        assert!(conn.read(&mut buf).await.unwrap() > 0);
        // Nothing more arrives: the read fails at the deadline, not never.
        let err = conn.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    }

    #[tokio::test(start_paused = true)]
    async fn complete_headers_disarm_and_an_idle_connection_waits() {
        let (mut client, server) = tokio::io::duplex(1024);
        let mut conn = HeaderDeadline::new(server, Duration::from_secs(10));
        client
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: a\r")
            .await
            .unwrap();
        let mut buf = [0u8; 64];
        assert_eq!(conn.read(&mut buf).await.unwrap(), 31);
        client.write_all(b"\n\r\n").await.unwrap();
        assert_eq!(conn.read(&mut buf).await.unwrap(), 3);
        assert!(!conn.in_headers, "the end of the headers across two reads");
        conn.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await.unwrap();
        // Between requests no deadline runs: a read waits (here, past the deadline) until the
        // next request's first byte.
        let pending = tokio::time::timeout(Duration::from_secs(60), conn.read(&mut buf)).await;
        assert!(pending.is_err(), "still waiting, not failed");
    }
}

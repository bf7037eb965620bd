//! `GET /events`: server-sent events. Each client gets what it missed
//! (`Last-Event-ID`), then live messages from the one broadcast channel, and a
//! comment line every 15 s so proxies keep the stream open.

use super::{Body, Conn, Resp, Shared};
use crate::pipeline;
use bytes::Bytes;
use hyper::body::Frame;
use hyper::header::{self, HeaderValue};
use hyper::Response;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

/// How often an idle stream gets a keep-alive comment.
pub const KEEPALIVE: Duration = Duration::from_secs(15);

/// A body fed by a small forwarding task; dropping it (the client left) ends the task.
struct SseBody(mpsc::Receiver<Bytes>);

impl hyper::body::Body for SseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|m| m.map(|b| Ok(Frame::data(b))))
    }
}

pub fn events(shared: &Arc<Shared>, req: &hyper::Request<hyper::body::Incoming>, conn: Conn) -> Resp {
    // Streams are never timed out, so their number is capped (in total and
    // per address) below the connection cap: they cannot take every place.
    let slot = match shared.admission.open_stream(conn.id, conn.peer) {
        Ok(slot) => slot,
        Err(why) => {
            tracing::debug!(client = %conn.peer, reason = %why, "/events refused");
            let mut r = super::text(hyper::StatusCode::SERVICE_UNAVAILABLE, &why.to_string());
            r.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
            return r;
        }
    };
    let last_id =
        req.headers().get("last-event-id").and_then(|v| v.to_str().ok()).map(str::trim).filter(|s| !s.is_empty());
    let (missed, mut live) = shared.events.subscribe(last_id, pipeline::now());
    let (tx, rx) = mpsc::channel::<Bytes>(16);
    let cancel = shared.cancel.clone();
    tokio::spawn(async move {
        // The stream's place is freed when this task ends (the client left).
        let _slot = slot;
        // Tell the client how long to wait before reconnecting, then catch it up.
        if tx.send(Bytes::from_static(b"retry: 5000\n\n")).await.is_err() {
            return;
        }
        for news in missed {
            if tx.send(news.message()).await.is_err() {
                return;
            }
        }
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + KEEPALIVE, KEEPALIVE);
        loop {
            let msg = tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tx.closed() => return,
                _ = tick.tick() => Bytes::from_static(b": keep-alive\n\n"),
                r = live.recv() => match r {
                    Ok(news) => news.message(),
                    // A client too slow to keep up loses messages, not the stream.
                    Err(broadcast::error::RecvError::Lagged(n)) => Bytes::from(format!(": {n} messages dropped\n\n")),
                    Err(broadcast::error::RecvError::Closed) => return,
                },
            };
            if tx.send(msg).await.is_err() {
                return;
            }
        }
    });
    let body: Body = http_body_util::BodyExt::boxed(SseBody(rx));
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    resp
}

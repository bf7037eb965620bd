//! The accept side: one serving thread per core, each with its own
//! single-threaded runtime and accept loop on a copy of the listening socket,
//! so a connection's reads, handler and writes stay on one thread (no work
//! stealing, no cross-thread wake-ups, no shared timer wheel per request).
//! Connection caps, the header timeout and shutdown are the same on every
//! thread.

use super::{admission, handle, standing, Conn, Shared};
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// How long a client may take to send its request headers, counted from when
/// the server starts waiting for them (a drip of bytes does not reset it). The
/// same clock closes idle keep-alive connections: hyper (since 1.6) starts it
/// again as soon as a response is written, so a connection that sends no next
/// request within this time is closed.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// [`HEADER_TIMEOUT`], unless the undocumented `NEWSDESK_HTTP_TIMEOUT_MS` (for
/// tests, which should not wait 30 s) says otherwise.
fn header_timeout() -> Duration {
    std::env::var("NEWSDESK_HTTP_TIMEOUT_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|&ms| ms > 0)
        .map(Duration::from_millis)
        .unwrap_or(HEADER_TIMEOUT)
}

/// What a connection over [`admission::Caps::connections`] is told before it
/// is closed; written straight to the socket, without reading the request.
const TOO_MANY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n\
content-length: 38\r\nretry-after: 5\r\nconnection: close\r\n\r\ntoo many connections; try again later\n";

/// How long a connection asked to close to make room may take to finish the
/// response it is sending.
const EVICT_GRACE: Duration = Duration::from_secs(10);

/// How long a serving thread's runtime may take to end after its accept
/// loop has (blocking work such as a variant render is abandoned).
const THREAD_SHUTDOWN: Duration = Duration::from_secs(1);

/// Serving threads: one per core the process may use.
fn serving_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 64)
}

/// Serve on `listener` until `cancel`: an accept loop per core on its own
/// thread; if those cannot be made, one loop on the calling runtime.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>, cancel: CancellationToken) {
    let std_listener = match listener.into_std() {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "cannot take the listening socket; not serving");
            return;
        }
    };
    let mut threads = Vec::new();
    for i in 0..serving_threads() {
        match spawn_thread(i, &std_listener, shared.clone(), cancel.clone()) {
            Ok(t) => threads.push(t),
            Err(e) => {
                tracing::warn!(error = %e, thread = i, "cannot start a serving thread");
                break;
            }
        }
    }
    if threads.is_empty() {
        match TcpListener::from_std(std_listener) {
            Ok(l) => accept_loop(l, shared, cancel).await,
            Err(e) => tracing::error!(error = %e, "cannot serve on the listening socket"),
        }
        return;
    }
    drop(std_listener);
    let _ = tokio::task::spawn_blocking(move || {
        for t in threads {
            let _ = t.join();
        }
    })
    .await;
}

/// A thread with a single-threaded runtime running [`accept_loop`] on a
/// duplicate of `listener` (every thread's epoll watches the one socket, so
/// whichever thread is free takes the next connection).
fn spawn_thread(
    i: usize,
    listener: &std::net::TcpListener,
    shared: Arc<Shared>,
    cancel: CancellationToken,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let listener = listener.try_clone()?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    std::thread::Builder::new().name(format!("newsdesk-http-{i}")).spawn(move || {
        runtime.block_on(async move {
            match TcpListener::from_std(listener) {
                Ok(l) => accept_loop(l, shared, cancel).await,
                Err(e) => tracing::error!(error = %e, "cannot serve on the listening socket"),
            }
        });
        runtime.shutdown_timeout(THREAD_SHUTDOWN);
    })
}

/// Accept connections until `cancel`, each admitted against the caps and
/// served by its own task; then give open ones a moment to finish.
async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, cancel: CancellationToken) {
    let tracker = tokio_util::task::TaskTracker::new();
    let timeout = header_timeout();
    let mut accept_errors = admission::Throttle::new(Duration::from_secs(1));
    let mut refusals = admission::Throttle::new(Duration::from_secs(1));
    loop {
        let (stream, peer) = tokio::select! {
            _ = cancel.cancelled() => break,
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    if let Some(failures) = accept_errors.hit(std::time::Instant::now()) {
                        tracing::warn!(error = %e, failures, "accept failed");
                    }
                    // EMFILE and the like persist for a while: do not spin on them.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Some(slot) = shared.admission.admit_or_make_room(Duration::from_millis(100)).await else {
            // A fresh socket's send buffer takes these bytes at once; a client
            // that cannot take them loses nothing it was promised.
            let _ = stream.try_write(TOO_MANY);
            if let Some(refused) = refusals.hit(std::time::Instant::now()) {
                tracing::warn!(refused, cap = shared.admission.caps.connections, "connections refused: too many open");
            }
            continue;
        };
        let _ = stream.set_nodelay(true);
        let conn = Conn { id: slot.id, peer: peer.ip() };
        tracker.spawn(connection(stream, slot, conn, shared.clone(), cancel.clone(), timeout));
    }
    tracker.close();
    let _ = tokio::time::timeout(Duration::from_secs(3), tracker.wait()).await;
}

/// One connection through hyper: standing feeds straight from the snapshot,
/// everything else through [`handle`].
async fn connection(
    stream: tokio::net::TcpStream,
    slot: admission::ConnSlot,
    conn: Conn,
    shared: Arc<Shared>,
    cancel: CancellationToken,
    timeout: Duration,
) {
    let io = hyper_util::rt::TokioIo::new(stream);
    let asked = Arc::new(AtomicBool::new(false));
    let asked_in = asked.clone();
    let service = hyper::service::service_fn(move |req| {
        let shared = shared.clone();
        asked_in.store(true, Ordering::Relaxed);
        async move {
            if let Some(resp) = standing::serve(&shared, &req) {
                return Ok::<_, Infallible>(resp);
            }
            Ok::<_, Infallible>(handle(&shared, req, conn).await)
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(timeout)
        .keep_alive(true)
        .serve_connection(io, service);
    let mut conn = std::pin::pin!(conn);
    let grace = tokio::select! {
        _ = conn.as_mut() => return,
        _ = cancel.cancelled() => Duration::from_secs(2),
        _ = slot.evicted.cancelled() => {
            // hyper's graceful shutdown waits for a first request that
            // may never come: a connection that never asked is dropped.
            if !asked.load(Ordering::Relaxed) {
                return;
            }
            EVICT_GRACE
        }
    };
    // An idle connection closes at once; one mid-response finishes it first.
    conn.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(grace, conn).await;
    drop(slot);
}

//! WebSub publishing: when a feed's bytes change, tell the hub
//! (`hub.mode=publish`, `hub.url=<topic>`), off the ingest and publish path.
//! Topics arrive through a bounded channel; each is POSTed by its own task,
//! retried with backoff for about two minutes; a topic that changes again
//! while its ping is under way is pinged once more afterwards, not once per
//! change (the hub fetches the latest bytes anyway).

use crate::publish::Publisher;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Topics waiting to be sent; beyond this a change is dropped with a warning
/// (the next change of that feed pings again).
pub const QUEUE: usize = 4096;

/// Waits between attempts: 1 + 2 + 4 + 8 + 16 + 32 + 60 s ≈ 2 minutes.
const BACKOFF: [u64; 7] = [1, 2, 4, 8, 16, 32, 60];

/// At most this many POSTs to the hub at once.
const IN_FLIGHT: usize = 4;

/// The sending side, held by the [`Publisher`].
#[derive(Clone)]
pub struct Topics(mpsc::Sender<String>);

impl Topics {
    /// Queue a topic without waiting; `false` when the queue is full.
    pub fn offer(&self, topic: String) -> bool {
        self.0.try_send(topic).is_ok()
    }
}

pub fn channel() -> (Topics, mpsc::Receiver<String>) {
    let (tx, rx) = mpsc::channel(QUEUE);
    (Topics(tx), rx)
}

/// Deliver queued topics to the hub named in the current configuration until `cancel`.
pub async fn run(mut rx: mpsc::Receiver<String>, publisher: Arc<Publisher>, cancel: CancellationToken) {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .user_agent(concat!("newsdesk/", env!("CARGO_PKG_VERSION"), " (WebSub publisher)"))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "WebSub: no HTTP client; hub pings are off");
            return;
        }
    };
    // Topics with a delivery task, and whether they changed again since it began.
    let pending: Arc<Mutex<HashMap<String, bool>>> = Arc::default();
    let slots = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    loop {
        let topic = tokio::select! {
            _ = cancel.cancelled() => return,
            t = rx.recv() => match t { Some(t) => t, None => return },
        };
        {
            let mut p = pending.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(again) = p.get_mut(&topic) {
                *again = true;
                continue;
            }
            p.insert(topic.clone(), false);
        }
        let (client, pending, slots, publisher, cancel) =
            (client.clone(), pending.clone(), slots.clone(), publisher.clone(), cancel.clone());
        tokio::spawn(async move {
            loop {
                deliver(&client, &publisher, &topic, &slots, &cancel).await;
                let mut p = pending.lock().unwrap_or_else(|p| p.into_inner());
                match p.get_mut(&topic) {
                    Some(again) if *again && !cancel.is_cancelled() => *again = false,
                    _ => {
                        p.remove(&topic);
                        return;
                    }
                }
            }
        });
    }
}

async fn deliver(
    client: &reqwest::Client,
    publisher: &Publisher,
    topic: &str,
    slots: &tokio::sync::Semaphore,
    cancel: &CancellationToken,
) {
    let mut last_error = String::new();
    for (attempt, wait) in std::iter::once(0).chain(BACKOFF).enumerate() {
        if wait > 0 {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_secs(wait)) => {}
            }
        }
        // Read the hub each time: a reload may have changed or removed it.
        let Some(hub) = publisher.config().server.websub_hub.clone() else {
            return;
        };
        let Ok(_slot) = slots.acquire().await else {
            return;
        };
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("hub.mode", "publish")
            .append_pair("hub.url", topic)
            .finish();
        let sent = client
            .post(hub.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => {
                tracing::debug!(hub = %hub, topic, attempt, "WebSub hub notified");
                return;
            }
            Ok(r) => last_error = format!("hub answered {}", r.status()),
            Err(e) => last_error = e.to_string(),
        }
        tracing::debug!(hub = %hub, topic, attempt, error = %last_error, "WebSub ping failed; retrying");
    }
    tracing::warn!(topic, error = %last_error, "WebSub: the hub could not be notified; giving up on this change");
}

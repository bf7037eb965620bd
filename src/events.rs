//! Live breaking news for `/events` (server-sent events): one broadcast
//! channel feeds every client, and a ring of the stories that became breaking
//! within `max_age` lets a reconnecting client (`Last-Event-ID`) catch up.

use crate::model::Timestamp;
use crate::store::{Store, StoreError};
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// One story that became breaking, as the `/events` message says it.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakingNews {
    pub story: String,
    pub title: String,
    pub url: Option<String>,
    pub sections: Vec<String>,
    pub regions: Vec<String>,
    pub sources: Vec<String>,
    /// When it became breaking.
    pub at: Timestamp,
}

impl BreakingNews {
    /// The SSE message: `id`, `event: breaking`, one line of JSON data.
    pub fn message(&self) -> Bytes {
        let data = serde_json::json!({
            "story": self.story, "title": self.title, "url": self.url,
            "sections": self.sections, "regions": self.regions, "sources": self.sources,
        });
        Bytes::from(format!("id: {}\nevent: breaking\ndata: {}\n\n", self.story, data))
    }
}

/// The most events kept for replay, whatever `max_age` says.
const RING: usize = 1000;

pub struct Events {
    tx: broadcast::Sender<Arc<BreakingNews>>,
    recent: Mutex<VecDeque<Arc<BreakingNews>>>,
    max_age: i64,
}

impl Events {
    pub fn new(max_age: i64) -> Events {
        Events { tx: broadcast::channel(256).0, recent: Mutex::new(VecDeque::new()), max_age }
    }

    /// Fill the replay ring from the store's breaking stories (at start).
    pub fn load(&self, store: &Store, now: Timestamp) -> Result<(), StoreError> {
        let mut found = Vec::new();
        for key in store.keys_since("breaking", now - self.max_age)? {
            found.extend(news_of(store, &key.story)?);
        }
        found.sort_by_key(|n| n.at);
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        recent.extend(found.into_iter().map(Arc::new));
        while recent.len() > RING {
            recent.pop_front();
        }
        Ok(())
    }

    /// Announce a story that just became breaking.
    pub fn publish(&self, news: BreakingNews, now: Timestamp) {
        let news = Arc::new(news);
        {
            let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
            recent.push_back(news.clone());
            while recent.len() > RING || recent.front().is_some_and(|n| n.at < now - self.max_age) {
                recent.pop_front();
            }
        }
        // No subscriber is not an error.
        let _ = self.tx.send(news);
    }

    /// A new subscription: what the client missed since `last_id` (everything
    /// within `max_age` when the id is unknown or absent and `replay_all`),
    /// then the live channel.
    pub fn subscribe(
        &self,
        last_id: Option<&str>,
        now: Timestamp,
    ) -> (Vec<Arc<BreakingNews>>, broadcast::Receiver<Arc<BreakingNews>>) {
        let recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        let rx = self.tx.subscribe();
        let fresh = recent.iter().filter(|n| n.at >= now - self.max_age);
        let missed = match last_id {
            None => Vec::new(),
            Some(id) => match recent.iter().position(|n| n.story == id) {
                Some(pos) => recent.iter().skip(pos + 1).cloned().collect(),
                None => fresh.cloned().collect(),
            },
        };
        (missed, rx)
    }
}

/// A stored breaking story as `/events` announces it (`None` when it is gone
/// or not breaking): for the replay ring, and for news another node found.
pub fn news_of(store: &Store, id: &str) -> Result<Option<BreakingNews>, StoreError> {
    let Some(story) = store.story(id)? else { return Ok(None) };
    if !story.breaking {
        return Ok(None);
    }
    let members = match &story.first {
        Some(m) if !story.sources.is_empty() => vec![m.clone()],
        _ => store.story_members(&story)?,
    };
    let Some(first) = members.first().map(|m| store.item(&m.key)).transpose()?.flatten() else { return Ok(None) };
    let mut sources = story.sources.clone();
    for m in members.iter().filter(|_| story.sources.is_empty()) {
        if !sources.contains(&m.source) {
            sources.push(m.source.clone());
        }
    }
    Ok(Some(BreakingNews {
        at: story.breaking_since.unwrap_or(story.time),
        story: story.id,
        title: first.title,
        url: first.link,
        sections: story.sections,
        regions: story.regions,
        sources,
    }))
}

//! The simulator's records (users, memory blobs, tags, access requests), their ids, and the seed:
//! two users, the demo user with memories whose topics overlap the Rememberizer demo documents
//! (the Lisbon trip, the deploy checklist, the Rust migration, the garden…) so that one question
//! can match both providers, and a second user for isolation tests.

use rand::distributions::{Alphanumeric, DistString};
use rand::RngCore;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use super::crypto::{self, Key};
use super::error::{bad_request, ApiError};
use super::{iso, State, UserInfo, MAX_TAGS_PER_USER};

pub(super) struct User {
    pub user_id: String,
    pub name: String,
    pub email: String,
    pub memory_key: String,
    pub key: Key,
    pub key_version: u32,
}

impl User {
    pub fn info(&self) -> UserInfo {
        UserInfo {
            user_id: self.user_id.clone(),
            name: self.name.clone(),
            email: self.email.clone(),
            memory_key: self.memory_key.clone(),
            encryption_key_hex: hex::encode(self.key),
            key_version: self.key_version,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RequestStatus {
    Pending,
    Approved,
    Rejected,
    Revoked,
}

impl RequestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Pending => "pending",
            RequestStatus::Approved => "approved",
            RequestStatus::Rejected => "rejected",
            RequestStatus::Revoked => "revoked",
        }
    }
}

pub(super) struct AccessRequest {
    pub id: String,
    pub connector_id: String,
    pub user_id: String,
    pub memory_key: String,
    pub reason: String,
    pub status: RequestStatus,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl AccessRequest {
    /// The docs' access-request object, key for key (camelCase but for `user_id`).
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "status": self.status.as_str(),
            "reason": self.reason,
            "memoryKey": self.memory_key,
            "user_id": self.user_id,
            "aiConnectorId": self.connector_id,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at),
        })
    }
}

pub(super) struct Blob {
    pub id: String,
    pub user_id: String,
    pub title: Option<String>,
    pub summary: Option<String>,
    /// Exactly as the client sent it (or, for seeds, as `crypto` sealed it).
    pub content: String,
    pub tag_ids: Vec<String>,
    pub importance: Option<f64>,
    pub confidence: Option<f64>,
    pub source: Option<String>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    /// Creation order: lists are newest first, and cursors point into this order.
    pub seq: u64,
}

pub(super) struct Tag {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub description: String,
    pub color: String,
    pub is_enabled: bool,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl Tag {
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "color": self.color,
            "is_enabled": self.is_enabled,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        })
    }
}

impl State {
    /// The ids of the user's tags with these names, creating the missing ones (names match
    /// case-insensitively, so "Work" and "work" are one tag).
    pub(super) fn tag_ids_for(
        &mut self,
        user_id: &str,
        names: &[String],
        now: OffsetDateTime,
    ) -> Result<Vec<String>, ApiError> {
        let mut ids: Vec<String> = Vec::new();
        for name in names {
            let existing = self
                .tags
                .iter()
                .find(|t| t.user_id == user_id && t.name.eq_ignore_ascii_case(name));
            let id = match existing {
                Some(tag) => tag.id.clone(),
                None => {
                    if self.tags.iter().filter(|t| t.user_id == user_id).count()
                        >= MAX_TAGS_PER_USER
                    {
                        return Err(bad_request("Tag quota exceeded."));
                    }
                    let (description, color) = tag_style(name);
                    let tag = Tag {
                        id: format!("tag_{}", random_hex(8)),
                        user_id: user_id.to_owned(),
                        name: name.clone(),
                        description: description.to_owned(),
                        color: color.to_owned(),
                        is_enabled: true,
                        created_at: now,
                        updated_at: now,
                    };
                    let id = tag.id.clone();
                    self.tags.push(tag);
                    id
                }
            };
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        Ok(ids)
    }
}

/// Description and color of a new tag: the docs' examples for the usual names.
fn tag_style(name: &str) -> (&'static str, &'static str) {
    match name.to_ascii_lowercase().as_str() {
        "preferences" => ("User preferences and settings", "#FF5733"),
        "work" => ("Work-related memories", "#3366FF"),
        "travel" => ("Trips, places and plans", "#22AA66"),
        "personal" => ("Personal life", "#AA44CC"),
        "health" => ("Appointments and health", "#E0A800"),
        _ => ("", "#888888"),
    }
}

pub(super) fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

/// A random (version 4) UUID, as the API's `user_id`s are.
fn uuid_v4() -> String {
    let mut b = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

pub(super) fn blob_id() -> String {
    format!("mem_{}", random_hex(12))
}

/// Like the docs' example id (`cm8r8ny2i001mm24853tqfd62`): `cm` and 23 lowercase alphanumerics.
pub(super) fn request_id() -> String {
    let tail = Alphanumeric
        .sample_string(&mut rand::thread_rng(), 23)
        .to_ascii_lowercase();
    format!("cm{tail}")
}

/// The AI connector behind an API key: stable across restarts, so logs and tests can name it.
pub(super) fn connector_id(api_key: &str) -> String {
    let digest = hex::encode(Sha256::digest(api_key.as_bytes()));
    format!("aic_{}", &digest[..20])
}

struct SeedMemory {
    title: &'static str,
    summary: &'static str,
    content: &'static str,
    tags: &'static [&'static str],
    importance: f64,
    confidence: f64,
    source: &'static str,
    days_ago: i64,
}

/// Oldest first (creation order is list order).
const ADA_MEMORIES: &[SeedMemory] = &[
    SeedMemory {
        title: "Reading list habits",
        summary: "Keeps a reading list about memory and learning.",
        content: "Ada keeps a reading list about memory and learning; next up is a book on how \
                  people remember, and she prefers paper books to e-readers.",
        tags: &["preferences", "personal"],
        importance: 0.4,
        confidence: 0.8,
        source: "conversation",
        days_ago: 40,
    },
    SeedMemory {
        title: "Incident 4127 on-call notes",
        summary: "Was on call during the database failover incident.",
        content: "Ada was on call during incident 4127 (the database failover outage) and owns \
                  two postmortem action items: alert on replica lag and rehearse the failover \
                  runbook every quarter.",
        tags: &["work"],
        importance: 0.9,
        confidence: 0.95,
        source: "slack-import",
        days_ago: 30,
    },
    SeedMemory {
        title: "Deploy checklist preference",
        summary: "Always runs the deploy checklist; prefers canary releases.",
        content: "Before every release Ada runs the deploy checklist, prefers a canary deploy \
                  to a big-bang release, and wants a written rollback plan in the ticket.",
        tags: &["work", "preferences"],
        importance: 0.8,
        confidence: 0.9,
        source: "conversation",
        days_ago: 21,
    },
    SeedMemory {
        title: "Rust migration role",
        summary: "Leads the Rust migration of the ingest service.",
        content: "Ada leads the Rust migration of the ingest service; she pairs with newcomers \
                  on borrow checker errors and standardised on tokio for async code.",
        tags: &["work"],
        importance: 0.7,
        confidence: 0.85,
        source: "talk-to-mementos",
        days_ago: 14,
    },
    SeedMemory {
        title: "Garden plans",
        summary: "Growing tomatoes this spring; composts kitchen scraps.",
        content: "Ada is growing three kinds of tomatoes in the garden this spring and keeps a \
                  compost bin for kitchen scraps.",
        tags: &["personal"],
        importance: 0.3,
        confidence: 0.9,
        source: "conversation",
        days_ago: 9,
    },
    SeedMemory {
        title: "Dentist appointment",
        summary: "Dentist moved to Tuesday 9:00.",
        content: "The dentist appointment moved to Tuesday at 9:00; Ada asked for a reminder the \
                  evening before.",
        tags: &["personal", "health"],
        importance: 0.5,
        confidence: 1.0,
        source: "calendar",
        days_ago: 4,
    },
    SeedMemory {
        title: "Lisbon trip plans",
        summary: "Trip to Lisbon in May; window seat; pasteis de nata in Belém.",
        content: "Ada is planning a trip to Lisbon in May: a window seat on the flight, a hotel \
                  in Alfama, and pasteis de nata in Belém on the first morning.",
        tags: &["travel", "preferences"],
        importance: 0.6,
        confidence: 0.9,
        source: "conversation",
        days_ago: 1,
    },
];

const CHARLES_MEMORIES: &[SeedMemory] = &[
    SeedMemory {
        title: "Difference engine budget",
        summary: "The engine's budget is overspent.",
        content: "Charles's difference engine is over budget again; the next deploy of brass \
                  parts waits for funding.",
        tags: &["work"],
        importance: 0.8,
        confidence: 0.9,
        source: "conversation",
        days_ago: 12,
    },
    SeedMemory {
        title: "Never been to Lisbon",
        summary: "Charles has never travelled to Lisbon.",
        content: "Charles has never been to Lisbon and prefers tea to coffee.",
        tags: &["travel", "preferences"],
        importance: 0.2,
        confidence: 0.7,
        source: "conversation",
        days_ago: 2,
    },
];

/// Fills an empty state with the two users and their memories.
pub(super) fn seed(st: &mut State, plaintext: bool, now: OffsetDateTime) {
    let people: [(&str, &str, &[SeedMemory]); 2] = [
        ("Ada Lovelace", "ada@example.com", ADA_MEMORIES),
        ("Charles Babbage", "charles@example.com", CHARLES_MEMORIES),
    ];
    for (name, email, memories) in people {
        let user = User {
            user_id: uuid_v4(),
            name: name.to_owned(),
            email: email.to_owned(),
            memory_key: format!("mk_{}", random_hex(16)),
            key: crypto::new_key(),
            key_version: 1,
        };
        let (user_id, key) = (user.user_id.clone(), user.key);
        st.users.push(user);
        for (i, memory) in memories.iter().enumerate() {
            let created = now - Duration::days(memory.days_ago) - Duration::hours(i as i64 + 1);
            let names: Vec<String> = memory.tags.iter().map(|t| (*t).to_owned()).collect();
            let tag_ids = st
                .tag_ids_for(&user_id, &names, created)
                .unwrap_or_default();
            let content = if plaintext {
                memory.content.to_owned()
            } else {
                crypto::encrypt(&key, memory.content)
            };
            st.insert_blob(Blob {
                id: String::new(),
                user_id: user_id.clone(),
                title: Some(memory.title.to_owned()),
                summary: Some(memory.summary.to_owned()),
                content,
                tag_ids,
                importance: Some(memory.importance),
                confidence: Some(memory.confidence),
                source: Some(memory.source.to_owned()),
                created_at: created,
                updated_at: created,
                seq: 0,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_their_documented_shapes() {
        let uuid = uuid_v4();
        assert_eq!(uuid.len(), 36);
        assert_eq!(uuid.as_bytes()[14], b'4', "version 4: {uuid}");
        let id = request_id();
        assert_eq!(id.len(), 25);
        assert!(id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
        assert_eq!(connector_id("k"), connector_id("k"));
        assert_ne!(connector_id("k"), connector_id("l"));
    }

    #[test]
    fn seed_memories_are_listed_oldest_first_by_creation() {
        for memories in [ADA_MEMORIES, CHARLES_MEMORIES] {
            assert!(memories.windows(2).all(|w| w[0].days_ago > w[1].days_ago));
        }
    }
}

//! How many answers one session may have streaming at once. Each holds a paid connection to
//! the answer service for up to `LLM_TOTAL_SECS`; a person asking in a third tab waits.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Answers one session may have streaming at once (two tabs asking; a third waits).
pub const MAX_ANSWERS_PER_SESSION: usize = 2;

/// The answers streaming now, per session (by its connection's id). Per instance.
#[derive(Default)]
pub struct AnswerSlots(Arc<Mutex<HashMap<String, usize>>>);

impl AnswerSlots {
    /// One of `session`'s slots, held until the answer's stream ends or is dropped (the tab
    /// closed); `None` when all are in use.
    pub fn take(&self, session: &str) -> Option<AnswerSlot> {
        let mut streaming = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = streaming.entry(session.to_owned()).or_insert(0);
        if *count >= MAX_ANSWERS_PER_SESSION {
            return None;
        }
        *count += 1;
        Some(AnswerSlot {
            slots: self.0.clone(),
            session: session.to_owned(),
        })
    }
}

/// One streaming answer's slot (see [`AnswerSlots::take`]); given back when dropped.
pub struct AnswerSlot {
    slots: Arc<Mutex<HashMap<String, usize>>>,
    session: String,
}

impl Drop for AnswerSlot {
    fn drop(&mut self) {
        let mut streaming = self
            .slots
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(count) = streaming.get_mut(&self.session) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                streaming.remove(&self.session);
            }
        }
    }
}

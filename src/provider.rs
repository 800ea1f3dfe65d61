//! The two memory services this app connects to, for the words of its pages and logs.

/// The memory services this app connects to, for the words of pages and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Provider {
    Rememberizer,
    Memoram,
}

impl Provider {
    pub fn name(self) -> &'static str {
        match self {
            Provider::Rememberizer => "Rememberizer",
            Provider::Memoram => "Memoram",
        }
    }

    /// Where this app starts the provider's authorization (Step 1).
    pub const fn connect_route(self) -> &'static str {
        match self {
            Provider::Rememberizer => "/auth/rememberizer",
            Provider::Memoram => "/auth/memoram",
        }
    }

    /// What the user keeps there, as pages say it ("access to your …").
    pub fn holdings(self) -> &'static str {
        match self {
            Provider::Rememberizer => "mementos",
            Provider::Memoram => "memories",
        }
    }
}

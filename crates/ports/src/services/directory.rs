//! Finding users by part of their email, to share projects and groups with (reefguide-r2 §3.2
//! `GET /api/users/search`).

use reefguide_domain::User;
use reefguide_domain::user::search::UserSearch;

use crate::repositories::UserRepository;

/// The user directory.
#[derive(Debug, Clone)]
pub struct UserDirectory<S> {
    store: S,
}

impl<S: UserRepository> UserDirectory<S> {
    /// Wires the service.
    pub fn new(store: S) -> Self {
        Self { store }
    }

    /// The accounts whose email contains the search's text, best match first (see
    /// [`UserSearch`]).
    pub async fn search(&self, search: &UserSearch) -> anyhow::Result<Vec<User>> {
        self.store.search_users(search).await
    }
}

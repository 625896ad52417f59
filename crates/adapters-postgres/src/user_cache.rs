//! The users authentication reads on every request, cached.
//!
//! Every authenticated request needs the caller's current roles ([`UserRepository::find_user`]);
//! without a cache that is one query per request on top of the request's own. The cache keeps
//! users by id for a short time-to-live and is **invalidated on every change** that could make
//! an entry wrong:
//!
//! - the store's own writes (`set_roles`, `delete_user`) invalidate the user locally once they
//!   commit;
//! - on Postgres the same transactions send a notification on [`USER_CHANNEL`], which the
//!   listener of every server instance sharing the database relays to its cache (see
//!   [`crate::notify`]); when that listener (re)connects the whole cache is emptied, since
//!   notifications sent while it was not listening are lost;
//! - the time-to-live bounds what is left: a change made behind the store's back (SQL by hand,
//!   another process on the same SQLite file) is seen at most that late.
//!
//! A read that races an invalidation must not put the old row back: every invalidation advances
//! a generation, a read remembers the generation it started in, and its result is kept only when
//! no invalidation happened meanwhile (checked again after the insert, so an invalidation landing
//! between the check and the insert still wins).
//!
//! [`UserRepository::find_user`]: reefguide_ports::UserRepository::find_user

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use lru::LruCache;
use reefguide_domain::{User, UserId};

/// The Postgres notification channel of user changes; the payload is the user id.
pub const USER_CHANNEL: &str = "reefguide_users";

/// Most users kept (an entry is about 100 bytes), least recently used first out.
const CAPACITY: NonZeroUsize = NonZeroUsize::new(10_000).expect("non-zero");

/// Users by id, invalidated on change (see the module documentation).
pub(crate) struct UserCache {
    /// `None` when caching is off (a zero time-to-live).
    entries: Option<Entries>,
    /// Advanced by every invalidation.
    generation: AtomicU64,
}

/// The cached users, each with the monotonic instant it stops being served.
struct Entries {
    ttl: Duration,
    users: Mutex<LruCache<i32, (User, Instant)>>,
}

impl Entries {
    fn get(&self, id: i32) -> Option<User> {
        let mut users = self.lock();
        let (user, stale_at) = users.get(&id)?;
        if Instant::now() < *stale_at {
            return Some(user.clone());
        }
        users.pop(&id);
        None
    }

    fn insert(&self, user: &User) {
        let stale_at = Instant::now() + self.ttl;
        self.lock().put(user.id.get(), (user.clone(), stale_at));
    }

    fn remove(&self, id: i32) {
        self.lock().pop(&id);
    }

    fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> MutexGuard<'_, LruCache<i32, (User, Instant)>> {
        // The map holds no invariant a panicking holder could break half way.
        self.users.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for UserCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserCache")
            .field("enabled", &self.entries.is_some())
            .field("generation", &self.generation.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// What a read saw of the cache before going to the database.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Generation(u64);

impl UserCache {
    /// A cache keeping users for `ttl` (a zero `ttl` turns caching off).
    pub(crate) fn new(ttl: Duration) -> Self {
        let entries = (!ttl.is_zero()).then(|| Entries {
            ttl,
            users: Mutex::new(LruCache::new(CAPACITY)),
        });
        Self {
            entries,
            generation: AtomicU64::new(0),
        }
    }

    /// The cached user, or the generation to hand to [`Self::keep`] after reading it.
    pub(crate) fn get(&self, id: UserId) -> Result<User, Generation> {
        let generation = Generation(self.generation.load(Ordering::Acquire));
        self.entries
            .as_ref()
            .and_then(|entries| entries.get(id.get()))
            .ok_or(generation)
    }

    /// Keeps `user`, read from the database since `seen`, unless an invalidation happened since.
    pub(crate) fn keep(&self, user: &User, seen: Generation) {
        let Some(entries) = &self.entries else {
            return;
        };
        if self.generation.load(Ordering::Acquire) != seen.0 {
            return;
        }
        entries.insert(user);
        if self.generation.load(Ordering::Acquire) != seen.0 {
            entries.remove(user.id.get());
        }
    }

    /// Forgets user `id` (it changed or is gone).
    pub(crate) fn invalidate(&self, id: i32) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        if let Some(entries) = &self.entries {
            entries.remove(id);
        }
    }

    /// Forgets every user (changes may have been missed).
    pub(crate) fn clear(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        if let Some(entries) = &self.entries {
            entries.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use reefguide_domain::{Email, Roles, UserId};

    use super::*;

    fn user(id: i32, roles: &[&str]) -> User {
        User {
            id: UserId::new(i64::from(id)).expect("id"),
            email: Email::parse(&format!("u{id}@example.org")).expect("email"),
            roles: Roles::parse(roles.iter().copied()).expect("roles"),
        }
    }

    fn cache() -> UserCache {
        UserCache::new(Duration::from_secs(60))
    }

    #[test]
    fn a_kept_user_is_served_until_invalidated() {
        let cache = cache();
        let id = UserId::new(7).expect("id");
        let seen = cache.get(id).expect_err("empty");
        cache.keep(&user(7, &["ADMIN"]), seen);
        assert!(cache.get(id).expect("cached").roles.is_admin());
        cache.invalidate(7);
        assert!(cache.get(id).is_err());
    }

    #[test]
    fn a_read_that_raced_an_invalidation_is_not_kept() {
        let cache = cache();
        let id = UserId::new(7).expect("id");
        let seen = cache.get(id).expect_err("empty");
        // The row is read (still ADMIN), then the roles change and invalidate...
        cache.invalidate(7);
        // ...before the stale read is kept: it must not be.
        cache.keep(&user(7, &["ADMIN"]), seen);
        assert!(cache.get(id).is_err());
    }

    #[test]
    fn clear_forgets_everyone_and_blocks_reads_in_flight() {
        let cache = cache();
        let seen = cache.get(UserId::new(1).expect("id")).expect_err("empty");
        cache.keep(&user(1, &[]), seen);
        let in_flight = cache.get(UserId::new(2).expect("id")).expect_err("empty");
        cache.clear();
        cache.keep(&user(2, &[]), in_flight);
        assert!(cache.get(UserId::new(1).expect("id")).is_err());
        assert!(cache.get(UserId::new(2).expect("id")).is_err());
    }

    #[test]
    fn a_user_is_served_for_its_time_to_live_only() {
        let cache = UserCache::new(Duration::from_millis(500));
        let id = UserId::new(4).expect("id");
        let seen = cache.get(id).expect_err("empty");
        cache.keep(&user(4, &[]), seen);
        assert!(cache.get(id).is_ok());
        std::thread::sleep(Duration::from_millis(600));
        assert!(cache.get(id).is_err(), "served after its time-to-live");
    }

    #[test]
    fn a_zero_ttl_caches_nothing() {
        let cache = UserCache::new(Duration::ZERO);
        let id = UserId::new(3).expect("id");
        let seen = cache.get(id).expect_err("empty");
        cache.keep(&user(3, &[]), seen);
        assert!(cache.get(id).is_err());
    }
}

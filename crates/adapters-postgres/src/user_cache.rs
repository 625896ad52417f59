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
//! The account of an external identity is looked up by that identity on every request that
//! presents the issuer's token ([`UserRepository::find_or_create_external`]). The cache also
//! remembers which account id each external identity it kept has; an identity counts only while
//! the user of that id is cached and still has that identity, so every invalidation of the user
//! also answers for the identity (ids are never reused, and an account's identity never
//! changes).
//!
//! [`UserRepository::find_user`]: reefguide_ports::UserRepository::find_user
//! [`UserRepository::find_or_create_external`]:
//!     reefguide_ports::UserRepository::find_or_create_external

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use lru::LruCache;
use reefguide_domain::{ExternalIdentity, Identity, User, UserId};

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

/// The cached users and the external identities among them.
struct Entries {
    ttl: Duration,
    maps: Mutex<Maps>,
}

/// What [`Entries`] guards.
struct Maps {
    /// Users by id, each with the monotonic instant it stops being served.
    users: LruCache<i32, (User, Instant)>,
    /// The account id of each external identity kept; meaningful only while `users` holds it.
    external: LruCache<ExternalIdentity, i32>,
}

impl Maps {
    /// The user `id` if it is cached and fresh; a stale one is dropped.
    fn fresh(&mut self, id: i32) -> Option<User> {
        let (user, stale_at) = self.users.get(&id)?;
        if Instant::now() < *stale_at {
            return Some(user.clone());
        }
        self.users.pop(&id);
        None
    }
}

impl Entries {
    fn get(&self, id: i32) -> Option<User> {
        self.lock().fresh(id)
    }

    fn get_external(&self, identity: &ExternalIdentity) -> Option<User> {
        let mut maps = self.lock();
        let id = *maps.external.get(identity)?;
        let user = maps
            .fresh(id)
            .filter(|user| matches!(&user.identity, Identity::External(kept) if kept == identity));
        if user.is_none() {
            maps.external.pop(identity);
        }
        user
    }

    fn insert(&self, user: &User) {
        let stale_at = Instant::now() + self.ttl;
        let mut maps = self.lock();
        maps.users.put(user.id.get(), (user.clone(), stale_at));
        if let Identity::External(identity) = &user.identity {
            maps.external.put(identity.clone(), user.id.get());
        }
    }

    fn remove(&self, id: i32) {
        // The identity's entry, if any, now leads nowhere and goes when next looked up.
        self.lock().users.pop(&id);
    }

    fn clear(&self) {
        let mut maps = self.lock();
        maps.users.clear();
        maps.external.clear();
    }

    fn lock(&self) -> MutexGuard<'_, Maps> {
        // The maps hold no invariant a panicking holder could break half way.
        self.maps.lock().unwrap_or_else(PoisonError::into_inner)
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
            maps: Mutex::new(Maps {
                users: LruCache::new(CAPACITY),
                external: LruCache::new(CAPACITY),
            }),
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

    /// The cached account of an external identity, or the generation to hand to [`Self::keep`]
    /// after reading it.
    pub(crate) fn get_external(&self, identity: &ExternalIdentity) -> Result<User, Generation> {
        let generation = Generation(self.generation.load(Ordering::Acquire));
        self.entries
            .as_ref()
            .and_then(|entries| entries.get_external(identity))
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
    use reefguide_domain::{Email, IssuerName, Roles, UserId, Username};

    use super::*;

    fn user(id: i32, roles: &[&str]) -> User {
        User::local(
            UserId::new(i64::from(id)).expect("id"),
            Email::parse(&format!("u{id}@example.org")).expect("email"),
            Roles::parse(roles.iter().copied()).expect("roles"),
        )
    }

    fn identity(issuer: &str, username: &str) -> ExternalIdentity {
        ExternalIdentity {
            issuer: IssuerName::parse(issuer).expect("issuer"),
            username: Username::parse(username).expect("username"),
        }
    }

    fn external(id: i32, identity: &ExternalIdentity) -> User {
        User {
            id: UserId::new(i64::from(id)).expect("id"),
            identity: Identity::External(identity.clone()),
            roles: Roles::none(),
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

    #[test]
    fn an_external_account_is_served_by_identity_until_invalidated() {
        let cache = cache();
        let thomas = identity("LabCAS", "thomas");
        let seen = cache.get_external(&thomas).expect_err("empty");
        cache.keep(&external(9, &thomas), seen);
        assert_eq!(
            cache.get_external(&thomas).ok().map(|user| user.id.get()),
            Some(9)
        );
        assert!(cache.get(UserId::new(9).expect("id")).is_ok());
        assert!(
            cache.get_external(&identity("Other", "thomas")).is_err(),
            "another issuer's thomas is another account"
        );
        cache.invalidate(9);
        assert!(cache.get_external(&thomas).is_err());
    }

    #[test]
    fn a_local_account_is_not_served_as_an_external_identity() {
        let cache = cache();
        let seen = cache.get(UserId::new(5).expect("id")).expect_err("empty");
        cache.keep(&user(5, &[]), seen);
        assert!(
            cache
                .get_external(&identity("LabCAS", "u5@example.org"))
                .is_err()
        );
    }

    #[test]
    fn clear_forgets_external_identities() {
        let cache = cache();
        let thomas = identity("LabCAS", "thomas");
        let seen = cache.get_external(&thomas).expect_err("empty");
        cache.keep(&external(9, &thomas), seen);
        cache.clear();
        assert!(cache.get_external(&thomas).is_err());
    }
}

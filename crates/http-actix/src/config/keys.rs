//! The flat names of all sections together, and the check that refuses any other name.
//!
//! Each section is extracted on its own and ignores the names of the others, so no section can
//! refuse an unknown name; [`KnownNamesOnly`] does, for the whole configuration. It refuses a
//! name the way `#[serde(deny_unknown_fields)]` does, from inside deserialization, so figment
//! reports it as it reports any bad setting: the name as its source spells it, and the source
//! (`unknown field: found `prot`, expected one of … for key "default.prot" in reefguide.toml
//! TOML file`).

use std::fmt;
use std::sync::OnceLock;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_aux::serde_introspection::serde_introspect;

use super::Settings;

/// Every flat name, section by section in the order of [`Settings`]' fields.
///
/// Read from the sections' own `Deserialize` impls, so a new field is known as soon as it exists;
/// the destructuring of [`Settings`] fails to compile when a section is added and not listed.
/// Built once and kept for the process, since serde's unknown-field error takes a `'static` list.
pub fn known_names() -> &'static [&'static str] {
    static NAMES: OnceLock<&'static [&'static str]> = OnceLock::new();
    NAMES.get_or_init(|| {
        fn names_of<'de, S: Deserialize<'de>>(_: &S) -> &'static [&'static str] {
            serde_introspect::<S>()
        }
        let Settings {
            server,
            auth,
            limits,
            database,
            jobs,
            storage,
            compute,
            workflows,
            email,
        } = Settings::default();
        [
            names_of(&server),
            names_of(&auth),
            names_of(&limits),
            names_of(&database),
            names_of(&jobs),
            names_of(&storage),
            names_of(&compute),
            names_of(&workflows),
            names_of(&email),
        ]
        .concat()
        .leak()
    })
}

/// Deserializes from a table whose names are all [`known_names`], ignoring the values (the
/// sections read those).
pub struct KnownNamesOnly;

impl<'de> Deserialize<'de> for KnownNamesOnly {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(TableVisitor)
    }
}

struct TableVisitor;

impl<'de> Visitor<'de> for TableVisitor {
    type Value = KnownNamesOnly;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a table of settings")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<KnownNamesOnly, A::Error> {
        while map.next_key::<KnownName>()?.is_some() {
            map.next_value::<IgnoredAny>()?;
        }
        Ok(KnownNamesOnly)
    }
}

/// A name some section has; any other is refused as serde refuses an unknown field.
struct KnownName;

impl<'de> Deserialize<'de> for KnownName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_identifier(NameVisitor)
    }
}

struct NameVisitor;

impl Visitor<'_> for NameVisitor {
    type Value = KnownName;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a setting name")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<KnownName, E> {
        let known = known_names();
        if known.contains(&name) {
            Ok(KnownName)
        } else {
            Err(E::unknown_field(name, known))
        }
    }
}

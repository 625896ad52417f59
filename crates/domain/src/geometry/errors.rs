//! Why a GeoJSON geometry or a bounding box is refused.
//!
//! Ring numbers are indices into the `coordinates` array (ring 0 is the shell, ring 1 the first
//! hole); position numbers are indices into the ring. Both count from 0.

use thiserror::Error;

/// Why a GeoJSON geometry is not an acceptable polygon (contract §5, "Geometry validation").
///
/// Each variant names where the problem is and why; the `Display` text is meant for API clients.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum GeometryError {
    /// The geometry is not a JSON object.
    #[error("geometry must be a JSON object")]
    NotAnObject,
    /// The `type` member is missing or is not a string.
    #[error("geometry must have a string \"type\" member")]
    MissingType,
    /// The `type` is a string other than `Polygon`.
    #[error("type must be \"Polygon\", got \"{got}\"")]
    WrongType {
        /// The type received (cut to a readable length).
        got: String,
    },
    /// `coordinates` is missing or is not an array.
    #[error("coordinates must be an array of rings")]
    CoordinatesNotArray,
    /// `coordinates` is an empty array.
    #[error("polygon must have at least one ring")]
    NoRings,
    /// More rings than the limit allows.
    #[error("too many rings: {count} (at most {max})")]
    TooManyRings {
        /// Rings received.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// More positions, over all rings, than the limit allows.
    #[error("too many positions: {count} (at most {max})")]
    TooManyPositions {
        /// Positions received, over all rings.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A ring is not an array.
    #[error("ring {ring} must be an array of positions")]
    RingNotArray {
        /// The ring.
        ring: usize,
    },
    /// A ring has fewer than 4 positions.
    #[error("ring {ring} has {count} positions; a ring needs at least 4")]
    TooFewPositions {
        /// The ring.
        ring: usize,
        /// Positions it has.
        count: usize,
    },
    /// A position is not an array of 2 or 3 numbers.
    #[error("ring {ring} position {position} must be [longitude, latitude] numbers")]
    BadPosition {
        /// The ring.
        ring: usize,
        /// The position within the ring.
        position: usize,
    },
    /// A position holds a number that is not finite.
    #[error("ring {ring} position {position} is not finite")]
    NotFinite {
        /// The ring.
        ring: usize,
        /// The position within the ring.
        position: usize,
    },
    /// A longitude outside [-180, 180].
    #[error(
        "ring {ring} position {position} longitude {} is out of range [-180, 180]",
        shown(*.lon)
    )]
    LongitudeOutOfRange {
        /// The ring.
        ring: usize,
        /// The position within the ring.
        position: usize,
        /// The longitude received.
        lon: f64,
    },
    /// A latitude outside [-90, 90].
    #[error(
        "ring {ring} position {position} latitude {} is out of range [-90, 90]",
        shown(*.lat)
    )]
    LatitudeOutOfRange {
        /// The ring.
        ring: usize,
        /// The position within the ring.
        position: usize,
        /// The latitude received.
        lat: f64,
    },
    /// A ring whose last position differs from its first.
    #[error("ring {ring} is not closed (first position differs from last)")]
    NotClosed {
        /// The ring.
        ring: usize,
    },
    /// A ring with fewer than 3 distinct vertices once repeated positions are ignored.
    #[error("ring {ring} collapses to fewer than 3 distinct points")]
    Collapsed {
        /// The ring.
        ring: usize,
    },
    /// A ring whose vertices all lie on one line.
    #[error("ring {ring} has zero area (all its points are collinear)")]
    ZeroArea {
        /// The ring.
        ring: usize,
    },
    /// A ring that crosses or touches itself.
    #[error("ring {ring} self-intersects near ({}, {})", approx(*.lon), approx(*.lat))]
    SelfIntersection {
        /// The ring.
        ring: usize,
        /// Longitude of an intersection point.
        lon: f64,
        /// Latitude of an intersection point.
        lat: f64,
    },
    /// A hole lying (at least partly) outside the shell without crossing it, e.g. entirely
    /// outside.
    #[error("hole {hole} is not inside the shell")]
    HoleOutsideShell {
        /// The hole's ring index.
        hole: usize,
    },
    /// A hole whose boundary crosses the shell's.
    #[error("hole {hole} crosses the shell near ({}, {})", approx(*.lon), approx(*.lat))]
    HoleCrossesShell {
        /// The hole's ring index.
        hole: usize,
        /// Longitude of a point where they meet.
        lon: f64,
        /// Latitude of a point where they meet.
        lat: f64,
    },
    /// A hole sharing a stretch of boundary with the shell (touching at points is allowed).
    #[error("hole {hole} touches the shell along a line")]
    HoleTouchesShell {
        /// The hole's ring index.
        hole: usize,
    },
    /// Two holes sharing some area (crossing, or one inside the other).
    #[error("holes {first} and {second} overlap")]
    HolesOverlap {
        /// The first hole's ring index.
        first: usize,
        /// The second hole's ring index.
        second: usize,
    },
    /// Two holes sharing a stretch of boundary (touching at points is allowed).
    #[error("holes {first} and {second} touch along a line")]
    HolesTouch {
        /// The first hole's ring index.
        first: usize,
        /// The second hole's ring index.
        second: usize,
    },
}

/// Why a bounding box is refused.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum BoundingBoxError {
    /// Not four comma-separated numbers.
    #[error("bbox must be four comma-separated numbers minLon,minLat,maxLon,maxLat")]
    Malformed,
    /// A NaN or infinite value.
    #[error("bbox values must be finite numbers")]
    NotFinite,
    /// A longitude outside [-180, 180].
    #[error("bbox longitude {} is out of range [-180, 180]", shown(*.value))]
    LongitudeOutOfRange {
        /// The value received.
        value: f64,
    },
    /// A latitude outside [-90, 90].
    #[error("bbox latitude {} is out of range [-90, 90]", shown(*.value))]
    LatitudeOutOfRange {
        /// The value received.
        value: f64,
    },
    /// `minLon` greater than `maxLon` (boxes across the antimeridian are not supported).
    #[error("bbox minLon must not exceed maxLon")]
    LongitudesReversed,
    /// `minLat` greater than `maxLat`.
    #[error("bbox minLat must not exceed maxLat")]
    LatitudesReversed,
}

/// A coordinate for a message: rounded to 6 decimals (about 0.1 m), trailing zeros trimmed.
pub(super) fn approx(value: f64) -> String {
    let text = format!("{value:.6}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".to_owned()
    } else {
        text.to_owned()
    }
}

/// A refused number for a message: exact, but in scientific notation when huge.
pub(super) fn shown(value: f64) -> String {
    if value.abs() < 1e9 {
        format!("{value}")
    } else {
        format!("{value:e}")
    }
}

//! OGC validity of rings that already passed the per-position and degeneracy checks.
//!
//! The rules and predicates are those of `geo::Validation` for polygons:
//! - a ring is simple: two of its segments may meet only where one ends and the other starts;
//! - each hole is contained in the shell and shares no stretch of boundary with it;
//! - holes share no area and no stretch of boundary with each other.
//!
//! `geo::Validation` tests ring simplicity over every pair of segments: about half a second for
//! a 10,000-position ring in a release build. The same predicate is evaluated here with a sweep
//! line that only compares segments whose ranges overlap on one axis, using geo's
//! `line_intersection`, and keeps the intersection point for the error message. (geo's own
//! `sweep::Intersections` recurses once per segment that meets nothing new and overflowed a
//! 1 MiB thread stack on a 10,000-position comb, so the loop is written out here.) The hole
//! rules reuse geo's DE-9IM relate exactly as `geo::Validation` does. The tests check that the
//! verdict matches `geo::Validation` on every fixture.

use geo::coordinate_position::{CoordPos, CoordinatePosition};
use geo::dimensions::Dimensions;
use geo::line_intersection::{LineIntersection, line_intersection};
use geo::{Coord, Line, LineString, Polygon, PreparedGeometry, Relate};

use super::errors::GeometryError;

/// A segment of a ring, tagged with the ring's index.
#[derive(Debug, Clone, Copy)]
struct Segment {
    ring: usize,
    line: Line<f64>,
}

/// The segments of a ring, in order.
fn segments(ring: usize, coords: &[Coord<f64>]) -> impl Iterator<Item = Segment> + '_ {
    coords
        .iter()
        .zip(coords.iter().skip(1))
        .map(move |(start, end)| Segment {
            ring,
            line: Line::new(*start, *end),
        })
}

/// The range a segment covers on the sweep axis (`x` for longitude, else latitude).
fn span(segment: &Segment, along_x: bool) -> (f64, f64) {
    let Line { start, end } = segment.line;
    let (a, b) = if along_x {
        (start.x, end.x)
    } else {
        (start.y, end.y)
    };
    (a.min(b), a.max(b))
}

/// Whether sweeping along longitude compares fewer pairs than along latitude: the axis where
/// segments cover less of the total range on average (long east-west "comb teeth" all overlap
/// in longitude but hardly in latitude).
fn sweep_along_x(segments: &[Segment]) -> bool {
    let mut covered = (0.0, 0.0);
    let (mut low, mut high) = ((f64::MAX, f64::MAX), (f64::MIN, f64::MIN));
    for segment in segments {
        let (x0, x1) = span(segment, true);
        let (y0, y1) = span(segment, false);
        covered = (covered.0 + (x1 - x0), covered.1 + (y1 - y0));
        low = (low.0.min(x0), low.1.min(y0));
        high = (high.0.max(x1), high.1.max(y1));
    }
    // covered_x / range_x <= covered_y / range_y, without dividing by a zero range.
    covered.0 * (high.1 - low.1) <= covered.1 * (high.0 - low.0)
}

/// Offers every intersecting pair of segments to `accept` until it returns a value.
///
/// Segments are sorted by where they start on the sweep axis; each is compared with the
/// following ones that start before it ends, so pairs that cannot meet are skipped.
fn find_intersection<T>(
    mut segments: Vec<Segment>,
    mut accept: impl FnMut(&Segment, &Segment, &LineIntersection<f64>) -> Option<T>,
) -> Option<T> {
    let along_x = sweep_along_x(&segments);
    segments.sort_by(|a, b| span(a, along_x).0.total_cmp(&span(b, along_x).0));
    for (index, a) in segments.iter().enumerate() {
        let (_, a_end) = span(a, along_x);
        for b in segments.iter().skip(index + 1) {
            if span(b, along_x).0 > a_end {
                break;
            }
            if let Some(hit) = line_intersection(a.line, b.line)
                && let Some(found) = accept(a, b, &hit)
            {
                return Some(found);
            }
        }
    }
    None
}

/// A representative point of an intersection.
fn point_of(hit: &LineIntersection<f64>) -> Coord<f64> {
    match hit {
        LineIntersection::SinglePoint { intersection, .. } => *intersection,
        LineIntersection::Collinear { intersection } => intersection.start,
    }
}

/// A point where the ring touches or crosses itself, if it does.
///
/// geo's rule: two distinct segments must not intersect, unless one ends where the other starts
/// (the shared vertex of consecutive segments, including the closing one).
pub(super) fn self_intersection(ring: &[Coord<f64>]) -> Option<Coord<f64>> {
    find_intersection(segments(0, ring).collect(), |a, b, hit| {
        let (a, b) = (a.line, b.line);
        (a.start != b.end && a.end != b.start).then(|| point_of(hit))
    })
}

/// A ring as a polygon without holes.
fn as_polygon(ring: &[Coord<f64>]) -> Polygon<f64> {
    Polygon::new(LineString::new(ring.to_vec()), Vec::new())
}

/// Checks how the holes (`rings[1..]`) sit in the shell (`rings[0]`) and against each other.
/// The rings must be simple.
pub(super) fn check_holes(rings: &[Vec<Coord<f64>>]) -> Result<(), GeometryError> {
    let Some((shell, holes)) = rings.split_first() else {
        return Ok(());
    };
    if holes.is_empty() {
        return Ok(());
    }
    let shell_polygon = as_polygon(shell);
    let prepared_shell = PreparedGeometry::from(&shell_polygon);
    let hole_polygons: Vec<Polygon<f64>> = holes.iter().map(|hole| as_polygon(hole)).collect();

    for (index, hole_polygon) in hole_polygons.iter().enumerate() {
        let hole = index + 1;
        let prepared_hole = PreparedGeometry::from(hole_polygon);
        let matrix = prepared_shell.relate(&prepared_hole);
        if !matrix.is_contains() {
            return Err(escape(
                shell,
                &shell_polygon,
                hole,
                &hole_polygon.exterior().0,
            ));
        }
        if matrix.get(CoordPos::OnBoundary, CoordPos::OnBoundary) == Dimensions::OneDimensional {
            return Err(GeometryError::HoleTouchesShell { hole });
        }
        for (other_index, other) in hole_polygons.iter().enumerate().skip(index + 1) {
            let matrix = prepared_hole.relate(other);
            let (first, second) = (hole, other_index + 1);
            if matrix.get(CoordPos::Inside, CoordPos::Inside) == Dimensions::TwoDimensional {
                return Err(GeometryError::HolesOverlap { first, second });
            }
            if matrix.get(CoordPos::OnBoundary, CoordPos::OnBoundary) == Dimensions::OneDimensional
            {
                return Err(GeometryError::HolesTouch { first, second });
            }
        }
    }
    Ok(())
}

/// The error for a hole that is not contained in the shell: it crosses the shell (a proper
/// crossing, or it meets the shell and has a vertex strictly inside), or it lies outside.
fn escape(
    shell: &[Coord<f64>],
    shell_polygon: &Polygon<f64>,
    hole: usize,
    hole_ring: &[Coord<f64>],
) -> GeometryError {
    let crossing = |point: Coord<f64>| GeometryError::HoleCrossesShell {
        hole,
        lon: point.x,
        lat: point.y,
    };
    let mut touching = None;
    let pairs = segments(0, shell)
        .chain(segments(hole, hole_ring))
        .collect();
    let proper = find_intersection(pairs, |a, b, hit| {
        if a.ring == b.ring {
            return None;
        }
        if hit.is_proper() {
            return Some(point_of(hit));
        }
        touching.get_or_insert(point_of(hit));
        None
    });
    if let Some(point) = proper {
        return crossing(point);
    }
    let partly_inside = || {
        hole_ring
            .iter()
            .any(|coord| shell_polygon.coordinate_position(coord) == CoordPos::Inside)
    };
    match touching {
        Some(point) if partly_inside() => crossing(point),
        _ => GeometryError::HoleOutsideShell { hole },
    }
}

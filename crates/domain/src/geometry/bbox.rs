//! Axis-aligned longitude/latitude boxes, used to filter polygons by area.

use super::errors::BoundingBoxError;

/// An axis-aligned lon/lat box: finite values, longitudes in [-180, 180], latitudes in
/// [-90, 90], each minimum no greater than its maximum. Boxes across the antimeridian are not
/// representable.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoundingBox {
    min_lon: f64,
    min_lat: f64,
    max_lon: f64,
    max_lat: f64,
}

impl BoundingBox {
    /// Builds a box, refusing non-finite or out-of-range values and minimums above maximums.
    pub fn new(
        min_lon: f64,
        min_lat: f64,
        max_lon: f64,
        max_lat: f64,
    ) -> Result<Self, BoundingBoxError> {
        let values = [min_lon, min_lat, max_lon, max_lat];
        if values.iter().any(|value| !value.is_finite()) {
            return Err(BoundingBoxError::NotFinite);
        }
        for value in [min_lon, max_lon] {
            if !(-180.0..=180.0).contains(&value) {
                return Err(BoundingBoxError::LongitudeOutOfRange { value });
            }
        }
        for value in [min_lat, max_lat] {
            if !(-90.0..=90.0).contains(&value) {
                return Err(BoundingBoxError::LatitudeOutOfRange { value });
            }
        }
        if min_lon > max_lon {
            return Err(BoundingBoxError::LongitudesReversed);
        }
        if min_lat > max_lat {
            return Err(BoundingBoxError::LatitudesReversed);
        }
        Ok(Self {
            min_lon,
            min_lat,
            max_lon,
            max_lat,
        })
    }

    /// Parses the query form `minLon,minLat,maxLon,maxLat` (whitespace around numbers allowed).
    pub fn parse_query(raw: &str) -> Result<Self, BoundingBoxError> {
        let mut numbers = [0.0_f64; 4];
        let mut parts = raw.split(',');
        for slot in &mut numbers {
            let part = parts.next().ok_or(BoundingBoxError::Malformed)?;
            *slot = part
                .trim()
                .parse::<f64>()
                .map_err(|_| BoundingBoxError::Malformed)?;
        }
        if parts.next().is_some() {
            return Err(BoundingBoxError::Malformed);
        }
        let [min_lon, min_lat, max_lon, max_lat] = numbers;
        Self::new(min_lon, min_lat, max_lon, max_lat)
    }

    /// The box around already validated positions (in range, finite); `None` when empty.
    pub(super) fn around(positions: &[(f64, f64)]) -> Option<Self> {
        let (&(lon, lat), rest) = positions.split_first()?;
        let mut bbox = Self {
            min_lon: lon,
            min_lat: lat,
            max_lon: lon,
            max_lat: lat,
        };
        for &(lon, lat) in rest {
            bbox.min_lon = bbox.min_lon.min(lon);
            bbox.min_lat = bbox.min_lat.min(lat);
            bbox.max_lon = bbox.max_lon.max(lon);
            bbox.max_lat = bbox.max_lat.max(lat);
        }
        Some(bbox)
    }

    /// The western edge.
    pub fn min_lon(&self) -> f64 {
        self.min_lon
    }

    /// The southern edge.
    pub fn min_lat(&self) -> f64 {
        self.min_lat
    }

    /// The eastern edge.
    pub fn max_lon(&self) -> f64 {
        self.max_lon
    }

    /// The northern edge.
    pub fn max_lat(&self) -> f64 {
        self.max_lat
    }

    /// Whether the two boxes share at least one point (edges touching counts).
    pub fn intersects(&self, other: &BoundingBox) -> bool {
        self.min_lon <= other.max_lon
            && other.min_lon <= self.max_lon
            && self.min_lat <= other.max_lat
            && other.min_lat <= self.max_lat
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    fn bbox(min_lon: f64, min_lat: f64, max_lon: f64, max_lat: f64) -> BoundingBox {
        BoundingBox::new(min_lon, min_lat, max_lon, max_lat).expect("valid box")
    }

    #[rstest]
    #[case("146,-19,147,-18", bbox(146.0, -19.0, 147.0, -18.0))]
    #[case(" 146.25 , -19.5,147 ,  -18 ", bbox(146.25, -19.5, 147.0, -18.0))]
    #[case("-180,-90,180,90", bbox(-180.0, -90.0, 180.0, 90.0))]
    #[case("1,2,1,2", bbox(1.0, 2.0, 1.0, 2.0))]
    #[case("1e1,0,2e1,0.5", bbox(10.0, 0.0, 20.0, 0.5))]
    fn parses_query(#[case] raw: &str, #[case] expected: BoundingBox) {
        assert_eq!(BoundingBox::parse_query(raw), Ok(expected));
    }

    #[rstest]
    #[case("", BoundingBoxError::Malformed)]
    #[case("1,2,3", BoundingBoxError::Malformed)]
    #[case("1,2,3,4,5", BoundingBoxError::Malformed)]
    #[case("1,2,,4", BoundingBoxError::Malformed)]
    #[case("a,2,3,4", BoundingBoxError::Malformed)]
    #[case("1;2;3;4", BoundingBoxError::Malformed)]
    #[case("NaN,2,3,4", BoundingBoxError::NotFinite)]
    #[case("1,2,inf,4", BoundingBoxError::NotFinite)]
    #[case("-181,0,0,0", BoundingBoxError::LongitudeOutOfRange { value: -181.0 })]
    #[case("0,0,180.5,0", BoundingBoxError::LongitudeOutOfRange { value: 180.5 })]
    #[case("0,-91,0,0", BoundingBoxError::LatitudeOutOfRange { value: -91.0 })]
    #[case("0,0,0,90.1", BoundingBoxError::LatitudeOutOfRange { value: 90.1 })]
    #[case("10,0,5,1", BoundingBoxError::LongitudesReversed)]
    #[case("0,10,1,5", BoundingBoxError::LatitudesReversed)]
    fn refuses_query(#[case] raw: &str, #[case] expected: BoundingBoxError) {
        assert_eq!(BoundingBox::parse_query(raw), Err(expected));
    }

    #[test]
    fn error_messages_name_the_problem() {
        let message = |raw: &str| {
            BoundingBox::parse_query(raw)
                .expect_err("refused")
                .to_string()
        };
        assert_eq!(
            message("1,2"),
            "bbox must be four comma-separated numbers minLon,minLat,maxLon,maxLat"
        );
        assert_eq!(
            message("181,0,182,1"),
            "bbox longitude 181 is out of range [-180, 180]"
        );
        assert_eq!(message("5,0,4,1"), "bbox minLon must not exceed maxLon");
    }

    #[test]
    fn accessors_return_the_edges() {
        let b = bbox(1.0, 2.0, 3.0, 4.0);
        assert_eq!(
            (b.min_lon(), b.min_lat(), b.max_lon(), b.max_lat()),
            (1.0, 2.0, 3.0, 4.0)
        );
    }

    #[rstest]
    #[case::overlap(bbox(0.0, 0.0, 2.0, 2.0), bbox(1.0, 1.0, 3.0, 3.0), true)]
    #[case::touching_edge(bbox(0.0, 0.0, 1.0, 1.0), bbox(1.0, 0.0, 2.0, 1.0), true)]
    #[case::touching_corner(bbox(0.0, 0.0, 1.0, 1.0), bbox(1.0, 1.0, 2.0, 2.0), true)]
    #[case::containment(bbox(0.0, 0.0, 10.0, 10.0), bbox(2.0, 2.0, 3.0, 3.0), true)]
    #[case::identical(bbox(0.0, 0.0, 1.0, 1.0), bbox(0.0, 0.0, 1.0, 1.0), true)]
    #[case::point_box_inside(bbox(0.0, 0.0, 1.0, 1.0), bbox(0.5, 0.5, 0.5, 0.5), true)]
    #[case::disjoint_east(bbox(0.0, 0.0, 1.0, 1.0), bbox(1.5, 0.0, 2.0, 1.0), false)]
    #[case::disjoint_north(bbox(0.0, 0.0, 1.0, 1.0), bbox(0.0, 1.5, 1.0, 2.0), false)]
    #[case::overlap_in_lon_only(bbox(0.0, 0.0, 2.0, 1.0), bbox(1.0, 5.0, 3.0, 6.0), false)]
    fn intersects_is_symmetric(
        #[case] a: BoundingBox,
        #[case] b: BoundingBox,
        #[case] expected: bool,
    ) {
        assert_eq!(a.intersects(&b), expected);
        assert_eq!(b.intersects(&a), expected);
    }
}

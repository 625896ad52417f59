//! Where an `s3://<bucket>/<prefix>` storage URI puts result files: the bucket, and the object
//! key `<prefix>/<relative path>` of each file.

/// A storage URI that is not a usable `s3://<bucket>/<prefix>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum S3UriError {
    /// The URI does not start with `s3://`.
    #[error("{0:?} is not an S3 URI (expected s3://<bucket>/<prefix>)")]
    NotS3(String),
    /// Nothing between `s3://` and the first `/`.
    #[error("the S3 URI {0:?} names no bucket")]
    NoBucket(String),
    /// The bucket name has characters no bucket name has.
    #[error("the S3 URI {0:?} names an invalid bucket (letters, digits, '.', '-' and '_' only)")]
    InvalidBucket(String),
    /// The key prefix starts with `/`, has an empty segment or control characters.
    #[error("the S3 URI {0:?} has an invalid key prefix (empty segment or control character)")]
    InvalidPrefix(String),
}

/// A parsed `s3://<bucket>/<prefix>` storage URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct S3Location {
    bucket: String,
    /// The key prefix without trailing `/`; empty for the bucket's root.
    prefix: String,
}

impl S3Location {
    /// Parses `s3://<bucket>/<prefix>` (the scheme in any case; trailing slashes of the prefix
    /// are dropped; `s3://<bucket>` alone is the bucket's root).
    ///
    /// # Errors
    /// [`S3UriError`] when the URI is not of that form.
    pub(crate) fn parse(uri: &str) -> Result<Self, S3UriError> {
        let rest = uri
            .get(..5)
            .filter(|scheme| scheme.eq_ignore_ascii_case("s3://"))
            .and_then(|_| uri.get(5..))
            .ok_or_else(|| S3UriError::NotS3(uri.to_owned()))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(S3UriError::NoBucket(uri.to_owned()));
        }
        let valid_bucket = bucket
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        if !valid_bucket {
            return Err(S3UriError::InvalidBucket(uri.to_owned()));
        }
        let prefix = prefix.trim_end_matches('/');
        let valid_prefix = prefix.is_empty()
            || (prefix.split('/').all(|segment| !segment.is_empty())
                && !prefix.chars().any(char::is_control));
        if !valid_prefix {
            return Err(S3UriError::InvalidPrefix(uri.to_owned()));
        }
        Ok(Self {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
        })
    }

    /// The bucket.
    pub(crate) fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The object key of the result file `relative_path`: `<prefix>/<relative_path>`.
    pub(crate) fn key(&self, relative_path: &str) -> String {
        if self.prefix.is_empty() {
            relative_path.to_owned()
        } else {
            format!("{}/{relative_path}", self.prefix)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(uri: &str) -> (String, String) {
        let location = S3Location::parse(uri).expect("valid");
        (location.bucket().to_owned(), location.key("result.json"))
    }

    #[test]
    fn r1_storage_uris() {
        assert_eq!(
            parsed("s3://reefguide-results/results/test/12/1700000000000"),
            (
                "reefguide-results".to_owned(),
                "results/test/12/1700000000000/result.json".to_owned()
            )
        );
        let location = S3Location::parse("s3://b/results/test/12/1").expect("valid");
        assert_eq!(
            location.key("maps/site.tif"),
            "results/test/12/1/maps/site.tif"
        );
    }

    #[test]
    fn trailing_slashes_case_and_roots() {
        assert_eq!(
            parsed("s3://b/results/x/"),
            ("b".to_owned(), "results/x/result.json".to_owned())
        );
        assert_eq!(
            parsed("S3://b/p"),
            ("b".to_owned(), "p/result.json".to_owned())
        );
        assert_eq!(
            parsed("s3://b.with-dots_1"),
            ("b.with-dots_1".to_owned(), "result.json".to_owned())
        );
        assert_eq!(
            parsed("s3://b/"),
            ("b".to_owned(), "result.json".to_owned())
        );
    }

    #[test]
    fn malformed_uris() {
        for (uri, expected) in [
            ("file:///data/r", S3UriError::NotS3("file:///data/r".into())),
            ("s3:/b/p", S3UriError::NotS3("s3:/b/p".into())),
            ("", S3UriError::NotS3(String::new())),
            ("s3", S3UriError::NotS3("s3".into())),
            (
                "https://b.s3.amazonaws.com/p",
                S3UriError::NotS3("https://b.s3.amazonaws.com/p".into()),
            ),
            ("s3://", S3UriError::NoBucket("s3://".into())),
            (
                "s3:///results/x",
                S3UriError::NoBucket("s3:///results/x".into()),
            ),
            (
                "s3://my bucket/p",
                S3UriError::InvalidBucket("s3://my bucket/p".into()),
            ),
            (
                "s3://user@b/p",
                S3UriError::InvalidBucket("s3://user@b/p".into()),
            ),
            (
                "s3://b:9000/p",
                S3UriError::InvalidBucket("s3://b:9000/p".into()),
            ),
            ("s3://b//p", S3UriError::InvalidPrefix("s3://b//p".into())),
            (
                "s3://b/a//p",
                S3UriError::InvalidPrefix("s3://b/a//p".into()),
            ),
            (
                "s3://b/a\n/p",
                S3UriError::InvalidPrefix("s3://b/a\n/p".into()),
            ),
        ] {
            assert_eq!(S3Location::parse(uri), Err(expected), "{uri:?}");
        }
        // Non-ASCII input must not panic on the scheme check.
        assert!(matches!(
            S3Location::parse("s3é://b/p"),
            Err(S3UriError::NotS3(_))
        ));
        let message = S3Location::parse("s3:///x")
            .expect_err("no bucket")
            .to_string();
        assert_eq!(message, r#"the S3 URI "s3:///x" names no bucket"#);
    }
}

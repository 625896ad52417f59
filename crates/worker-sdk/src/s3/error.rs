//! Why a direct S3 upload failed, and whether trying again may help.

use std::path::PathBuf;

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::lease::Transient;

/// Error codes S3 (or a compatible store) answers when it is overloaded or briefly failing,
/// whatever the HTTP status (`RequestTimeout` comes with 400).
const TRANSIENT_CODES: [&str; 10] = [
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "RequestTimeout",
    "InternalError",
    "ServiceUnavailable",
];

/// Why a direct S3 upload failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum S3UploadError {
    /// The local file to upload cannot be read.
    #[error("cannot read {}: {message}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The file is larger than one PUT may be (5 GiB); multipart uploads are not supported.
    #[error(
        "{} is {size} bytes, more than one S3 PUT takes (5 GiB); multipart uploads are not \
         supported",
        path.display()
    )]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size in bytes.
        size: u64,
    },
    /// The PUT failed: no answer, or S3 refused it.
    #[error("S3 upload to s3://{bucket}/{key} failed: {detail}")]
    Put {
        /// The bucket.
        bucket: String,
        /// The object key.
        key: String,
        /// Whether trying again later may succeed (see [`S3UploadError::is_transient`]).
        transient: bool,
        /// The service's error code and message, or the SDK's error with its causes.
        detail: String,
    },
}

impl S3UploadError {
    /// True when trying again later may succeed: no answer (connection failures, timeouts),
    /// 5xx answers and throttling. Refusals (access denied, no such bucket, a bad request) and
    /// local problems are permanent.
    pub(crate) fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Put {
                transient: true,
                ..
            }
        )
    }

    /// The failed PUT of `bucket`/`key`, classified, with the service's code and message.
    pub(crate) fn put<E>(bucket: &str, key: &str, error: &SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        Self::Put {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            transient: is_transient(error),
            detail: detail(error),
        }
    }
}

impl Transient for S3UploadError {
    fn is_transient(&self) -> bool {
        S3UploadError::is_transient(self)
    }
}

/// The classification behind [`S3UploadError::is_transient`].
fn is_transient<E: ProvideErrorMetadata>(error: &SdkError<E, HttpResponse>) -> bool {
    match error {
        SdkError::TimeoutError(_) => true,
        // No answer: connection refused or reset, DNS, an I/O or a credentials-provider failure;
        // only a request the SDK itself could not send ("user" errors) is hopeless.
        SdkError::DispatchFailure(failure) => !failure.is_user(),
        SdkError::ResponseError(_) | SdkError::ServiceError(_) => transient_answer(
            error
                .raw_response()
                .map(|response| response.status().as_u16()),
            error.code(),
        ),
        // Construction failures (an invalid request or endpoint) and anything newer.
        _ => false,
    }
}

/// Whether an answer with this status and error code is worth retrying.
fn transient_answer(status: Option<u16>, code: Option<&str>) -> bool {
    status.is_some_and(|status| status >= 500 || status == 429)
        || code.is_some_and(|code| TRANSIENT_CODES.contains(&code))
}

/// The service's `code: message (HTTP status)` plus a hint for the usual mistakes, or the SDK's
/// error with its causes when the service gave no code.
fn detail<E>(error: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let status = error
        .raw_response()
        .map(|response| response.status().as_u16());
    let Some(code) = error.code() else {
        let context = DisplayErrorContext(error).to_string();
        return match status {
            Some(status) => format!("HTTP {status}: {context}"),
            None => context,
        };
    };
    let mut detail = code.to_owned();
    if let Some(message) = error.message().filter(|message| !message.is_empty()) {
        detail.push_str(": ");
        detail.push_str(message);
    }
    if let Some(status) = status {
        detail.push_str(&format!(" (HTTP {status})"));
    }
    if let Some(hint) = hint(code) {
        detail.push_str("; ");
        detail.push_str(hint);
    }
    detail
}

/// What to check for the error codes of a misconfigured worker.
fn hint(code: &str) -> Option<&'static str> {
    match code {
        "AccessDenied"
        | "AllAccessDisabled"
        | "InvalidAccessKeyId"
        | "SignatureDoesNotMatch"
        | "ExpiredToken"
        | "InvalidToken" => Some(
            "check the worker's AWS credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, \
             AWS_PROFILE or the ECS task role) and that they may s3:PutObject on this bucket",
        ),
        "NoSuchBucket" => Some(
            "the bucket does not exist at this S3 endpoint (check AWS_ENDPOINT_URL_S3 / \
             s3_endpoint_url)",
        ),
        "PermanentRedirect"
        | "AuthorizationHeaderMalformed"
        | "IllegalLocationConstraintException" => {
            Some("the bucket is in another region: set AWS_REGION to the bucket's region")
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_s3::error::{ConnectorError, ErrorMetadata};
    use aws_sdk_s3::operation::put_object::PutObjectError;
    use aws_sdk_s3::primitives::SdkBody;

    use super::*;

    fn answered(status: u16, code: &str, message: &str) -> SdkError<PutObjectError, HttpResponse> {
        let meta = ErrorMetadata::builder().code(code).message(message).build();
        let response = HttpResponse::new(status.try_into().expect("a status"), SdkBody::empty());
        SdkError::service_error(PutObjectError::generic(meta), response)
    }

    fn classify(error: &SdkError<PutObjectError, HttpResponse>) -> S3UploadError {
        S3UploadError::put("bucket", "results/test/1/2/result.json", error)
    }

    #[test]
    fn refusals_are_permanent_and_say_what_s3_said() {
        let error = classify(&answered(
            404,
            "NoSuchBucket",
            "The specified bucket does not exist",
        ));
        assert!(!error.is_transient());
        let text = error.to_string();
        assert!(
            text.starts_with(
                "S3 upload to s3://bucket/results/test/1/2/result.json failed: NoSuchBucket: The \
                 specified bucket does not exist (HTTP 404); the bucket does not exist"
            ),
            "{text}"
        );
        let denied = classify(&answered(403, "AccessDenied", "Access Denied"));
        assert!(!denied.is_transient());
        assert!(denied.to_string().contains(
            "AccessDenied: Access Denied (HTTP 403); check the worker's AWS credentials"
        ));
        assert!(!classify(&answered(400, "InvalidArgument", "bad")).is_transient());
        assert!(!classify(&answered(400, "EntityTooLarge", "too big")).is_transient());
    }

    #[test]
    fn overload_and_server_errors_are_transient() {
        for (status, code) in [
            (500, "InternalError"),
            (503, "SlowDown"),
            (503, "ServiceUnavailable"),
            (502, "Whatever"),
            (429, "TooManyRequests"),
            (400, "RequestTimeout"),
            (400, "Throttling"),
        ] {
            assert!(
                classify(&answered(status, code, "try later")).is_transient(),
                "{status} {code}"
            );
        }
    }

    #[test]
    fn no_answer_is_transient_unless_the_request_was_unsendable() {
        let io = SdkError::<PutObjectError, HttpResponse>::dispatch_failure(ConnectorError::io(
            "connection refused".into(),
        ));
        assert!(classify(&io).is_transient());
        let timeout = SdkError::<PutObjectError, HttpResponse>::timeout_error("read timed out");
        assert!(classify(&timeout).is_transient());
        let other = SdkError::<PutObjectError, HttpResponse>::dispatch_failure(
            ConnectorError::other("no credentials yet".into(), None),
        );
        assert!(classify(&other).is_transient());
        let user = SdkError::<PutObjectError, HttpResponse>::dispatch_failure(
            ConnectorError::user("invalid header".into()),
        );
        assert!(!classify(&user).is_transient());
        let construction =
            SdkError::<PutObjectError, HttpResponse>::construction_failure("invalid endpoint");
        let error = classify(&construction);
        assert!(!error.is_transient());
        assert!(error.to_string().contains("invalid endpoint"), "{error}");
    }

    #[test]
    fn local_problems_are_permanent() {
        let unreadable = S3UploadError::Unreadable {
            path: "/tmp/x".into(),
            message: "No such file or directory".into(),
        };
        assert!(!unreadable.is_transient());
        let large = S3UploadError::TooLarge {
            path: "/tmp/x".into(),
            size: 6 << 30,
        };
        assert!(!large.is_transient());
        assert!(large.to_string().contains("5 GiB"));
    }
}

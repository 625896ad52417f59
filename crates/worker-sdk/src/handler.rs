//! Job handlers: the [`JobHandler`] trait, [`handler_fn`] for closures, and [`HandlerError`].

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::context::JobContext;

/// Runs the jobs of one type.
///
/// The worker deserialises the job's `input_payload` into [`Input`](Self::Input) (a payload
/// that does not parse is reported as FAILED without calling the handler), calls
/// [`handle`](Self::handle) in its own task, and reports the returned
/// [`Output`](Self::Output) as the SUCCEEDED result payload (it must satisfy the job type's
/// result schema, typically a JSON object). An `Err` is reported as FAILED with
/// `{"error": "<message>"}`, and so is a panic.
///
/// Long-running handlers should call [`JobContext::progress`] now and then and stop early when
/// [`JobContext::is_cancelled`] turns true; the worker aborts the handler's task at its next
/// `.await` anyway when the job is cancelled, its lease is lost, or shutdown runs out of time.
#[async_trait::async_trait]
pub trait JobHandler: Send + Sync + 'static {
    /// The job's input payload.
    type Input: DeserializeOwned + Send + 'static;
    /// The result payload.
    type Output: Serialize + Send + 'static;

    /// Runs one job.
    async fn handle(
        &self,
        input: Self::Input,
        ctx: JobContext,
    ) -> Result<Self::Output, HandlerError>;
}

/// A handler from an async closure.
///
/// ```
/// use reefguide_worker_sdk::{handler_fn, HandlerError, JobContext};
///
/// #[derive(serde::Deserialize)]
/// struct Input { id: u64 }
///
/// let handler = handler_fn(|input: Input, _ctx: JobContext| async move {
///     Ok::<_, HandlerError>(serde_json::json!({ "echo": input.id }))
/// });
/// # let _ = handler;
/// ```
pub fn handler_fn<I, O, F, Fut>(f: F) -> impl JobHandler<Input = I, Output = O>
where
    F: Fn(I, JobContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<O, HandlerError>> + Send + 'static,
    I: DeserializeOwned + Send + 'static,
    O: Serialize + Send + 'static,
{
    FnHandler {
        f,
        types: PhantomData,
    }
}

struct FnHandler<F, I, O> {
    f: F,
    types: PhantomData<fn(I) -> O>,
}

#[async_trait::async_trait]
impl<I, O, F, Fut> JobHandler for FnHandler<F, I, O>
where
    F: Fn(I, JobContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<O, HandlerError>> + Send + 'static,
    I: DeserializeOwned + Send + 'static,
    O: Serialize + Send + 'static,
{
    type Input = I;
    type Output = O;

    async fn handle(&self, input: I, ctx: JobContext) -> Result<O, HandlerError> {
        (self.f)(input, ctx).await
    }
}

/// Why a handler failed; reported as the FAILED result `{"error": "<message>"}`.
///
/// Any `std::error::Error + Send + Sync + 'static` converts into it, so `?` works on I/O, serde
/// and most library errors; use [`HandlerError::new`] for a plain message and
/// [`HandlerError::from_anyhow`] for an `anyhow::Error`. The message includes the error's
/// causes (`outer: inner`).
pub struct HandlerError {
    inner: anyhow::Error,
}

impl HandlerError {
    /// An error with this message.
    pub fn new(message: impl fmt::Display + fmt::Debug + Send + Sync + 'static) -> Self {
        Self {
            inner: anyhow::Error::msg(message),
        }
    }

    /// Wraps an `anyhow::Error` (its context chain becomes part of the message).
    pub fn from_anyhow(error: anyhow::Error) -> Self {
        Self { inner: error }
    }

    /// The message reported to the server.
    pub fn message(&self) -> String {
        self.to_string()
    }
}

impl<E> From<E> for HandlerError
where
    E: std::error::Error + Send + Sync + 'static,
{
    fn from(error: E) -> Self {
        Self {
            inner: anyhow::Error::new(error),
        }
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#}", self.inner)
    }
}

impl fmt::Debug for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HandlerError({:#})", self.inner)
    }
}

/// A handler with its types erased: JSON in, JSON out.
pub(crate) trait ErasedHandler: Send + Sync + 'static {
    /// Parses the input and returns the future running the job, or the parse error.
    fn start(
        self: Arc<Self>,
        input: Value,
        ctx: JobContext,
    ) -> Result<BoxFuture<'static, Result<Value, HandlerError>>, String>;
}

/// Wraps a typed handler for [`ErasedHandler`].
pub(crate) struct Typed<H>(pub H);

impl<H: JobHandler> ErasedHandler for Typed<H> {
    fn start(
        self: Arc<Self>,
        input: Value,
        ctx: JobContext,
    ) -> Result<BoxFuture<'static, Result<Value, HandlerError>>, String> {
        let input: H::Input = serde_json::from_value(input).map_err(|e| e.to_string())?;
        Ok(Box::pin(async move {
            let output = self.0.handle(input, ctx).await?;
            serde_json::to_value(output)
                .map_err(|e| HandlerError::new(format!("could not serialise the result: {e}")))
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn question_mark_converts_std_errors() {
        fn parse(text: &str) -> Result<u32, HandlerError> {
            Ok(text.parse::<u32>()?)
        }
        let error = parse("x").expect_err("not a number");
        assert_eq!(error.message(), "invalid digit found in string");
        assert_eq!(HandlerError::new("boom").to_string(), "boom");
        let chained = HandlerError::from_anyhow(anyhow::anyhow!("inner").context("outer"));
        assert_eq!(chained.to_string(), "outer: inner");
    }
}

//! Sending off the request path: a bounded queue and one background task.

use std::sync::Arc;

use async_trait::async_trait;
use reefguide_ports::{EmailError, EmailMessage, EmailSender};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Takes messages at once and sends them, in order, from a background task with `inner`. A
/// message the inner sender fails to send is logged (recipient and subject only) and dropped;
/// when the queue is full the message is refused with [`EmailError::Queue`].
///
/// Dropping every clone closes the queue: the task sends what is queued, then ends.
#[derive(Debug, Clone)]
pub struct QueuedEmailSender {
    queue: mpsc::Sender<EmailMessage>,
}

impl QueuedEmailSender {
    /// Starts the background task (on the current Tokio runtime) with room for `capacity`
    /// waiting messages; its handle ends once the queue is closed and drained.
    pub fn start(inner: Arc<dyn EmailSender>, capacity: usize) -> (Self, JoinHandle<()>) {
        let (queue, mut waiting) = mpsc::channel::<EmailMessage>(capacity.max(1));
        let task = tokio::spawn(async move {
            while let Some(message) = waiting.recv().await {
                let (to, subject) = (message.to.clone(), message.subject.clone());
                if let Err(error) = inner.send(message).await {
                    tracing::error!(to = to.as_str(), %subject, %error, "an e-mail was not sent");
                }
            }
        });
        (Self { queue }, task)
    }
}

#[async_trait]
impl EmailSender for QueuedEmailSender {
    async fn send(&self, message: EmailMessage) -> Result<(), EmailError> {
        self.queue
            .try_send(message)
            .map_err(|error| EmailError::Queue(error.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use reefguide_domain::Email;
    use tokio::sync::{Notify, Semaphore};

    use super::*;

    /// A sender that says when it starts a message, waits to be released, then records it; the
    /// first message it fails.
    struct Gate {
        entered: Notify,
        release: Semaphore,
        sent: Mutex<Vec<String>>,
    }

    #[async_trait]
    impl EmailSender for Gate {
        async fn send(&self, message: EmailMessage) -> Result<(), EmailError> {
            self.entered.notify_one();
            let permit = self.release.acquire().await.expect("open");
            permit.forget();
            let mut sent = self.sent.lock().expect("lock");
            sent.push(message.subject);
            if sent.len() == 1 {
                return Err(EmailError::Transport("refused".into()));
            }
            Ok(())
        }
    }

    fn message(subject: &str) -> EmailMessage {
        EmailMessage {
            to: Email::parse("ana@example.com").expect("email"),
            subject: subject.into(),
            body: "body".into(),
        }
    }

    #[tokio::test]
    async fn send_returns_before_the_inner_sender_and_messages_go_in_order() {
        let gate = Arc::new(Gate {
            entered: Notify::new(),
            release: Semaphore::new(0),
            sent: Mutex::new(Vec::new()),
        });
        let (queue, task) = QueuedEmailSender::start(gate.clone(), 2);
        queue.send(message("one")).await.expect("queued");
        // The inner sender holds "one"; the queue still takes two more, then refuses.
        gate.entered.notified().await;
        queue.send(message("two")).await.expect("queued");
        queue.send(message("three")).await.expect("queued");
        let refused = queue.send(message("four")).await;
        assert!(matches!(refused, Err(EmailError::Queue(_))), "{refused:?}");
        assert!(
            gate.sent.lock().expect("lock").is_empty(),
            "nothing sent yet"
        );

        drop(queue);
        gate.release.add_permits(3);
        task.await
            .expect("the task ends once the queue is closed and drained");
        assert_eq!(
            *gate.sent.lock().expect("lock"),
            ["one", "two", "three"],
            "a failed message does not stop the next"
        );
    }
}

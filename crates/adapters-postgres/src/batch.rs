//! Concurrent calls of one kind, run together as one statement.
//!
//! Every Postgres statement costs a round trip, a commit and a flush of the write-ahead log,
//! whatever the number of rows it writes, and on a busy queue these per-statement costs are most
//! of the work. A [`Batcher`] lets concurrent callers share them: a request that arrives while a
//! batch is running waits, and joins the next batch with every other request that arrived
//! meanwhile (as a database groups concurrent commits). A lone request runs at once, so nothing
//! waits for a batch to fill.
//!
//! The batches run on tasks of their own (a few at once at most), so a caller that goes away (a
//! dropped future) never cancels a statement other callers depend on; a request whose caller is
//! already gone when its batch forms is left out.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use reefguide_ports::StoreUnavailable;
use tokio::sync::{Semaphore, mpsc, oneshot};

/// One kind of request that can run in batches.
pub(crate) trait Batch: Send + Sync + 'static {
    /// A request.
    type Request: Send + Sync + 'static;
    /// Its answer.
    type Response: Send + 'static;

    /// Most requests in one batch.
    const MAX_BATCH: usize;

    /// Most batches running at once (each on a connection of its own).
    const MAX_IN_FLIGHT: usize = 1;

    /// Whether `next` may join `batch` (never empty); a request that may not waits for a later
    /// batch, ahead of requests that arrive after it.
    fn may_join(&self, batch: &[Self::Request], next: &Self::Request) -> bool;

    /// Runs `batch` together (one statement): an error when the statement failed, else one
    /// answer per request, in order.
    fn run_together(
        &self,
        batch: &[Self::Request],
    ) -> impl Future<Output = anyhow::Result<Vec<anyhow::Result<Self::Response>>>> + Send;

    /// Runs `batch`: one answer per request, in order. When the database refused the batch's
    /// statement (rather than being unreachable), each request runs again alone, so that only a
    /// request that fails by itself fails.
    fn run(
        &self,
        batch: Vec<Self::Request>,
    ) -> impl Future<Output = Vec<anyhow::Result<Self::Response>>> + Send {
        async move {
            let error = match self.run_together(&batch).await {
                Ok(answers) => return answers,
                Err(error) => error,
            };
            let unreachable = error.chain().any(|cause| cause.is::<StoreUnavailable>());
            if batch.len() == 1 || unreachable {
                let message = format!("{error:#}");
                let mut errors = vec![Err(error)];
                errors.extend((1..batch.len()).map(|_| Err(anyhow::anyhow!("{message}"))));
                return errors;
            }
            tracing::warn!(
                error = %format!("{error:#}"),
                size = batch.len(),
                "a batch was refused; running its requests one by one"
            );
            let mut answers = Vec::with_capacity(batch.len());
            for request in &batch {
                let alone = self.run_together(std::slice::from_ref(request)).await;
                answers.push(alone.and_then(|mut one| {
                    one.pop()
                        .unwrap_or_else(|| Err(anyhow::anyhow!("a batch of one had no answer")))
                }));
            }
            answers
        }
    }
}

/// The way back to the caller of a request.
type Reply<B> = oneshot::Sender<anyhow::Result<<B as Batch>::Response>>;

/// A request waiting for its batch, with the way back to its caller.
struct Waiting<B: Batch> {
    request: B::Request,
    reply: Reply<B>,
}

/// Groups concurrent requests of one [`Batch`] kind (see the module documentation).
pub(crate) struct Batcher<B: Batch> {
    kind: Arc<B>,
    /// The queue of the task running the batches, started on first use (and again if its
    /// runtime went away).
    queue: Mutex<Option<mpsc::UnboundedSender<Waiting<B>>>>,
}

impl<B: Batch> std::fmt::Debug for Batcher<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batcher").finish_non_exhaustive()
    }
}

impl<B: Batch> Batcher<B> {
    /// A batcher of `kind`; its task starts with the first request.
    pub(crate) fn new(kind: B) -> Self {
        Self {
            kind: Arc::new(kind),
            queue: Mutex::new(None),
        }
    }

    /// Runs `request` in the next batch and returns its answer.
    pub(crate) async fn call(&self, request: B::Request) -> anyhow::Result<B::Response> {
        let (reply, answer) = oneshot::channel();
        let mut waiting = Waiting { request, reply };
        loop {
            let queue = self.queue();
            match queue.send(waiting) {
                Ok(()) => break,
                // The task's runtime is gone: start another on the caller's runtime.
                Err(mpsc::error::SendError(returned)) => {
                    waiting = returned;
                    self.forget(&queue);
                }
            }
        }
        answer
            .await
            .map_err(|_| anyhow::anyhow!("the batch of this request was abandoned"))?
    }

    /// The queue of a running task, starting one when there is none.
    fn queue(&self) -> mpsc::UnboundedSender<Waiting<B>> {
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        match &*queue {
            Some(sender) if !sender.is_closed() => sender.clone(),
            _ => {
                let (sender, receiver) = mpsc::unbounded_channel();
                tokio::spawn(run_batches(Arc::clone(&self.kind), receiver));
                *queue = Some(sender.clone());
                sender
            }
        }
    }

    /// Forgets `closed` (unless another caller already replaced it).
    fn forget(&self, closed: &mpsc::UnboundedSender<Waiting<B>>) {
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        if queue
            .as_ref()
            .is_some_and(|sender| sender.same_channel(closed))
        {
            *queue = None;
        }
    }
}

/// The task: forms batches from the waiting requests and runs them, at most
/// [`Batch::MAX_IN_FLIGHT`] at once. A batch is formed only once it can run, so that requests
/// arriving while the others run join it.
async fn run_batches<B: Batch>(kind: Arc<B>, mut queue: mpsc::UnboundedReceiver<Waiting<B>>) {
    let slots = Arc::new(Semaphore::new(B::MAX_IN_FLIGHT.max(1)));
    let mut waiting: VecDeque<Waiting<B>> = VecDeque::new();
    loop {
        if waiting.is_empty() {
            match queue.recv().await {
                Some(first) => waiting.push_back(first),
                None => return,
            }
        }
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        while let Ok(next) = queue.try_recv() {
            waiting.push_back(next);
        }
        let (requests, replies) = next_batch(kind.as_ref(), &mut waiting);
        if requests.is_empty() {
            continue;
        }
        let kind = Arc::clone(&kind);
        tokio::spawn(async move {
            let (size, started) = (requests.len(), std::time::Instant::now());
            let answers = kind.run(requests).await;
            drop(slot);
            tracing::debug!(
                kind = std::any::type_name::<B>(),
                size,
                elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
                "batch"
            );
            for (reply, answer) in replies.into_iter().zip(answers) {
                // A caller that left meanwhile no longer wants its answer.
                let _ = reply.send(answer);
            }
        });
    }
}

/// Takes the next batch out of `waiting`: the first request whose caller still waits, then every
/// later one that may join it, up to [`Batch::MAX_BATCH`].
fn next_batch<B: Batch>(
    kind: &B,
    waiting: &mut VecDeque<Waiting<B>>,
) -> (Vec<B::Request>, Vec<Reply<B>>) {
    let mut requests = Vec::new();
    let mut replies = Vec::new();
    let mut later = VecDeque::new();
    for entry in waiting.drain(..) {
        if entry.reply.is_closed() {
            continue;
        }
        let joins = requests.is_empty()
            || (requests.len() < B::MAX_BATCH && kind.may_join(&requests, &entry.request));
        if joins {
            requests.push(entry.request);
            replies.push(entry.reply);
        } else {
            later.push_back(entry);
        }
    }
    *waiting = later;
    (requests, replies)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::time::Duration;

    use super::*;

    /// Doubles numbers; numbers of different parity never share a batch; remembers the batches.
    #[derive(Default)]
    struct Doubling {
        batches: Mutex<Vec<Vec<u32>>>,
        running: AtomicUsize,
    }

    impl Batch for Doubling {
        type Request = u32;
        type Response = u32;
        const MAX_BATCH: usize = 3;

        fn may_join(&self, batch: &[u32], next: &u32) -> bool {
            batch[0] % 2 == next % 2
        }

        async fn run_together(&self, batch: &[u32]) -> anyhow::Result<Vec<anyhow::Result<u32>>> {
            assert_eq!(self.running.fetch_add(1, SeqCst), 0, "one batch at a time");
            tokio::time::sleep(Duration::from_millis(20)).await;
            self.batches.lock().expect("batches").push(batch.to_vec());
            self.running.fetch_sub(1, SeqCst);
            if batch.len() > 1 && batch.contains(&99) {
                // The statement of the whole batch is refused because of one request.
                anyhow::bail!("99 spoils the batch");
            }
            Ok(batch
                .iter()
                .map(|&n| match n {
                    13 => Err(anyhow::anyhow!("unlucky")),
                    99 => Err(anyhow::anyhow!("99 alone")),
                    n => Ok(n * 2),
                })
                .collect())
        }
    }

    /// Runs two batches at once, counting the most that ever ran together.
    #[derive(Default)]
    struct TwoAtOnce {
        running: AtomicUsize,
        most: AtomicUsize,
    }

    impl Batch for TwoAtOnce {
        type Request = u32;
        type Response = usize;
        const MAX_BATCH: usize = 2;
        const MAX_IN_FLIGHT: usize = 2;

        fn may_join(&self, _batch: &[u32], _next: &u32) -> bool {
            true
        }

        async fn run_together(&self, batch: &[u32]) -> anyhow::Result<Vec<anyhow::Result<usize>>> {
            let now = self.running.fetch_add(1, SeqCst) + 1;
            self.most.fetch_max(now, SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            self.running.fetch_sub(1, SeqCst);
            Ok(batch.iter().map(|_| Ok(batch.len())).collect())
        }
    }

    #[tokio::test]
    async fn batches_run_at_most_max_in_flight_at_once() {
        let batcher = Arc::new(Batcher::new(TwoAtOnce::default()));
        let tasks: Vec<_> = (0..9)
            .map(|n| {
                let batcher = batcher.clone();
                tokio::spawn(async move { batcher.call(n).await })
            })
            .collect();
        let mut sizes = Vec::new();
        for task in tasks {
            sizes.push(task.await.expect("task").expect("answer"));
        }
        assert_eq!(batcher.kind.most.load(SeqCst), 2);
        assert!(sizes.iter().all(|size| (1..=2).contains(size)), "{sizes:?}");
    }

    fn batches(batcher: &Batcher<Doubling>) -> Vec<Vec<u32>> {
        batcher.kind.batches.lock().expect("batches").clone()
    }

    #[tokio::test]
    async fn a_lone_request_runs_at_once_in_a_batch_of_its_own() {
        let batcher = Batcher::new(Doubling::default());
        assert_eq!(batcher.call(21).await.expect("answer"), 42);
        assert_eq!(batches(&batcher), vec![vec![21]]);
    }

    #[tokio::test]
    async fn requests_arriving_during_a_batch_share_the_next_one() {
        let batcher = Arc::new(Batcher::new(Doubling::default()));
        let first = tokio::spawn({
            let batcher = batcher.clone();
            async move { batcher.call(2).await }
        });
        tokio::time::sleep(Duration::from_millis(5)).await;
        // While the first batch runs: three even numbers, two odd ones, one even too many.
        let later: Vec<_> = [4, 5, 6, 7, 8, 10]
            .into_iter()
            .map(|n| {
                let batcher = batcher.clone();
                tokio::spawn(async move { batcher.call(n).await })
            })
            .collect();
        assert_eq!(first.await.expect("task").expect("answer"), 4);
        let mut answers = Vec::new();
        for task in later {
            answers.push(task.await.expect("task").expect("answer"));
        }
        assert_eq!(answers, vec![8, 10, 12, 14, 16, 20]);
        assert_eq!(
            batches(&batcher),
            vec![vec![2], vec![4, 6, 8], vec![5, 7], vec![10]]
        );
    }

    #[tokio::test]
    async fn each_request_gets_its_own_answer_or_error() {
        let batcher = Arc::new(Batcher::new(Doubling::default()));
        let tasks: Vec<_> = [11, 13, 15]
            .into_iter()
            .map(|n| {
                let batcher = batcher.clone();
                tokio::spawn(async move { batcher.call(n).await })
            })
            .collect();
        let mut answers = Vec::new();
        for task in tasks {
            answers.push(task.await.expect("task").map_err(|err| err.to_string()));
        }
        assert_eq!(answers, vec![Ok(22), Err("unlucky".to_owned()), Ok(30)]);
    }

    #[tokio::test]
    async fn a_refused_batch_runs_again_one_request_at_a_time() {
        let batcher = Arc::new(Batcher::new(Doubling::default()));
        let first = tokio::spawn({
            let batcher = batcher.clone();
            async move { batcher.call(1).await }
        });
        tokio::time::sleep(Duration::from_millis(5)).await;
        let tasks: Vec<_> = [3, 99, 5]
            .into_iter()
            .map(|n| {
                let batcher = batcher.clone();
                tokio::spawn(async move { batcher.call(n).await })
            })
            .collect();
        assert_eq!(first.await.expect("task").expect("answer"), 2);
        let mut answers = Vec::new();
        for task in tasks {
            answers.push(task.await.expect("task").map_err(|err| err.to_string()));
        }
        assert_eq!(answers, vec![Ok(6), Err("99 alone".to_owned()), Ok(10)]);
        assert_eq!(
            batches(&batcher),
            vec![vec![1], vec![3, 99, 5], vec![3], vec![99], vec![5]]
        );
    }

    #[tokio::test]
    async fn a_request_whose_caller_left_is_not_run() {
        let batcher = Arc::new(Batcher::new(Doubling::default()));
        let first = tokio::spawn({
            let batcher = batcher.clone();
            async move { batcher.call(2).await }
        });
        tokio::time::sleep(Duration::from_millis(5)).await;
        let gone = tokio::spawn({
            let batcher = batcher.clone();
            async move { batcher.call(4).await }
        });
        tokio::time::sleep(Duration::from_millis(5)).await;
        gone.abort();
        let _ = gone.await;
        assert_eq!(first.await.expect("task").expect("answer"), 4);
        assert_eq!(batcher.call(6).await.expect("answer"), 12);
        assert_eq!(batches(&batcher), vec![vec![2], vec![6]]);
    }

    #[test]
    fn a_batcher_outlives_the_runtime_of_its_first_task() {
        let batcher = Batcher::new(Doubling::default());
        for n in [1, 2] {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .expect("runtime");
            assert_eq!(runtime.block_on(batcher.call(n)).expect("answer"), n * 2);
        }
        assert_eq!(batches(&batcher), vec![vec![1], vec![2]]);
    }
}

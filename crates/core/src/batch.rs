//! Adaptive batching: concurrent typed requests to one deployment joined into one `run`.
//!
//! A deployment with `max_batch_size` and a script that declares itself batchable (the
//! schema's `batchable`: output rows follow the first dimension of every tensor input) gets a
//! [`Batcher`]. A request joins an open batch when it has the same *shape key*: the same
//! arguments, every tensor with the same dtype and the same dimensions but the first, and
//! every other value (`GlobalParameters`, JSON inputs) the same text. A request with a frame,
//! tensors whose first dimensions differ, or no tensor at all is scored alone, as is one with
//! `max_batch_size` rows or more.
//!
//! The first request of a batch is its leader: it waits until the batch holds
//! `max_batch_size` rows (the request that fills it hands it over at once) or
//! `max_batch_time` has passed, then makes the one guest call with the tensors joined along
//! their first dimension, splits the output text by each request's rows and hands every
//! member its part. The split works on the text (spans of the guest's own JSON), so each part
//! is byte for byte what the guest writes for those rows alone: the output must be an array
//! with one entry per row, or an object whose every member is such an array or object.
//!
//! Failures: a trap, time-out, memory-limit hit or a full queue fails every request of that
//! batch with its normal error. A result the script returns as its own error (`bad-input`,
//! `failed`, an exception) or an output that cannot be split makes every member score alone,
//! so each client gets exactly the answer it would have got alone (the bad row's request its
//! error, the others their results). A leader whose client went away drops its batch; the
//! members then score alone too.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;
use tokio::sync::oneshot;

use crate::config::{BatchSettings, DeploymentSettings};
use crate::scoring::{Failure, Scored};
use scorehost_metrics::DeploymentMetrics;
use scorehost_runtime::{CallInput, RunInput};
use scorehost_schema::Schema;
use scorehost_wit::{Argument, Elements, NamedArgument, Param, Tensor};

/// The batcher of one deployment: the batches waiting to be scored, by shape key.
pub struct Batcher {
    settings: BatchSettings,
    /// Where the batches' sizes are counted.
    metrics: Arc<DeploymentMetrics>,
    open: Mutex<HashMap<Key, Open>>,
    /// Tells a batch apart from a later one with the same key.
    next_id: AtomicU64,
}

/// What must agree for two requests to share a `run`.
type Key = Vec<Slot>;

/// One argument's part of the key.
#[derive(Clone, PartialEq, Eq, Hash)]
enum Slot {
    /// A tensor: its place, dtype and every dimension but the first.
    Tensor {
        name: String,
        dtype: u8,
        tail: Vec<u64>,
    },
    /// Any other value: its place and exact JSON text.
    Json { name: String, text: String },
}

/// A batch still taking requests.
struct Open {
    id: u64,
    rows: usize,
    weight: usize,
    /// The members' arguments, tensors joined so far.
    joined: Vec<NamedArgument>,
    /// The members after the leader, in arrival order.
    members: Vec<Member>,
    /// The request ids of every member, leader first, for the log.
    request_ids: Vec<String>,
    /// Hands the batch to its leader when it is full.
    handoff: Option<oneshot::Sender<Open>>,
}

/// A request waiting for its part of a batch's result.
struct Member {
    rows: usize,
    reply: oneshot::Sender<Outcome>,
}

/// What a member gets back.
enum Outcome {
    Done(Result<Scored<String>, Failure>),
    /// Score the request alone (the batch failed with the script's own error, or its output
    /// could not be split).
    Alone,
}

/// The batcher a typed deployment with `settings` gets: `None` when batching is off; an error
/// when it is on for a script that does not declare itself batchable.
pub fn for_schema(
    settings: &DeploymentSettings,
    schema: &Schema,
    metrics: &Arc<DeploymentMetrics>,
) -> anyhow::Result<Option<Batcher>> {
    if !settings.batch.enabled() {
        return Ok(None);
    }
    if !schema.batchable {
        refuse(settings)?;
    }
    Ok(Some(Batcher::new(settings.batch, metrics.clone())))
}

/// The error for `max_batch_size` set on a script that cannot be batched (one without a
/// schema, a raw one, or one that does not declare itself batchable).
pub fn refuse(settings: &DeploymentSettings) -> anyhow::Result<()> {
    anyhow::bail!(
        "deployment '{}': max_batch_size is set, but the entry script does not declare \
             itself batchable (output rows following the first dimension of its tensor \
             inputs): declare it with Schema::batchable() in Rust, @batchable in Python or \
             batchable(run) in JavaScript, or leave max_batch_size unset",
        settings.name
    )
}

impl Batcher {
    /// A batcher with `settings` (batching enabled).
    pub fn new(settings: BatchSettings, metrics: Arc<DeploymentMetrics>) -> Batcher {
        Batcher {
            settings,
            metrics,
            open: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
        }
    }

    /// Scores `input` in a batch with others of its shape, or `None` when it cannot join one
    /// or ends up alone (the caller then scores it alone). `run` makes a batch's one guest
    /// call (with its requests' ids and bytes).
    pub async fn score(
        &self,
        request_id: &str,
        input: &RunInput,
        weight: usize,
        run: impl AsyncFnOnce(&str, &CallInput, usize) -> Result<Scored<String>, Failure>,
    ) -> Option<Result<Scored<String>, Failure>> {
        let (key, rows) = shape_key(input)?;
        if rows >= self.settings.max_batch_size {
            return None;
        }
        let RunInput::Arguments(arguments) = input else {
            return None;
        };
        let role = {
            let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
            let full = open
                .get(&key)
                .is_some_and(|batch| batch.rows + rows > self.settings.max_batch_size);
            if full {
                // Too many rows for the waiting batch: its leader scores it now, this request
                // starts the next one.
                if let Some(mut batch) = open.remove(&key)
                    && let Some(handoff) = batch.handoff.take()
                {
                    let _ = handoff.send(batch);
                }
            }
            match open.get_mut(&key) {
                Some(batch) => {
                    let (reply, answer) = oneshot::channel();
                    join(&mut batch.joined, arguments);
                    batch.rows += rows;
                    batch.weight += weight;
                    batch.members.push(Member { rows, reply });
                    batch.request_ids.push(request_id.to_owned());
                    if batch.rows == self.settings.max_batch_size
                        && let Some(mut batch) = open.remove(&key)
                        && let Some(handoff) = batch.handoff.take()
                    {
                        let _ = handoff.send(batch);
                    }
                    Role::Member(answer)
                }
                None => {
                    let (handoff, taken) = oneshot::channel();
                    let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                    open.insert(
                        key.clone(),
                        Open {
                            id,
                            rows,
                            weight,
                            joined: arguments.clone(),
                            members: Vec::new(),
                            request_ids: vec![request_id.to_owned()],
                            handoff: Some(handoff),
                        },
                    );
                    Role::Leader { id, taken }
                }
            }
        };
        let outcome = match role {
            Role::Member(answer) => answer.await.unwrap_or(Outcome::Alone),
            Role::Leader { id, taken } => {
                let mut guard = Abandon {
                    batcher: self,
                    key: Some(key),
                    id,
                };
                let batch = self.wait(taken, &mut guard).await;
                drop(guard);
                match batch {
                    Some(batch) => self.run(batch, rows, run).await,
                    None => Outcome::Alone,
                }
            }
        };
        match outcome {
            Outcome::Done(result) => Some(result),
            // Alone after all: the caller scores it as one that joins no batch.
            Outcome::Alone => None,
        }
    }

    /// The leader's wait: until the batch is handed over full, or its time is up.
    async fn wait(
        &self,
        mut taken: oneshot::Receiver<Open>,
        guard: &mut Abandon<'_>,
    ) -> Option<Open> {
        tokio::select! {
            batch = &mut taken => return batch.ok(),
            () = tokio::time::sleep(self.settings.max_batch_time) => {}
        }
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let key = guard.key.take()?;
        if open.get(&key).is_some_and(|batch| batch.id == guard.id) {
            return open.remove(&key);
        }
        drop(open);
        // Handed over while the timer fired: the send happened under the lock, so it is in
        // the channel now.
        taken.try_recv().ok()
    }

    /// Makes the batch's one guest call and hands each member its part; returns the
    /// leader's (whose rows are `leader_rows`).
    async fn run(
        &self,
        batch: Open,
        leader_rows: usize,
        run: impl AsyncFnOnce(&str, &CallInput, usize) -> Result<Scored<String>, Failure>,
    ) -> Outcome {
        let metrics = &self.metrics;
        metrics
            .batch_requests
            .observe(batch.members.len() as f64 + 1.0);
        metrics.batch_rows.observe(batch.rows as f64);
        if batch.members.is_empty() {
            return Outcome::Alone;
        }
        let input = RunInput::Arguments(batch.joined);
        let ids = batch.request_ids.join(",");
        tracing::debug!(requests = %ids, rows = batch.rows, "scoring a batch");
        let result = run(&ids, &input.into_call(), batch.weight).await;
        let mut rows = Vec::with_capacity(batch.members.len() + 1);
        rows.push(leader_rows);
        rows.extend(batch.members.iter().map(|m| m.rows));
        let mut outcomes: Vec<Outcome> = match result {
            Ok(scored) => match split(&scored.output, &rows) {
                Some(parts) => parts
                    .into_iter()
                    .map(|output| {
                        Outcome::Done(Ok(Scored {
                            output,
                            run_time: scored.run_time,
                        }))
                    })
                    .collect(),
                None => {
                    tracing::warn!(
                        requests = %ids,
                        "the batchable script's output has no array of one entry per row \
                         everywhere; scoring the batch's requests alone"
                    );
                    rows.iter().map(|_| Outcome::Alone).collect()
                }
            },
            Err(error) => rows
                .iter()
                .map(|_| match shared(&error) {
                    Some(error) => Outcome::Done(Err(error)),
                    None => Outcome::Alone,
                })
                .collect(),
        };
        let leader = outcomes.remove(0);
        for (member, outcome) in batch.members.into_iter().zip(outcomes) {
            let _ = member.reply.send(outcome);
        }
        leader
    }
}

/// What a request does in its batch.
enum Role {
    Leader {
        id: u64,
        taken: oneshot::Receiver<Open>,
    },
    Member(oneshot::Receiver<Outcome>),
}

/// Drops a leader's batch if the leader goes away while it waits (its members then score
/// alone instead of waiting for a call nobody makes).
struct Abandon<'b> {
    batcher: &'b Batcher,
    key: Option<Key>,
    id: u64,
}

impl Drop for Abandon<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let mut open = self.batcher.open.lock().unwrap_or_else(|e| e.into_inner());
            if open.get(&key).is_some_and(|batch| batch.id == self.id) {
                open.remove(&key);
            }
        }
    }
}

/// The same failure for another member of a failed batch; `None` for the script's own
/// errors and unusable output, which each member finds out alone.
fn shared(error: &Failure) -> Option<Failure> {
    match error {
        Failure::Overloaded | Failure::Crashed | Failure::TimedOut(_) | Failure::MemoryLimit => {
            Some(error.clone())
        }
        _ => None,
    }
}

/// The request's shape key and rows, or `None` when it cannot join a batch.
fn shape_key(input: &RunInput) -> Option<(Key, usize)> {
    let RunInput::Arguments(arguments) = input else {
        return None;
    };
    let mut key = Vec::with_capacity(arguments.len());
    let mut rows = None;
    let mut slot = |name: String, param: &Param| -> Option<Slot> {
        match param {
            Param::Tensor(tensor) => {
                let (&first, tail) = tensor.shape.split_first()?;
                let first = usize::try_from(first).ok()?;
                if first == 0 || rows.is_some_and(|rows| rows != first) {
                    return None;
                }
                rows = Some(first);
                Some(Slot::Tensor {
                    name,
                    dtype: tensor.dtype as u8,
                    tail: tail.to_vec(),
                })
            }
            Param::Json(text) => Some(Slot::Json {
                name,
                text: text.clone(),
            }),
            // A frame's rows are not covered by the declaration.
            Param::Frame(_) => None,
        }
    };
    for argument in arguments {
        match &argument.value {
            Argument::Value(param) => key.push(slot(argument.name.clone(), param)?),
            Argument::Group(entries) => {
                for entry in entries {
                    let name = format!("{}\u{0}{}", argument.name, entry.name);
                    key.push(slot(name, &entry.value)?);
                }
            }
        }
    }
    Some((key, rows?))
}

/// Appends `more`'s tensors to `joined`'s along the first dimension (`more` has the same
/// shape key).
fn join(joined: &mut [NamedArgument], more: &[NamedArgument]) {
    for (to, from) in joined.iter_mut().zip(more) {
        match (&mut to.value, &from.value) {
            (Argument::Value(Param::Tensor(to)), Argument::Value(Param::Tensor(from))) => {
                append(to, from);
            }
            (Argument::Group(to), Argument::Group(from)) => {
                for (to, from) in to.iter_mut().zip(from) {
                    if let (Param::Tensor(to), Param::Tensor(from)) = (&mut to.value, &from.value) {
                        append(to, from);
                    }
                }
            }
            _ => {}
        }
    }
}

fn append(to: &mut Tensor, from: &Tensor) {
    to.shape[0] += from.shape[0];
    match (&mut to.elements, &from.elements) {
        (Elements::Bytes(to), Elements::Bytes(from)) => to.extend_from_slice(from),
        (Elements::Strings(to), Elements::Strings(from)) => to.extend_from_slice(from),
        // Same dtype, same variant: the host made both.
        _ => {}
    }
}

/// The output text of a batch split into the parts of requests with `rows` rows each, or
/// `None` when it is not an array of one entry per row or an object of such.
fn split(text: &str, rows: &[usize]) -> Option<Vec<String>> {
    let trimmed = text.trim_start();
    match trimmed.as_bytes().first()? {
        b'[' => split_array(text, rows),
        b'{' => split_object(text, rows),
        _ => None,
    }
}

/// Offset of `part` (a slice of `text`) in `text`.
fn offset(text: &str, part: &str) -> usize {
    part.as_ptr() as usize - text.as_ptr() as usize
}

fn split_array(text: &str, rows: &[usize]) -> Option<Vec<String>> {
    let elements: Vec<&RawValue> = serde_json::from_str(text).ok()?;
    if elements.len() != rows.iter().sum::<usize>() || elements.len() < 2 {
        return None;
    }
    let span = |e: &RawValue| {
        let start = offset(text, e.get());
        (start, start + e.get().len())
    };
    let (first_start, first_end) = span(elements[0]);
    let (second_start, _) = span(elements[1]);
    let (_, last_end) = span(elements[elements.len() - 1]);
    let (prefix, separator, suffix) = (
        &text[..first_start],
        &text[first_end..second_start],
        &text[last_end..],
    );
    let mut parts = Vec::with_capacity(rows.len());
    let mut next = 0;
    for &n in rows {
        let mut part = String::with_capacity(text.len() * n / elements.len() + prefix.len());
        part.push_str(prefix);
        for (i, element) in elements[next..next + n].iter().enumerate() {
            if i > 0 {
                part.push_str(separator);
            }
            part.push_str(element.get());
        }
        part.push_str(suffix);
        parts.push(part);
        next += n;
    }
    Some(parts)
}

/// The values of a JSON object, as written.
struct Members<'a>(Vec<&'a RawValue>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Values;
        impl<'de> Visitor<'de> for Values {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut values = Vec::new();
                while let Some((IgnoredAny, value)) = map.next_entry::<IgnoredAny, &RawValue>()? {
                    values.push(value);
                }
                Ok(Members(values))
            }
        }
        deserializer.deserialize_map(Values)
    }
}

fn split_object(text: &str, rows: &[usize]) -> Option<Vec<String>> {
    let Members(values) = serde_json::from_str(text).ok()?;
    if values.is_empty() {
        return None;
    }
    // Each part is the object's text with every member's value replaced by its part.
    let mut parts: Vec<String> = vec![String::with_capacity(text.len()); rows.len()];
    let mut copied = 0;
    for value in values {
        let start = offset(text, value.get());
        let value_parts = split(value.get(), rows)?;
        for (part, value_part) in parts.iter_mut().zip(value_parts) {
            part.push_str(&text[copied..start]);
            part.push_str(&value_part);
        }
        copied = start + value.get().len();
    }
    for part in &mut parts {
        part.push_str(&text[copied..]);
    }
    Some(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_split_by_rows_keeping_the_guests_separators() {
        assert_eq!(
            split("[1.0, 2.5, [3, 4], 5]", &[1, 3]).unwrap(),
            ["[1.0]", "[2.5, [3, 4], 5]"]
        );
        assert_eq!(
            split("[\n  1,\n  2\n]", &[1, 1]).unwrap(),
            ["[\n  1\n]", "[\n  2\n]"]
        );
    }

    #[test]
    fn objects_split_every_member_and_keep_keys_as_written() {
        let text = r#"{"Results": {"label": [0,2,1], "p": [[0.5,0.5],[1,0],[0,1]]}, "b\u0041": ["x","y","z"]}"#;
        assert_eq!(
            split(text, &[2, 1]).unwrap(),
            [
                r#"{"Results": {"label": [0,2], "p": [[0.5,0.5],[1,0]]}, "b\u0041": ["x","y"]}"#,
                r#"{"Results": {"label": [1], "p": [[0,1]]}, "b\u0041": ["z"]}"#,
            ]
        );
    }

    #[test]
    fn outputs_without_one_entry_per_row_do_not_split() {
        assert!(split("[1, 2, 3]", &[1, 1]).is_none());
        assert!(split(r#"{"Results": [1, 2], "model": "v1"}"#, &[1, 1]).is_none());
        assert!(split("3", &[1, 1]).is_none());
        assert!(split("{}", &[1, 1]).is_none());
    }
}

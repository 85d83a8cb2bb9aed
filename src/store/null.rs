//! A benchmarking sink, not a store: it answers every write `Stored` and keeps nothing, so
//! reads find nothing. Compiled only with the cargo feature `bench-null-store` and selected by
//! `NULL_STORE=true`; `loadtest/bench.sh` uses it to measure what the service costs in front of
//! any store (HTTP, decode, document build, queue, batching, acknowledgement) as a max rate
//! and CPU per frame. A service running on it acknowledges frames it throws away, which is why
//! it is not in default builds at all.

use async_trait::async_trait;
use futures::StreamExt;

use super::{EventStream, MatchQuery, MatchSummary, ReadQuery, Store, StoreError, WriteOutcome};
use crate::frame::EventDocument;
use crate::ids::MatchId;

/// Accepts every document and drops it.
#[derive(Debug, Default, Clone, Copy)]
pub struct NullStore;

#[async_trait]
impl Store for NullStore {
    fn name(&self) -> &'static str {
        "null"
    }

    async fn ensure_indexes(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// No I/O and no await point: the writer thread's cost per batch is the pipeline's alone.
    async fn write_batch(&self, docs: &[EventDocument]) -> Result<Vec<WriteOutcome>, StoreError> {
        Ok(vec![WriteOutcome::Stored; docs.len()])
    }

    async fn read(&self, _query: ReadQuery) -> Result<EventStream, StoreError> {
        Ok(futures::stream::empty().boxed())
    }

    async fn list_matches(&self, _query: MatchQuery) -> Result<Vec<MatchSummary>, StoreError> {
        Ok(Vec::new())
    }

    async fn get_match(&self, _match_id: &MatchId) -> Result<Option<MatchSummary>, StoreError> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use futures::TryStreamExt;

    use super::*;
    use crate::frame::{self, Encoding};
    use crate::ids::{MatchId, NodeId, SessionId};

    #[tokio::test]
    async fn acknowledges_everything_and_keeps_nothing() {
        let session = "892e23e2-8272-4b07-85e8-5e291ac85f93";
        let body = format!(r#"{{"frameIndex":1,"session":{{"sessionid":"{session}"}}}}"#);
        let node = NodeId::parse("node1").unwrap();
        let decoded = frame::decode(body.as_bytes(), Encoding::Json).unwrap();
        let doc = EventDocument::build(&decoded, &node, None, SystemTime::now()).unwrap();

        let store = NullStore;
        let outcomes = store.write_batch(&[doc.clone(), doc]).await.unwrap();
        assert_eq!(outcomes, vec![WriteOutcome::Stored; 2]);

        let match_id = MatchId::new(SessionId::parse(session).unwrap(), &node);
        let read: Vec<_> = store
            .read(ReadQuery::all(match_id))
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        assert!(read.is_empty());
    }
}

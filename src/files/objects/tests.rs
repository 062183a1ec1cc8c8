//! Unit tests of `objects`.

use super::*;
use object_store::memory::InMemory;

fn objects() -> Objects {
    Objects::from_store(Arc::new(InMemory::new()), "files", "memory")
}

fn chunks(total: usize, chunk: usize) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send {
    let pattern: Vec<u8> = (0..total).map(|i| (i % 251) as u8).collect();
    let parts: Vec<Result<Bytes, std::io::Error>> = pattern
        .chunks(chunk.max(1))
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    futures_util::stream::iter(parts)
}

async fn read_all(objects: &Objects, id: FileId) -> Vec<u8> {
    let read = objects
        .get(id, None)
        .await
        .ok()
        .flatten()
        .expect("object exists");
    let parts: Vec<Bytes> = read.stream.try_collect().await.expect("reads");
    parts.concat()
}

#[tokio::test]
async fn small_and_multipart_uploads_round_trip_with_their_digest() {
    let objects = objects();
    for total in [0, 1, PART_SIZE, PART_SIZE + 1, 3 * PART_SIZE + 17] {
        let id = FileId::generate();
        let ingested = objects
            .put_stream(id, chunks(total, 64 * 1024), u64::MAX)
            .await
            .expect("stored");
        let expected: Vec<u8> = (0..total).map(|i| (i % 251) as u8).collect();
        assert_eq!(ingested.size, total as u64);
        assert_eq!(
            ingested.sha256,
            Sha256Digest::from_bytes(Sha256::digest(&expected).into())
        );
        assert_eq!(read_all(&objects, id).await, expected, "{total} bytes");
    }
}

#[tokio::test]
async fn an_upload_over_the_limit_leaves_nothing() {
    let objects = objects();
    let id = FileId::generate();
    let limit = (2 * PART_SIZE) as u64;
    let result = objects
        .put_stream(id, chunks(3 * PART_SIZE, 1 << 20), limit)
        .await;
    assert!(matches!(result, Err(IngestError::TooLarge { limit: l }) if l == limit));
    assert_eq!(objects.exists(id).await.ok(), Some(false));
    let listed: Vec<_> = objects.list().collect().await;
    assert!(listed.is_empty(), "{listed:?}");
}

#[tokio::test]
async fn ranges_and_listing_name_file_ids() {
    let objects = objects();
    let id = FileId::generate();
    objects
        .put_stream(id, chunks(1000, 100), u64::MAX)
        .await
        .expect("stored");
    let read = objects
        .get(id, Some(10..20))
        .await
        .ok()
        .flatten()
        .expect("exists");
    assert_eq!((read.range.clone(), read.size), (10..20, 1000));
    let listed: Vec<_> = objects.list().try_collect().await.expect("lists");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, Some(id));
    assert!(
        objects
            .get(FileId::generate(), None)
            .await
            .expect("answers")
            .is_none()
    );
}

//! Resumable uploads over an S3 store (s3s-fs on loopback): each PATCH is
//! one object under `uploads/{id}/`, a cut PATCH keeps what arrived, and
//! the finished upload is joined into the staged source byte for byte,
//! with its parts removed.

mod common;

use common::s3::S3Server;
use common::tus::Api;
use common::{serve, TestNode};
use reel_node::catalog::staged_key;
use tokio::io::AsyncWriteExt;

#[tokio::test]
async fn parts_are_objects_in_the_bucket_and_are_joined_in_order() {
    let s3 = S3Server::start().await;
    let bucket = s3.bucket().await;
    let mut pairs = s3.config_pairs(&bucket);
    pairs.push(("ingest.read_timeout_s".into(), "2".into()));
    // No worker runs here: the staged source stays for the check.
    let extra: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let node = TestNode::new(&extra).await;
    let addr = serve(&node).await;
    let api = Api::new(addr, &node.token);
    let file: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let (loc, id) = api.created(file.len() as u64).await;

    let r = api.patch(&loc, 0, file[..1_000_000].to_vec()).await;
    assert_eq!(r.status(), 204);
    // A PATCH cut after 500 kB: those bytes are kept.
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "PATCH {loc} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\
         Tus-Resumable: 1.0.0\r\nUpload-Offset: 1000000\r\n\
         Content-Type: application/offset+octet-stream\r\nContent-Length: 2000000\r\n\r\n",
        node.token
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&file[1_000_000..1_500_000]).await.unwrap();
    s.flush().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    drop(s);
    let t = std::time::Instant::now();
    while api.offset(&loc).await != 1_500_000 {
        assert!(
            t.elapsed() < std::time::Duration::from_secs(10),
            "cut bytes not kept"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let parts = node
        .state
        .store
        .list(&format!("uploads/{id}"))
        .await
        .unwrap();
    assert_eq!(parts.len(), 2, "{parts:?}");
    assert_eq!(
        parts.iter().map(|p| p.size).sum::<u64>(),
        1_500_000,
        "{parts:?}"
    );

    let r = api.patch(&loc, 1_500_000, file[1_500_000..].to_vec()).await;
    assert_eq!(r.status(), 204);
    assert_eq!(api.settled(&id).await["status"], "queued");
    let staged = node.state.store.get_bytes(&staged_key(&id)).await.unwrap();
    assert!(staged == file, "the joined source differs from the file");
    assert!(node
        .state
        .store
        .list(&format!("uploads/{id}"))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(api.video(&id).await.1["status"], "queued");
}

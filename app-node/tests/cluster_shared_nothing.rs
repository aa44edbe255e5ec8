//! Several machines, on this one: the real balancer in front of two real
//! nodes that share NOTHING on disk (each has its own data_dir), only a
//! PostgreSQL catalog and an S3 bucket on a real S3-compatible server.
//! An import through the balancer runs on either node; the node doing it is
//! SIGKILLed mid-transcode and the other one finishes the job; the video
//! then plays through the balancer from both nodes. A file imported from a
//! third place is staged in the bucket and transcoded by a node that never
//! saw it. At the end no data_dir holds anything but (empty) scratch.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::db::{Engine, TestDb};
use common::procs::{cli_with, node_cmd, spawn_serve, video, Balancer, Node};
use common::s3::S3Server;
use common::{files_under, make_clip, source_server};

/// Node settings every member shares, as environment variables.
fn shared_env(db: &TestDb, s3: &S3Server, bucket: &str) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = s3
        .config_pairs(bucket)
        .into_iter()
        .map(|(k, v)| {
            (
                format!("REEL_{}", k.to_ascii_uppercase().replace('.', "__")),
                v,
            )
        })
        .collect();
    env.push(("REEL_CATALOG__URL".into(), db.url.clone()));
    env
}

fn cmd(data: &Path, name: &str, env: &[(String, String)]) -> Command {
    let mut c = node_cmd(data, name);
    c.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    c
}

fn start(data: &Path, name: &str, env: &[(String, String)]) -> Node {
    spawn_serve(cmd(data, name, env), &[])
}

/// A CLI command with the shared settings; its trimmed stdout.
fn run_cli(data: &Path, env: &[(String, String)], args: &[&str], stdin: &str) -> String {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (code, out, err) = cli_with(data, &env, args, stdin);
    assert_eq!(code, 0, "{args:?}: {err}");
    out.trim().to_string()
}

async fn wait_for(
    http: &reqwest::Client,
    lb: &str,
    id: &str,
    limit: Duration,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + limit;
    loop {
        let v = video(http, lb, id).await;
        if done(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "gave up waiting: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether a node has job scratch right now: the node running the job.
fn has_scratch(data: &Path) -> bool {
    files_under(&data.join("tmp"))
        .iter()
        .any(|p| p.to_string_lossy().contains("/job-"))
}

/// Fetches the master, one rung's playlist and every segment through the
/// balancer; returns the node names that served them.
async fn play(http: &reqwest::Client, lb: &str, hls_url: &str) -> Vec<String> {
    let base = hls_url.trim_end_matches("master.m3u8");
    let master = http.get(format!("{lb}{hls_url}")).send().await.unwrap();
    assert_eq!(master.status(), 200);
    let master = master.text().await.unwrap();
    let rung = master
        .lines()
        .find(|l| l.ends_with("index.m3u8") && !l.starts_with('#'))
        .unwrap()
        .to_string();
    let dir = rung.rsplit_once('/').unwrap().0;
    let pl = http.get(format!("{lb}{base}{rung}")).send().await.unwrap();
    let pl = pl.text().await.unwrap();
    assert!(pl.contains("#EXT-X-ENDLIST"), "{pl}");
    let mut files: Vec<String> = vec![format!("{dir}/init.mp4")];
    files.extend(
        pl.lines()
            .filter(|l| l.ends_with(".m4s"))
            .map(|s| format!("{dir}/{s}")),
    );
    assert!(files.len() >= 2, "{pl}");
    let mut served_by = Vec::new();
    for _round in 0..2 {
        for f in &files {
            let r = http.get(format!("{lb}{base}{f}")).send().await.unwrap();
            assert_eq!(r.status(), 200, "{f}");
            served_by.push(r.headers()["x-reel-node"].to_str().unwrap().to_string());
            assert!(!r.bytes().await.unwrap().is_empty());
        }
    }
    served_by
}

#[tokio::test]
async fn two_nodes_sharing_nothing_but_postgres_and_s3() {
    let db = TestDb::new(Engine::Postgres).await;
    let s3 = S3Server::start().await;
    let bucket = s3.bucket().await;
    let env = shared_env(&db, &s3, &bucket);
    let (dir_a, dir_b, dir_cli) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let token = {
        run_cli(
            dir_cli.path(),
            &env,
            &["user", "add", "tester"],
            "tester-password\n",
        );
        run_cli(dir_cli.path(), &env, &["token", "create", "tester"], "")
    };
    let mut a = Some(start(dir_a.path(), "node-a", &env));
    let b = start(dir_b.path(), "node-b", &env);
    let lb = Balancer::start(&[&a.as_ref().unwrap().base, &b.base]);
    let http = reqwest::Client::new();

    // A source long enough to be caught mid-transcode.
    let src = tempfile::tempdir().unwrap();
    make_clip(&src.path().join("long.mp4"), 640, 360, 40, true, &[]);
    let addr = source_server(src.path().to_path_buf()).await;
    let r = http
        .post(format!("{}/api/videos", lb.base))
        .bearer_auth(&token)
        .json(&serde_json::json!({"title": "Shared nothing", "source_url": format!("http://{addr}/long.mp4")}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let id = r.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    // Find the node transcoding it (its scratch appears) and kill it hard.
    let deadline = Instant::now() + Duration::from_secs(60);
    let victim = loop {
        let v = video(&http, &lb.base, &id).await;
        if v["status"] == "transcoding" && v["progress"].as_f64().unwrap_or(0.0) > 0.15 {
            if has_scratch(dir_a.path()) {
                break "node-a";
            }
            if has_scratch(dir_b.path()) {
                break "node-b";
            }
        }
        assert_ne!(
            v["status"], "ready",
            "finished before it could be interrupted"
        );
        assert!(Instant::now() < deadline, "never started transcoding: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Finished segments go up to the bucket while the ladder is still being
    // encoded (progress below the transcode's end at 0.95), not after it.
    let scratch = tempfile::tempdir().unwrap();
    let store = reel_node::storage::open(&s3.config(scratch.path(), &bucket))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let v = video(&http, &lb.base, &id).await;
        let up = store.list(&id).await.unwrap();
        if up.iter().any(|o| o.key.ends_with(".m4s")) {
            let p = v["progress"].as_f64().unwrap();
            assert!(p < 0.8, "segments went up only after the ladder: {v}");
            break;
        }
        assert_eq!(v["status"], "transcoding", "no segment went up early: {v}");
        assert!(Instant::now() < deadline, "no segment went up early");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (mut b, dir_victim) = (
        Some(b),
        if victim == "node-a" {
            dir_a.path()
        } else {
            dir_b.path()
        },
    );
    let killed = if victim == "node-a" {
        a.take()
    } else {
        b.take()
    }
    .unwrap();
    drop(killed); // SIGKILL
    let v = wait_for(&http, &lb.base, &id, Duration::from_secs(240), |v| {
        v["status"] == "ready" || v["status"] == "failed"
    })
    .await;
    assert_eq!(v["status"], "ready", "{v}");

    // The killed attempt's partial version goes (just after the flip that
    // made the video ready): one version remains.
    let hls = v["hls_url"].as_str().unwrap().to_string();
    let version = hls.split('/').nth(3).unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(20);
    let keys = loop {
        let keys: Vec<String> = store
            .list(&id)
            .await
            .unwrap()
            .into_iter()
            .map(|o| o.key)
            .collect();
        let others = keys
            .iter()
            .any(|k| !k.starts_with(&format!("{id}/{version}/")));
        if !others {
            break keys;
        }
        assert!(Instant::now() < deadline, "other versions left: {keys:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(keys.iter().any(|k| k.ends_with("master.m3u8")), "{keys:?}");

    // Bring the dead node back on its own data_dir; both nodes serve.
    let revived = start(dir_victim, victim, &env);
    let survivor = a.take().or(b.take()).unwrap();
    let lb2 = Balancer::start(&[&survivor.base, &revived.base]);
    let served_by = play(&http, &lb2.base, &hls).await;
    for n in ["node-a", "node-b"] {
        assert!(
            served_by.iter().any(|s| s == n),
            "{n} served nothing: {served_by:?}"
        );
    }

    // A file imported from a third machine is staged in the bucket, and a
    // node that never saw the file transcodes it.
    let clip = dir_cli.path().join("short.mp4");
    make_clip(&clip, 320, 180, 4, true, &[]);
    let id2 = run_cli(
        dir_cli.path(),
        &env,
        &[
            "import",
            clip.to_str().unwrap(),
            "--title",
            "From elsewhere",
            "--no-wait",
        ],
        "",
    );
    let v2 = wait_for(&http, &lb2.base, &id2, Duration::from_secs(120), |v| {
        v["status"] == "ready" || v["status"] == "failed"
    })
    .await;
    assert_eq!(v2["status"], "ready", "{v2}");
    play(&http, &lb2.base, v2["hls_url"].as_str().unwrap()).await;

    // Nothing but scratch ever lived in a node's data_dir, and it is empty.
    drop((survivor, revived));
    for d in [dir_a.path(), dir_b.path()] {
        let left = files_under(d);
        assert!(left.is_empty(), "{} holds {left:?}", d.display());
        let entries: Vec<_> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(entries, ["tmp"], "{}", d.display());
    }
    drop(lb);
}

//! Roles from the command line against a real node: `user add --admin`
//! makes an admin, `user role` changes a role for tokens already handed
//! out, and `import --owner` gives a CLI import its owner.

mod common;

use std::time::Duration;

use common::procs::{cli, start, token};

/// Status of a rename of video `id` with `token`.
async fn rename(http: &reqwest::Client, base: &str, token: &str, id: &str) -> u16 {
    http.patch(format!("{base}/api/videos/{id}"))
        .bearer_auth(token)
        .json(&serde_json::json!({"title": "Renamed"}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn add_user(data: &std::path::Path, args: &[&str]) -> String {
    let (code, _, err) = cli(data, args, "a long password\n");
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = cli(data, &["token", "create", args[2]], "");
    assert_eq!(code, 0, "{err}");
    out.trim().to_string()
}

/// Queues a local file with `import --no-wait` and the extra flags; the id.
fn import(data: &std::path::Path, extra: &[&str]) -> String {
    let file = data.join("in.mp4");
    std::fs::write(&file, b"not encoded: the job never runs here").unwrap();
    let path = file.display().to_string();
    let mut args = vec![
        "import",
        path.as_str(),
        "--title",
        "From the CLI",
        "--no-wait",
    ];
    args.extend_from_slice(extra);
    let (code, out, err) = cli(data, &args, "");
    assert_eq!(code, 0, "{err}");
    out.trim().to_string()
}

#[tokio::test]
async fn admins_from_the_cli_and_owners_of_cli_imports() {
    let data = tempfile::tempdir().unwrap();
    let tester = token(data.path());
    let (code, _, err) = cli(
        data.path(),
        &["user", "add", "root", "--admin"],
        "root-password\n",
    );
    assert_eq!(code, 0, "{err}");
    let (_, out, _) = cli(data.path(), &["token", "create", "root"], "");
    let root = out.trim().to_string();
    let carol = add_user(data.path(), &["user", "add", "carol"]);

    let owned = import(data.path(), &["--owner", "carol"]);
    let ownerless = import(data.path(), &[]);
    let (code, _, err) = cli(
        data.path(),
        &["import", "x.mp4", "--title", "t", "--owner", "nobody"],
        "",
    );
    assert_eq!(
        (code, err.contains("no user named nobody")),
        (2, true),
        "{err}"
    );

    let node = start(data.path(), "node-a", &["--no-worker"]);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let base = &node.base;
    // The owner as an admin sees it (the public never does).
    let owner = |id: String, token: String| {
        let http = http.clone();
        async move {
            let r = http
                .get(format!("{base}/api/videos/{id}"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            r.json::<serde_json::Value>().await.unwrap()["owner"].clone()
        }
    };
    assert_eq!(owner(owned.clone(), root.clone()).await, "carol");
    assert_eq!(
        owner(ownerless.clone(), root.clone()).await,
        serde_json::Value::Null
    );
    let public = common::procs::video(&http, base, &owned).await;
    assert!(public.get("owner").is_none(), "{public}");

    // carol's own import is hers; another uploader's is not; an admin's is.
    assert_eq!(rename(&http, base, &tester, &owned).await, 403);
    assert_eq!(rename(&http, base, &carol, &owned).await, 200);
    assert_eq!(rename(&http, base, &root, &owned).await, 200);
    // An ownerless import is left to admins…
    assert_eq!(rename(&http, base, &carol, &ownerless).await, 403);
    assert_eq!(rename(&http, base, &root, &ownerless).await, 200);
    // …and a role change applies to a token already handed out.
    let (code, _, err) = cli(data.path(), &["user", "role", "carol", "admin"], "");
    assert_eq!(code, 0, "{err}");
    assert_eq!(rename(&http, base, &carol, &ownerless).await, 200);
    let (code, _, err) = cli(data.path(), &["user", "role", "carol", "uploader"], "");
    assert_eq!(code, 0, "{err}");
    assert_eq!(rename(&http, base, &carol, &ownerless).await, 403);
    let (code, _, err) = cli(data.path(), &["user", "role", "nobody", "admin"], "");
    assert_eq!((code, err.contains("not-found")), (1, true), "{err}");
}

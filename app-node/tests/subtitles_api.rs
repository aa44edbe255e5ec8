//! `POST /api/videos/{id}/subtitles` through the router: auth, validation,
//! 422 with line numbers, and the master playlist rewritten with the track.

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{make_clip, source_server, TestNode};

fn form(lang: &str, label: &str, file: &[u8]) -> (String, Vec<u8>) {
    let b = "reelsubs42";
    let mut body = Vec::new();
    for (name, value) in [("lang", lang), ("label", label)] {
        body.extend_from_slice(
            format!("--{b}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"s.srt\"\r\n\
             Content-Type: application/x-subrip\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{b}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={b}"), body)
}

async fn post(
    node: &TestNode,
    id: &str,
    token: Option<&str>,
    (ctype, body): (String, Vec<u8>),
) -> (StatusCode, serde_json::Value) {
    let mut req =
        Request::post(format!("/api/videos/{id}/subtitles")).header("content-type", ctype);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let (s, _, b) = node.call(req.body(Body::from(body)).unwrap()).await;
    (s, serde_json::from_slice(&b).unwrap_or_default())
}

const GOOD_SRT: &str =
    "1\r\n00:00:01,000 --> 00:00:03,000\r\nHello <b>there</b> <script>x</script>\r\n";

#[tokio::test]
async fn subtitles_are_validated_stored_and_listed_in_the_master() {
    let node = TestNode::new(&[]).await;
    let src = tempfile::tempdir().unwrap();
    make_clip(&src.path().join("c.mp4"), 320, 240, 4, true, &[]);
    let addr = source_server(src.path().to_path_buf()).await;
    let (s, v) = node
        .post_json(
            "/api/videos",
            &format!(r#"{{"title":"subs","source_url":"http://{addr}/c.mp4"}}"#),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let id = v["id"].as_str().unwrap().to_string();

    // Before it is ready there is no tree to add to.
    let (s, v) = post(
        &node,
        &id,
        Some(&node.token),
        form("en", "English", GOOD_SRT.as_bytes()),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("video-not-ready"))
    );

    let v = node
        .process_until_settled(&id, Duration::from_secs(120))
        .await;
    assert_eq!(v["status"], "ready", "{v}");
    assert!(v["storyboard_url"]
        .as_str()
        .unwrap()
        .ends_with("/storyboard.vtt"));
    let (s, sb) = node.get(v["storyboard_url"].as_str().unwrap()).await;
    assert_eq!(s, StatusCode::OK);
    assert!(sb.contains("storyboard.jpg#xywh=0,0,"), "{sb}");

    let (s, v) = post(&node, &id, None, form("en", "English", GOOD_SRT.as_bytes())).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthorized"))
    );
    let json = ("application/json".to_string(), b"{}".to_vec());
    let (s, v) = post(&node, &id, Some(&node.token), json).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad-multipart"))
    );
    let (s, v) = post(
        &node,
        "0123456789abcdef",
        Some(&node.token),
        form("en", "E", GOOD_SRT.as_bytes()),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("video-not-found"))
    );
    let (s, v) = post(
        &node,
        &id,
        Some(&node.token),
        form("../en", "E", GOOD_SRT.as_bytes()),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad-lang"))
    );

    let broken = "1\n00:00:01,000 --> 00:00:02,000\nok\n\n2\n00:00:0x,000 --> 00:00:04,000\nbad\n";
    let (s, v) = post(
        &node,
        &id,
        Some(&node.token),
        form("en", "English", broken.as_bytes()),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["error"]["code"], "bad-timestamp");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("line 6"),
        "{v}"
    );
    let (s, v) = post(
        &node,
        &id,
        Some(&node.token),
        form("en", "", b"\x00\x01\x02binary"),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("not-text"))
    );

    // The page asks for the master under a new URL once tracks change, so a
    // briefly cached copy without the new track is not used.
    let src = |html: String| {
        html.replace("&#x2f;", "/")
            .split("data-src=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_string()
    };
    let before = src(node.get(&format!("/watch/{id}")).await.1);
    let (s, v) = post(
        &node,
        &id,
        Some(&node.token),
        form("en", "English", GOOD_SRT.as_bytes()),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["subtitles"][0]["lang"], "en");
    assert_eq!(v["subtitles"][0]["label"], "English");
    let after = src(node.get(&format!("/watch/{id}")).await.1);
    assert!(
        before.starts_with(&format!("/media/{id}/v")) && before.contains("/master.m3u8?v="),
        "{before}"
    );
    assert_ne!(before, after);
    let mut utf16 = vec![0xFE, 0xFF];
    for u in "WEBVTT\n\n00:01.000 --> 00:02.000\nBonjour\n".encode_utf16() {
        utf16.extend_from_slice(&u.to_be_bytes());
    }
    let (s, v) = post(&node, &id, Some(&node.token), form("fr", "", &utf16)).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["subtitles"].as_array().unwrap().len(), 2);

    let (_, master) = node.get(&format!("/media/{id}/master.m3u8")).await;
    let en_line = master
        .lines()
        .find(|l| l.contains("LANGUAGE=\"en\""))
        .unwrap_or_else(|| panic!("{master}"));
    assert!(
        en_line.starts_with(
            "#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"subs\",NAME=\"English\",LANGUAGE=\"en\",\
         DEFAULT=NO,AUTOSELECT=YES,URI=\"subs/en-"
        ),
        "{master}"
    );
    // Named after the content, so a replaced track never hides behind a
    // cached copy of the old one.
    let en_uri = en_line
        .split("URI=\"")
        .nth(1)
        .unwrap()
        .trim_end_matches('"');
    assert!(en_uri.ends_with(".m3u8") && en_uri.len() == "subs/en-".len() + 12 + 5);
    assert!(
        master.contains("NAME=\"Français\",LANGUAGE=\"fr\""),
        "{master}"
    );
    let variants = master
        .lines()
        .filter(|l| l.starts_with("#EXT-X-STREAM-INF"))
        .count();
    let with_group = master
        .lines()
        .filter(|l| l.ends_with(",SUBTITLES=\"subs\""))
        .count();
    assert!(variants > 0 && variants == with_group, "{master}");
    let (_, playlist) = node.get(&format!("/media/{id}/{en_uri}")).await;
    let vtt_name = en_uri.trim_start_matches("subs/").replace(".m3u8", ".vtt");
    assert!(playlist.contains(&format!("\n{vtt_name}\n")), "{playlist}");
    assert!(playlist.ends_with("\n#EXT-X-ENDLIST\n"), "{playlist}");
    let (s, vtt) = node.get(&format!("/media/{id}/subs/{vtt_name}")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        vtt,
        "WEBVTT\n\n00:00:01.000 --> 00:00:03.000\nHello <b>there</b> &lt;script&gt;x&lt;/script&gt;\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tracks_uploaded_at_the_same_time_are_all_kept() {
    let node = TestNode::new(&[]).await;
    let v = node.publish_clip(320, 240, 2, false).await;
    let id = v["id"].as_str().unwrap().to_string();
    // Over real sockets and several threads, so the handlers truly overlap;
    // the first read of a master playlist is slowed down, so an upload that
    // edited the stored master from a stale track list would write last.
    let mut node = node;
    node.replace_store(common::slow_store::SlowStore::wrap(
        node.state.store.clone(),
        "master.m3u8",
        std::time::Duration::from_millis(700),
    ));
    let base = format!("http://{}", common::serve(&node).await);
    let langs = [
        "en", "fr", "de", "es", "it", "nl", "pt", "sv", "da", "fi", "pl", "cs", "hu", "ro", "tr",
        "el", "ja", "ko", "zh", "ar", "he", "hi", "ru", "uk",
    ];
    let http = reqwest::Client::new();
    let uploads = langs.map(|lang| {
        let (http, base, id, token) = (http.clone(), base.clone(), id.clone(), node.token.clone());
        tokio::spawn(async move {
            let text = format!("1\n00:00:00,500 --> 00:00:01,500\nhello {lang}\n");
            let (ctype, body) = form(lang, "", text.as_bytes());
            let r = http
                .post(format!("{base}/api/videos/{id}/subtitles"))
                .bearer_auth(token)
                .header("content-type", ctype)
                .body(body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        })
    });
    for t in uploads {
        let (s, v) = t.await.unwrap();
        assert_eq!(s, 201, "{v}");
    }
    let (_, master) = node.get(&format!("/media/{id}/master.m3u8")).await;
    for lang in langs {
        assert!(
            master.contains(&format!("LANGUAGE=\"{lang}\"")),
            "{lang} lost: {master}"
        );
    }
    let (_, v) = node.get(&format!("/api/videos/{id}")).await;
    let v: serde_json::Value = serde_json::from_str(&v).unwrap();
    assert_eq!(v["subtitles"].as_array().unwrap().len(), langs.len());
}

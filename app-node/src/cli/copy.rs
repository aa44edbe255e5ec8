//! `catalog copy --to URL` and `storage copy --to s3`: moving an existing
//! library from one machine to several. Both are idempotent: what is already
//! at the target is skipped, so an interrupted copy is finished by running
//! it again.

use indicatif::{ProgressBar, ProgressStyle};

use crate::config::Config;

fn bar(len: u64, unit: &str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    let template = format!("{{msg:12}} [{{bar:40}}] {{pos}}/{{len}} {unit} {{elapsed}}");
    pb.set_style(
        ProgressStyle::with_template(&template)
            .expect("valid template")
            .progress_chars("=> "),
    );
    pb
}

/// Copies the configured catalog into the database at `to`.
pub async fn catalog(cfg: Config, to: &str) -> anyhow::Result<i32> {
    let from = cfg.catalog_url();
    if from == to {
        eprintln!("error[same-catalog]: the target is the configured catalog itself");
        return Ok(2);
    }
    let pb = bar(0, "rows");
    let show = pb.clone();
    let report = crate::catalog::copy_catalog(&from, to, &move |table, done, total| {
        show.set_message(table.to_string());
        show.set_length(total);
        show.set_position(done);
    })
    .await;
    pb.finish_and_clear();
    let report = match report {
        Ok(r) => r,
        Err(e @ crate::catalog::CatalogError::Busy(_)) => {
            eprintln!("error[{}]: {e}", e.code());
            return Ok(1);
        }
        Err(e) => return Err(e.into()),
    };
    for (table, copied, kept) in &report.tables {
        println!("{table:12} {copied} copied, {kept} already there");
    }
    Ok(0)
}

/// Copies every object of the configured (local) store into the store of
/// kind `to`, configured by the same file and environment.
pub async fn storage(cfg: Config, to: &str) -> anyhow::Result<i32> {
    if cfg.storage.kind == to {
        eprintln!("error[same-store]: storage.kind is already {to:?}; set it to the source kind");
        return Ok(2);
    }
    let mut target_cfg = cfg.clone();
    target_cfg.storage.kind = to.to_string();
    if let Err(e) = target_cfg.validate() {
        eprintln!("error[{}]: target store: {e}", e.code());
        return Ok(2);
    }
    let src = crate::storage::open(&cfg).await?;
    let dst = crate::storage::open(&target_cfg).await?;
    let objects = src.list("").await?;
    let total: u64 = objects.iter().map(|o| o.size).sum();
    let pb = bar(total, "bytes");
    pb.set_message("copying");
    tokio::fs::create_dir_all(cfg.tmp_dir()).await?;
    let (mut copied, mut kept) = (0u64, 0u64);
    for o in &objects {
        if dst.size(&o.key).await? == Some(o.size) {
            kept += 1;
        } else {
            let tmp = cfg
                .tmp_dir()
                .join(format!("copy-{}", crate::catalog::new_id()));
            let r = async {
                src.fetch_to_file(&o.key, &tmp).await?;
                dst.put_file(&o.key, &tmp).await
            }
            .await;
            let _ = tokio::fs::remove_file(&tmp).await;
            r?;
            copied += 1;
        }
        pb.inc(o.size);
    }
    pb.finish_and_clear();
    println!(
        "{} objects: {copied} copied, {kept} already there ({total} bytes)",
        objects.len()
    );
    Ok(0)
}

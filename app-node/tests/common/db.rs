//! Fresh catalog databases for tests on every engine: a temp SQLite file, or
//! a database created on the local PostgreSQL / MariaDB server and dropped
//! when the test ends. The servers' addresses can be moved with
//! `REEL_TEST_POSTGRES` / `REEL_TEST_MYSQL` (admin URLs).

use std::time::Duration;

use sqlx::{Connection, Executor};

/// A catalog engine under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
    Mariadb,
}

/// One database that exists for the life of the value.
pub struct TestDb {
    pub engine: Engine,
    /// URL to hand to `catalog::open`.
    pub url: String,
    name: String,
    _dir: Option<tempfile::TempDir>,
}

fn admin_url(engine: Engine) -> String {
    match engine {
        Engine::Postgres => std::env::var("REEL_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into()),
        Engine::Mariadb => std::env::var("REEL_TEST_MYSQL")
            .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/mysql".into()),
        Engine::Sqlite => unreachable!(),
    }
}

/// `scheme://user@host:port` of an admin URL (everything before the path).
fn server_part(url: &str) -> &str {
    let after = url.find("://").map(|i| i + 3).unwrap_or(0);
    match url[after..].find('/') {
        Some(i) => &url[..after + i],
        None => url,
    }
}

async fn admin(engine: Engine, sql: &str) {
    let url = admin_url(engine);
    let run = async {
        match engine {
            Engine::Postgres => {
                let mut c = sqlx::PgConnection::connect(&url).await?;
                c.execute(sql).await?;
                c.close().await
            }
            Engine::Mariadb => {
                let mut c = sqlx::MySqlConnection::connect(&url).await?;
                c.execute(sql).await?;
                c.close().await
            }
            Engine::Sqlite => Ok(()),
        }
    };
    match tokio::time::timeout(Duration::from_secs(30), run).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => panic!(
            "{engine:?} at {url} refused `{sql}`: {e} \
             (the catalog tests need a running server; .ci/run starts one)"
        ),
        Err(_) => panic!("{engine:?} at {url} did not answer within 30 s"),
    }
}

impl TestDb {
    /// Creates an empty database.
    pub async fn new(engine: Engine) -> Self {
        let name = format!("reel_test_{:016x}", rand::random::<u64>());
        match engine {
            Engine::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}/reel.db", dir.path().display());
                TestDb {
                    engine,
                    url,
                    name,
                    _dir: Some(dir),
                }
            }
            Engine::Postgres => {
                admin(engine, &format!("CREATE DATABASE {name}")).await;
                let url = format!("{}/{name}", server_part(&admin_url(engine)));
                TestDb {
                    engine,
                    url,
                    name,
                    _dir: None,
                }
            }
            Engine::Mariadb => {
                admin(
                    engine,
                    &format!(
                        "CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                    ),
                )
                .await;
                let url = format!("{}/{name}", server_part(&admin_url(engine)));
                TestDb {
                    engine,
                    url,
                    name,
                    _dir: None,
                }
            }
        }
    }

    /// The same database reached through `host:port` (a proxy in front).
    pub fn url_via(&self, addr: std::net::SocketAddr) -> String {
        let server = server_part(&self.url);
        let host_start = server
            .rfind('@')
            .map(|i| i + 1)
            .unwrap_or(server.find("://").unwrap() + 3);
        format!(
            "{}{}{}",
            &server[..host_start],
            addr,
            &self.url[server.len()..]
        )
    }

    /// The real server's address (for a proxy to forward to).
    pub fn server_addr(&self) -> std::net::SocketAddr {
        let server = server_part(&self.url);
        let host_start = server
            .rfind('@')
            .map(|i| i + 1)
            .unwrap_or(server.find("://").unwrap() + 3);
        let hostport = &server[host_start..];
        use std::net::ToSocketAddrs;
        hostport.to_socket_addrs().unwrap().next().unwrap()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let sql = match self.engine {
            Engine::Sqlite => return,
            Engine::Postgres => format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            Engine::Mariadb => format!("DROP DATABASE IF EXISTS {}", self.name),
        };
        let engine = self.engine;
        // Drop runs outside async code; a short-lived runtime of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(admin(engine, &sql));
        })
        .join();
    }
}

impl TestDb {
    /// The catalog on this database (migrated).
    pub async fn open_catalog(&self) -> reel_node::catalog::Catalog {
        reel_node::catalog::open(&self.url, &reel_node::catalog::CatalogOptions::default())
            .await
            .unwrap_or_else(|e| panic!("open {:?}: {e}", self.engine))
    }
}

/// Instantiates each async case `fn(TestDb)` as one test per engine, in
/// modules `sqlite`, `postgres` and `mariadb`.
#[macro_export]
macro_rules! on_every_engine {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $( #[tokio::test] async fn $case() {
                super::$case($crate::common::db::TestDb::new($crate::common::db::Engine::Sqlite).await).await
            } )*
        }
        mod postgres {
            $( #[tokio::test] async fn $case() {
                super::$case($crate::common::db::TestDb::new($crate::common::db::Engine::Postgres).await).await
            } )*
        }
        mod mariadb {
            $( #[tokio::test] async fn $case() {
                super::$case($crate::common::db::TestDb::new($crate::common::db::Engine::Mariadb).await).await
            } )*
        }
    };
}

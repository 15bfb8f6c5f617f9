//! One MongoDB database per test, on the server at `MONGODB_URI` (default
//! mongodb://127.0.0.1:27017: FerretDB from `make infra`, or a real MongoDB),
//! so tests run in parallel and never see each other's documents.

use mongodb::bson::doc;
use std::time::Duration;

pub const DEFAULT_URI: &str = "mongodb://127.0.0.1:27017";

pub fn mongodb_uri() -> String {
    std::env::var("MONGODB_URI")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_URI.to_string())
}

/// A uniquely named database, dropped when this goes out of scope.
pub struct TestDatabase {
    pub uri: String,
    pub name: String,
}

impl TestDatabase {
    /// A fresh name on a server that answers; an unreachable server is a
    /// failed test, never a skipped one.
    pub async fn fresh() -> Self {
        let uri = mongodb_uri();
        let client = client(&uri).await;
        if let Err(e) = client.database("admin").run_command(doc! {"ping": 1}).await {
            panic!(
                "MongoDB is not reachable at {uri}: {e}\n\
                 Start the local stack with `make infra` (FerretDB on 127.0.0.1:27017), \
                 or set MONGODB_URI to a MongoDB server."
            );
        }
        client.shutdown().await;
        Self {
            uri,
            name: format!("t_{}", uuid::Uuid::new_v4().simple()),
        }
    }

    /// The event service's store on this database, indexes prepared.
    pub async fn store(&self) -> event::store::MongoCatalog {
        event::store::MongoCatalog::connect(&self.uri, &self.name)
            .await
            .unwrap_or_else(|e| panic!("MongoDB at {} is not usable: {e:#}", self.uri))
    }
}

async fn client(uri: &str) -> mongodb::Client {
    let mut options = mongodb::options::ClientOptions::parse(uri)
        .await
        .unwrap_or_else(|e| panic!("MONGODB_URI={uri} is not a MongoDB URI: {e}"));
    options.server_selection_timeout = Some(Duration::from_secs(3));
    mongodb::Client::with_options(options).unwrap()
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let uri = self.uri.clone();
        let name = self.name.clone();
        // Drop runs inside the test's runtime, which cannot be blocked on; a
        // thread with its own runtime and client can. A database left behind
        // (the drop failed, or the test was killed) is only litter: every
        // name is new.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let client = client(&uri).await;
                let result = client.database(&name).drop().await;
                client.shutdown().await;
                result.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            eprintln!("note: test database {} was not dropped", self.name);
        }
    }
}

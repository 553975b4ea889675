//! A whole test environment: its directory, Redis, Postgres, and shortcuts to
//! start our services against them.

use super::postgres::Postgres;
use super::redis_server::RedisServer;
use super::service::Service;
use super::TestDir;

#[derive(Debug)]
pub struct Stack {
    // Fields drop in order: the servers first, then the directory they use.
    pub redis: RedisServer,
    pub pg: Postgres,
    pub dir: TestDir,
}

impl Stack {
    pub fn start(name: &str) -> Self {
        Self::start_with(name, false)
    }

    /// With `appendonly`, Redis keeps its queue across a restart.
    pub fn start_with(name: &str, appendonly: bool) -> Self {
        let dir = TestDir::new(name);
        let redis = RedisServer::start(&dir, appendonly);
        let pg = Postgres::start(&dir);
        Self { redis, pg, dir }
    }

    /// A stack whose database has the current schema, as our worker leaves it
    /// (for tests of `result` that write `votes` themselves).
    pub async fn migrated(name: &str) -> Self {
        let stack = Self::start(name);
        let mut client = stack.pg.client().await;
        worker::migrate::run(&mut client)
            .await
            .expect("migrate the test database");
        stack
    }

    /// `REDIS_URL` and `DATABASE_URL` of this stack, plus `extra`.
    pub fn env(&self, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut env = vec![
            ("REDIS_URL".to_owned(), self.redis.url()),
            ("DATABASE_URL".to_owned(), self.pg.url()),
        ];
        env.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        env
    }

    pub async fn vote(&self, extra: &[(&str, &str)]) -> Service {
        Service::spawn("vote", &self.dir, &self.env(extra))
            .healthy()
            .await
    }

    pub async fn worker(&self, extra: &[(&str, &str)]) -> Service {
        Service::spawn("worker", &self.dir, &self.env(extra))
            .healthy()
            .await
    }

    pub async fn result(&self, extra: &[(&str, &str)]) -> Service {
        Service::spawn("result", &self.dir, &self.env(extra))
            .healthy()
            .await
    }

    /// The `votes` table as voter id → vote.
    pub async fn stored_votes(&self) -> std::collections::BTreeMap<String, String> {
        let client = self.pg.client().await;
        client
            .query("SELECT id, vote FROM votes", &[])
            .await
            .expect("read the votes table")
            .into_iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect()
    }

    /// Every item of a Redis list, head first.
    pub async fn list(&self, key: &str) -> Vec<String> {
        let mut redis = self.redis.connection().await;
        redis::cmd("LRANGE")
            .arg(key)
            .arg(0)
            .arg(-1)
            .query_async(&mut redis)
            .await
            .expect("LRANGE")
    }

    /// How many messages wait in the list `votes`.
    pub async fn queued(&self) -> i64 {
        let mut redis = self.redis.connection().await;
        redis::cmd("LLEN")
            .arg("votes")
            .query_async(&mut redis)
            .await
            .expect("LLEN votes")
    }
}

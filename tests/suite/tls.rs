//! TLS to Redis and Postgres: a local redis-server that speaks only TLS and a
//! Postgres with `ssl=on`, their certificates signed by a throw-away CA the
//! test makes. The services verify the servers against that CA, and refuse a
//! server it did not sign, or one whose name does not match, saying why.

use crate::harness::postgres::Postgres;
use crate::harness::redis_server::{RedisServer, MASTER_NAME};
use crate::harness::service::Service;
use crate::harness::tls::{Authority, ServerFiles};
use crate::harness::{binaries, cast, eventually, get_json, http_client, tally_until, TestDir};
use std::path::Path;
use std::time::Duration;

/// A TLS-only Redis and a TLS-offering Postgres whose certificates name `names`.
struct Servers {
    redis: RedisServer,
    pg: Postgres,
}

impl Servers {
    fn start(dir: &TestDir, ca: &Authority, names: &[&str]) -> Self {
        let redis_files: ServerFiles = ca.server(dir, "redis", names);
        let pg_files = ca.server(dir, "postgres", names);
        Self {
            redis: RedisServer::start_tls(dir, &redis_files),
            pg: Postgres::start_tls(dir, &pg_files),
        }
    }

    fn redis_url(&self) -> String {
        format!("rediss://127.0.0.1:{}/0", self.redis.port)
    }

    fn database_url(&self, sslmode: &str) -> String {
        format!(
            "postgres://postgres:postgres@127.0.0.1:{}/postgres?sslmode={sslmode}",
            self.pg.port
        )
    }
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

/// The worker's readiness detail for one dependency, once it is not "ok" or
/// still "ok" after the services had time to connect.
async fn dependency(worker: &Service, name: &str, expect_ok: bool) -> String {
    eventually(
        Duration::from_secs(20),
        &format!("the worker's view of {name}"),
        || async {
            let body = get_json(&worker.url("/readyz")).await?;
            let state = body["dependencies"][name].as_str()?.to_owned();
            ((state == "ok") == expect_ok).then_some(state)
        },
    )
    .await
}

#[tokio::test]
async fn every_service_talks_tls_to_redis_and_postgres_checked_against_the_ca() {
    let dir = TestDir::new("tls-verified");
    let ca = Authority::new(&dir, "good");
    let servers = Servers::start(&dir, &ca, &["localhost", "127.0.0.1"]);
    let settings = env(&[
        ("REDIS_URL", &servers.redis_url()),
        ("REDIS_CA_FILE", path(&ca.ca_file)),
        ("DATABASE_URL", &servers.database_url("verify-full")),
        ("DATABASE_CA_FILE", path(&ca.ca_file)),
    ]);
    let vote = Service::spawn("vote", &dir, &settings)
        .healthy()
        .await
        .ready()
        .await;
    let _worker = Service::spawn("worker", &dir, &settings)
        .healthy()
        .await
        .ready()
        .await;
    let result = Service::spawn("result", &dir, &settings)
        .healthy()
        .await
        .ready()
        .await;
    for choice in ["a", "a", "b"] {
        let voter = http_client(true);
        assert_eq!(cast(&voter, &vote.url("/"), choice).await.status(), 200);
    }
    tally_until(&result.url("/api/results"), 2, 1, Duration::from_secs(10)).await;

    // Postgres's own view: every connection of ours is encrypted.
    let client = servers.pg.client().await;
    let rows = client
        .query(
            "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
             WHERE a.application_name = 'votingapp'",
            &[],
        )
        .await
        .unwrap();
    let encrypted: Vec<bool> = rows.iter().map(|r| r.get(0)).collect();
    assert!(
        encrypted.len() >= 2,
        "worker and result connected: {encrypted:?}"
    );
    assert!(encrypted.iter().all(|ssl| *ssl), "{encrypted:?}");
}

#[tokio::test]
async fn a_server_the_ca_did_not_sign_or_of_another_name_is_refused_with_the_reason() {
    let dir = TestDir::new("tls-refused");
    let trusted = Authority::new(&dir, "trusted");
    let stranger = Authority::new(&dir, "stranger");
    let servers = Servers::start(&dir, &stranger, &["127.0.0.1"]);
    a_server_signed_by_an_untrusted_ca_is_refused(&dir, &trusted, &servers).await;
    a_server_of_another_name_is_refused_by_verify_full_only(&dir, &trusted).await;
}

/// Signed by a CA we do not trust: no connection, and the reason shown.
async fn a_server_signed_by_an_untrusted_ca_is_refused(
    dir: &TestDir,
    trusted: &Authority,
    servers: &Servers,
) {
    let untrusted = env(&[
        ("REDIS_URL", &servers.redis_url()),
        ("REDIS_CA_FILE", path(&trusted.ca_file)),
        ("DATABASE_URL", &servers.database_url("verify-full")),
        ("DATABASE_CA_FILE", path(&trusted.ca_file)),
    ]);
    let worker = Service::spawn("worker", dir, &untrusted).healthy().await;
    let redis = dependency(&worker, "redis", false).await;
    let postgres = dependency(&worker, "postgres", false).await;
    for state in [&redis, &postgres] {
        assert!(state.contains("UnknownIssuer"), "{state}");
    }
    let vote = Service::spawn("vote", dir, &untrusted).healthy().await;
    let refused = cast(&http_client(true), &vote.url("/"), "a").await;
    assert_eq!(
        refused.status(),
        503,
        "a vote Redis never got is not accepted"
    );

    let migrate = binaries::run(
        "worker",
        &["migrate"],
        &[
            ("DATABASE_URL", &servers.database_url("verify-full")),
            ("DATABASE_CA_FILE", path(&trusted.ca_file)),
        ],
    )
    .await;
    let stderr = migrate.stderr;
    assert_eq!(migrate.code, Some(1), "{stderr}");
    assert!(stderr.contains("UnknownIssuer"), "{stderr}");
}

/// The right CA but a certificate for another name: verify-full refuses,
/// verify-ca (chain only) accepts.
async fn a_server_of_another_name_is_refused_by_verify_full_only(
    dir: &TestDir,
    trusted: &Authority,
) {
    let other_dir = TestDir::new("tls-other-name");
    let other_name = Servers::start(&other_dir, trusted, &["db.internal"]);
    let full = Service::spawn(
        "worker",
        dir,
        &env(&[
            ("REDIS_URL", &other_name.redis_url()),
            ("REDIS_CA_FILE", path(&trusted.ca_file)),
            ("DATABASE_URL", &other_name.database_url("verify-full")),
            ("DATABASE_CA_FILE", path(&trusted.ca_file)),
        ]),
    )
    .healthy()
    .await;
    let postgres = dependency(&full, "postgres", false).await;
    assert!(postgres.contains("not valid for name"), "{postgres}");
    let redis = dependency(&full, "redis", false).await;
    assert!(redis.contains("not valid for name"), "{redis}");
    let chain_only = Service::spawn(
        "worker",
        dir,
        &env(&[
            ("REDIS_URL", &format!("{}#insecure", other_name.redis_url())),
            ("DATABASE_URL", &other_name.database_url("verify-ca")),
            ("DATABASE_CA_FILE", path(&trusted.ca_file)),
        ]),
    )
    .healthy()
    .await;
    chain_only.ready().await;
}

#[tokio::test]
async fn through_sentinels_a_tls_master_is_checked_against_the_ca() {
    let dir = TestDir::new("tls-sentinel");
    let trusted = Authority::new(&dir, "trusted");
    let stranger = Authority::new(&dir, "stranger");
    let master = RedisServer::start_tls(&dir, &trusted.server(&dir, "redis", &["127.0.0.1"]));
    let sentinel = RedisServer::sentinel_of(&master, &dir);
    let sentinels = sentinel.address();
    // The URL's host is not used with Sentinels: they name the master.
    let settings = |ca: &Authority| {
        env(&[
            ("REDIS_URL", "rediss://unused.invalid:6379/0"),
            ("REDIS_SENTINELS", &sentinels),
            ("REDIS_MASTER_NAME", MASTER_NAME),
            ("REDIS_CA_FILE", path(&ca.ca_file)),
        ])
    };
    let vote = Service::spawn("vote", &dir, &settings(&trusted))
        .healthy()
        .await
        .ready()
        .await;
    let accepted = cast(&http_client(true), &vote.url("/"), "a").await;
    assert_eq!(accepted.status(), 200, "the master found and trusted");
    let worker = Service::spawn("worker", &dir, &settings(&trusted))
        .healthy()
        .await;
    assert_eq!(dependency(&worker, "redis", true).await, "ok");

    let untrusting = Service::spawn("worker", &dir, &settings(&stranger))
        .healthy()
        .await;
    let redis = dependency(&untrusting, "redis", false).await;
    assert!(redis.contains("UnknownIssuer"), "{redis}");
}

#[tokio::test]
async fn sslmode_require_refuses_a_server_without_tls_and_bad_settings_name_the_variable() {
    let dir = TestDir::new("tls-required");
    let plain = Postgres::start(&dir);
    let url = format!(
        "postgres://postgres:postgres@127.0.0.1:{}/postgres?sslmode=require",
        plain.port
    );
    let migrate = binaries::run("worker", &["migrate"], &[("DATABASE_URL", &url)]).await;
    let stderr = migrate.stderr;
    assert_eq!(migrate.code, Some(1), "{stderr}");
    assert!(stderr.contains("does not support TLS"), "{stderr}");

    for (name, value, expected) in [
        ("DATABASE_URL", format!("{url}x"), "sslmode=requirex"),
        (
            "DATABASE_CA_FILE",
            "/nonexistent/ca.pem".to_owned(),
            "cannot read",
        ),
        (
            "REDIS_CA_FILE",
            "/etc/hostname".to_owned(),
            "no PEM certificate",
        ),
    ] {
        let out = binaries::run("worker", &[], &[(name, &value)]).await;
        let stderr = out.stderr;
        assert_eq!(out.code, Some(2), "{name}: {stderr}");
        assert!(
            stderr.contains(name) && stderr.contains(expected),
            "{stderr}"
        );
    }
}

//! The images and the compose stack, as a user runs them: built from the real
//! Dockerfile, started from the real docker-compose.yml (plus only the offline
//! override, as no registry can be reached here), voted on through the
//! published ports, hit with faults, stopped and started again.
//!
//! Needs a Docker engine and the local images of scripts/offline-images.sh
//! (scripts/test.sh makes them); without an engine each test says why it was
//! skipped (and fails in CI: harness::skip). These tests run on their own,
//! after the rest of the suite (scripts/test.sh), so image builds do not slow
//! the timing-sensitive fault tests.

mod fault_schedule;
mod patroni;
mod replicated;

use crate::harness::compose::{
    docker, docker_output, docker_unavailable, offline_images, output, repo_root, run_ok,
    ComposeStack, APP_IMAGES,
};
use crate::harness::load::Load;
use crate::harness::{eventually, get_json, http_client, page_text, within_blocking};
use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

const VOTE: &str = "http://127.0.0.1:8080/";
const RESULTS: &str = "http://127.0.0.1:8081/api/results";

/// True (and says why, or fails in CI) when there is no engine to run
/// containers on.
fn skip(test: &str) -> bool {
    match docker_unavailable() {
        Some(reason) => {
            crate::harness::skip::skip(test, &reason);
            true
        }
        None => false,
    }
}

/// `None` (said why) when there is no engine. The engine's tests take turns
/// as the test group `engine` (.config/nextest.toml).
fn engine_or_skip(test: &str) -> Option<()> {
    (!skip(test)).then_some(())
}

fn script(name: &str) -> Command {
    let mut command = Command::new(repo_root().join("scripts").join(name));
    command.current_dir(repo_root());
    command
}

/// The tally's `total`, once `/api/results` answers.
async fn total() -> i64 {
    eventually(Duration::from_secs(60), "result to answer", || async {
        get_json(RESULTS).await.and_then(|t| t["total"].as_i64())
    })
    .await
}

async fn total_reaches(expected: i64, limit: Duration) -> Duration {
    let started = Instant::now();
    eventually(limit, &format!("a total of {expected}"), || async {
        let now = get_json(RESULTS).await.and_then(|t| t["total"].as_i64());
        (now == Some(expected)).then_some(())
    })
    .await;
    started.elapsed()
}

/// A container's start time and restart count.
fn started(stack: &ComposeStack, service: &str) -> (String, i64) {
    let state = stack.inspect(service);
    (
        state["State"]["StartedAt"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        state["RestartCount"].as_i64().unwrap_or_default(),
    )
}

fn wait_healthy(stack: &ComposeStack, service: &str) {
    let healthy = within_blocking(Duration::from_secs(90), || {
        (stack.inspect(service)["State"]["Health"]["Status"] == "healthy").then_some(())
    });
    assert!(
        healthy.is_some(),
        "{service} not healthy: {}",
        stack.inspect(service)["State"]
    );
}

/// Waits until no Redis list holds a vote: the queue and every worker's
/// processing list are drained (an empty list does not exist in Redis).
async fn redis_lists_drained(stack: &ComposeStack) {
    eventually(
        Duration::from_secs(120),
        "the Redis lists to drain",
        || async {
            let keys = stack.redis_cli(&["--scan", "--pattern", "votes*"]);
            let lists: Vec<&str> = keys
                .lines()
                .filter(|key| stack.redis_cli(&["type", key]) == "list")
                .collect();
            lists.is_empty().then_some(())
        },
    )
    .await;
}

fn image_sizes() -> Vec<(String, u64)> {
    APP_IMAGES
        .iter()
        .map(|image| {
            let size = docker(&["image", "inspect", "--format", "{{.Size}}", image]);
            (image.to_string(), size.trim().parse().unwrap())
        })
        .collect()
}

/// Hides a local image's name while alive (the image itself stays).
struct HiddenImage {
    name: String,
    backup: String,
}

impl HiddenImage {
    fn new(name: &str) -> Self {
        let backup = format!("votingapp-test/hidden:{}", std::process::id());
        docker(&["tag", name, &backup]);
        docker(&["rmi", name]);
        Self {
            name: name.to_owned(),
            backup,
        }
    }
}

impl Drop for HiddenImage {
    fn drop(&mut self) {
        let _ = docker_output(&["tag", &self.backup, &self.name]);
        let _ = docker_output(&["rmi", &self.backup]);
    }
}

#[test]
fn without_an_engine_the_scripts_say_so() {
    for (name, args) in [
        ("compose.sh", vec!["--offline", "up"]),
        ("build-images.sh", vec!["--offline"]),
        ("offline-images.sh", vec![]),
    ] {
        let out = output(
            script(name)
                .args(&args)
                .env("DOCKER_HOST", "unix:///nonexistent/docker.sock"),
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name} succeeded without an engine");
        assert!(
            stderr.contains("no Docker engine answers"),
            "{name}: {stderr}"
        );
    }
}

#[test]
fn a_missing_stand_in_names_the_script_that_builds_it() {
    let Some(()) = engine_or_skip("a_missing_stand_in_names_the_script_that_builds_it") else {
        return;
    };
    let listed = offline_images();
    // The replicated stack's stand-ins (Patroni's) are in its own overlay.
    let compose: String = ["compose.offline.yaml", "compose.replicated.offline.yaml"]
        .map(|file| std::fs::read_to_string(repo_root().join(file)).unwrap())
        .concat();
    for image in &listed {
        assert!(
            compose.contains(image),
            "neither compose.offline.yaml nor compose.replicated.offline.yaml uses {image}"
        );
    }
    let standin = listed.iter().find(|i| i.contains("redis")).unwrap();
    let _hidden = HiddenImage::new(standin);
    let out = output(script("compose.sh").args(["--offline", "config", "-q"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(standin) && stderr.contains("./scripts/offline-images.sh"),
        "{stderr}"
    );
}

#[test]
fn the_stand_ins_honour_the_official_images_contract() {
    let Some(()) = engine_or_skip("the_stand_ins_honour_the_official_images_contract") else {
        return;
    };
    let listed = offline_images();
    let postgres = listed.iter().find(|i| i.contains("postgres")).unwrap();
    let redis = listed.iter().find(|i| i.contains("redis")).unwrap();
    for image in [postgres, redis] {
        let labels = docker(&[
            "image",
            "inspect",
            "--format",
            "{{json .Config.Labels}}",
            image,
        ]);
        assert!(
            labels.contains("\"io.votingapp.stand-in\":\"true\""),
            "{image}: {labels}"
        );
        assert!(labels.contains("TEST STAND-IN"), "{image}: {labels}");
    }

    // A new database without a password: refused, naming the variable.
    let out = docker_output(&["run", "--rm", postgres]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("POSTGRES_PASSWORD"));

    let (_gone, name) = postgres_as_the_manifests_run_it(postgres);
    postgres_serves_its_user_and_database_with_the_password(&name);
    let _rgone = redis_as_the_manifests_run_it(redis);
}

/// As the manifests run it: uid 70, PGDATA below the volume's mount point,
/// its own user and database; started and ready. The container (removed
/// when the first value is dropped) and its name.
fn postgres_as_the_manifests_run_it(postgres: &str) -> (Removed, String) {
    let name = format!("votingapp-test-pg-{}", std::process::id());
    let gone = Removed(name.clone());
    docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "--user",
        "70",
        "-e",
        "POSTGRES_PASSWORD=s3cret",
        "-e",
        "POSTGRES_USER=app",
        "-e",
        "POSTGRES_DB=votes",
        "-e",
        "PGDATA=/var/lib/postgresql/data/pgdata",
        "--mount",
        "type=volume,dst=/var/lib/postgresql/data",
        postgres,
    ]);
    let ready = within_blocking(Duration::from_secs(60), || {
        let args = ["exec", &name, "pg_isready", "-h", "127.0.0.1", "-U", "app"];
        docker_output(&args).status.success().then_some(())
    });
    assert!(
        ready.is_some(),
        "postgres stand-in never ready: {}",
        docker(&["logs", &name])
    );
    (gone, name)
}

/// The password is needed over TCP; the data belongs to uid 70.
fn postgres_serves_its_user_and_database_with_the_password(name: &str) {
    let tcp = |password: &str| {
        docker_output(&[
            "exec",
            "-e",
            &format!("PGPASSWORD={password}"),
            name,
            "psql",
            "-h",
            "127.0.0.1",
            "-U",
            "app",
            "-d",
            "votes",
            "-Atc",
            "select current_user, current_database()",
        ])
    };
    let good = tcp("s3cret");
    assert_eq!(
        String::from_utf8_lossy(&good.stdout).trim(),
        "app|votes",
        "{good:?}"
    );
    assert!(
        !tcp("wrong").status.success(),
        "a wrong password was accepted"
    );
    let owner = docker(&[
        "exec",
        name,
        "stat",
        "-c",
        "%u",
        "/var/lib/postgresql/data/pgdata/PG_VERSION",
    ]);
    assert_eq!(owner.trim(), "70");
}

/// Redis as the manifests run it: uid 999, append-only, answering redis-cli
/// ping, protected mode off. The container, removed when dropped.
fn redis_as_the_manifests_run_it(redis: &str) -> Removed {
    let rname = format!("votingapp-test-redis-{}", std::process::id());
    let rgone = Removed(rname.clone());
    docker(&[
        "run",
        "-d",
        "--name",
        &rname,
        "--user",
        "999",
        redis,
        "--appendonly",
        "yes",
    ]);
    let pong = within_blocking(Duration::from_secs(30), || {
        let pong = docker_output(&["exec", &rname, "redis-cli", "ping"]);
        (String::from_utf8_lossy(&pong.stdout).trim() == "PONG").then_some(())
    });
    assert!(
        pong.is_some(),
        "redis stand-in never answered: {}",
        docker(&["logs", &rname])
    );
    let aof = docker(&["exec", &rname, "redis-cli", "config", "get", "appendonly"]);
    assert!(aof.contains("yes"), "{aof}");
    let protected = docker(&[
        "exec",
        &rname,
        "redis-cli",
        "config",
        "get",
        "protected-mode",
    ]);
    assert!(protected.contains("no"), "{protected}");
    rgone
}

/// Removes a container (and its anonymous volumes) when dropped.
struct Removed(String);

impl Drop for Removed {
    fn drop(&mut self) {
        let _ = docker_output(&["rm", "-f", "-v", &self.0]);
    }
}

/// scripts/sbom.sh writes a CycloneDX SBOM for each of our images, with the
/// crates of its binary (at least every workspace crate and every crate of
/// Cargo.lock that `cargo tree` lists for it, which the script checks) and
/// every Debian package of the image.
#[tokio::test]
async fn every_image_gets_a_complete_sbom() {
    if skip("every_image_gets_a_complete_sbom") {
        return;
    }
    run_ok(script("build-images.sh").arg("--offline"));
    let dir = crate::harness::TestDir::new("sbom");
    let out = dir.join("sbom");
    run_ok(script("sbom.sh").env("SBOM_DIR", &out));
    for image in APP_IMAGES {
        let name = image.trim_start_matches("localhost/votingapp/");
        let file = out.join(format!("{}.cdx.json", name.replace(':', "_")));
        let text = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("no SBOM for {image} at {}: {e}", file.display()));
        let bom: serde_json::Value = serde_json::from_str(&text).expect("the SBOM is JSON");
        assert_eq!(bom["bomFormat"], "CycloneDX", "{image}");
        assert_eq!(bom["metadata"]["component"]["name"], image);
        let purls: Vec<&str> = bom["components"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["purl"].as_str())
            .collect();
        let crate_name = name.split(':').next().unwrap();
        let crates = purls.iter().filter(|p| p.starts_with("pkg:cargo/")).count();
        let debs = purls
            .iter()
            .filter(|p| p.starts_with("pkg:deb/debian/"))
            .count();
        let installed = docker(&[
            "run",
            "--rm",
            "--entrypoint",
            "dpkg-query",
            image,
            "-W",
            "-f",
            "${Package}\\n",
        ]);
        assert_eq!(
            debs,
            installed.lines().count(),
            "{image}: every Debian package"
        );
        assert!(
            purls.iter().any(|p| p.starts_with("pkg:cargo/common@")) || crate_name == "seed",
            "{image}: the workspace's own crates"
        );
        assert!(crates > 50, "{image}: {crates} crates");
        eprintln!("{image}: {crates} crates, {debs} Debian packages");
    }
}

/// The compose file's `exporters` profile, offline (the exporters' stand-ins,
/// Debian's packages): each exporter reports its server up on its published
/// loopback port, and postgres_exporter runs the extra queries k8s/app ships.
#[tokio::test]
async fn the_exporters_profile_reports_redis_and_postgres() {
    if skip("the_exporters_profile_reports_redis_and_postgres") {
        return;
    }
    let stack = ComposeStack::new("votingapp-exporters");
    // Host ports the engine picks (0), read back with `docker compose port`.
    let mut up = stack.command(&["--profile", "exporters", "up", "-d", "--wait"]);
    up.args(["redis", "db", "redis-exporter", "postgres-exporter"])
        .env("REDIS_EXPORTER_PORT", "0")
        .env("POSTGRES_EXPORTER_PORT", "0");
    run_ok(&mut up);
    for (service, port, lines) in [
        ("redis-exporter", "9121", &["redis_up 1"][..]),
        (
            "postgres-exporter",
            "9187",
            &["pg_up 1", "pg_synchronous_standbys_required 0"][..],
        ),
    ] {
        let address = stack.run(&["--profile", "exporters", "port", service, port]);
        let url = format!("http://{}/metrics", address.trim());
        let what = format!("{service} to report {lines:?} at {url}");
        eventually(Duration::from_secs(30), &what, || async {
            let body = crate::harness::get_text(&url).await?;
            // `name value`, whatever labels the sample carries.
            let samples: Vec<(&str, &str)> = body
                .lines()
                .filter(|l| !l.starts_with('#'))
                .filter_map(|l| {
                    let (series, value) = l.rsplit_once(' ')?;
                    Some((series.split('{').next()?, value))
                })
                .collect();
            lines
                .iter()
                .all(|line| {
                    let (name, value) = line.split_once(' ').expect("`name value`");
                    samples.contains(&(name, value))
                })
                .then_some(())
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_compose_stack_builds_runs_survives_faults_and_keeps_its_votes() {
    if skip("the_compose_stack_builds_runs_survives_faults_and_keeps_its_votes") {
        return;
    }
    let mut steps = crate::harness::steps::Steps::new("compose");
    steps
        .require("every image builds", every_image_builds())
        .await;
    steps
        .run(
            "the :after images show their options",
            the_after_images_show_their_options(),
        )
        .await;
    steps.check(
        "the images refuse a Redis URL without a certificate check",
        the_images_refuse_a_redis_url_without_a_certificate_check,
    );
    let stack = ComposeStack::new("votingapp-ci");
    steps
        .require(
            "the stack comes up healthy and hardened",
            the_stack_comes_up_healthy_and_hardened(&stack),
        )
        .await;
    steps
        .run(
            "the published ports carry the pages only",
            the_published_ports_carry_the_pages_only(),
        )
        .await;
    steps
        .require(
            "a vote shows and a changed vote counts once",
            a_vote_shows_and_a_changed_vote_counts_once(),
        )
        .await;
    steps
        .require(
            "the seed profile casts 3,000 votes, all counted",
            the_seed_profile_casts_3000_votes_all_counted(&stack),
        )
        .await;
    steps
        .run(
            "memory under a longer seed load",
            memory_under_a_longer_seed_load(&stack),
        )
        .await;
    steps
        .run(
            "faults while votes flow lose no vote",
            faults_while_votes_flow_lose_no_vote(&stack),
        )
        .await;
    steps
        .run(
            "down and up again keep the votes",
            down_and_up_again_keep_the_votes(&stack),
        )
        .await;
    steps
        .always("nothing is left behind", nothing_is_left_behind(&stack))
        .await;
    steps.finish();
}

/// Every image builds (from cache when scripts/test.sh has built them).
async fn every_image_builds() {
    let build = Instant::now();
    run_ok(script("build-images.sh").arg("--offline"));
    eprintln!(
        "containers: images built in {:.1} s",
        build.elapsed().as_secs_f64()
    );
    for (image, size) in image_sizes() {
        eprintln!("containers: {image:<26} {:6.1} MB", size as f64 / 1e6);
    }
}

/// The `:after` images offer the workshop's options, not the original's.
async fn the_after_images_show_their_options() {
    for image in [
        "localhost/votingapp/vote:after",
        "localhost/votingapp/result:after",
    ] {
        let name = format!("votingapp-test-after-{}", std::process::id());
        let _gone = Removed(name.clone());
        docker(&["run", "-d", "--name", &name, "-p", "127.0.0.1::80", image]);
        let port = docker(&["port", &name, "80"]);
        let url = format!("http://{}/", port.lines().next().unwrap().trim());
        let page = eventually(Duration::from_secs(20), "the :after page", || async {
            http_client(false)
                .get(&url)
                .send()
                .await
                .ok()?
                .text()
                .await
                .ok()
        })
        .await;
        assert!(
            page.contains("Java") && page.contains(".NET"),
            "{image}: {page}"
        );
        assert!(!page.contains("Cats"), "{image}: {page}");
    }
}

/// Built without the insecure-TLS feature (the suite's own binaries have
/// it, for its TLS tests): `#insecure` stops the start, exit 2.
fn the_images_refuse_a_redis_url_without_a_certificate_check() {
    for image in [
        "localhost/votingapp/vote:before",
        "localhost/votingapp/worker:latest",
    ] {
        let out = docker_output(&[
            "run",
            "--rm",
            "-e",
            "REDIS_URL=rediss://redis:6380/0#insecure",
            image,
        ]);
        let text = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{image}: {text}");
        assert!(text.contains("invalid REDIS_URL="), "{image}: {text}");
        assert!(
            text.contains("not built into this binary"),
            "{image}: {text}"
        );
    }
}

/// Every service healthy; ours run as 10001 on a read-only root, checked by
/// their own binary's `healthcheck`.
async fn the_stack_comes_up_healthy_and_hardened(stack: &ComposeStack) {
    let cold = Instant::now();
    stack.run(&["up", "-d", "--wait"]);
    eprintln!(
        "containers: first healthy stack (new volumes) in {:.1} s",
        cold.elapsed().as_secs_f64()
    );
    for service in ["vote", "result", "worker", "redis", "db"] {
        assert_eq!(
            stack.inspect(service)["State"]["Health"]["Status"],
            "healthy",
            "{service}"
        );
    }
    for (service, binary) in [("vote", "vote"), ("result", "result"), ("worker", "worker")] {
        let state = stack.inspect(service);
        assert_eq!(state["Config"]["User"], "10001:10001", "{service}");
        assert_eq!(state["HostConfig"]["ReadonlyRootfs"], true, "{service}");
        let check: Vec<&str> = state["Config"]["Healthcheck"]["Test"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(
            check,
            ["CMD", &format!("/usr/local/bin/{binary}"), "healthcheck"],
            "{service}"
        );
    }
}

/// The published ports carry the pages only: readiness and metrics are on
/// METRICS_PORT, which compose does not publish.
async fn the_published_ports_carry_the_pages_only() {
    for url in ["http://127.0.0.1:8080/", "http://127.0.0.1:8081/"] {
        for path in ["readyz", "metrics"] {
            let res = http_client(false).get(format!("{url}{path}")).send().await;
            assert_eq!(res.unwrap().status(), 404, "{url}{path}");
        }
    }
}

/// One visitor votes, with the cookie a browser keeps; it shows (how soon
/// is a printed figure: a timing goal belongs to a benchmark), and a changed
/// vote replaces it.
async fn a_vote_shows_and_a_changed_vote_counts_once() {
    assert_eq!(total().await, 0);
    let visitor = http_client(true);
    assert_eq!(
        crate::harness::cast(&visitor, VOTE, "a").await.status(),
        200
    );
    let seen = total_reaches(1, Duration::from_secs(10)).await;
    eprintln!(
        "containers: vote to /api/results in {} ms",
        seen.as_millis()
    );
    let page = page_text("http://127.0.0.1:8081/").await;
    assert!(page.contains("100%") && page.contains("1 vote"), "{page}");
    assert_eq!(
        crate::harness::cast(&visitor, VOTE, "b").await.status(),
        200
    );
    let changed = eventually(Duration::from_secs(10), "the changed vote", || async {
        get_json(RESULTS).await.filter(|t| t["b"] == 1)
    })
    .await;
    assert_eq!(
        (changed["a"].as_i64(), changed["total"].as_i64()),
        (Some(0), Some(1))
    );
}

/// The seed profile: 3,000 votes, exit 0, all counted.
async fn the_seed_profile_casts_3000_votes_all_counted(stack: &ComposeStack) {
    let seed = output(&mut stack.command(&["--profile", "seed", "run", "--rm", "seed"]));
    let summary = String::from_utf8_lossy(&seed.stderr);
    eprintln!(
        "containers: {}",
        summary
            .lines()
            .filter(|l| l.contains("seed:") || l.contains("ok"))
            .collect::<Vec<_>>()
            .join(" / ")
    );
    assert!(seed.status.success(), "seed failed: {summary}");
    total_reaches(3001, Duration::from_secs(30)).await;
}

/// Memory under a longer seed load (a printed figure); the run succeeds.
async fn memory_under_a_longer_seed_load(stack: &ComposeStack) {
    let mut load = stack
        .command(&[
            "--profile",
            "seed",
            "run",
            "--rm",
            "seed",
            "--url",
            "http://vote/",
            "--votes",
            "2000000",
            "--duration",
            "8s",
            "--concurrency",
            "50",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Letting time pass on purpose: docker stats samples the containers
    // after some seconds under the load, whatever they do meanwhile.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let project_filter = format!("label=com.docker.compose.project={}", stack.project);
    let ids = docker(&["ps", "-q", "--filter", &project_filter]);
    let mut stats_args = vec![
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}}\t{{.MemUsage}}\t{{.CPUPerc}}",
    ];
    stats_args.extend(ids.lines());
    eprintln!(
        "containers: docker stats under seed load:\n{}",
        docker(&stats_args)
    );
    assert!(load.wait().unwrap().success(), "the long seed run failed");
}

/// The worker killed twice and the stores restarted while votes flow: every
/// acknowledged vote stored, and result counts what Postgres holds.
async fn faults_while_votes_flow_lose_no_vote(stack: &ComposeStack) {
    redis_lists_drained(stack).await;
    let before_faults = total().await;
    let votes = Load::start(VOTE, "ct", 4);
    votes
        .flowing(200, "before the faults", || stack.recent_logs())
        .await;
    kill_the_worker_twice(stack, &votes).await;
    for service in ["db", "redis"] {
        let (was, _) = started(stack, service);
        stack.run(&["restart", service]);
        assert_ne!(started(stack, service).0, was, "{service} did not restart");
        votes
            .flowing(200, &format!("after {service} restarted"), || {
                stack.recent_logs()
            })
            .await;
    }
    let outcome = votes.finish().await;
    let acknowledged = &outcome.acknowledged;
    redis_lists_drained(stack).await;
    let stored: HashMap<String, String> = stack
        .sql("SELECT id, vote FROM votes WHERE id LIKE 'ct-%'")
        .lines()
        .filter_map(|row| row.split_once('|'))
        .map(|(id, vote)| (id.to_owned(), vote.to_owned()))
        .collect();
    let lost = outcome.lost(|id| stored.get(id).map(String::as_str));
    eprintln!(
        "containers: faults: {} votes acknowledged, failed {:?}, {} stored, {} lost",
        acknowledged.len(),
        outcome.failures,
        stored.len(),
        lost.len()
    );
    assert!(
        lost.is_empty(),
        "acknowledged votes missing or wrong: {:?}",
        &lost[..lost.len().min(10)]
    );
    // result came back by itself, and counts what Postgres holds.
    total_reaches(before_faults + stored.len() as i64, Duration::from_secs(30)).await;
}

/// The worker SIGKILLed by the engine (an operator starts it again), then
/// its process killed from outside (the restart policy brings it back).
async fn kill_the_worker_twice(stack: &ComposeStack, votes: &Load) {
    let worker = stack.container("worker");
    docker(&["kill", &worker]);
    votes
        .flowing(200, "while the worker is down", || stack.recent_logs())
        .await;
    stack.run(&["start", "worker"]);
    wait_healthy(stack, "worker");
    let (_, restarts) = started(stack, "worker");
    let pid = stack.inspect("worker")["State"]["Pid"].as_i64().unwrap();
    run_ok(Command::new("kill").args(["-KILL", &pid.to_string()]));
    eventually(Duration::from_secs(30), "the worker's restart", || async {
        (started(stack, "worker").1 > restarts).then_some(())
    })
    .await;
    votes
        .flowing(200, "after the worker restarted", || stack.recent_logs())
        .await;
}

/// Stopped and started again without -v: the votes are still there.
async fn down_and_up_again_keep_the_votes(stack: &ComposeStack) {
    let before = total().await;
    stack.run(&["down"]);
    let warm = Instant::now();
    stack.run(&["up", "-d", "--wait"]);
    eprintln!(
        "containers: healthy stack again (kept volumes) in {:.1} s",
        warm.elapsed().as_secs_f64()
    );
    assert_eq!(total().await, before);
}

/// Nothing left behind.
async fn nothing_is_left_behind(stack: &ComposeStack) {
    stack.run(&["--profile", "seed", "down", "-v", "--remove-orphans"]);
    assert_eq!(stack.leftovers(), Vec::<String>::new());
}

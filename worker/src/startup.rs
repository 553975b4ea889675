//! Builds the worker on [`common::app`]: its health port, its queue and
//! pool, the heartbeat that keeps its batch its own, and the loop.
//!
//! The worker has the shape of the other services, with the loop as the work
//! beside its servers ([`Application::beside`]). Its drain time is zero: no
//! load balancer sends it visitors, so from SIGTERM `/readyz` answers 503, the
//! loop stores the batch it holds, and the probes are answered until then.
//!
//! The loop owns its state ([`Worker`]); readiness and the heartbeat get
//! their own handles on the queue and the pool (clones share the
//! connections), so they never wait for the loop nor hold it.
//!
//! Metrics recorded here: `worker_queue_depth`,
//! `worker_queue_oldest_vote_age_seconds`, `worker_recovered_votes_total`.

use crate::claim::Queue;
use crate::config::Config;
use crate::pipeline::Worker;
use actix_web::{web, HttpRequest, HttpResponse};
use common::app::{Application, Builder};
use common::backoff::Backoff;
use common::http::{Routes, Serving};
use deadpool_postgres::Pool;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Binds the health port and prepares the connections (all lazy: the
/// worker starts before Redis and Postgres and waits for them).
pub fn build(config: Config, stop: CancellationToken) -> anyhow::Result<Application> {
    let builder = Builder::bind("worker", &config.listen, stop.clone())?;
    describe_metrics();
    crate::pipeline::describe_metrics();
    let queue = Queue::new(&config.redis, &config.worker_id)?;
    let pool = crate::store::pool(&config.database)?;
    let state = web::Data::new(Dependencies {
        queue: queue.clone(),
        pool: pool.clone(),
    });
    let heartbeat = queue.clone();
    let worker = Worker::new(queue, pool, config.batch_size);
    let serving = Serving {
        workers: Some(1),
        ..Default::default()
    };
    let application = builder.serve(serving, move |cfg, routes| {
        // Nothing of the worker's is public: its readiness says why a
        // dependency is down.
        cfg.app_data(state.clone())
            .app_data(web::Data::new(Routes::Operations))
            .service(common::http::readable("/readyz", readyz));
        common::http::operational_routes(cfg, routes);
    })?;
    tracing::info!(
        port = application.port(),
        worker_id = %config.worker_id,
        redis = %config.redis,
        database = %config.database,
        batch_size = config.batch_size,
        "worker starting"
    );
    Ok(application.beside(work(worker, heartbeat, config.heartbeat_ttl, stop)))
}

/// The worker's own work beside its probes: once Redis and Postgres answer,
/// the loop and the heartbeat until `stop`; then its heartbeat is removed.
async fn work(mut worker: Worker, heartbeat: Queue, ttl: Duration, stop: CancellationToken) {
    if !wait_for_dependencies(&mut worker, &heartbeat, ttl, &stop).await {
        return;
    }
    let beat = tokio::spawn(keep_heartbeat(heartbeat.clone(), ttl, stop.clone()));
    tracing::info!("worker ready: draining the queue");
    worker.run(stop).await;
    beat.abort();
    if let Err(e) = heartbeat.retire().await {
        tracing::warn!(error = format!("{e:#}"), "could not remove the heartbeat");
    }
}

/// Waits for Redis (by writing the first heartbeat) and for Postgres (by
/// migrating the schema). Returns false if asked to stop first.
async fn wait_for_dependencies(
    worker: &mut Worker,
    heartbeat: &Queue,
    ttl: Duration,
    stop: &CancellationToken,
) -> bool {
    let mut backoff = Backoff::for_dependencies();
    while let Err(e) = heartbeat.heartbeat(ttl).await {
        tracing::warn!(
            error = format!("{e:#}"),
            attempt = backoff.attempts() + 1,
            "waiting for Redis"
        );
        tokio::select! { _ = stop.cancelled() => return false, _ = backoff.wait() => {} }
    }
    backoff.reset();
    loop {
        match worker.migrate().await {
            Ok(report) => {
                tracing::info!(version = report.to(), applied = ?report.applied, "schema current");
                return true;
            }
            Err(e) => tracing::warn!(
                error = format!("{e:#}"),
                attempt = backoff.attempts() + 1,
                "waiting for Postgres (to migrate the schema)"
            ),
        }
        tokio::select! { _ = stop.cancelled() => return false, _ = backoff.wait() => {} }
    }
}

/// Refreshes the heartbeat several times per TTL, recovers the batches of
/// dead workers, and samples the queue depth.
async fn keep_heartbeat(queue: Queue, ttl: Duration, stop: CancellationToken) {
    let mut tick = tokio::time::interval(ttl / 4);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! { _ = stop.cancelled() => return, _ = tick.tick() => {} }
        if let Err(e) = queue.heartbeat(ttl).await {
            tracing::warn!(error = format!("{e:#}"), "heartbeat failed");
            continue;
        }
        match queue.recover_orphans().await {
            Ok(n) => metrics::counter!("worker_recovered_votes_total").increment(n as u64),
            Err(e) => tracing::warn!(
                error = format!("{e:#}"),
                "recovering dead workers' batches failed"
            ),
        }
        sample_queue(&queue).await;
    }
}

/// Records how many votes wait and how long the oldest has waited (0 when
/// none does). The age is measured against the cast time vote stamped, so it
/// includes any difference between vote's clock and this one.
async fn sample_queue(queue: &Queue) {
    if let Ok((depth, cast_at)) = queue.waiting().await {
        metrics::gauge!("worker_queue_depth").set(depth as f64);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros() as i64)
            .unwrap_or(0);
        let age = cast_at.map_or(0, |cast_at| now.saturating_sub(cast_at).max(0));
        metrics::gauge!("worker_queue_oldest_vote_age_seconds").set(age as f64 / 1e6);
    }
}

/// `# HELP` of the metrics recorded here.
fn describe_metrics() {
    metrics::describe_gauge!(
        "worker_queue_depth",
        metrics::Unit::Count,
        "Votes waiting in the Redis list votes, sampled at each heartbeat."
    );
    metrics::describe_gauge!(
        "worker_queue_oldest_vote_age_seconds",
        metrics::Unit::Seconds,
        "How long ago the vote at the head of the queue was cast (0 when the queue is empty), sampled at each heartbeat."
    );
    metrics::describe_counter!(
        "worker_recovered_votes_total",
        metrics::Unit::Count,
        "Votes put back in the queue from the batches of workers whose heartbeat lapsed."
    );
}

/// Readiness's handles on what the worker depends on.
#[derive(Debug)]
struct Dependencies {
    queue: Queue,
    pool: Pool,
}

async fn readyz(req: HttpRequest, dependencies: web::Data<Dependencies>) -> HttpResponse {
    common::http::Readiness::default()
        .check("redis", dependencies.queue.ping().await)
        .check("postgres", crate::store::ping(&dependencies.pool).await)
        .into_response(&req)
}

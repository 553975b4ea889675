//! The probes: liveness (`/healthz`, the process answers), readiness
//! (`/readyz`, this process can serve and is not draining; dependencies are
//! reported, never a reason to be unready) and `/metrics`.

use super::{Draining, Routes};
use actix_web::{web, HttpResponse};

/// Liveness: the process answers; no dependency is checked.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body("ok\n")
}

/// `/metrics` in Prometheus text format.
pub async fn metrics() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(crate::metrics::render())
}

/// Readiness: 200 while this process can serve its own routes, 503 once it
/// is draining. A dependency that is down does not make it unready (every
/// replica would leave its Service at once, and visitors would get refused
/// connections instead of the page that says the vote may not have been
/// recorded): each dependency's state is reported in the body,
/// `dependencies`, and as the gauge `dependency_up{dependency}`. Where
/// readiness shares the public port (no `METRICS_PORT`), a dependency down
/// is only "unavailable" in the body (its error text, which can name hosts
/// and users, goes to the log); on the operational port the body says why.
#[derive(Debug, Default)]
pub struct Readiness {
    checks: Vec<(&'static str, Result<(), String>)>,
}

impl Readiness {
    pub fn check(mut self, dependency: &'static str, outcome: Result<(), String>) -> Self {
        self.checks.push((dependency, outcome));
        self
    }

    pub fn into_response(self, req: &actix_web::HttpRequest) -> HttpResponse {
        let public = req
            .app_data::<web::Data<Routes>>()
            .is_none_or(|routes| *routes.get_ref() != Routes::Operations);
        let dependencies: serde_json::Map<String, serde_json::Value> = self
            .checks
            .iter()
            .map(|(name, outcome)| {
                metrics::gauge!("dependency_up", "dependency" => *name).set(if outcome.is_ok() {
                    1.0
                } else {
                    0.0
                });
                let state = match outcome {
                    Ok(()) => "ok".to_owned(),
                    Err(e) if public => {
                        tracing::warn!(dependency = *name, error = %e, "dependency unavailable");
                        "unavailable".to_owned()
                    }
                    Err(e) => format!("unavailable: {e}"),
                };
                ((*name).to_owned(), state.into())
            })
            .collect();
        let draining = req
            .app_data::<web::Data<Draining>>()
            .is_some_and(|d| d.is_draining());
        let body = serde_json::json!({
            "status": if draining { "draining" } else { "ready" },
            "dependencies": dependencies,
        });
        if draining {
            HttpResponse::ServiceUnavailable().json(body)
        } else {
            HttpResponse::Ok().json(body)
        }
    }
}

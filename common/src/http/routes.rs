//! Which routes each server serves (the pages, the operational routes, or
//! both), the routes every service has, and helpers for registering routes.

use super::probes::{healthz, metrics};
use actix_web::{web, HttpResponse};

/// Which of a service's routes one server serves: everything on one port,
/// or, with `METRICS_PORT`, the pages on the page port and `/readyz` and
/// `/metrics` on a port of their own that the Service for users and the
/// Ingress do not expose. `/healthz` (liveness, nothing more than "ok") is on
/// both, so `healthcheck` and the images' `HEALTHCHECK` still ask the page port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routes {
    All,
    Pages,
    Operations,
}

impl Routes {
    pub fn pages(self) -> bool {
        self != Self::Operations
    }

    pub fn operations(self) -> bool {
        self != Self::Pages
    }
}

/// Routes every service serves: `/healthz` on every server, `/metrics` where
/// the operational routes are. (Routes are registered as resources so that a
/// known path asked with another method gets 405 with `Allow`, not 404.)
pub fn operational_routes(cfg: &mut web::ServiceConfig, routes: Routes) {
    cfg.service(readable("/healthz", healthz));
    if routes.operations() {
        cfg.service(readable("/metrics", metrics));
    }
}

/// A resource whose `handler` answers GET and HEAD (actix-http sends a HEAD
/// answer's headers without its body).
pub fn readable<F, Args>(path: &str, handler: F) -> actix_web::Resource
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    web::resource(path).get(handler.clone()).head(handler)
}

/// An asset embedded in the binary, cacheable for an hour.
pub fn static_asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((
            actix_web::http::header::CACHE_CONTROL,
            "public, max-age=3600",
        ))
        .body(body)
}

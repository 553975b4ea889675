//! Named steps of one long scenario test (the workshop, the compose stack,
//! k8s/app on the cluster): every step runs and reports on its own, so one
//! failure does not hide the checks after it. A step that later ones need
//! is run with [`Steps::require`]: when it fails, those are reported as not
//! run. At the end the test fails listing every step that failed.

use futures_util::FutureExt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Instant;

#[derive(Debug)]
pub struct Steps {
    test: &'static str,
    failed: Vec<String>,
    blocked_by: Option<String>,
    passed: usize,
}

impl Steps {
    pub fn new(test: &'static str) -> Self {
        Self {
            test,
            failed: Vec::new(),
            blocked_by: None,
            passed: 0,
        }
    }

    /// Runs `step` (unless a required step failed before it) and reports how
    /// it went; a panic in it is a failure of this step only.
    pub async fn run(&mut self, name: &str, step: impl Future<Output = ()>) -> bool {
        if let Some(blocker) = &self.blocked_by {
            eprintln!("{}: step {name}: not run ({blocker} failed)", self.test);
            self.failed.push(format!("{name} (not run)"));
            return false;
        }
        let started = Instant::now();
        let outcome = AssertUnwindSafe(step).catch_unwind().await;
        self.report(name, started, outcome)
    }

    /// As [`Steps::run`], for a check with nothing to wait for.
    pub fn check(&mut self, name: &str, step: impl FnOnce()) -> bool {
        let started = Instant::now();
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(step));
        self.report(name, started, outcome)
    }

    fn report(
        &mut self,
        name: &str,
        started: Instant,
        outcome: Result<(), Box<dyn std::any::Any + Send>>,
    ) -> bool {
        let secs = started.elapsed().as_secs_f64();
        match outcome {
            Ok(()) => {
                eprintln!("{}: step {name}: ok ({secs:.1} s)", self.test);
                self.passed += 1;
                true
            }
            Err(panic) => {
                let message = panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("(no message)");
                eprintln!(
                    "{}: step {name}: FAILED after {secs:.1} s: {message}",
                    self.test
                );
                self.failed.push(name.to_owned());
                false
            }
        }
    }

    /// As [`Steps::run`], for a step the later ones depend on: if it fails,
    /// they are not run (and are reported as such).
    pub async fn require(&mut self, name: &str, step: impl Future<Output = ()>) {
        if !self.run(name, step).await && self.blocked_by.is_none() {
            self.blocked_by = Some(name.to_owned());
        }
    }

    /// Runs `step` even after a required step failed (clean-up that checks
    /// what it cleans), and reports it as [`Steps::run`] does.
    pub async fn always(&mut self, name: &str, step: impl Future<Output = ()>) -> bool {
        let blocked = self.blocked_by.take();
        let passed = self.run(name, step).await;
        self.blocked_by = blocked;
        passed
    }

    /// Fails the test if any step failed, naming them all.
    pub fn finish(self) {
        assert!(
            self.failed.is_empty(),
            "{}: {} step(s) passed, failed: {}",
            self.test,
            self.passed,
            self.failed.join(", ")
        );
    }
}

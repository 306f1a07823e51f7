//! What the portal logs while a piece of a test runs.
//!
//! One global subscriber is installed once for the whole test binary. It writes only on a
//! thread that is capturing, into that thread's buffer. A scoped subscriber per capture
//! (`set_default`) made tracing rebuild its per-callsite interest cache each time; a
//! callsite first hit on another test's thread during that rebuild could stay disabled,
//! so an event (tower-http's "started processing request") was missing now and then in
//! full runs. With one subscriber that never changes, every callsite's interest is
//! "sometimes" and the filter decides per event (a dynamic filter: `filter_fn` would cache
//! its first answer per callsite, so what was first logged outside a capture never would
//! be inside one).

use std::cell::RefCell;
use std::sync::{Arc, Mutex, OnceLock};

use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

thread_local! {
    static CAPTURE: RefCell<Option<Buf>> = const { RefCell::new(None) };
}

fn capturing() -> bool {
    CAPTURE.try_with(|c| c.borrow().is_some()).unwrap_or(false)
}

/// Writes into the capturing thread's buffer (and nowhere on any other thread).
struct ThreadWriter;

impl std::io::Write for ThreadWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let _ = CAPTURE.try_with(|c| {
            if let Some(buf) = &*c.borrow() {
                buf.0.lock().unwrap().extend_from_slice(b);
            }
        });
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the subscriber (once); every test's server does it before it starts.
pub fn install() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let layer = tracing_subscriber::fmt::layer()
            .with_writer(|| ThreadWriter)
            .with_ansi(false)
            .with_filter(tracing_subscriber::filter::dynamic_filter_fn(|_, _| {
                capturing()
            }));
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))
            .expect("no other global subscriber in the tests");
    });
}

/// What is logged on this thread while `f` runs, at every level (the test's server runs on
/// the test's thread).
pub async fn logged<F: std::future::Future>(f: F) -> (F::Output, String) {
    install();
    let buf = Buf::default();
    CAPTURE.with(|c| *c.borrow_mut() = Some(buf.clone()));
    let out = f.await;
    CAPTURE.with(|c| *c.borrow_mut() = None);
    let text = String::from_utf8_lossy(&buf.0.lock().unwrap()).into_owned();
    (out, text)
}

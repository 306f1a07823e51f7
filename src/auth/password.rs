//! Passwords: argon2id (m=19456 KiB, t=2, p=1, OWASP's minimum), hashed off the async
//! threads on a few hashing threads of their own so a burst of logins cannot starve other
//! requests nor grow the process (SECURITY.md 6), and the password rules of SECURITY.md 9.

use std::sync::Arc;

use anyhow::{Context, anyhow};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

const M_COST: u32 = 19_456;
const T_COST: u32 = 2;
const P_COST: u32 = 1;

/// Makes every allocation of a mebibyte or more its own mapping, returned to the system
/// when freed. glibc otherwise raises its mapping threshold to the size of the first large
/// block freed, so from the second hash on Argon2's 19 MiB buffers come from the heap and
/// stay there: ten logins left the portal at 170 MB where it idles at 18 MB (issue 10,
/// measured in README). Called once at start-up, before any thread allocates.
pub fn return_hash_buffers() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; it is called before the runtime
    // starts any thread.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

fn argon2() -> anyhow::Result<Argon2<'static>> {
    let params = Params::new(M_COST, T_COST, P_COST, None).map_err(|e| anyhow!("{e}"))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes a password now, on this thread (for the CLI and the demo).
pub fn hash_blocking(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Ok(argon2()?
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow!("hashing: {e}"))?
        .to_string())
}

/// The result of checking a password.
#[derive(Debug, PartialEq, Eq)]
pub enum Verified {
    No,
    Yes,
    /// Correct, but hashed with older parameters: store this new hash.
    YesRehash(String),
}

fn verify_blocking(password: &str, stored: Option<&str>) -> anyhow::Result<Verified> {
    // Unknown accounts are checked against a fixed hash, so they take the same time
    // (SECURITY.md 7).
    let stored = stored.unwrap_or(DUMMY_HASH);
    let parsed = PasswordHash::new(stored).map_err(|e| anyhow!("stored hash: {e}"))?;
    let ok = Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    if !ok || stored == DUMMY_HASH {
        return Ok(Verified::No);
    }
    let current = parsed.algorithm.as_str() == "argon2id"
        && Params::try_from(&parsed)
            .map(|p| p.m_cost() >= M_COST && p.t_cost() >= T_COST && p.p_cost() >= P_COST)
            .unwrap_or(false);
    if current {
        Ok(Verified::Yes)
    } else {
        Ok(Verified::YesRehash(hash_blocking(password)?))
    }
}

/// A hash of a random password nobody knows, with the current parameters.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2Nob29sLXBvcnRhbC1kdW1teQ$W2f0mS8u0lY8m6pE5b2xjz8xvJ0Nq0gYb3eQG8r4y1A";

/// A unit of work for a hashing thread.
type Job = Box<dyn FnOnce() + Send>;

/// Hashing and verification on a few threads of their own (`concurrency` of them, started
/// once). Argon2 takes 19 MiB per hash; on tokio's blocking pool each hash could land on
/// another thread, and the allocator keeps a 19 MiB arena per thread, so a burst of logins
/// grew the process by hundreds of megabytes (issue 10). Here at most `concurrency`
/// buffers ever exist, and a burst waits in the queue instead of starving other requests
/// (SECURITY.md 6).
#[derive(Clone)]
pub struct Hasher {
    jobs: std::sync::mpsc::Sender<Job>,
}

impl Hasher {
    pub fn new(concurrency: usize) -> Self {
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let queue = Arc::new(std::sync::Mutex::new(queue));
        for n in 0..concurrency.max(1) {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("argon2-{n}"))
                .spawn(move || {
                    loop {
                        // The lock is held only while waiting for the next job.
                        let job = match queue.lock() {
                            Ok(q) => q.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            // Every sender is gone: the portal is stopping.
                            Err(_) => return,
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start a password hashing thread");
            }
        }
        Self { jobs }
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                let _ = tx.send(work());
            }))
            .map_err(|_| anyhow!("the password hashing threads are gone"))?;
        rx.await.context("a password hashing thread stopped")?
    }

    pub async fn hash(&self, password: String) -> anyhow::Result<String> {
        self.run(move || hash_blocking(&password)).await
    }

    pub async fn verify(
        &self,
        password: String,
        stored: Option<String>,
    ) -> anyhow::Result<Verified> {
        self.run(move || verify_blocking(&password, stored.as_deref()))
            .await
    }
}

/// Common passwords refused whatever their length (a short list of the most used ones,
/// Russian keyboard habits included).
const COMMON: &[&str] = &[
    "12345678",
    "123456789",
    "1234567890",
    "12345678910",
    "password",
    "password1",
    "password123",
    "qwertyuiop",
    "qwerty123",
    "qwerty1234",
    "1q2w3e4r",
    "1q2w3e4r5t",
    "1q2w3e4r5t6y",
    "11111111",
    "00000000",
    "87654321",
    "123123123",
    "iloveyou",
    "sunshine1",
    "zaq12wsx",
    "1qaz2wsx",
    "qazwsxedc",
    "asdfghjkl",
    "abc12345",
    "admin123",
    "administrator",
    "parol123",
    "пароль123",
    "йцукенгшщз",
    "привет123",
    "school123",
    "shkola123",
    "sferum123",
    "12344321",
    "98765432",
    "999999999",
    "123qweasd",
    "qweasdzxc",
    "1234qwer",
    "q1w2e3r4",
];

/// Checks a new password against the rules; the Russian message says what is wrong.
pub fn check_new_password(password: &str, has_admin_rights: bool) -> Result<(), &'static str> {
    let len = password.chars().count();
    let min = if has_admin_rights { 15 } else { 8 };
    if len < min {
        return Err(if has_admin_rights {
            "Пароль администратора должен быть не короче 15 символов."
        } else {
            "Пароль должен быть не короче 8 символов."
        });
    }
    if len > 128 {
        return Err("Пароль должен быть не длиннее 128 символов.");
    }
    let lower = password.to_lowercase();
    if COMMON.contains(&lower.as_str()) || lower.chars().all(|c| lower.starts_with(c)) {
        return Err("Этот пароль слишком распространён. Придумайте другой.");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dummy_hash_parses_with_current_parameters() {
        let parsed = PasswordHash::new(DUMMY_HASH).unwrap();
        let p = Params::try_from(&parsed).unwrap();
        assert_eq!(
            (p.m_cost(), p.t_cost(), p.p_cost()),
            (M_COST, T_COST, P_COST)
        );
    }

    #[test]
    fn right_password_verifies_and_wrong_does_not() {
        let h = hash_blocking("correct horse battery").unwrap();
        assert_eq!(
            verify_blocking("correct horse battery", Some(&h)).unwrap(),
            Verified::Yes
        );
        assert_eq!(
            verify_blocking("wrong horse battery", Some(&h)).unwrap(),
            Verified::No
        );
        assert_eq!(verify_blocking("anything", None).unwrap(), Verified::No);
    }

    #[test]
    fn weak_parameters_are_rehashed_at_login() {
        let weak = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8192, 1, 1, None).unwrap(),
        );
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        let h = weak
            .hash_password(b"old but right", &salt)
            .unwrap()
            .to_string();
        match verify_blocking("old but right", Some(&h)).unwrap() {
            Verified::YesRehash(new) => assert!(new.contains("m=19456,t=2,p=1")),
            other => panic!("expected a rehash, got {other:?}"),
        }
    }

    #[test]
    fn password_rules() {
        assert!(check_new_password("short", false).is_err());
        assert!(check_new_password("длинный пароль", false).is_ok());
        assert!(check_new_password("qwerty123", false).is_err());
        assert!(check_new_password("aaaaaaaaaaaa", false).is_err());
        assert!(check_new_password("twelve chars", true).is_err());
        assert!(check_new_password("fifteen chars!!", true).is_ok());
        assert!(check_new_password(&"x".repeat(129), false).is_err());
    }
}

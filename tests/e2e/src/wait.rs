//! Polling until something holds, with a deadline and the last reason it did not.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use crate::e2e_log;

/// Calls `f` every `every` until it returns Ok (its value is returned) or `timeout`
/// passes (an error naming `what` and `f`'s last error). An Err from `f` means "not yet".
pub fn poll_until<T>(
    what: &str,
    timeout: Duration,
    every: Duration,
    mut f: impl FnMut() -> Result<T>,
) -> Result<T> {
    let start = Instant::now();
    let mut tries = 0u32;
    loop {
        tries += 1;
        match f() {
            Ok(v) => {
                if tries > 1 {
                    e2e_log!("{what}: after {:.1}s", start.elapsed().as_secs_f64());
                }
                return Ok(v);
            }
            Err(e) => {
                if start.elapsed() >= timeout {
                    bail!(
                        "timed out after {:.0}s waiting for {what} ({tries} tries); last: {e:#}",
                        timeout.as_secs_f64()
                    );
                }
            }
        }
        std::thread::sleep(every);
    }
}

/// `n` random bytes from the kernel's CSPRNG.
pub fn random_bytes(n: usize) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut buf = vec![0u8; n];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(buf)
}

/// `n` random bytes as lowercase hex (2n characters).
pub fn random_hex(n: usize) -> Result<String> {
    Ok(random_bytes(n)?
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_until_returns_the_first_success_and_reports_the_last_error() -> Result<()> {
        let mut n = 0;
        let v = poll_until(
            "n to reach 3",
            Duration::from_secs(5),
            Duration::from_millis(1),
            || {
                n += 1;
                if n >= 3 {
                    Ok(n)
                } else {
                    bail!("n is {n}")
                }
            },
        )?;
        assert_eq!(v, 3);
        let err = poll_until(
            "never",
            Duration::from_millis(20),
            Duration::from_millis(5),
            || -> Result<()> { bail!("still no") },
        );
        let msg = err.err().map(|e| format!("{e:#}")).unwrap_or_default();
        assert!(
            msg.contains("waiting for never") && msg.contains("still no"),
            "{msg}"
        );
        Ok(())
    }

    #[test]
    fn random_hex_has_the_asked_length() -> Result<()> {
        let a = random_hex(8)?;
        assert_eq!(a.len(), 16);
        assert_ne!(a, random_hex(8)?);
        Ok(())
    }
}

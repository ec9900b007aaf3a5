//! Readiness gates: a real request to the instance, not a port check
//! (gunicorn opens its port seconds before the service has loaded).

use std::time::{Duration, Instant};

use ankyra_catalog::Probe;
use ankyra_runtime::Docker;

use crate::EngineError;

/// One probe attempt: Ok, or why not yet.
pub async fn check(
    docker: &Docker,
    container: &str,
    address: &str,
    probe: &Probe,
) -> Result<(), String> {
    match probe {
        Probe::Http { port, path, expect } => {
            let url = format!("http://{address}:{port}{path}");
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .map_err(|e| e.to_string())?;
            match client.get(&url).send().await {
                Ok(r) if expect.contains(&r.status().as_u16()) => Ok(()),
                Ok(r) => Err(format!("GET {url} answered {}", r.status())),
                Err(e) => Err(format!("GET {url}: {e}")),
            }
        }
        Probe::Tcp { port } => {
            let addr = format!("{address}:{port}");
            match tokio::time::timeout(
                Duration::from_secs(3),
                tokio::net::TcpStream::connect(&addr),
            )
            .await
            {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(format!("connect {addr}: {e}")),
                Err(_) => Err(format!("connect {addr}: timed out")),
            }
        }
        Probe::Exec { command } => match docker.exec(container, command).await {
            Ok((0, _)) => Ok(()),
            Ok((code, out)) => Err(format!(
                "`{}` exited {code}: {}",
                command.join(" "),
                out.trim()
            )),
            Err(e) => Err(e.to_string()),
        },
    }
}

/// Waits until the probe passes, the container stops, or `timeout` passes.
pub async fn wait_ready(
    docker: &Docker,
    component: &str,
    container: &str,
    address: &str,
    probe: &Probe,
    timeout: Duration,
) -> Result<(), EngineError> {
    let start = Instant::now();
    loop {
        let last = match check(docker, container, address, probe).await {
            Ok(()) => return Ok(()),
            Err(why) => why,
        };
        let state = docker.container_state(container).await.unwrap_or_default();
        if state != "running" || start.elapsed() > timeout {
            let logs = docker
                .container_logs(container, 30)
                .await
                .unwrap_or_default();
            let reason = if state != "running" {
                format!("the container is {state}")
            } else {
                last
            };
            return Err(EngineError::NotReady {
                component: component.to_string(),
                container: container.to_string(),
                seconds: start.elapsed().as_secs(),
                reason,
                logs,
            });
        }
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
}

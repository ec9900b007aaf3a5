//! Registering services in keystone through its API (users, roles, services,
//! endpoints), idempotently: look first, create or correct what differs.

use std::time::Duration;

use ankyra_catalog::Registration;
use serde_json::{json, Value};

use crate::EngineError;

/// A keystone admin session.
pub struct Identity {
    client: reqwest::Client,
    base: String,
    token: String,
}

fn fail(what: &str, detail: impl ToString) -> EngineError {
    EngineError::Identity {
        what: what.to_string(),
        detail: detail.to_string(),
    }
}

impl Identity {
    /// Logs in as admin (project admin, domain default) through HAProxy.
    pub async fn login(vip: &str, admin_password: &str) -> Result<Identity, EngineError> {
        Identity::login_at(&format!("http://{vip}:5000/v3"), admin_password).await
    }

    /// Logs in as admin at one keystone (`http://address:5000/v3`).
    pub async fn login_at(base: &str, admin_password: &str) -> Result<Identity, EngineError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| fail("a session", e))?;
        let base = base.to_string();
        let body = json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": "admin", "domain": {"id": "default"}, "password": admin_password}}},
            "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}});
        let r = client
            .post(format!("{base}/auth/tokens"))
            .json(&body)
            .send()
            .await
            .map_err(|e| fail("an admin token", e))?;
        if !r.status().is_success() {
            return Err(fail(
                "an admin token",
                format!("keystone answered {}", r.status()),
            ));
        }
        let token = r
            .headers()
            .get("x-subject-token")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| fail("an admin token", "no X-Subject-Token in the answer"))?
            .to_string();
        Ok(Identity {
            client,
            base,
            token,
        })
    }

    /// The session's token.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Validates `token` (GET /v3/auth/tokens), as every service does on each request.
    pub async fn validate(&self, token: &str) -> Result<(), EngineError> {
        let r = self
            .client
            .get(format!("{}/auth/tokens", self.base))
            .header("X-Auth-Token", &self.token)
            .header("X-Subject-Token", token)
            .send()
            .await
            .map_err(|e| fail("a token validation", e))?;
        if r.status().is_success() {
            Ok(())
        } else {
            Err(fail(
                "a token validation",
                format!("keystone answered {}", r.status()),
            ))
        }
    }

    /// GET `url` with this session's token; the status and the first bytes of the body.
    pub async fn get(
        &self,
        url: &str,
        headers: &[(&str, &str)],
    ) -> Result<(u16, String), EngineError> {
        let mut req = self.client.get(url).header("X-Auth-Token", &self.token);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let r = req.send().await.map_err(|e| fail(url, e))?;
        let status = r.status().as_u16();
        let mut text = r.text().await.unwrap_or_default();
        text.truncate(300);
        Ok((status, text))
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, EngineError> {
        let mut req = self
            .client
            .request(method.clone(), format!("{}{path}", self.base))
            .header("X-Auth-Token", &self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.map_err(|e| fail(path, e))?;
        let status = r.status();
        if !status.is_success() {
            let text = r.text().await.unwrap_or_default();
            return Err(fail(
                &format!("{method} {path}"),
                format!("{status}: {}", text.chars().take(300).collect::<String>()),
            ));
        }
        if status == reqwest::StatusCode::NO_CONTENT {
            return Ok(Value::Null);
        }
        r.json().await.or(Ok(Value::Null))
    }

    async fn find(&self, collection: &str, query: &str) -> Result<Option<Value>, EngineError> {
        let v = self
            .call(
                reqwest::Method::GET,
                &format!("/{collection}?{query}"),
                None,
            )
            .await?;
        Ok(v[collection].as_array().and_then(|a| a.first().cloned()))
    }

    async fn id_or_create(
        &self,
        collection: &str,
        query: &str,
        kind: &str,
        body: Value,
    ) -> Result<String, EngineError> {
        let found = match self.find(collection, query).await? {
            Some(v) => v,
            // Components of one wave register at once: whoever lost the race finds the winner's.
            None => match self
                .call(reqwest::Method::POST, &format!("/{collection}"), Some(body))
                .await
            {
                Ok(v) => v[kind].clone(),
                Err(e) => self.find(collection, query).await?.ok_or(e)?,
            },
        };
        found["id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| fail(kind, "no id in keystone's answer"))
    }

    /// Registers one service: its user (password kept in step), roles on the
    /// `service` project, the service and its three endpoints.
    pub async fn register(
        &self,
        reg: &Registration,
        password: Option<&str>,
    ) -> Result<(), EngineError> {
        let project = self
            .id_or_create("projects", "name=service", "project", json!({"project": {"name": "service", "domain_id": "default", "description": "OpenStack services"}}))
            .await?;
        if let (Some((user, _)), Some(pw)) = (&reg.user, password) {
            let user_id = match self.find("users", &format!("name={user}")).await? {
                Some(u) => {
                    let id = u["id"].as_str().unwrap_or_default().to_string();
                    self.call(
                        reqwest::Method::PATCH,
                        &format!("/users/{id}"),
                        Some(json!({"user": {"password": pw}})),
                    )
                    .await?;
                    id
                }
                None => self
                    .call(
                        reqwest::Method::POST,
                        "/users",
                        Some(
                            json!({"user": {"name": user, "password": pw, "domain_id": "default"}}),
                        ),
                    )
                    .await?["user"]["id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            };
            for role in ["admin", "service"] {
                if let Some(r) = self.find("roles", &format!("name={role}")).await? {
                    let rid = r["id"].as_str().unwrap_or_default();
                    self.call(
                        reqwest::Method::PUT,
                        &format!("/projects/{project}/users/{user_id}/roles/{rid}"),
                        None,
                    )
                    .await?;
                }
            }
        }
        let service = self
            .id_or_create(
                "services",
                &format!("type={}", reg.service_type),
                "service",
                json!({"service": {"type": reg.service_type, "name": reg.service_name}}),
            )
            .await?;
        for interface in ["public", "internal", "admin"] {
            match self
                .find(
                    "endpoints",
                    &format!("service_id={service}&interface={interface}"),
                )
                .await?
            {
                Some(e) if e["url"].as_str() == Some(reg.url.as_str()) => {}
                Some(e) => {
                    let id = e["id"].as_str().unwrap_or_default();
                    self.call(
                        reqwest::Method::PATCH,
                        &format!("/endpoints/{id}"),
                        Some(json!({"endpoint": {"url": reg.url}})),
                    )
                    .await?;
                }
                None => {
                    self.call(
                        reqwest::Method::POST,
                        "/endpoints",
                        Some(json!({"endpoint": {"service_id": service, "interface": interface, "url": reg.url, "region_id": "RegionOne"}})),
                    )
                    .await?;
                }
            }
        }
        Ok(())
    }
}

//! The check run: created `in_progress` on the head commit, annotations appended in chunks of
//! at most 50 (each PATCH appends), then completed with the conclusion — through octocrab, with
//! retries where GitHub says to retry and fast failure (with the response body) where it
//! does not. The token goes to octocrab's secret store only; every text this module returns
//! is scrubbed of it as well.

use std::time::Duration;

use octocrab::Octocrab;
use serde::Serialize;

use super::{Annotation, Conclusion};

/// GitHub accepts at most this many annotations per request.
pub const ANNOTATIONS_PER_REQUEST: usize = 50;
/// Longest response body quoted in an error.
const MAX_BODY_IN_ERROR: usize = 2000;

/// Retry policy for one request.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// Attempts in all (first try included).
    pub attempts: u32,
    /// First backoff; doubled per attempt.
    pub base: Duration,
    /// Longest single wait (also caps `Retry-After`).
    pub max: Duration,
}

impl Default for Retry {
    fn default() -> Retry {
        Retry {
            attempts: 5,
            base: Duration::from_secs(1),
            max: Duration::from_secs(60),
        }
    }
}

/// How a check run could not be written.
#[derive(Debug, thiserror::Error)]
pub enum CheckRunError {
    /// 403 without a rate limit: the token cannot write check runs (fork PR, missing
    /// `checks: write`). The caller falls back to workflow commands.
    #[error("{method} {path}: HTTP 403: the token cannot write check runs: {body}")]
    Forbidden {
        /// HTTP method.
        method: &'static str,
        /// Request path.
        path: String,
        /// Response body (scrubbed, clipped).
        body: String,
    },
    /// Any other client error: not retried.
    #[error("{method} {path}: HTTP {status}: {body}")]
    Status {
        /// HTTP method.
        method: &'static str,
        /// Request path.
        path: String,
        /// Status code.
        status: u16,
        /// Response body (scrubbed, clipped).
        body: String,
    },
    /// Retries ran out.
    #[error("{method} {path}: gave up after {attempts} attempts; last: {last}")]
    Exhausted {
        /// HTTP method.
        method: &'static str,
        /// Request path.
        path: String,
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: String,
    },
    /// The client could not be set up (bad API URL, TLS roots).
    #[error("cannot set up the GitHub client for {api_url}: {message}")]
    Client {
        /// The API base.
        api_url: String,
        /// Why.
        message: String,
    },
    /// A 2xx response that is not a check run.
    #[error("{method} {path}: unexpected response: {message}")]
    BadResponse {
        /// HTTP method.
        method: &'static str,
        /// Request path.
        path: String,
        /// Why.
        message: String,
    },
}

/// What to post.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// Check name (required checks match on it).
    pub name: &'a str,
    /// Commit to attach to.
    pub head_sha: &'a str,
    /// Output title.
    pub title: &'a str,
    /// Output summary (already within the 65,535-character limit).
    pub summary: &'a str,
    /// Annotations (any number; sent in chunks).
    pub annotations: &'a [Annotation],
    /// Conclusion to complete with.
    pub conclusion: Conclusion,
    /// Link to the workflow run.
    pub details_url: Option<&'a str>,
    /// Stable id of what was reported (the verdict's run id).
    pub external_id: &'a str,
}

/// A posted check run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    /// Check run id.
    pub id: u64,
    /// Its page, when GitHub returned one.
    pub html_url: Option<String>,
    /// Requests that succeeded (create, one per chunk, complete).
    pub requests: u32,
}

/// A GitHub client for one repository.
pub struct Client {
    octo: Octocrab,
    owner: String,
    repo: String,
    retry: Retry,
    token: String,
}

impl Client {
    /// A client for `owner/repo` at `api_url`, authenticated with `token`. Must be called
    /// within a Tokio runtime (the HTTP stack spawns its worker there).
    pub fn new(
        api_url: &str,
        owner: &str,
        repo: &str,
        token: &str,
        retry: Retry,
        timeout: Duration,
    ) -> Result<Client, CheckRunError> {
        let client_err = |m: String| CheckRunError::Client {
            api_url: api_url.to_string(),
            message: scrub(&m, token),
        };
        let header = |k: &'static str| http::HeaderName::from_static(k);
        let octo = Octocrab::builder()
            .base_uri(api_url)
            .map_err(|e| client_err(e.to_string()))?
            .personal_token(token.to_string())
            .add_header(header("accept"), "application/vnd.github+json".into())
            .add_header(header("x-github-api-version"), "2022-11-28".into())
            .set_connect_timeout(Some(timeout))
            .set_read_timeout(Some(timeout))
            .set_write_timeout(Some(timeout))
            .build()
            .map_err(|e| client_err(e.to_string()))?;
        Ok(Client {
            octo,
            owner: owner.into(),
            repo: repo.into(),
            retry,
            token: token.into(),
        })
    }

    /// Creates the check run in progress, appends the annotations in chunks of at most
    /// [`ANNOTATIONS_PER_REQUEST`], and completes it with the conclusion.
    pub async fn post(&self, r: &Request<'_>) -> Result<Posted, CheckRunError> {
        let base = format!("/repos/{}/{}/check-runs", self.owner, self.repo);
        let output = |annotations| output(r, annotations);
        let created = self
            .send(
                Method::Post,
                &base,
                &Create {
                    name: r.name,
                    head_sha: r.head_sha,
                    status: "in_progress",
                    details_url: r.details_url,
                    external_id: r.external_id,
                    output: output(&[]),
                },
            )
            .await?;
        let id = created
            .get("id")
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| CheckRunError::BadResponse {
                method: "POST",
                path: base.clone(),
                message: "no numeric `id` in the created check run".into(),
            })?;
        let html_url = created
            .get("html_url")
            .and_then(serde_json::Value::as_str)
            .map(str::to_string);
        let path = format!("{base}/{id}");
        let mut requests = 1;
        for chunk in r.annotations.chunks(ANNOTATIONS_PER_REQUEST) {
            self.send(
                Method::Patch,
                &path,
                &Update {
                    status: None,
                    conclusion: None,
                    output: output(chunk),
                },
            )
            .await?;
            requests += 1;
        }
        self.send(
            Method::Patch,
            &path,
            &Update {
                status: Some("completed"),
                conclusion: Some(r.conclusion.as_str()),
                output: output(&[]),
            },
        )
        .await?;
        requests += 1;
        Ok(Posted {
            id,
            html_url,
            requests,
        })
    }

    /// The reviews of pull request `pr` (up to 1,000, oldest first), as GitHub lists them.
    pub async fn reviews(&self, pr: u64) -> Result<Vec<super::approval::Review>, CheckRunError> {
        let mut out = Vec::new();
        for page in 1..=10 {
            let path = format!(
                "/repos/{}/{}/pulls/{pr}/reviews?per_page=100&page={page}",
                self.owner, self.repo
            );
            let v = self.send(Method::Get, &path, &()).await?;
            let list: Vec<super::approval::Review> =
                serde_json::from_value(v).map_err(|e| CheckRunError::BadResponse {
                    method: "GET",
                    path: path.clone(),
                    message: format!("not a list of reviews: {e}"),
                })?;
            let n = list.len();
            out.extend(list);
            if n < 100 {
                break;
            }
        }
        Ok(out)
    }

    /// `user`'s permission on the repository (`admin`, `maintain`, `write`, `triage`, `read`,
    /// `none`), as GitHub reports it.
    pub async fn permission(&self, user: &str) -> Result<String, CheckRunError> {
        let path = format!(
            "/repos/{}/{}/collaborators/{user}/permission",
            self.owner, self.repo
        );
        let v = self.send(Method::Get, &path, &()).await?;
        let role = v
            .get("role_name")
            .and_then(serde_json::Value::as_str)
            .or_else(|| v.get("permission").and_then(serde_json::Value::as_str));
        role.map(str::to_string)
            .ok_or_else(|| CheckRunError::BadResponse {
                method: "GET",
                path,
                message: "no `permission` in the answer".into(),
            })
    }

    async fn send<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: &B,
    ) -> Result<serde_json::Value, CheckRunError> {
        let mut last = String::new();
        let mut asked = None;
        for attempt in 0..self.retry.attempts.max(1) {
            if attempt > 0 {
                tokio::time::sleep(backoff(&self.retry, attempt, asked.take())).await;
            }
            let sent = match method {
                Method::Get => self.octo._get(path).await,
                Method::Post => self.octo._post(path, Some(body)).await,
                Method::Patch => self.octo._patch(path, Some(body)).await,
            };
            let resp = match sent {
                Ok(r) => r,
                Err(e) => {
                    // Transport failure or timeout: retry.
                    last = scrub(&format!("transport: {e}"), &self.token);
                    continue;
                }
            };
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let text = match self.octo.body_to_string(resp).await {
                Ok(t) => t,
                Err(e) => {
                    last = scrub(
                        &format!("HTTP {status}: reading the body: {e}"),
                        &self.token,
                    );
                    continue;
                }
            };
            let body = clip_body(&scrub(&text, &self.token));
            if (200..300).contains(&status) {
                return serde_json::from_str(&text).map_err(|e| CheckRunError::BadResponse {
                    method: method.as_str(),
                    path: path.into(),
                    message: format!("body is not JSON ({e}): {body}"),
                });
            }
            let rate_limited = status == 429
                || (status == 403
                    && (headers.contains_key("retry-after")
                        || header_is(&headers, "x-ratelimit-remaining", "0")
                        || text.to_ascii_lowercase().contains("rate limit")));
            if status >= 500 || rate_limited {
                last = format!("HTTP {status}: {body}");
                asked = retry_after(&headers);
                continue;
            }
            return Err(if status == 403 {
                CheckRunError::Forbidden {
                    method: method.as_str(),
                    path: path.into(),
                    body,
                }
            } else {
                CheckRunError::Status {
                    method: method.as_str(),
                    path: path.into(),
                    status,
                    body,
                }
            });
        }
        Err(CheckRunError::Exhausted {
            method: method.as_str(),
            path: path.into(),
            attempts: self.retry.attempts.max(1),
            last,
        })
    }
}

/// The wait before attempt `n` (≥ 1): what the server asked for, else exponential; capped.
fn backoff(retry: &Retry, n: u32, asked: Option<Duration>) -> Duration {
    let exp = retry
        .base
        .saturating_mul(1u32.checked_shl(n.saturating_sub(1)).unwrap_or(u32::MAX));
    asked.unwrap_or(exp).min(retry.max)
}

/// The extra wait a rate-limited response asks for: `Retry-After` seconds, or until
/// `x-ratelimit-reset` when the budget is spent.
fn retry_after(h: &http::HeaderMap) -> Option<Duration> {
    let num = |k: &str| {
        h.get(k)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    if let Some(s) = num("retry-after") {
        return Some(Duration::from_secs(s));
    }
    if header_is(h, "x-ratelimit-remaining", "0") {
        let reset = num("x-ratelimit-reset")?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_secs();
        return Some(Duration::from_secs(reset.saturating_sub(now).max(1)));
    }
    None
}

fn header_is(h: &http::HeaderMap, k: &str, v: &str) -> bool {
    h.get(k).and_then(|x| x.to_str().ok()).map(str::trim) == Some(v)
}

/// `s` with every occurrence of the token replaced.
pub fn scrub(s: &str, token: &str) -> String {
    if token.len() < 4 {
        return s.to_string();
    }
    s.replace(token, "***")
}

fn clip_body(s: &str) -> String {
    super::clip(s.trim(), MAX_BODY_IN_ERROR)
}

#[derive(Debug, Clone, Copy)]
enum Method {
    Get,
    Post,
    Patch,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Patch => "PATCH",
        }
    }
}

#[derive(Serialize)]
struct Create<'a> {
    name: &'a str,
    head_sha: &'a str,
    status: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    details_url: Option<&'a str>,
    external_id: &'a str,
    output: Output<'a>,
}

#[derive(Serialize)]
struct Update<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    conclusion: Option<&'a str>,
    output: Output<'a>,
}

fn output<'a>(r: &Request<'a>, annotations: &'a [Annotation]) -> Output<'a> {
    Output {
        title: r.title,
        summary: r.summary,
        annotations: annotations.iter().map(ApiAnnotation::from).collect(),
    }
}

#[derive(Serialize)]
struct Output<'a> {
    title: &'a str,
    summary: &'a str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    annotations: Vec<ApiAnnotation<'a>>,
}

#[derive(Serialize)]
struct ApiAnnotation<'a> {
    path: &'a str,
    start_line: u64,
    end_line: u64,
    annotation_level: &'a str,
    title: &'a str,
    message: &'a str,
}

impl<'a> From<&'a Annotation> for ApiAnnotation<'a> {
    fn from(a: &'a Annotation) -> ApiAnnotation<'a> {
        ApiAnnotation {
            path: &a.path,
            start_line: a.line,
            end_line: a.line,
            annotation_level: a.level.api(),
            title: &a.title,
            message: &a.message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_replaces_every_copy_of_the_token() {
        assert_eq!(scrub("a ghs_x1 b ghs_x1", "ghs_x1"), "a *** b ***");
        assert_eq!(scrub("abc", ""), "abc");
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let r = Retry {
            attempts: 5,
            base: Duration::from_millis(100),
            max: Duration::from_millis(350),
        };
        let ms = |n, asked| backoff(&r, n, asked).as_millis();
        assert_eq!([ms(1, None), ms(2, None), ms(3, None)], [100, 200, 350]);
        assert_eq!(ms(1, Some(Duration::from_secs(9))), 350);
        assert_eq!(ms(40, None), 350);
    }
}

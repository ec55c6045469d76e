//! The researcher's client: signs in to the hub with a ResearcherCredential ([`HubClient::login`]),
//! builds a query from flags (or a JSON file), submits it with a presentation bound to it, waits for it to
//! settle and returns the combined result.

use crate::api::Submitted;
use agora_protocol::combined::{CombinedResult, ResultStatus};
use agora_protocol::{Aggregate, Code, CodeMatch, Cohort, GroupBy, Measure, Query, Selection, Sex};
use std::time::Duration;

/// Errors of the client.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Could not reach the hub.
    #[error("cannot reach the hub at {url}: {detail}")]
    Unreachable {
        /// The URL.
        url: String,
        /// Why.
        detail: String,
    },
    /// The hub refused.
    #[error("the hub answered {status}: {message}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// Its message.
        message: String,
    },
    /// Bad flags.
    #[error("{0}")]
    Args(String),
    /// Signing a presentation failed, or the credential file is unusable.
    #[error("credential: {0}")]
    Credential(String),
    /// The hub's response ended before it was whole (a streamed export that failed half-way).
    #[error("the response from the hub at {url} ended before it was whole ({detail}): try again")]
    CutShort {
        /// The URL.
        url: String,
        /// Why.
        detail: String,
    },
    /// Waited too long.
    #[error("query {0} is still running after the wait limit; fetch it later with `agora-hub result`")]
    StillRunning(uuid::Uuid),
}

/// Flags describing a query.
#[derive(Debug, Clone, clap::Args)]
pub struct QueryArgs {
    /// A query as JSON (the API's `query` object); the other query flags are then ignored.
    #[arg(long, value_name = "FILE")]
    pub json: Option<std::path::PathBuf>,
    /// Patients with a condition (system:code, `*` suffix for a prefix), e.g. icd10cm:E11*; repeat to require several.
    #[arg(long, value_name = "CODE")]
    pub condition: Vec<String>,
    /// Patients without a condition.
    #[arg(long, value_name = "CODE")]
    pub without_condition: Vec<String>,
    /// Patients with at least one of these conditions (repeat the flag for each), e.g.
    /// `--any-condition icd10cm:E10* --any-condition icd10cm:E11*`.
    #[arg(long, value_name = "CODE")]
    pub any_condition: Vec<String>,
    /// Patients with a medication, e.g. rxnorm:860975.
    #[arg(long, value_name = "CODE")]
    pub medication: Vec<String>,
    /// Patients of one sex (female, male, other, unknown).
    #[arg(long)]
    pub sex: Option<String>,
    /// Lowest age at the reference date.
    #[arg(long)]
    pub age_min: Option<u32>,
    /// Highest age at the reference date.
    #[arg(long)]
    pub age_max: Option<u32>,
    /// Patients with an observation value in a range: CODE[:MIN[:MAX]], e.g. loinc:4548-4:6.5
    #[arg(long, value_name = "CODE:MIN:MAX")]
    pub observation: Vec<String>,
    /// The measure summarised (a LOINC code), e.g. loinc:2345-7.
    #[arg(long)]
    pub measure: Option<String>,
    /// Use every value of the measure, not each patient's latest.
    #[arg(long)]
    pub all_values: bool,
    /// Aggregates: count, sum, mean, sd, histogram.
    #[arg(long, value_delimiter = ',', default_value = "count")]
    pub aggregate: Vec<String>,
    /// Histogram edges, e.g. 70,100,126.
    #[arg(long, value_delimiter = ',')]
    pub edges: Vec<f64>,
    /// Group by sex.
    #[arg(long)]
    pub by_sex: bool,
    /// Group by age bands with these edges, e.g. 40,65.
    #[arg(long, value_delimiter = ',')]
    pub age_bands: Vec<u32>,
    /// Date ages are computed at (YYYY-MM-DD); default today.
    #[arg(long)]
    pub reference_date: Option<String>,
    /// Purpose or study.
    #[arg(long)]
    pub purpose: Option<String>,
}

impl QueryArgs {
    /// The query the flags describe.
    pub fn to_query(&self) -> Result<Query, ClientError> {
        if let Some(path) = &self.json {
            let text =
                std::fs::read_to_string(path).map_err(|e| ClientError::Args(format!("{}: {e}", path.display())))?;
            return serde_json::from_str(&text).map_err(|e| ClientError::Args(format!("{}: {e}", path.display())));
        }
        let arg = |e: String| ClientError::Args(e);
        let mut all = Vec::new();
        for c in &self.condition {
            all.push(Cohort::Condition { code: c.parse::<CodeMatch>().map_err(arg)? });
        }
        for c in &self.without_condition {
            all.push(Cohort::Not { of: Box::new(Cohort::Condition { code: c.parse::<CodeMatch>().map_err(arg)? }) });
        }
        if !self.any_condition.is_empty() {
            let of = self.any_condition.iter().map(|c| c.parse::<CodeMatch>().map(|code| Cohort::Condition { code }));
            all.push(Cohort::Any { of: of.collect::<Result<_, _>>().map_err(arg)? });
        }
        for c in &self.medication {
            all.push(Cohort::Medication { code: c.parse::<CodeMatch>().map_err(arg)? });
        }
        if let Some(s) = &self.sex {
            let sex =
                Sex::from_fhir(s).ok_or_else(|| arg(format!("unknown sex `{s}`: female, male, other or unknown")))?;
            all.push(Cohort::Sex { sex });
        }
        if self.age_min.is_some() || self.age_max.is_some() {
            all.push(Cohort::Age { min: self.age_min, max: self.age_max });
        }
        for o in &self.observation {
            let mut parts = o.splitn(4, ':');
            let code = format!("{}:{}", parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            let num = |p: Option<&str>| -> Result<Option<f64>, ClientError> {
                match p {
                    None | Some("") => Ok(None),
                    Some(v) => v.parse().map(Some).map_err(|_| arg(format!("`{v}` in --observation is not a number"))),
                }
            };
            let (min, max) = (num(parts.next())?, num(parts.next())?);
            all.push(Cohort::Observation { code: code.parse::<Code>().map_err(arg)?, min, max });
        }
        let cohort = match all.len() {
            0 => Cohort::Everyone,
            1 => all.pop().expect("one"),
            _ => Cohort::All { of: all },
        };
        let mut aggregates = Vec::new();
        for a in &self.aggregate {
            aggregates.push(match a.as_str() {
                "count" => Aggregate::Count,
                "sum" => Aggregate::Sum,
                "mean" => Aggregate::Mean,
                "sd" | "stddev" => Aggregate::StdDev,
                "histogram" => Aggregate::Histogram { edges: self.edges.clone() },
                other => return Err(arg(format!("unknown aggregate `{other}`: count, sum, mean, sd or histogram"))),
            });
        }
        let measure = match &self.measure {
            Some(m) => Some(Measure {
                code: m.parse::<Code>().map_err(arg)?,
                selection: if self.all_values { Selection::All } else { Selection::Latest },
            }),
            None => None,
        };
        let reference_date = match &self.reference_date {
            Some(d) => time::Date::parse(d, time::macros::format_description!("[year]-[month]-[day]"))
                .map_err(|_| arg(format!("reference date `{d}` is not YYYY-MM-DD")))?,
            None => time::OffsetDateTime::now_utc().date(),
        };
        let query = Query {
            version: agora_protocol::QUERY_VERSION,
            cohort,
            measure,
            aggregates,
            group_by: GroupBy {
                sex: self.by_sex,
                age_bands: (!self.age_bands.is_empty()).then(|| self.age_bands.clone()),
            },
            reference_date,
        };
        query.validate().map_err(|e| arg(e.to_string()))?;
        Ok(query)
    }
}

/// What a researcher signs in with: their key and the ResearcherCredential the hub issued to it.
#[derive(Debug, Clone)]
pub struct Researcher {
    holder: agora_did::credential::Issuer,
    credential: serde_json::Value,
    format: agora_did::CredentialFormat,
}

impl Researcher {
    /// A researcher from their identity and credential (a Data Integrity object or a VC-JOSE string);
    /// presentations are made as compact JWTs.
    pub fn new(identity: agora_did::Identity, credential: serde_json::Value) -> Researcher {
        Researcher {
            holder: agora_did::credential::Issuer::key(identity),
            credential,
            format: agora_did::CredentialFormat::Jose,
        }
    }

    /// Reads a key file and a credential file (JSON, or a bare compact JWS).
    pub fn from_files(key: &std::path::Path, credential: &std::path::Path) -> Result<Researcher, ClientError> {
        let identity = agora_did::Identity::from_key_file(key).map_err(|e| ClientError::Credential(e.to_string()))?;
        let text = std::fs::read_to_string(credential)
            .map_err(|e| ClientError::Credential(format!("cannot read {}: {e}", credential.display())))?;
        let text = text.trim();
        let credential = if text.starts_with('{') || text.starts_with('"') {
            serde_json::from_str(text).map_err(|e| ClientError::Credential(format!("{}: {e}", credential.display())))?
        } else {
            serde_json::Value::String(text.to_string())
        };
        Ok(Researcher::new(identity, credential))
    }

    /// Makes Data Integrity presentations instead of JWTs.
    pub fn with_format(mut self, format: agora_did::CredentialFormat) -> Researcher {
        self.format = format;
        self
    }

    /// The researcher's DID.
    pub fn did(&self) -> &str {
        self.holder.did()
    }

    async fn present(&self, challenge: &str, domain: &str) -> Result<serde_json::Value, ClientError> {
        agora_did::presentation::present(
            &self.holder,
            std::slice::from_ref(&self.credential),
            challenge,
            domain,
            self.format,
        )
        .await
        .map_err(|e| ClientError::Credential(e.to_string()))
    }
}

/// A client of the hub API, signed in as a researcher.
#[derive(Debug, Clone)]
pub struct HubClient {
    base: String,
    token: String,
    hub_did: String,
    researcher: Option<Researcher>,
    http: reqwest::Client,
}

impl HubClient {
    /// A client for `base` (e.g. `http://127.0.0.1:8080`) with an already opened session token; it can
    /// read results but not submit queries (those need the researcher's key).
    pub fn with_token(base: &str, token: &str) -> HubClient {
        HubClient {
            base: base.trim_end_matches('/').to_string(),
            token: token.to_string(),
            hub_did: String::new(),
            researcher: None,
            http: reqwest::Client::new(),
        }
    }

    /// Signs in: asks the hub for a challenge, presents the credential for it, and keeps the session.
    pub async fn login(base: &str, researcher: Researcher) -> Result<HubClient, ClientError> {
        let mut client = HubClient::with_token(base, "");
        let challenge: crate::api::Challenge =
            client.send(client.http.post(format!("{}/v1/auth/challenge", client.base))).await?;
        let presentation = researcher.present(&challenge.challenge, &challenge.domain).await?;
        let opened: crate::api::SessionOpened = client
            .send(
                client
                    .http
                    .post(format!("{}/v1/auth/session", client.base))
                    .json(&serde_json::json!({ "presentation": presentation })),
            )
            .await?;
        client.token = opened.token;
        client.hub_did = challenge.domain;
        client.researcher = Some(researcher);
        Ok(client)
    }

    /// The session token (to hand to another process that only reads results).
    pub fn token(&self) -> &str {
        &self.token
    }

    async fn send<T: serde::de::DeserializeOwned>(&self, req: reqwest::RequestBuilder) -> Result<T, ClientError> {
        let resp = req
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| ClientError::Unreachable { url: self.base.clone(), detail: e.to_string() })?;
        let status = resp.status();
        let text = match resp.text().await {
            Ok(text) => text,
            // A streamed response (the proofs) the hub cut short.
            Err(e) if status.is_success() => {
                return Err(ClientError::CutShort { url: self.base.clone(), detail: e.to_string() })
            }
            Err(_) => String::new(),
        };
        if !status.is_success() {
            let message = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
                .unwrap_or(text);
            return Err(ClientError::Refused { status: status.as_u16(), message });
        }
        serde_json::from_str(&text)
            .map_err(|e| ClientError::Refused { status: status.as_u16(), message: e.to_string() })
    }

    /// Submits a query, with a presentation bound to it and its purpose.
    pub async fn submit(&self, query: Query, purpose: Option<String>) -> Result<uuid::Uuid, ClientError> {
        let researcher = self.researcher.as_ref().ok_or_else(|| {
            ClientError::Credential("submitting a query needs the researcher's key: sign in with login".into())
        })?;
        let challenge = agora_protocol::query_challenge(&query, purpose.as_deref());
        let presentation = researcher.present(&challenge, &self.hub_did).await?;
        let body = serde_json::json!({ "query": query, "purpose": purpose, "presentation": presentation });
        let s: Submitted = self.send(self.http.post(format!("{}/v1/queries", self.base)).json(&body)).await?;
        Ok(s.query_id)
    }

    /// A query's current result.
    pub async fn result(&self, id: uuid::Uuid) -> Result<CombinedResult, ClientError> {
        self.send(self.http.get(format!("{}/v1/queries/{id}", self.base))).await
    }

    /// Waits until the query is no longer running (long-polling the hub, which answers as soon as the
    /// query settles).
    pub async fn wait(&self, id: uuid::Uuid, limit: Duration) -> Result<CombinedResult, ClientError> {
        let start = std::time::Instant::now();
        loop {
            let left = limit.saturating_sub(start.elapsed()).as_millis().clamp(1, 10_000);
            let url = format!("{}/v1/queries/{id}?wait_ms={left}", self.base);
            let r: CombinedResult = self.send(self.http.get(url)).await?;
            if r.status != ResultStatus::Running {
                return Ok(r);
            }
            if start.elapsed() >= limit {
                return Err(ClientError::StillRunning(id));
            }
        }
    }

    /// A query's current result, combining only the answers whose proof verified.
    pub async fn result_proven_only(&self, id: uuid::Uuid) -> Result<CombinedResult, ClientError> {
        self.send(self.http.get(format!("{}/v1/queries/{id}?proven_only=true", self.base))).await
    }

    /// The proofs of a query's proven answers, as archived answers for `agora-zk verify`.
    pub async fn proofs(&self, id: uuid::Uuid) -> Result<Vec<agora_zk::archive::Archived>, ClientError> {
        self.send(self.http.get(format!("{}/v1/queries/{id}/proofs", self.base))).await
    }

    /// The node registry.
    pub async fn nodes(&self) -> Result<serde_json::Value, ClientError> {
        self.send(self.http.get(format!("{}/v1/nodes", self.base))).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Args {
        #[command(flatten)]
        q: QueryArgs,
    }

    #[test]
    fn any_condition_flags_make_one_any_of_clause() {
        let argv = ["t", "--any-condition", "icd10cm:E10*", "--any-condition", "icd10cm:E11*", "--sex", "female"];
        let q = Args::parse_from(argv).q.to_query().unwrap();
        let code = |c: &str| Cohort::Condition { code: c.parse::<CodeMatch>().unwrap() };
        let expected = Cohort::All {
            of: vec![
                Cohort::Any { of: vec![code("icd10cm:E10*"), code("icd10cm:E11*")] },
                Cohort::Sex { sex: Sex::Female },
            ],
        };
        assert_eq!(q.cohort, expected);
        let bad = Args::parse_from(["t", "--any-condition", "nosuch"]).q.to_query();
        assert!(matches!(bad, Err(ClientError::Args(_))));
    }
}

//! A small JSON-RPC client of a Litecoin (or Bitcoin) Core node: what watching a contract
//! needs, nothing more.

use serde_json::{json, Value};

/// Why a call to the node failed.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// The node could not be reached or answered something that is not JSON-RPC.
    #[error("the node at {url} is unreachable: {reason}")]
    Unreachable {
        /// the endpoint
        url: String,
        /// what went wrong
        reason: String,
    },
    /// The node answered with an error.
    #[error("{method}: {message}")]
    Node {
        /// the method called
        method: String,
        /// the node's message
        message: String,
    },
    /// The node answered something this client cannot read.
    #[error("{method}: unexpected answer: {reason}")]
    Answer {
        /// the method called
        method: String,
        /// what was wrong
        reason: String,
    },
}

/// A node's JSON-RPC endpoint, with its credentials.
#[derive(Clone, Debug)]
pub struct Rpc {
    url: String,
    user: String,
    password: String,
    client: reqwest::Client,
}

impl Rpc {
    /// The endpoint at `url` (e.g. `http://127.0.0.1:19443`) with basic-auth credentials.
    pub fn new(url: &str, user: &str, password: &str) -> Self {
        Self {
            url: url.to_string(),
            user: user.to_string(),
            password: password.to_string(),
            client: reqwest::Client::new(),
        }
    }

    /// Calls `method` with `params`; the result.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, RpcError> {
        let unreachable = |reason: String| RpcError::Unreachable { url: self.url.clone(), reason };
        let answer = self
            .client
            .post(&self.url)
            .basic_auth(&self.user, Some(&self.password))
            .json(&json!({ "jsonrpc": "1.0", "id": 1, "method": method, "params": params }))
            .send()
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let body: Value = answer.json().await.map_err(|e| unreachable(e.to_string()))?;
        if !body["error"].is_null() {
            let message = body["error"]["message"].as_str().unwrap_or("error").to_string();
            return Err(RpcError::Node { method: method.to_string(), message });
        }
        Ok(body["result"].clone())
    }

    /// The height of the node's best chain.
    pub async fn height(&self) -> Result<u64, RpcError> {
        let answer = self.call("getblockcount", json!([])).await?;
        answer.as_u64().ok_or_else(|| RpcError::Answer {
            method: "getblockcount".into(),
            reason: format!("{answer} is not a height"),
        })
    }
}

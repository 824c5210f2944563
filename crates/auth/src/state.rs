//! What the module's handlers and authenticator share once the cell is ready: signing keys, the
//! keys of keyed hashes and sealed secrets, the settings.

use std::sync::{Arc, OnceLock};

use kernel::ApiError;
use kernel::seal::derive_key as derive;
use secrecy::SecretString;

use crate::jwt::Keys;
use crate::settings::Settings;

pub(crate) struct State {
    pub keys: Keys,
    /// Keys the hashes of refresh tokens, one-time tokens, backup codes and API key secrets.
    pub hash_key: SecretString,
    /// Seals TOTP secrets at rest (AES-256-GCM).
    pub seal_key: [u8; 32],
    pub settings: Settings,
    pub roles: std::collections::BTreeMap<String, String>,
}

/// Set in `on_ready`; the handlers reach it as `State<State>` (provided to the context), the
/// authenticator, jobs and commands through this handle.
pub(crate) type Shared = Arc<OnceLock<Arc<State>>>;

pub(crate) fn get(shared: &Shared) -> Result<&State, ApiError> {
    shared
        .get()
        .map(|s| &**s)
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("the auth module is not ready")))
}

impl State {
    pub fn new(config: &kernel::CellConfig, settings: Settings) -> Result<Self, String> {
        let cell_secret = config.secret_key();
        let jwt_secret = match &settings.jwt_secret {
            Some(s) => s.clone(),
            None => SecretString::from(derive_hex(&cell_secret, "auth.jwt-secret.v1")?),
        };
        let issuer = settings.issuer.clone().unwrap_or_else(|| {
            config.http.public_url.as_ref().map_or_else(
                || format!("cell:{}", config.name()),
                |u| u.trim_end_matches('/').to_owned(),
            )
        });
        let audience = settings
            .audience
            .clone()
            .unwrap_or_else(|| config.name().to_owned());
        let kids: Vec<&str> = settings.jwt_kids.iter().map(String::as_str).collect();
        let keys =
            Keys::derive(&jwt_secret, &kids, &issuer, &audience).map_err(|e| e.to_string())?;
        let hash_key = SecretString::from(derive_hex(&cell_secret, "auth.hash.v1")?);
        let seal = derive(&cell_secret, "auth.seal.v1")?;
        Ok(Self {
            keys,
            hash_key,
            seal_key: seal,
            settings,
            roles: config.cell.roles.clone(),
        })
    }

    pub fn hash(&self, value: &str) -> String {
        kernel::opaque::keyed_hash(&self.hash_key, value)
    }
}

fn derive_hex(secret: &SecretString, label: &str) -> Result<String, String> {
    Ok(derive(secret, label)?
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

//! Access tokens: JWTs signed with Ed25519, one algorithm accepted, `kid` rotation, JWKS.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{KeyInit, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What an access token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// The user.
    pub sub: Uuid,
    pub iat: i64,
    pub exp: i64,
    /// Unique per token: the deny-list key when the token is logged out.
    pub jti: Uuid,
    /// The session (refresh-token family) the token belongs to.
    pub sid: Uuid,
    /// The active organization and the user's roles in it.
    #[serde(default)]
    pub org: Option<Uuid>,
    #[serde(default)]
    pub roles: Vec<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token was signed with an unknown key")]
    UnknownKey,
    #[error("the token is invalid: {0}")]
    Invalid(String),
    #[error("the token has expired")]
    Expired,
    #[error("signing keys: {0}")]
    Keys(String),
}

struct Key {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// The raw public key, base64url (the JWK `x`).
    x: String,
}

/// The cell's signing keys: the first signs, all verify.
pub struct Keys {
    keys: Vec<Key>,
    issuer: String,
    audience: String,
    /// Tokens whose signature and claims were verified, by the token itself: verifying an
    /// Ed25519 signature costs more than the rest of a cached read. Only verified tokens enter;
    /// expiry is checked again on every hit (revocation is the caller's deny-list, as before).
    verified: moka::sync::Cache<Box<str>, Claims>,
}

/// Seconds of clock skew allowed on `exp`.
const LEEWAY_SECS: i64 = 30;
/// Verified tokens remembered, and for how long.
const VERIFIED_MAX: u64 = 10_000;
const VERIFIED_TTL: std::time::Duration = std::time::Duration::from_secs(300);

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field(
                "kids",
                &self.keys.iter().map(|k| &k.kid).collect::<Vec<_>>(),
            )
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish()
    }
}

impl Keys {
    /// Derives one Ed25519 key per `kid` from `secret` (HMAC-SHA256(secret, "auth.jwt.v1:" + kid)
    /// as the seed), so that every instance of a cell derives the same keys.
    pub fn derive(
        secret: &SecretString,
        kids: &[&str],
        issuer: &str,
        audience: &str,
    ) -> Result<Self, TokenError> {
        if kids.is_empty() {
            return Err(TokenError::Keys("at least one key id is required".into()));
        }
        let mut keys = Vec::with_capacity(kids.len());
        for kid in kids {
            let mut mac =
                hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.expose_secret().as_bytes())
                    .map_err(|e| TokenError::Keys(e.to_string()))?;
            mac.update(format!("auth.jwt.v1:{kid}").as_bytes());
            let seed = mac.finalize().into_bytes();
            let pair = aws_lc_rs::signature::Ed25519KeyPair::from_seed_unchecked(&seed)
                .map_err(|e| TokenError::Keys(e.to_string()))?;
            let pkcs8 = pair
                .to_pkcs8()
                .map_err(|e| TokenError::Keys(e.to_string()))?;
            let public = aws_lc_rs::signature::KeyPair::public_key(&pair)
                .as_ref()
                .to_vec();
            keys.push(Key {
                kid: (*kid).to_owned(),
                encoding: EncodingKey::from_ed_der(pkcs8.as_ref()),
                decoding: DecodingKey::from_ed_der(&public),
                x: URL_SAFE_NO_PAD.encode(&public),
            });
        }
        Ok(Self {
            keys,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            verified: moka::sync::Cache::builder()
                .max_capacity(VERIFIED_MAX)
                .time_to_live(VERIFIED_TTL)
                .build(),
        })
    }

    /// Signs `claims` with the current key (`iss` and `aud` are set here).
    pub fn sign(&self, mut claims: Claims) -> Result<String, TokenError> {
        let key = self
            .keys
            .first()
            .ok_or_else(|| TokenError::Keys("no signing key".into()))?;
        claims.iss = self.issuer.clone();
        claims.aud = self.audience.clone();
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(&header, &claims, &key.encoding)
            .map_err(|e| TokenError::Keys(e.to_string()))
    }

    /// Verifies signature (EdDSA only, key by `kid`), issuer, audience and expiry.
    /// The claims of a token this cell signed, still valid: from memory when this token was
    /// verified before (its expiry checked again), else by its signature and claims.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        if let Some(claims) = self.verified.get(token) {
            if claims.exp + LEEWAY_SECS < chrono::Utc::now().timestamp() {
                self.verified.invalidate(token);
                return Err(TokenError::Expired);
            }
            return Ok(claims);
        }
        let claims = self.verify_signature(token)?;
        self.verified.insert(token.into(), claims.clone());
        Ok(claims)
    }

    fn verify_signature(&self, token: &str) -> Result<Claims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.alg != Algorithm::EdDSA {
            return Err(TokenError::Invalid("only EdDSA tokens are accepted".into()));
        }
        let kid = header.kid.ok_or(TokenError::UnknownKey)?;
        let key = self
            .keys
            .iter()
            .find(|k| k.kid == kid)
            .ok_or(TokenError::UnknownKey)?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY_SECS as u64;
        jsonwebtoken::decode::<Claims>(token, &key.decoding, &validation)
            .map(|d| d.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                other => TokenError::Invalid(format!("{other:?}")),
            })
    }

    /// The public keys as a JWK set (`/.well-known/jwks.json`).
    pub fn jwks(&self) -> serde_json::Value {
        let keys: Vec<serde_json::Value> = self
            .keys
            .iter()
            .map(|k| {
                serde_json::json!({
                    "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": k.kid, "x": k.x,
                })
            })
            .collect();
        serde_json::json!({ "keys": keys })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(ttl_secs: i64) -> Claims {
        let now = chrono::Utc::now().timestamp();
        Claims {
            iss: String::new(),
            aud: String::new(),
            sub: Uuid::now_v7(),
            iat: now,
            exp: now + ttl_secs,
            jti: Uuid::now_v7(),
            sid: Uuid::now_v7(),
            org: Some(Uuid::now_v7()),
            roles: vec!["owner".into()],
        }
    }

    fn keys(kids: &[&str]) -> Keys {
        Keys::derive(
            &SecretString::from("cell-secret-0123456789abcdef0123456789"),
            kids,
            "suite",
            "suite-api",
        )
        .unwrap()
    }

    #[test]
    fn tokens_round_trip_with_their_claims() {
        let k = keys(&["k2"]);
        let c = claims(900);
        let token = k.sign(c.clone()).unwrap();
        let back = k.verify(&token).unwrap();
        assert_eq!(
            (back.sub, back.org, back.roles.clone()),
            (c.sub, c.org, c.roles)
        );
        assert_eq!(
            (back.iss.as_str(), back.aud.as_str()),
            ("suite", "suite-api")
        );
        assert_eq!(
            jsonwebtoken::decode_header(&token).unwrap().kid.as_deref(),
            Some("k2")
        );
    }

    #[test]
    fn forged_and_foreign_tokens_are_refused() {
        let k = keys(&["k1"]);
        let token = k.sign(claims(900)).unwrap();
        // alg: none, with the same claims.
        let parts: Vec<&str> = token.split('.').collect();
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT","kid":"k1"}"#),
            parts[1]
        );
        assert!(k.verify(&none).is_err());
        // A different secret under the same kid: a wrong key.
        let stranger = Keys::derive(
            &SecretString::from("another-secret"),
            &["k1"],
            "suite",
            "suite-api",
        )
        .unwrap();
        assert!(matches!(
            k.verify(&stranger.sign(claims(900)).unwrap()),
            Err(TokenError::Invalid(_))
        ));
        // Wrong audience, wrong issuer.
        let other_aud = Keys::derive(
            &SecretString::from("cell-secret-0123456789abcdef0123456789"),
            &["k1"],
            "suite",
            "other",
        )
        .unwrap();
        assert!(k.verify(&other_aud.sign(claims(900)).unwrap()).is_err());
        let other_iss = Keys::derive(
            &SecretString::from("cell-secret-0123456789abcdef0123456789"),
            &["k1"],
            "evil",
            "suite-api",
        )
        .unwrap();
        assert!(k.verify(&other_iss.sign(claims(900)).unwrap()).is_err());
        // Expired (beyond the 30 s leeway), tampered payload, unknown kid, garbage.
        assert_eq!(
            k.verify(&k.sign(claims(-120)).unwrap()),
            Err(TokenError::Expired)
        );
        let tampered = format!("{}.{}x.{}", parts[0], parts[1], parts[2]);
        assert!(k.verify(&tampered).is_err());
        assert_eq!(keys(&["k9"]).verify(&token), Err(TokenError::UnknownKey));
        assert_eq!(k.verify("not.a.jwt").unwrap_err(), TokenError::Malformed);
    }

    #[test]
    fn a_remembered_token_is_checked_for_expiry_on_every_use() {
        let k = keys(&["k1"]);
        let token = k.sign(claims(900)).unwrap();
        let first = k.verify(&token).unwrap();
        assert_eq!(k.verify(&token).unwrap(), first, "answered from memory");
        // A token remembered while valid, now past its expiry and the leeway.
        let mut old = claims(0);
        old.exp = chrono::Utc::now().timestamp() - LEEWAY_SECS - 1;
        k.verified.insert("remembered.but.expired".into(), old);
        assert_eq!(k.verify("remembered.but.expired"), Err(TokenError::Expired));
        assert!(k.verified.get("remembered.but.expired").is_none());
        // Only verified tokens are remembered.
        let tampered = format!("{token}x");
        assert!(k.verify(&tampered).is_err());
        assert!(k.verified.get(tampered.as_str()).is_none());
    }

    #[test]
    fn rotation_keeps_old_tokens_valid_and_signs_with_the_new_key() {
        let old = keys(&["2026-05"]);
        let old_token = old.sign(claims(900)).unwrap();
        let rotated = keys(&["2026-11", "2026-05"]);
        assert!(
            rotated.verify(&old_token).is_ok(),
            "tokens of the previous key still verify"
        );
        let new_token = rotated.sign(claims(900)).unwrap();
        assert_eq!(
            jsonwebtoken::decode_header(&new_token)
                .unwrap()
                .kid
                .as_deref(),
            Some("2026-11")
        );
        assert!(
            old.verify(&new_token).is_err(),
            "the old key set does not know the new key"
        );
        let jwks = rotated.jwks();
        let kids: Vec<&str> = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap())
            .collect();
        assert_eq!(kids, vec!["2026-11", "2026-05"]);
        assert_eq!(jwks["keys"][0]["kty"], "OKP");
        // The published key verifies tokens on its own (what another service does with the JWKS).
        let x = jwks["keys"][0]["x"].as_str().unwrap();
        let mut v = Validation::new(Algorithm::EdDSA);
        v.set_audience(&["suite-api"]);
        assert!(
            jsonwebtoken::decode::<Claims>(
                &new_token,
                &DecodingKey::from_ed_components(x).unwrap(),
                &v
            )
            .is_ok()
        );
        // Derivation is deterministic: another instance with the same secret agrees.
        assert_eq!(
            keys(&["2026-11"]).jwks()["keys"][0]["x"],
            jwks["keys"][0]["x"]
        );
    }
}

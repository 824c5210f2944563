//! Standard Webhooks signatures (<https://www.standardwebhooks.com/>): a secret is `whsec_` and
//! the base64 of 32 random bytes; a message is signed as
//! `base64(HMAC-SHA256(secret bytes, "{webhook-id}.{webhook-timestamp}.{body}"))` and sent as
//! `webhook-signature: v1,<signature>`, one per secret, separated by spaces (during a rotation
//! both the new and the previous secret sign, so a receiver holding either verifies).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{KeyInit, Mac};

const PREFIX: &str = "whsec_";

/// A new random secret.
pub(crate) fn new_secret() -> Result<String, String> {
    let mut bytes = [0_u8; 32];
    kernel::seal::fill_random(&mut bytes)?;
    Ok(format!("{PREFIX}{}", STANDARD.encode(bytes)))
}

/// `v1,<signature>` of one message with one secret.
pub(crate) fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Result<String, String> {
    let key = STANDARD
        .decode(secret.strip_prefix(PREFIX).unwrap_or(secret))
        .map_err(|e| format!("the signing secret is not base64: {e}"))?;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).map_err(|e| e.to_string())?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// The `webhook-signature` header: one signature per secret, newest first.
pub(crate) fn header(
    secrets: &[String],
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<String, String> {
    let signatures = secrets
        .iter()
        .map(|s| sign(s, id, timestamp, body))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(signatures.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification's reference libraries.
    #[test]
    fn signs_as_the_specification_example() {
        let signature = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(
            signature.as_deref(),
            Ok("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        );
    }

    #[test]
    fn a_rotation_signs_with_both_secrets() -> Result<(), String> {
        let (new, old) = (new_secret()?, new_secret()?);
        assert!(new.starts_with("whsec_") && new != old);
        let header = header(&[new.clone(), old.clone()], "m", 1, b"{}")?;
        assert_eq!(
            header,
            format!(
                "{} {}",
                sign(&new, "m", 1, b"{}")?,
                sign(&old, "m", 1, b"{}")?
            )
        );
        Ok(())
    }
}

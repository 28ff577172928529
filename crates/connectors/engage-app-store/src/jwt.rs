//! App Store Connect API tokens: a JWT signed with ES256 by the team's `.p8` API key.
//!
//! Header `{"alg":"ES256","kid":KEY_ID,"typ":"JWT"}`, claims `iss` (issuer id), `iat`, `exp` (at
//! most 20 minutes later) and `aud: "appstoreconnect-v1"`; the signature is the raw `r || s` of
//! ECDSA P-256 over SHA-256 (RFC 7518 §3.4).

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};

/// The audience App Store Connect expects.
pub const AUDIENCE: &str = "appstoreconnect-v1";

/// Seconds a token is valid: Apple refuses more than 20 minutes.
pub const LIFETIME_SECS: i64 = 19 * 60;

/// Signs App Store Connect tokens with one API key. Its `Debug` shows the key id only.
pub struct Signer {
    key: EcdsaKeyPair,
    rng: SystemRandom,
    key_id: String,
    issuer_id: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").field("key_id", &self.key_id).finish_non_exhaustive()
    }
}

/// The DER bytes of a PEM document (`-----BEGIN PRIVATE KEY-----` ...), or of bare base64.
pub fn pem_der(pem: &str) -> Option<Vec<u8>> {
    let body: String = pem
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .concat();
    STANDARD.decode(body.as_bytes()).ok().filter(|der| !der.is_empty())
}

impl Signer {
    /// A signer from the `.p8` file's text (PKCS#8 PEM of a P-256 key). The error never quotes
    /// the key.
    pub fn new(private_key_pem: &str, key_id: &str, issuer_id: &str) -> Result<Self, String> {
        let der =
            pem_der(private_key_pem).ok_or("private_key is not a PEM document (the text of the .p8 file)")?;
        let rng = SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der, &rng)
            .map_err(|e| format!("private_key is not a PKCS#8 P-256 key ({e})"))?;
        Ok(Signer { key, rng, key_id: key_id.to_owned(), issuer_id: issuer_id.to_owned() })
    }

    /// A token issued at `now` (Unix seconds), valid for [`LIFETIME_SECS`].
    pub fn token(&self, now: i64) -> Result<String, String> {
        let header = serde_json::json!({ "alg": "ES256", "kid": self.key_id, "typ": "JWT" });
        let claims = serde_json::json!({
            "iss": self.issuer_id,
            "iat": now,
            "exp": now + LIFETIME_SECS,
            "aud": AUDIENCE,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature =
            self.key.sign(&self.rng, signing_input.as_bytes()).map_err(|_| "signing the token failed")?;
        Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref())))
    }

    /// The public key (uncompressed SEC1 point), for verifiers.
    pub fn public_key(&self) -> Vec<u8> {
        use ring::signature::KeyPair as _;
        self.key.public_key().as_ref().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};

    const KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgBmcWWaAp+tSlxxwZ
sNdXplziXAIQBfAgP/x001proiKhRANCAATqEM5t2FEUxPf+nYO7/D+V+r4CXPN7
PhMzwQixb8fHGOjHETd1h/g3kkVZULfYlwbjK4grZ4ss1b5tPSu0+/ny
-----END PRIVATE KEY-----";

    #[test]
    fn tokens_verify_with_the_public_key_and_carry_apples_claims() {
        let signer = Signer::new(KEY, "2X9R4HXF34", "57246542-96fe-1a63-e053-0824d011072a").unwrap();
        let token = signer.token(1_700_000_000).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header, serde_json::json!({ "alg": "ES256", "kid": "2X9R4HXF34", "typ": "JWT" }));
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(
            claims,
            serde_json::json!({ "iss": "57246542-96fe-1a63-e053-0824d011072a", "iat": 1_700_000_000,
                                "exp": 1_700_001_140, "aud": "appstoreconnect-v1" })
        );
        let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        assert_eq!(signature.len(), 64, "JWS ES256 signatures are r || s");
        let public = UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, signer.public_key());
        let input = format!("{}.{}", parts[0], parts[1]);
        assert!(public.verify(input.as_bytes(), &signature).is_ok());
        assert!(public.verify(b"tampered", &signature).is_err());
    }

    #[test]
    fn bad_keys_are_refused_without_quoting_them() {
        let error = Signer::new("not a key at all", "K", "I").unwrap_err();
        assert!(!error.contains("not a key"), "{error}");
        let error = Signer::new("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----", "K", "I")
            .unwrap_err();
        assert!(error.contains("PKCS#8"), "{error}");
    }
}

//! The AWS SDK configuration shared by the S3 and SES backends: a region, static credentials when
//! the cell's configuration gives them (test servers, non-AWS providers), else the standard AWS
//! chain (environment, ECS task role, …).

use secrecy::{ExposeSecret, SecretString};

pub(crate) async fn sdk_config(
    region: &str,
    access_key_id: Option<&str>,
    secret_access_key: Option<&SecretString>,
) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_owned()));
    if let (Some(id), Some(secret)) = (access_key_id, secret_access_key) {
        loader = loader.credentials_provider(aws_sdk_s3::config::Credentials::new(
            id,
            secret.expose_secret(),
            None,
            None,
            "cell-config",
        ));
    }
    loader.load().await
}

//! The global options every command takes, as the aws CLI has them, and the AWS configuration
//! they select.
//!
//! Precedence is the aws CLI's ("Configuration and credentials precedence" in its user guide):
//! a command-line option beats the environment variable, which beats the config and credentials
//! files. `--region` beats `AWS_REGION` / `AWS_DEFAULT_REGION`, which beat the profile's
//! `region`; `--endpoint-url` beats `AWS_ENDPOINT_URL`, which beats the profile's
//! `endpoint_url`; `--profile` beats `AWS_PROFILE`. An explicit `--profile` also takes the
//! credentials from that profile even when `AWS_ACCESS_KEY_ID` is set (botocore drops its
//! environment provider when a profile is given explicitly), while `AWS_PROFILE` alone leaves
//! environment keys first, as in the aws CLI.

use aws_config::profile::ProfileFileCredentialsProvider;
use aws_config::provider_config::ProviderConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use clap::Args;

use crate::output::Format;

#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// AWS Region (beats AWS_REGION, AWS_DEFAULT_REGION and the profile's region).
    #[arg(long, global = true, value_name = "REGION")]
    pub region: Option<String>,
    /// Named profile from ~/.aws/config and ~/.aws/credentials (beats AWS_PROFILE; its
    /// credentials beat AWS_ACCESS_KEY_ID).
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,
    /// Send every AWS request to this URL (LocalStack, moto; beats AWS_ENDPOINT_URL).
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// Output format: json (stable, documented), table (the default on a terminal), text (the
    /// default otherwise). Also read from AWS_DEFAULT_OUTPUT.
    #[arg(long, global = true, value_enum, value_name = "FORMAT")]
    pub output: Option<Format>,
    /// No colour in table output (also NO_COLOR=1, or TERM=dumb).
    #[arg(long, global = true)]
    pub no_color: bool,
    /// Print AWS errors in full (the SDK's whole context), not just their code and message.
    #[arg(long, global = true)]
    pub debug: bool,
}

impl GlobalArgs {
    /// The AWS configuration these options select (see the module docs for the precedence).
    pub async fn sdk_config(&self) -> SdkConfig {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(profile) = &self.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(region) = &self.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(url) = &self.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let sdk = loader.load().await;
        let Some(profile) = &self.profile else {
            return sdk;
        };
        // The explicit profile's credentials, not the environment's first.
        let provider = ProfileFileCredentialsProvider::builder()
            .configure(
                &ProviderConfig::default()
                    .with_region(sdk.region().cloned())
                    .with_behavior_version(Some(BehaviorVersion::latest())),
            )
            .profile_name(profile)
            .build();
        sdk.into_builder()
            .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(
                provider,
            ))
            .build()
    }
}

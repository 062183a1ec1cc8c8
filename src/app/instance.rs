//! Which instance answered (pages and the `X-Served-By` header show it): ECS task, EC2 instance, or hostname.
//!
//! Looked up once in the background with 1 s timeouts; until it answers (or if it never does) the hostname
//! is used, so start-up never waits on a metadata service.

use std::{
    sync::{Arc, RwLock},
    time::Duration,
};

use serde::Deserialize;

use crate::config::{InstanceMetadata, InstanceSettings};

/// The name of this instance, shared and updatable. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Instance {
    name: Arc<RwLock<Arc<str>>>,
}

impl Instance {
    /// Starts as the hostname.
    pub fn from_hostname() -> Self {
        Self {
            name: Arc::new(RwLock::new(Arc::from(hostname()))),
        }
    }

    /// The current name.
    pub fn name(&self) -> Arc<str> {
        // A poisoned lock still holds a valid name: a writer cannot leave it half-written.
        match self.name.read() {
            Ok(name) => Arc::clone(&name),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    fn set(&self, name: String) {
        let mut guard = match self.name.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        *guard = Arc::from(name);
    }

    /// Looks the identity up in the background, per the settings.
    pub fn spawn_lookup(&self, settings: &InstanceSettings) {
        if settings.mode == InstanceMetadata::Hostname {
            return;
        }
        let instance = self.clone();
        let ecs = settings.ecs_metadata_uri.clone();
        tokio::spawn(async move {
            let found = match ecs {
                Some(uri) => ecs_identity(&uri).await,
                None if running_on_ec2() => ec2_identity().await,
                None => return,
            };
            match found {
                Ok(name) => {
                    tracing::info!(instance = %name, "instance identity found");
                    instance.set(name);
                }
                Err(err) => {
                    tracing::warn!(error.message = %err, "instance metadata unavailable; using the hostname")
                }
            }
        });
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// EC2 machines say so in their DMI data; asking IMDS anywhere else would send packets off the machine.
fn running_on_ec2() -> bool {
    std::fs::read_to_string("/sys/devices/virtual/dmi/id/sys_vendor")
        .is_ok_and(|vendor| vendor.trim() == "Amazon EC2")
}

fn client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .connect_timeout(Duration::from_secs(1))
        .build()
}

#[derive(Deserialize)]
struct EcsTask {
    #[serde(rename = "TaskARN")]
    task_arn: String,
    #[serde(rename = "AvailabilityZone", default)]
    availability_zone: Option<String>,
}

async fn ecs_identity(uri: &str) -> anyhow::Result<String> {
    let task: EcsTask = client()?
        .get(format!("{uri}/task"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    // The ARN's last segment is the task id; the full ARN is long for a header.
    let task_id = task
        .task_arn
        .rsplit('/')
        .next()
        .unwrap_or(&task.task_arn)
        .to_owned();
    Ok(match task.availability_zone {
        Some(az) => format!("{task_id} ({az})"),
        None => task_id,
    })
}

async fn ec2_identity() -> anyhow::Result<String> {
    const IMDS: &str = "http://169.254.169.254/latest";
    let client = client()?;
    let token = client
        .put(format!("{IMDS}/api/token"))
        .header("X-aws-ec2-metadata-token-ttl-seconds", "60")
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    let get = |path: &'static str| {
        let request = client
            .get(format!("{IMDS}/meta-data/{path}"))
            .header("X-aws-ec2-metadata-token", &token);
        async move { request.send().await?.error_for_status()?.text().await }
    };
    let instance_id = get("instance-id").await?;
    let az = get("placement/availability-zone").await?;
    Ok(format!("{instance_id} ({az})"))
}

//! The admin's clouds.yaml and openrc, written after apply so `openstack`
//! works at once. Both hold the admin password: owner-only files.

use std::path::{Path, PathBuf};

use crate::{files, EngineError};

/// Writes `clouds.yaml` and `openrc` for the cloud into `dir`; returns their paths.
pub fn write(
    dir: &Path,
    cloud: &str,
    vip: &str,
    admin_password: &str,
) -> Result<(PathBuf, PathBuf), EngineError> {
    std::fs::create_dir_all(dir).map_err(|source| EngineError::Write {
        path: dir.display().to_string(),
        source,
    })?;
    let auth_url = format!("http://{vip}:5000/v3");
    let clouds = format!(
        "# Written by ankyra for cloud `{cloud}`. Use: OS_CLIENT_CONFIG_FILE={} openstack --os-cloud {cloud} ...\n\
         clouds:\n  {cloud}:\n    auth:\n      auth_url: {auth_url}\n      username: admin\n      password: \"{admin_password}\"\n      project_name: admin\n      user_domain_name: Default\n      project_domain_name: Default\n    region_name: RegionOne\n    interface: public\n    identity_api_version: 3\n",
        dir.join("clouds.yaml").display()
    );
    let openrc = format!(
        "# Written by ankyra for cloud `{cloud}`: source it, then run openstack.\n\
         export OS_AUTH_URL={auth_url}\nexport OS_USERNAME=admin\nexport OS_PASSWORD='{admin_password}'\nexport OS_PROJECT_NAME=admin\nexport OS_USER_DOMAIN_NAME=Default\nexport OS_PROJECT_DOMAIN_NAME=Default\nexport OS_REGION_NAME=RegionOne\nexport OS_IDENTITY_API_VERSION=3\nexport OS_INTERFACE=public\n"
    );
    let c = dir.join("clouds.yaml");
    let o = dir.join("openrc");
    files::write_in_place(&c, &clouds, true)?;
    files::write_in_place(&o, &openrc, true)?;
    Ok((c, o))
}

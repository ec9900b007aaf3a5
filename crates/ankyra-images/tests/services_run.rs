//! Each built image runs its service: the APIs answer over HTTP inside their
//! container, MariaDB answers a query, HAProxy serves its stats page.
//! Real Docker: without it these tests fail.

mod common;

use common::{build_images, docker, poll, recipe, TestContainer};

/// Serves `app` with plain `gunicorn` from the folder holding gunicorn.conf.py:
/// oslo.config parses sys.argv, so gunicorn must get no arguments.
fn gunicorn(app: &str, port: u16, env: &str) -> String {
    format!(
        "mkdir -p /srv/wsgi && cd /srv/wsgi\n\
         printf 'wsgi_app = \"{app}\"\\nbind = \"127.0.0.1:{port}\"\\nworkers = 1\\ntimeout = 120\\ncontrol_socket_disable = True\\n' > gunicorn.conf.py\n\
         {env} gunicorn > /tmp/gunicorn.log 2>&1 &\n"
    )
}

fn assert_answered(what: &str, out: &ankyra_runtime::RunOutcome) {
    assert_eq!(
        out.exit_code, 0,
        "{what} did not answer:\n{}",
        out.output_tail
    );
    assert!(
        out.output_tail.contains("ANSWER"),
        "{what}:\n{}",
        out.output_tail
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keystone_answers_v3_after_db_sync() {
    let docker = docker().await;
    let built = build_images(&docker, &[recipe("keystone", "27.1.0", "2025.1")]).await;
    let script = format!(
        "mkdir -p /etc/keystone/fernet-keys /var/lib/keystone\n\
         printf '[database]\\nconnection = sqlite:////var/lib/keystone/keystone.db\\n[fernet_tokens]\\nkey_repository = /etc/keystone/fernet-keys\\n[fernet_receipts]\\nkey_repository = /etc/keystone/fernet-keys\\n' > /etc/keystone/keystone.conf\n\
         keystone-manage db_sync\n\
         keystone-manage fernet_setup --keystone-user root --keystone-group root\n\
         {}{}",
        gunicorn("keystone.wsgi.api:application", 5000, "OS_KEYSTONE_CONFIG_DIR=/etc/keystone"),
        poll("http://127.0.0.1:5000/v3", "/tmp/gunicorn.log")
    );
    let c = TestContainer::new(&docker, "keystone");
    let out = c.run(&built[0].id, &script).await;
    assert_answered("keystone", &out);
    assert!(
        out.output_tail.contains("ANSWER 200"),
        "{}",
        out.output_tail
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn glance_answers_its_root_without_a_database() {
    let docker = docker().await;
    let built = build_images(&docker, &[recipe("glance", "33.0.0", "2026.2")]).await;
    let script = format!(
        "mkdir -p /etc/glance\n\
         cp /opt/openstack/etc/glance/glance-api-paste.ini /etc/glance/ 2>/dev/null || true\n\
         printf '[DEFAULT]\\n[database]\\nconnection = sqlite:////tmp/glance.db\\n' > /etc/glance/glance-api.conf\n\
         {}{}",
        gunicorn("glance.wsgi.api:application", 9292, "OS_GLANCE_CONFIG_DIR=/etc/glance"),
        poll("http://127.0.0.1:9292/", "/tmp/gunicorn.log")
    );
    let c = TestContainer::new(&docker, "glance");
    let out = c.run(&built[0].id, &script).await;
    assert_answered("glance", &out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn placement_answers_its_root_after_db_sync() {
    let docker = docker().await;
    let built = build_images(&docker, &[recipe("placement", "16.0.0", "2026.2")]).await;
    let script = format!(
        "mkdir -p /etc/placement\n\
         printf '[placement_database]\\nconnection = sqlite:////tmp/placement.db\\n' > /etc/placement/placement.conf\n\
         # Placement syncs its traits table while loading: the schema must exist.\n\
         placement-manage --config-file /etc/placement/placement.conf db sync\n\
         {}{}",
        gunicorn("placement.wsgi.api:application", 8778, "OS_PLACEMENT_CONFIG_DIR=/etc/placement"),
        poll("http://127.0.0.1:8778/", "/tmp/gunicorn.log")
    );
    let c = TestContainer::new(&docker, "placement");
    let out = c.run(&built[0].id, &script).await;
    assert_answered("placement", &out);
    assert!(
        out.output_tail.contains("ANSWER 200"),
        "{}",
        out.output_tail
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_answers_select_1() {
    let docker = docker().await;
    let built = build_images(&docker, &[recipe("mariadb", "10.11", "2026.2")]).await;
    let script = "mariadb-install-db --user=root --datadir=/tmp/db --auth-root-authentication-method=normal --skip-test-db >/dev/null\n\
         mariadbd --no-defaults --user=root --datadir=/tmp/db --socket=/tmp/db.sock --skip-networking > /tmp/db.log 2>&1 &\n\
         for i in $(seq 100); do\n\
           if mariadb --socket=/tmp/db.sock -uroot -N -e 'SELECT 1+1 AS answer'; then exit 0; fi\n\
           sleep 0.2\n\
         done\n\
         cat /tmp/db.log; exit 1";
    let c = TestContainer::new(&docker, "mariadb");
    let out = c.run(&built[0].id, script).await;
    assert_eq!(out.exit_code, 0, "{}", out.output_tail);
    assert!(
        out.output_tail.lines().any(|l| l.trim() == "2"),
        "{}",
        out.output_tail
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn haproxy_starts_with_a_config_and_serves_stats() {
    let docker = docker().await;
    let built = build_images(&docker, &[recipe("haproxy", "2.6", "2026.2")]).await;
    let script = format!(
        "printf 'global\\n  maxconn 100\\ndefaults\\n  mode http\\n  timeout connect 5s\\n  timeout client 30s\\n  timeout server 30s\\nfrontend stats\\n  bind 127.0.0.1:1984\\n  stats enable\\n  stats uri /\\n' > /tmp/haproxy.cfg\n\
         haproxy -c -f /tmp/haproxy.cfg\n\
         haproxy -f /tmp/haproxy.cfg > /tmp/haproxy.log 2>&1 &\n\
         {}",
        poll("http://127.0.0.1:1984/", "/tmp/haproxy.log")
    );
    let c = TestContainer::new(&docker, "haproxy");
    let out = c.run(&built[0].id, &script).await;
    assert_answered("haproxy", &out);
    assert!(
        out.output_tail.contains("ANSWER 200"),
        "{}",
        out.output_tail
    );
}

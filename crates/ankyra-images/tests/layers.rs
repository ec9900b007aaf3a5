//! Properties of the layers: a point release adds a small layer on the shared
//! libraries, and rebuilding the same recipe is a no-op. Real Docker.

mod common;

use ankyra_images::{added_bytes, libs_layer_of};
use common::{build_images, docker, recipe};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn point_release_adds_under_10_mb_on_the_shared_libraries() {
    let docker = docker().await;
    let built = build_images(
        &docker,
        &[
            recipe("keystone", "27.0.2", "2025.1"),
            recipe("keystone", "27.1.0", "2025.1"),
        ],
    )
    .await;
    let old = libs_layer_of(&docker, &built[0].id)
        .await
        .expect("inspect")
        .expect("27.0.2 sits on a libs layer");
    let new = libs_layer_of(&docker, &built[1].id)
        .await
        .expect("inspect")
        .expect("27.1.0 sits on a libs layer");
    assert_eq!(old, new, "both point releases share one libraries layer");
    let added = added_bytes(&docker, &built[1].id, &new)
        .await
        .expect("sizes");
    assert!(added > 0, "the service layer is not empty");
    assert!(
        added < 10 * 1000 * 1000,
        "keystone 27.1.0 adds {added} bytes on {new}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_build_of_the_same_recipe_is_a_no_op() {
    let docker = docker().await;
    let r = recipe("keystone", "27.1.0", "2025.1");
    let first = build_images(&docker, std::slice::from_ref(&r)).await;
    let second = build_images(&docker, std::slice::from_ref(&r)).await;
    assert!(!second[0].created, "nothing was rebuilt");
    assert_eq!(first[0].id, second[0].id);
    assert!(
        second[0].seconds < 10.0,
        "a no-op took {} s",
        second[0].seconds
    );
    let listed = ankyra_images::list(&docker).await.expect("list");
    assert!(listed
        .iter()
        .any(|i| i.id == first[0].id && i.version == "27.1.0" && i.service == "keystone"));
}

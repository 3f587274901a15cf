//! Entry scripts in JavaScript (`plugins/js/`, built with `guest-sdk/js`): what only a
//! JavaScript guest can get wrong, and the SDK's own unit tests. The behaviours the JS
//! examples share with their Rust twins are tested as twins in `schema.rs` and `raw.rs`.

use scorehost::Registry;

use crate::support::{repo, runtime, settings};

#[tokio::test]
async fn a_js_init_that_cannot_read_the_model_keeps_the_deployment_from_loading() {
    let empty = repo().join("target/test-js-empty-model");
    std::fs::create_dir_all(&empty).unwrap();
    let Err(error) = Registry::load(runtime(), vec![settings("js/powerbi", &empty)]).await else {
        panic!("the deployment loaded without its model file");
    };
    let message = format!("{error:#}");
    assert!(
        message
            .contains("cannot open /var/azureml-app/azureml-models/sklearn_regression_model.json"),
        "{message}"
    );
}

#[test]
fn the_js_sdks_unit_tests_pass() {
    let output = std::process::Command::new("node")
        .args(["--test", "test/"])
        .current_dir(repo().join("guest-sdk/js"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

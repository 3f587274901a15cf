//! The container and Kubernetes files: the manifests pass a Kubernetes schema validator
//! (`kubernetes-validate` from PyPI, which ships the API schemas), and the deployments file in
//! the ConfigMap is one scorehost accepts. The Dockerfile cannot be built here (no container
//! engine on the machine); its probes and ports are the ones checked below.

use std::path::Path;
use std::process::Command;

use scorehost::manifest::Manifest;

use crate::support::{python_tool, repo};

fn manifests() -> Vec<std::path::PathBuf> {
    let dir = repo().join("deploy/kubernetes");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "{files:?}");
    files
}

#[test]
fn kubernetes_manifests_pass_strict_schema_validation() {
    let validator = python_tool("kubernetes-validate", "kubernetes-validate");
    let output = Command::new(validator)
        .arg("--strict")
        .args(manifests())
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{report}");
    for kind in [
        "configmap/",
        "deployment/",
        "service/",
        "persistentvolumeclaim/",
    ] {
        assert!(report.contains(kind), "{kind} not validated: {report}");
    }
}

#[test]
fn the_configmap_holds_a_valid_deployments_file_and_the_probes_use_real_routes() {
    // The validator's venv has PyYAML: read the YAML with it instead of adding a Rust YAML crate.
    let validator = python_tool("kubernetes-validate", "kubernetes-validate");
    let python = validator.with_file_name("python");
    let read = |file: &str, expr: &str| {
        let script =
            format!("import sys, yaml, json; d = yaml.safe_load(open(sys.argv[1])); print({expr})");
        let output = Command::new(&python)
            .args(["-c", &script])
            .arg(repo().join("deploy/kubernetes").join(file))
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stdout).unwrap()
    };
    let toml = read("configmap.yaml", "d['data']['deployments.toml']");
    let manifest = Manifest::parse(&toml, Path::new("/")).unwrap();
    assert_eq!(manifest.deployments[0].name, "ridge");
    assert!(manifest.deployments[0].plugin.starts_with("/mnt/models"));

    let container = "d['spec']['template']['spec']['containers'][0]";
    let liveness = read(
        "deployment.yaml",
        &format!("{container}['livenessProbe']['httpGet']['path']"),
    );
    let readiness = read(
        "deployment.yaml",
        &format!("{container}['readinessProbe']['httpGet']['path']"),
    );
    assert_eq!(liveness.trim(), "/");
    assert_eq!(readiness.trim(), "/v2/health/ready");
    let mounts = read(
        "deployment.yaml",
        &format!("json.dumps({container}['volumeMounts'])"),
    );
    let mounts: serde_json::Value = serde_json::from_str(&mounts).unwrap();
    let models = mounts
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["mountPath"] == "/mnt/models")
        .unwrap();
    assert_eq!(models["readOnly"], true);

    let dockerfile = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    assert!(
        dockerfile.contains("USER 10001"),
        "the image must not run as root"
    );
    assert!(dockerfile.contains("--metrics-addr"));
}

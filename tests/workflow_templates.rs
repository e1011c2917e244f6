//! The workflow templates users copy declare exactly what shipgate sends them: a dispatch
//! with inputs GitHub would refuse (422) is a failed pipeline, so the templates and the
//! executor must agree.

use std::collections::BTreeSet;

use marked_yaml::Node;

fn template(name: &str) -> (String, Node) {
    let path = format!(
        "{}/.github/workflow-templates/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let node = marked_yaml::parse_yaml(0, &text).unwrap();
    (text, node)
}

fn inputs(node: &Node) -> BTreeSet<String> {
    let on = node.as_mapping().unwrap().get_node("on").unwrap();
    let dispatch = on
        .as_mapping()
        .unwrap()
        .get_node("workflow_dispatch")
        .unwrap();
    let inputs = dispatch.as_mapping().unwrap().get_node("inputs").unwrap();
    inputs
        .as_mapping()
        .unwrap()
        .keys()
        .map(|k| k.as_str().to_owned())
        .collect()
}

#[test]
fn the_tests_template_takes_sha_and_pipeline_and_names_its_runs_by_pipeline() {
    let (text, node) = template("shipgate-tests.yml");
    assert_eq!(
        inputs(&node),
        BTreeSet::from(["sha".into(), "pipeline".into()])
    );
    assert!(text.contains("run-name: \"tests ${{ inputs.pipeline }}\""));
    assert!(
        text.contains("ref: ${{ inputs.sha }}"),
        "checks out the SHA, not the branch"
    );
}

#[test]
fn the_deploy_template_takes_what_shipgate_sends_and_uses_the_environment() {
    let (text, node) = template("shipgate-deploy.yml");
    let expected: BTreeSet<String> = ["environment", "sha", "pipeline", "rollback", "reason"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(inputs(&node), expected);
    assert!(
        text.contains("environment: ${{ inputs.environment }}"),
        "protection rules apply"
    );
    assert!(text.contains("${{ inputs.pipeline }}") && text.contains("run-name:"));
    assert!(
        !text.contains("run: ./scripts/deploy.sh \"${{"),
        "inputs go through env"
    );
}

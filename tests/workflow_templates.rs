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

/// The step that reports evidence to shipgate: the action in `action/`, whose inputs it
/// must name exactly, with the OIDC permission the action needs.
fn evidence_steps(node: &Node) -> Vec<BTreeSet<String>> {
    let action =
        std::fs::read_to_string(format!("{}/action/action.yml", env!("CARGO_MANIFEST_DIR")))
            .unwrap();
    let action = marked_yaml::parse_yaml(0, &action).unwrap();
    let declared: BTreeSet<String> = action
        .as_mapping()
        .unwrap()
        .get_mapping("inputs")
        .unwrap()
        .keys()
        .map(|k| k.as_str().to_owned())
        .collect();
    let root = node.as_mapping().unwrap();
    let permissions = root.get_mapping("permissions").unwrap();
    assert_eq!(
        permissions.get_scalar("id-token").map(|s| s.as_str()),
        Some("write"),
        "the action needs the job's OIDC token"
    );
    let mut found = vec![];
    for (_, job) in root.get_mapping("jobs").unwrap().iter() {
        for step in job
            .as_mapping()
            .unwrap()
            .get_sequence("steps")
            .unwrap()
            .iter()
        {
            let step = step.as_mapping().unwrap();
            let uses = step.get_scalar("uses").map(|s| s.as_str().to_owned());
            if uses.is_some_and(|u| u.starts_with("shipgate/shipgate/action@")) {
                let with: BTreeSet<String> = step
                    .get_mapping("with")
                    .unwrap()
                    .keys()
                    .map(|k| k.as_str().to_owned())
                    .collect();
                assert!(
                    with.is_subset(&declared),
                    "inputs the action does not declare: {:?}",
                    with.difference(&declared).collect::<Vec<_>>()
                );
                assert!(with.contains("url"));
                found.push(with);
            }
        }
    }
    found
}

#[test]
fn the_templates_report_evidence_through_the_action_with_inputs_it_declares() {
    let (_, tests) = template("shipgate-tests.yml");
    let steps = evidence_steps(&tests);
    assert_eq!(steps.len(), 1);
    assert!(steps[0].contains("junit") && steps[0].contains("coverage"));
    let (_, deploy) = template("shipgate-deploy.yml");
    let steps = evidence_steps(&deploy);
    assert_eq!(steps.len(), 1);
    assert!(steps[0].contains("deploy-url") && steps[0].contains("deploy-version"));
}

#[test]
fn the_develop_template_takes_exactly_the_inputs_shipgate_sends_a_task() {
    let (text, node) = template("shipgate-develop.yml");
    // What shipgate sends a task (`TASK_INPUTS`), exactly.
    let expected: BTreeSet<String> = shipgate::pipeline::model::TASK_INPUTS
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(inputs(&node), expected);
    assert!(text.contains("${{ inputs.pipeline }}") && text.contains("run-name:"));
    assert!(
        text.contains("group: develop-${{ inputs.branch }}-${{ inputs.task_id }}"),
        "one run per task at a time; a group per branch would cancel queued tasks"
    );
    assert!(
        text.contains("git pull --rebase"),
        "each task rebases before it pushes"
    );
}

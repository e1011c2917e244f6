//! Reads one `.github/shipgate.yml`: YAML (a file that is not YAML is one problem, at its
//! line), then the schema's problems, each with its line and dotted key — all of them, not
//! just the first — and its good values laid over the configuration so far.
//!
//! Must not: apply a bad value (it keeps what was there; the gates hold anyway while the
//! file has problems).

use super::schema::Located;
use super::*;

pub(super) fn apply_file(
    config: &mut Config,
    text: &str,
    source: ConfigSource,
    errors: &mut Vec<ConfigError>,
) {
    let meaningful = text
        .lines()
        .map(str::trim)
        .any(|l| !l.is_empty() && !l.starts_with('#') && l != "---" && l != "...");
    if !meaningful {
        return; // an empty file means "all defaults"
    }
    let options = marked_yaml::LoaderOptions::default()
        .error_on_duplicate_keys(true)
        .prevent_coercion(true);
    let root = match marked_yaml::parse_yaml_with_options(0, text, options) {
        Ok(root) => root,
        Err(e) => {
            errors.push(ConfigError {
                source,
                line: load_error_line(&e),
                key: String::new(),
                message: format!("not valid YAML for shipgate: {}", load_error_text(&e)),
            });
            return;
        }
    };
    let file = Located::from_yaml(&root);
    let found = file.problems();
    // What the schema refused is left out; the rest is read (and checked for what a schema
    // cannot say) and applied.
    let pointers: Vec<String> = found.iter().map(|f| f.pointer.clone()).collect();
    let mut problems: Vec<_> = found.into_iter().map(|f| f.problem).collect();
    super::file::apply(config, &file, &file.without(&pointers), &mut problems);
    problems.sort();
    errors.extend(
        problems
            .into_iter()
            .map(|(line, key, message)| ConfigError {
                source,
                line,
                key,
                message,
            }),
    );
}

fn load_error_line(e: &marked_yaml::LoadError) -> usize {
    use marked_yaml::LoadError as L;
    match e {
        L::TopLevelMustBeMapping(m)
        | L::TopLevelMustBeSequence(m)
        | L::UnexpectedAnchor(m)
        | L::MappingKeyMustBeScalar(m)
        | L::UnexpectedTag(m)
        | L::ScanError(m, _) => m.line(),
        L::DuplicateKey(inner) => inner.key.span().start().map_or(0, |m| m.line()),
    }
}

fn load_error_text(e: &marked_yaml::LoadError) -> String {
    use marked_yaml::LoadError as L;
    match e {
        L::TopLevelMustBeMapping(_) | L::TopLevelMustBeSequence(_) => {
            "the file must be a mapping of keys".into()
        }
        L::UnexpectedAnchor(_) => "anchors and aliases are not supported".into(),
        L::MappingKeyMustBeScalar(_) => "keys must be plain text".into(),
        L::UnexpectedTag(_) => "tags are not supported".into(),
        L::DuplicateKey(inner) => format!("the key `{}` appears twice", inner.key.as_str()),
        L::ScanError(_, scan) => scan.info().to_owned(),
    }
}

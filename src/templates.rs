//! Templates (minijinja): the bundled pages and e-mails, each replaceable
//! by a file of the same name in an operator's directory
//! (`ui.templates_dir`, `email.templates_dir`).
//!
//! One engine and one escaper for everything sealgate renders: a template
//! whose name ends in `.html` escapes every `{{ value }}` for HTML; a
//! `.txt` or `.css` one does not. Every template is read and parsed once, at
//! start-up: a file that does not parse is a start-up error naming it.

use minijinja::{AutoEscape, Environment, Error, Output, State, Value};
use std::path::Path;

/// Prints `{{ value }}`: escaped for HTML (`& < > " '`, enough inside
/// element text and quoted attributes) in a `.html` template unless marked
/// safe; as minijinja prints it elsewhere. Unlike minijinja's own escaper
/// it leaves `/` alone, so a URL in an attribute reads as it is.
fn format(out: &mut Output, state: &State, value: &Value) -> Result<(), Error> {
    if state.auto_escape() != AutoEscape::Html || value.is_safe() || value.is_undefined() || value.is_none() {
        return minijinja::escape_formatter(out, state, value);
    }
    let text = value.to_string();
    let mut rest = text.as_str();
    while let Some(at) = rest.find(['&', '<', '>', '"', '\'']) {
        let (before, after) = rest.split_at(at);
        let escaped = match after.as_bytes().first() {
            Some(b'&') => "&amp;",
            Some(b'<') => "&lt;",
            Some(b'>') => "&gt;",
            Some(b'"') => "&quot;",
            _ => "&#39;",
        };
        out.write_str(before).and_then(|()| out.write_str(escaped)).map_err(Error::from)?;
        rest = after.get(1..).unwrap_or_default();
    }
    out.write_str(rest).map_err(Error::from)
}

/// The bundled templates, by file name, with any that `dir` holds in their
/// place. `key` names the setting in errors (`ui.templates_dir`).
pub fn load(
    bundled: &[(&'static str, &'static str)],
    dir: Option<&Path>,
    key: &str,
) -> Result<Environment<'static>, String> {
    // minijinja 2 warns that a later major version puts serde behind a feature.
    #[allow(deprecated)]
    let mut env = Environment::new();
    // Undefined values are empty, so an operator's template that names a
    // variable another version does not set still renders.
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
    env.set_formatter(format);
    let mut problems = Vec::new();
    if let Some(dir) = dir.filter(|dir| !dir.is_dir()) {
        return Err(format!("{key} {} is not a directory", dir.display()));
    }
    for (name, text) in bundled {
        let replaced = match dir.map(|dir| dir.join(name)) {
            Some(path) => match std::fs::read_to_string(&path) {
                Ok(text) => Some((path, text)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => {
                    problems.push(format!("{key}: template {}: {e}", path.display()));
                    continue;
                }
            },
            None => None,
        };
        let added = match replaced {
            Some((path, text)) => {
                env.add_template_owned(*name, text).map_err(|e| format!("{key}: template {}: {e}", path.display()))
            }
            None => env.add_template(name, text).map_err(|e| format!("bundled template {name}: {e}")),
        };
        if let Err(problem) = added {
            problems.push(problem);
        }
    }
    if problems.is_empty() {
        Ok(env)
    } else {
        Err(problems.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUNDLED: &[(&str, &str)] = &[("a.html", "<p>{{ who }}</p>"), ("a.txt", "{{ who }}")];

    #[test]
    fn html_is_escaped_and_text_is_not() {
        let env = load(BUNDLED, None, "ui.templates_dir").unwrap();
        let who = minijinja::context! { who => "<Ann & \"Bo\" o'Hara/>" };
        let html = "<p>&lt;Ann &amp; &quot;Bo&quot; o&#39;Hara/&gt;</p>";
        assert_eq!(env.get_template("a.html").unwrap().render(&who).unwrap(), html);
        assert_eq!(env.get_template("a.txt").unwrap().render(&who).unwrap(), "<Ann & \"Bo\" o'Hara/>");
        let nothing = minijinja::context! {};
        assert_eq!(env.get_template("a.html").unwrap().render(&nothing).unwrap(), "<p></p>");
    }

    #[test]
    fn a_directory_replaces_the_files_it_holds_and_a_broken_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), "hi {{ who }}").unwrap();
        let env = load(BUNDLED, Some(dir.path()), "ui.templates_dir").unwrap();
        let who = minijinja::context! { who => "x" };
        assert_eq!(env.get_template("a.txt").unwrap().render(&who).unwrap(), "hi x");
        assert_eq!(env.get_template("a.html").unwrap().render(&who).unwrap(), "<p>x</p>");

        std::fs::write(dir.path().join("a.html"), "{% if %}").unwrap();
        let error = load(BUNDLED, Some(dir.path()), "ui.templates_dir").unwrap_err();
        assert!(error.contains("ui.templates_dir") && error.contains("a.html"), "{error}");
        assert!(load(BUNDLED, Some(&dir.path().join("missing")), "ui.templates_dir").is_err());
    }
}

//! The programs and npm packages the tests run next to sealgate, and
//! `require`, which finds one or fails the test with one line naming the
//! install script. A missing tool is a failure, never a skip: CI installs
//! them all (`scripts/install-test-deps.sh`).

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

/// Where Debian puts daemons (nginx) that a non-root `PATH` often lacks.
const SBIN: [&str; 2] = ["/usr/sbin", "/usr/local/sbin"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Nginx,
    Caddy,
    Chromium,
    Node,
    /// The test IdP's npm packages (`tests/idp/node_modules/oidc-provider`).
    TestIdp,
    /// playwright-core, which drives chromium (in `tests/idp/node_modules`).
    Playwright,
    /// Prometheus's rule checker, for `examples/monitoring`.
    Promtool,
}

impl Tool {
    fn name(self) -> &'static str {
        match self {
            Tool::Nginx => "nginx",
            Tool::Caddy => "caddy",
            Tool::Chromium => "chromium",
            Tool::Node => "node",
            Tool::TestIdp => "the test IdP (tests/idp/node_modules)",
            Tool::Playwright => "playwright-core (tests/idp/node_modules)",
            Tool::Promtool => "promtool",
        }
    }

    /// An npm package under `tests/idp/node_modules`, for the npm tools.
    fn package(self) -> Option<&'static str> {
        match self {
            Tool::TestIdp => Some("oidc-provider"),
            Tool::Playwright => Some("playwright-core"),
            Tool::Nginx | Tool::Caddy | Tool::Chromium | Tool::Node | Tool::Promtool => None,
        }
    }
}

/// The one line a test fails with when `tool` is missing.
pub fn missing_message(tool: Tool) -> String {
    format!("{} is not installed: run bash scripts/install-test-deps.sh", tool.name())
}

/// Where `tool` is, looking for programs in the directories of `search_path`
/// (a `PATH`-style list) and for npm packages in `node_modules`.
pub fn locate(tool: Tool, search_path: &OsStr, node_modules: &Path) -> Option<PathBuf> {
    if let Some(package) = tool.package() {
        let dir = node_modules.join(package);
        return dir.join("package.json").is_file().then_some(dir);
    }
    std::env::split_paths(search_path).map(|dir| dir.join(tool.name())).find(|path| is_executable(path))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// `tool`'s path (its directory, for an npm package); the test fails with
/// [`missing_message`] when it is not installed.
pub fn require(tool: Tool) -> PathBuf {
    let mut search_path = std::env::var_os("PATH").unwrap_or_default();
    for dir in SBIN {
        search_path.push(OsString::from(format!(":{dir}")));
    }
    require_in(tool, &search_path, &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/idp/node_modules"))
}

/// [`require`] with the search places given.
fn require_in(tool: Tool, search_path: &OsStr, node_modules: &Path) -> PathBuf {
    locate(tool, search_path, node_modules).unwrap_or_else(|| panic!("{}", missing_message(tool)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_is_one_line_naming_the_tool_and_the_install_script() {
        assert_eq!(missing_message(Tool::Nginx), "nginx is not installed: run bash scripts/install-test-deps.sh");
        for tool in [Tool::Nginx, Tool::Caddy, Tool::Chromium, Tool::Node, Tool::TestIdp, Tool::Playwright] {
            let message = missing_message(tool);
            assert!(!message.contains('\n'), "{message}");
            assert!(message.starts_with(tool.name()) && message.ends_with("bash scripts/install-test-deps.sh"));
        }
    }

    #[test]
    fn a_program_is_found_only_where_the_path_has_it_and_only_if_executable() {
        let (empty, bin) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let nginx = bin.path().join("nginx");
        std::fs::write(&nginx, "#!/bin/sh\n").unwrap();
        let path = std::env::join_paths([empty.path(), bin.path()]).unwrap();
        let nowhere = empty.path().join("node_modules");

        assert_eq!(locate(Tool::Nginx, empty.path().as_os_str(), &nowhere), None, "a PATH without nginx");
        assert_eq!(locate(Tool::Nginx, &path, &nowhere), None, "not executable");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&nginx, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(locate(Tool::Nginx, &path, &nowhere), Some(nginx));
        assert_eq!(locate(Tool::Caddy, &path, &nowhere), None, "another program is not caddy");
    }

    #[test]
    fn an_npm_tool_is_found_by_its_package_not_on_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let node_modules = dir.path().join("node_modules");
        let path = std::env::var_os("PATH").unwrap_or_default();
        assert_eq!(locate(Tool::TestIdp, &path, &node_modules), None, "no node_modules at all");

        let package = node_modules.join("oidc-provider");
        std::fs::create_dir_all(&package).unwrap();
        assert_eq!(locate(Tool::TestIdp, &path, &node_modules), None, "an empty folder is not an installed package");
        std::fs::write(package.join("package.json"), "{}").unwrap();
        assert_eq!(locate(Tool::TestIdp, &path, &node_modules), Some(package));
        assert_eq!(locate(Tool::Playwright, &path, &node_modules), None);
    }

    #[test]
    #[should_panic(expected = "caddy is not installed: run bash scripts/install-test-deps.sh")]
    fn require_fails_the_test_with_that_line() {
        let empty = tempfile::tempdir().unwrap();
        require_in(Tool::Caddy, empty.path().as_os_str(), &empty.path().join("node_modules"));
    }
}

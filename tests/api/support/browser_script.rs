//! The browser stories' scripts (`tests/browser/*.mjs`, which share
//! `tests/browser/common.mjs`): [`run`] starts one with node, pointed at
//! Debian's chromium, and returns the one JSON line it prints.

use super::require::{require, Tool};
use std::ffi::OsStr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

/// What a script printed and how it ended.
pub struct ScriptRun {
    /// Whether it exited with status 0.
    pub success: bool,
    /// Its last stdout line, parsed: `{"ok":..,...}`.
    pub report: serde_json::Value,
    pub stdout: String,
    pub stderr: String,
}

impl ScriptRun {
    /// Fail the test, showing all the script said, unless it succeeded.
    pub fn assert_ok(&self) {
        assert!(
            self.success && self.report["ok"] == true,
            "the browser script failed:\n{}\n--- stderr ---\n{}",
            self.stdout,
            self.stderr
        );
    }
}

/// Run `tests/browser/{script}` with `args` (and `--chromium`) from the
/// repository root, within `limit`. The test fails if chromium, node or
/// playwright-core is missing, if the script overruns, or if its last line
/// is not JSON.
pub async fn run(script: &str, args: &[&dyn AsRef<OsStr>], limit: Duration) -> ScriptRun {
    let chromium = require(Tool::Chromium);
    require(Tool::Playwright);
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let run = tokio::process::Command::new(require(Tool::Node))
        .arg(repo.join("tests/browser").join(script))
        .args(args.iter().map(|arg| -> &OsStr { (*arg).as_ref() }))
        .arg("--chromium")
        .arg(&chromium)
        .current_dir(repo)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(limit, run)
        .await
        .unwrap_or_else(|_| panic!("the browser script {script} did not finish in {} s", limit.as_secs()))
        .unwrap_or_else(|e| panic!("node did not run: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let line = stdout.lines().last().unwrap_or_default();
    let report = serde_json::from_str(line).unwrap_or_else(|e| {
        panic!("{script}'s output is not one JSON line ({e}):\n{stdout}\n--- stderr ---\n{stderr}")
    });
    ScriptRun { success: output.status.success(), report, stdout, stderr }
}

//! Records the git commit the binary was built from, for `sealgate --version`.
//! `SEALGATE_COMMIT` in the build environment wins (a build without `.git`,
//! such as the Dockerfile's); without either it is `unknown`.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    (output.status.success() && !text.trim().is_empty()).then(|| text.trim().to_owned())
}

fn main() {
    println!("cargo:rerun-if-env-changed=SEALGATE_COMMIT");
    let commit = std::env::var("SEALGATE_COMMIT").ok().filter(|c| !c.is_empty());
    let commit = commit.or_else(|| git(&["rev-parse", "--short=12", "HEAD"])).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=SEALGATE_COMMIT={commit}");
    // Build again when HEAD moves: a checkout changes HEAD, a commit its branch's ref.
    if let (Some(git_dir), Some(common_dir)) =
        (git(&["rev-parse", "--git-dir"]), git(&["rev-parse", "--git-common-dir"]))
    {
        println!("cargo:rerun-if-changed={git_dir}/HEAD");
        for path in ["refs/heads", "packed-refs"] {
            if std::path::Path::new(&common_dir).join(path).exists() {
                println!("cargo:rerun-if-changed={common_dir}/{path}");
            }
        }
    }
}

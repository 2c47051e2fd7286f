//! The committed, generated files under `openapi/`: the OpenAPI document (with a staleness check,
//! as rust-analyzer does for its codegen) and the Vapi tool definitions.

use std::path::Path;

use anyhow::{Context, Result, bail};
use xshell::{Shell, cmd};

use crate::{banner, cargo};

pub const OPENAPI_FILE: &str = "openapi/openapi.json";
pub const VAPI_TOOLS_FILE: &str = "openapi/vapi-tools.json";

/// Writes `openapi/openapi.json`, or with `check` fails if the committed one is stale.
pub fn openapi(sh: &Shell, check: bool) -> Result<()> {
    let cargo = cargo();
    let spec = cmd!(sh, "{cargo} run -q -p gateway -- openapi")
        .read()
        .context("running `gateway openapi`")?;
    let spec = with_final_newline(spec);
    if !check {
        return write(sh, OPENAPI_FILE, &spec);
    }
    let committed = match sh.read_file(OPENAPI_FILE) {
        Ok(text) => text,
        Err(_) => bail!("{OPENAPI_FILE} does not exist: run `cargo xtask openapi` and commit it"),
    };
    if committed != spec {
        bail!(
            "{OPENAPI_FILE} is stale (it differs from what the gateway prints{}): \
             run `cargo xtask openapi` and commit the result",
            first_difference(&committed, &spec)
        );
    }
    eprintln!("{OPENAPI_FILE} is up to date");
    Ok(())
}

/// Writes `openapi/vapi-tools.json` from `gateway vapi-tools`.
pub fn vapi_tools(
    sh: &Shell,
    base_url: &str,
    timeout: Option<u32>,
    credential: Option<&str>,
) -> Result<()> {
    let cargo = cargo();
    let mut args = vec!["--base-url".to_owned(), base_url.to_owned()];
    if let Some(seconds) = timeout {
        args.extend(["--timeout-seconds".to_owned(), seconds.to_string()]);
    }
    if let Some(id) = credential {
        args.extend(["--credential-id".to_owned(), id.to_owned()]);
    }
    let tools = cmd!(sh, "{cargo} run -q -p gateway -- vapi-tools {args...}")
        .read()
        .context("running `gateway vapi-tools`")?;
    write(sh, VAPI_TOOLS_FILE, &with_final_newline(tools))
}

fn write(sh: &Shell, path: &str, text: &str) -> Result<()> {
    if let Some(dir) = Path::new(path).parent() {
        sh.create_dir(dir)?;
    }
    sh.write_file(path, text)?;
    banner(&format!("wrote {path} ({} bytes)", text.len()));
    Ok(())
}

/// `xshell::Cmd::read` trims the final newline; files end with exactly one.
fn with_final_newline(text: String) -> String {
    format!("{}\n", text.trim_end())
}

/// ", first at line N" for a mismatch message.
fn first_difference(a: &str, b: &str) -> String {
    let mut a_lines = a.lines();
    let mut b_lines = b.lines();
    for n in 1.. {
        match (a_lines.next(), b_lines.next()) {
            (None, None) => break,
            (x, y) if x == y => continue,
            _ => return format!(", first at line {n}"),
        }
    }
    String::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_first_differing_line() {
        assert_eq!(first_difference("a\nb\nc", "a\nx\nc"), ", first at line 2");
        assert_eq!(first_difference("a\nb", "a\nb\nc"), ", first at line 3");
        assert_eq!(first_difference("a\n", "a"), "");
    }
}

//! `gpuleak completions SHELL` and `gpuleak man`: generated from the command line's definition,
//! so a user's shell completes every subcommand and `man gpuleak` lists them all.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use clap::CommandFactory;
use common::*;
use gpuleak::cli::Cli;
use gpuleak_tests::skip;

/// Every subcommand a user can type, from the definition itself (a new one is checked too).
fn subcommands() -> Vec<String> {
    Cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect()
}

fn output(args: &[&str]) -> String {
    // Tests run at once: none removes a directory another runs gpuleak in.
    let o = gpuleak(args, &std::env::temp_dir());
    assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
    stdout(&o)
}

/// `program` run with `script` on its stdin; `None` when the program is not installed.
fn feed(program: &str, args: &[&str], script: &str) -> Option<std::process::Output> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    Some(child.wait_with_output().unwrap())
}

#[test]
fn every_shells_completions_offer_every_subcommand() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = output(&["completions", shell]);
        for name in subcommands() {
            assert!(script.contains(&name), "{shell} completions lack {name}");
        }
    }
    // And an option of a subcommand, which the shell completes after it.
    assert!(output(&["completions", "bash"]).contains("--torch-tensors"));
}

#[test]
fn the_bash_completions_parse_in_bash() {
    let script = output(&["completions", "bash"]);
    let Some(o) = feed("bash", &["-n"], &script) else {
        return skip(
            "the_bash_completions_parse_in_bash",
            "bash is not installed",
        );
    };
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn an_unknown_shell_is_refused() {
    let d = scratch("about-shell");
    let o = gpuleak(&["completions", "cmd.exe"], &d);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn the_man_page_lists_every_subcommand_and_groff_reads_it_without_warnings() {
    let page = output(&["man"]);
    assert!(page.contains(".TH gpuleak 1"), "{page}");
    for name in subcommands() {
        assert!(
            page.contains(&format!("gpuleak\\-{name}(1)")),
            "the page does not list {name}"
        );
    }
    let Some(o) = feed("groff", &["-man", "-Tutf8", "-ww", "-z"], &page) else {
        return skip(
            "the_man_page_lists_every_subcommand_and_groff_reads_it_without_warnings",
            "groff is not installed",
        );
    };
    assert!(o.status.success());
    assert_eq!(String::from_utf8_lossy(&o.stderr), "", "groff's warnings");
}

#[test]
fn each_subcommand_has_its_own_page_with_its_options() {
    for name in subcommands() {
        let page = output(&["man", &name]);
        assert!(
            page.contains(&format!(".TH gpuleak-{name} 1")),
            "{name}: {}",
            page.lines().take(4).collect::<Vec<_>>().join("\n")
        );
        assert!(
            page.contains(&format!("gpuleak {name}")),
            "{name}'s synopsis"
        );
    }
    assert!(output(&["man", "run"]).contains("\\-\\-torch\\-tensors"));
}

#[test]
fn a_page_for_an_unknown_subcommand_is_refused_naming_the_known_ones() {
    let d = scratch("about-man");
    let o = gpuleak(&["man", "record"], &d);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("no subcommand record: one of run, report"),
        "{}",
        stderr(&o)
    );
}

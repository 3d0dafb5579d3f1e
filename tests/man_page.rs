//! kneeclip(1) and the changelog, which the .deb ships (install QA: `man kneeclip` and
//! /usr/share/doc/kneeclip/changelog.gz found nothing). The page is generated from the
//! clap definitions; these tests take their lists from the same definitions, so a new
//! command or option missing from the page fails here. (`.ci/run` checks the installed
//! .deb holds both files.)

use std::path::Path;
use std::process::Command;

use clap::CommandFactory;

/// The page as a reader sees its words: no font changes, plain hyphens and apostrophes,
/// the characters behind `\[uXXXX]`.
fn page_text() -> String {
    let page = kneeclip::cli::man_page();
    let mut text = ["\\fB", "\\fI", "\\fR", "\\fP"].iter().fold(page.replace("\\-", "-").replace("\\*(Aq", "'"), |text, font| text.replace(font, ""));
    while let Some(at) = text.find("\\[u") {
        let end = at + text[at..].find(']').expect("closed escape");
        let c = u32::from_str_radix(&text[at + 3..end], 16).ok().and_then(char::from_u32).expect("a character code");
        text.replace_range(at..=end, &c.to_string());
    }
    text
}

/// The part of the page from `start` to the next line starting with one of `ends`.
fn section<'a>(text: &'a str, start: &str, ends: &[&str]) -> &'a str {
    let from = text.find(start).unwrap_or_else(|| panic!("no {start:?} in the man page:\n{text}"));
    let body = &text[from + start.len()..];
    let to = body.lines().filter(|l| ends.iter().any(|e| l.starts_with(e))).map(|l| l.as_ptr() as usize - body.as_ptr() as usize).next().unwrap_or(body.len());
    &body[..to]
}

#[test]
fn every_command_and_its_long_options_are_in_the_man_page() {
    let text = page_text();
    assert!(text.contains(".TH kneeclip 1"), "{text}");
    let synopsis = section(&text, ".SH SYNOPSIS", &[".SH"]);
    let cli = kneeclip::cli::Cli::command();
    let mut checked = 0;
    for sub in cli.get_subcommands() {
        let name = format!("kneeclip {}", sub.get_name());
        assert!(synopsis.contains(&name), "{name} missing from SYNOPSIS:\n{synopsis}");
        let own = section(&text, &format!(".SS \"{name}\""), &[".SS", ".SH"]);
        for arg in sub.get_arguments().filter(|a| !a.is_hide_set()) {
            if let Some(long) = arg.get_long() {
                assert!(own.contains(&format!("--{long}")), "--{long} of {name} missing from its section:\n{own}");
                checked += 1;
            }
            if arg.is_positional() {
                let value = arg.get_value_names().map(|v| v.join(" ")).unwrap_or_else(|| arg.get_id().to_string());
                assert!(own.contains(&value), "{value} of {name} missing from its section:\n{own}");
            }
            // Each option's help says what it does.
            if let Some(help) = arg.get_help() {
                let first_words: String = help.to_string().split_whitespace().take(4).collect::<Vec<_>>().join(" ");
                assert!(own.split_whitespace().collect::<Vec<_>>().join(" ").contains(&first_words), "{first_words:?} ({name}) missing:\n{own}");
            }
        }
    }
    assert!(checked > 30, "only {checked} long options found: is the command list empty?");
    for name in ["grade", "eval", "train"] {
        assert!(cli.find_subcommand(name).is_some(), "no {name} command");
    }
    // The hidden flag is for build scripts, not readers.
    assert!(!text.contains("print-man-page"), "the hidden flag is in the page");
}

/// `kneeclip --help` documents the environment and each command's exit status; the
/// page has them in the sections a man reader looks in.
#[test]
fn the_man_page_has_the_environment_and_exit_statuses_of_the_help() {
    let text = page_text();
    let mut cli = kneeclip::cli::Cli::command();
    let help = cli.render_long_help().to_string();
    let variables: Vec<&str> = help.lines().filter_map(|l| l.strip_prefix("  ")?.split_once('=').map(|(v, _)| v)).filter(|v| v.chars().all(|c| c.is_ascii_uppercase() || c == '_')).collect();
    assert!(variables.contains(&kneeclip::weights::MODEL_DIR_ENV) && variables.len() >= 5, "{variables:?} from:\n{help}");
    let environment = section(&text, ".SH ENVIRONMENT", &[".SH"]);
    for variable in &variables {
        assert!(environment.contains(&format!("{variable}=")), "{variable} missing from ENVIRONMENT:\n{environment}");
    }
    assert!(environment.contains("/etc/environment") && environment.contains("~/.cache/kneeclip"), "{environment}");

    let statuses = section(&text, ".SH \"EXIT STATUS\"", &[".SH"]).split_whitespace().collect::<Vec<_>>().join(" ");
    let mut documented = 0;
    for sub in cli.get_subcommands() {
        let after = sub.get_after_help().map(|h| h.to_string()).unwrap_or_default();
        let Some(status) = after.split("\n\n").find_map(|p| p.strip_prefix("Exit status: ")) else { continue };
        let status = status.split_whitespace().collect::<Vec<_>>().join(" ");
        let name = format!("kneeclip {}", sub.get_name());
        assert!(statuses.contains(&format!("{name} {status}")), "{name}'s exit status missing:\n{statuses}");
        documented += 1;
    }
    assert!(documented >= 3, "grade, eval and train document their exit status");
    assert!(statuses.contains(&format!("exits {}", kneeclip::cli::EXIT_UNUSABLE)), "{statuses}");
    // The examples are in the page, not only behind `--help`.
    assert!(text.contains("kneeclip grade --json films/*.dcm > grades.jsonl"), "grade's examples missing");
    assert!(!text.contains("for examples"), "the page points elsewhere for what it holds");
}

/// The hidden flag prints the same page; `--help` does not show it; troff reads the
/// page without a warning (no character it would need preconv for).
#[test]
fn print_man_page_prints_a_clean_page_and_stays_hidden() {
    let out = Command::new(env!("CARGO_BIN_EXE_kneeclip")).arg("--print-man-page").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let page = String::from_utf8(out.stdout).unwrap();
    assert_eq!(page, kneeclip::cli::man_page());
    assert!(page.is_ascii(), "non-ASCII in the roff source");
    let help = Command::new(env!("CARGO_BIN_EXE_kneeclip")).arg("--help").output().unwrap();
    assert!(!String::from_utf8_lossy(&help.stdout).contains("print-man-page"));

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kneeclip.1");
    std::fs::write(&file, &page).unwrap();
    match Command::new("groff").args(["-man", "-Tutf8", "-ww", "-z"]).arg(&file).output() {
        Err(_) => eprintln!("skipped: groff is not installed, the page is not typeset"),
        Ok(out) => {
            assert!(out.status.success(), "groff failed: {}", String::from_utf8_lossy(&out.stderr));
            assert_eq!(String::from_utf8_lossy(&out.stderr), "", "groff warns about the page");
        }
    }
}

/// The .deb's /usr/share/doc/kneeclip/changelog.gz comes from CHANGELOG.md.
#[test]
fn the_changelog_has_this_version() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let changelog = std::fs::read_to_string(root.join("CHANGELOG.md")).expect("CHANGELOG.md at the top level");
    let heading = format!("## [{}] - ", env!("CARGO_PKG_VERSION"));
    let entry = changelog.lines().find(|l| l.starts_with(&heading)).unwrap_or_else(|| panic!("no {heading:?} line in CHANGELOG.md"));
    let date = &entry[heading.len()..];
    assert!(date.len() == 10 && date.as_bytes()[4] == b'-' && date.as_bytes()[7] == b'-', "{entry}: the date as YYYY-MM-DD");
    let build = std::fs::read_to_string(root.join("packaging/build.sh")).unwrap();
    assert!(build.contains("gzip -9n < CHANGELOG.md") && build.contains("usr/share/man/man1/kneeclip.1.gz"), "packaging/build.sh ships neither");
}

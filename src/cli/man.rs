//! kneeclip(1): the manual page, built from the same clap definitions as `--help`, so
//! the two cannot drift. `kneeclip --print-man-page` (hidden) prints it; packaging/build.sh
//! runs the binary it packages to make the .deb's and the AppImage's copy.
//!
//! One page: the synopsis of every command, each command's options under COMMANDS, and
//! the help's free text placed where a man reader looks for it (`Environment:` becomes
//! ENVIRONMENT, each command's `Exit status:` goes to EXIT STATUS).

use clap::CommandFactory;
use clap_mangen::Man;
use roff::{Roff, bold, italic, roman};

/// What `roff` writes at the head of every rendering; the page keeps only the first.
const PREAMBLE: &str = ".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n";

/// A rendering without the preamble (and without its `.SH` line where `heading` is set).
fn piece(render: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>, heading: bool) -> String {
    let mut buf = Vec::new();
    render(&mut buf).expect("rendering into memory cannot fail");
    let text = String::from_utf8(buf).expect("roff output is UTF-8");
    let text = text.strip_prefix(PREAMBLE).unwrap_or(&text);
    if heading { text.lines().filter(|l| !l.starts_with(".SH ")).map(|l| format!("{l}\n")).collect() } else { text.to_owned() }
}

fn roff_text(roff: &Roff) -> String {
    piece(|w| roff.to_writer(w), false)
}

/// A paragraph of an `after_help` text.
enum Block {
    /// `Title:` on a line of its own, then indented lines: a table when some lines
    /// continue the one above (deeper indent), else literal lines (examples).
    Titled { title: String, lines: Vec<String> },
    Text(String),
}

fn blocks(text: &str) -> Vec<Block> {
    text.split("\n\n")
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            let mut lines = p.lines();
            let first = lines.next().unwrap_or_default();
            let rest: Vec<String> = lines.map(str::to_owned).collect();
            match first.strip_suffix(':') {
                Some(title) if !rest.is_empty() && rest.iter().all(|l| l.starts_with("  ")) => Block::Titled { title: title.to_owned(), lines: rest },
                _ => Block::Text(p.split_whitespace().collect::<Vec<_>>().join(" ")),
            }
        })
        .collect()
}

/// A titled block's body: `.TP` items for a table, a no-fill block for examples.
fn titled_body(roff: &mut Roff, lines: &[String]) {
    let continued = |l: &String| l.starts_with("   ");
    if lines.iter().any(continued) {
        let mut items: Vec<(String, String)> = Vec::new();
        for line in lines {
            if continued(line) {
                if let Some((_, text)) = items.last_mut() {
                    text.push(' ');
                    text.push_str(line.trim());
                }
            } else {
                let line = line.trim();
                let (term, text) = line.split_once("  ").unwrap_or((line, ""));
                items.push((term.trim().to_owned(), text.trim().to_owned()));
            }
        }
        for (term, text) in items {
            roff.control("TP", []).text([bold(term)]).text([roman(text)]);
        }
    } else {
        roff.control("RS", ["4"]).control("nf", []);
        for line in lines {
            roff.text([roman(line.trim())]);
        }
        roff.control("fi", []).control("RE", []);
    }
}

/// The manual page, in roff (man macros).
pub fn man_page() -> String {
    // `kneeclip help grade` is `kneeclip grade --help`: no section of its own.
    let mut command = super::Cli::command().disable_help_subcommand(true);
    command.build();
    let version = env!("CARGO_PKG_VERSION");
    let man = Man::new(command.clone()).source(format!("kneeclip {version}")).manual("User Commands");
    let subcommands: Vec<&clap::Command> = command.get_subcommands().filter(|c| !c.is_hide_set()).collect();

    let mut page = String::from(PREAMBLE);
    page += &piece(|w| man.render_title(w), false);
    // No hyphenation: a reader searching the page for ENVIRONMENT or an option finds it whole.
    page += ".nh\n";
    page += &piece(|w| man.render_name_section(w), false);
    // clap's own usage lines (clap_mangen's synopsis drops the options' values).
    let mut synopsis = Roff::new();
    synopsis.control("SH", ["SYNOPSIS"]);
    for (i, mut sub) in std::iter::once(command.clone()).chain(subcommands.iter().map(|c| (*c).clone())).enumerate() {
        let usage = sub.render_usage().to_string();
        let usage = usage.trim_start_matches("Usage:").trim();
        let name = sub.get_bin_name().unwrap_or(sub.get_name()).to_owned();
        if i > 0 {
            synopsis.control("br", []);
        }
        synopsis.text([bold(name.as_str()), roman(usage.strip_prefix(name.as_str()).unwrap_or(usage))]);
    }
    page += &roff_text(&synopsis);
    page += &piece(|w| man.render_description_section(w), false);
    // The one-line about repeats NAME; a reader new to it needs what it does and where to start.
    let mut overview = Roff::new();
    overview.control("PP", []).text([roman(
        "kneeclip reads knee films (PNG, JPEG, TIFF, BMP or DICOM) and grades them on the Kellgren\u{2013}Lawrence scale (0\u{2013}4) with CLIP ViT-B/32 and five editable clinical text anchors, one per grade. Without a command it opens the desktop viewer (",
    ), bold("kneeclip view"), roman("); the commands below grade, evaluate and train from the command line. The CLIP weights (about 605 MB) are downloaded on first use unless a model folder is given (see ENVIRONMENT).")]);
    page += &roff_text(&overview);
    page += &piece(|w| man.render_options_section(w), false);

    let mut exit_statuses: Vec<(String, String)> = Vec::new();
    let mut commands = Roff::new();
    commands.control("SH", ["COMMANDS"]);
    let mut sections = String::new();
    for sub in &subcommands {
        let name = format!("kneeclip {}", sub.get_name());
        let mut head = Roff::new();
        head.control("SS", [name.as_str()]);
        if let Some(about) = sub.get_long_about().or_else(|| sub.get_about()) {
            head.text([roman(about.to_string())]);
        }
        sections += &roff_text(&head);
        sections += &piece(|w| Man::new((*sub).clone()).render_options_section(w), true);
        let mut tail = Roff::new();
        for block in blocks(&sub.get_after_long_help().or_else(|| sub.get_after_help()).map(|h| h.to_string()).unwrap_or_default()) {
            match block {
                Block::Titled { title, lines } => {
                    tail.control("PP", []).text([bold(format!("{title}:"))]);
                    titled_body(&mut tail, &lines);
                }
                Block::Text(text) => match text.strip_prefix("Exit status: ") {
                    Some(status) => exit_statuses.push((name.clone(), status.to_owned())),
                    None => {
                        tail.control("PP", []).text([roman(text)]);
                    }
                },
            }
        }
        sections += &roff_text(&tail);
    }
    page += &roff_text(&commands);
    page += &sections;

    // The top level's free text: `Environment:` and the like become sections of their own.
    let mut extra = Roff::new();
    for block in blocks(&command.get_after_long_help().or_else(|| command.get_after_help()).map(|h| h.to_string()).unwrap_or_default()) {
        match block {
            Block::Titled { title, lines } => {
                extra.control("SH", [title.to_uppercase().as_str()]);
                titled_body(&mut extra, &lines);
            }
            // "Run `kneeclip grade --help` for examples": this page has them.
            Block::Text(text) if text.starts_with("Run `") => {}
            Block::Text(text) => {
                extra.control("PP", []).text([roman(text)]);
            }
        }
    }
    extra.control("SH", ["EXIT STATUS"]);
    for (name, status) in exit_statuses {
        extra.control("TP", []).text([bold(name)]).text([roman(status)]);
    }
    extra.control("PP", []).text([roman(format!(
        "Any command exits {} on options it does not accept, with a usage message on stderr.",
        super::EXIT_UNUSABLE
    ))]);
    extra.control("SH", ["SEE ALSO"]);
    extra.text([bold("kneeclip"), roman(" "), bold("--help"), roman(", "), bold("kneeclip"), roman(" "), italic("COMMAND"), roman(" "), bold("--help")]);
    page += &roff_text(&extra);
    ascii(&page)
}

/// Dashes and other non-ASCII characters as groff escapes: troff reads its input as
/// Latin-1 unless man's preconv runs first, and some `man` setups (a C locale) skip it.
fn ascii(page: &str) -> String {
    page.chars().map(|c| if c.is_ascii() { c.to_string() } else { format!("\\[u{:04X}]", c as u32) }).collect()
}

//! Every command of the viewer in one table: its label, tooltip and shortcut.
//! Buttons and keys only push a [`Command`]; the app drains the queue once per frame.

use egui::{Key, KeyboardShortcut, Modifiers};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    Open,
    NextFilm,
    PreviousFilm,
    NextFrame,
    PreviousFrame,
    ZoomIn,
    ZoomOut,
    Fit,
    Reset,
    Rotate,
    FlipH,
    FlipV,
    Invert,
    FileWindow,
    FullRange,
    AutoWindow,
    TogglePatientData,
    ToggleGrade,
    ToggleHeatmap,
    LengthTool,
    ClearMeasurements,
    Cancel,
    Undo,
    Redo,
    ExportReport,
    Shortcuts,
    About,
}

pub struct CommandInfo {
    pub command: Command,
    pub label: &'static str,
    pub tooltip: &'static str,
    pub shortcut: Option<KeyboardShortcut>,
}

const fn key(k: Key) -> Option<KeyboardShortcut> {
    Some(KeyboardShortcut::new(Modifiers::NONE, k))
}

pub const COMMANDS: &[CommandInfo] = &[
    CommandInfo { command: Command::Open, label: "Open…", tooltip: "Open a film (DICOM, PNG, JPEG, TIFF, BMP); you can also drop a file on the window", shortcut: Some(KeyboardShortcut::new(Modifiers::COMMAND, Key::O)) },
    CommandInfo { command: Command::PreviousFilm, label: "Previous film", tooltip: "Open the film before this one in its folder (by name)", shortcut: key(Key::PageUp) },
    CommandInfo { command: Command::NextFilm, label: "Next film", tooltip: "Open the film after this one in its folder (by name)", shortcut: key(Key::PageDown) },
    CommandInfo { command: Command::PreviousFrame, label: "Previous frame", tooltip: "Show and grade the frame before this one of a multi-frame film", shortcut: key(Key::Comma) },
    CommandInfo { command: Command::NextFrame, label: "Next frame", tooltip: "Show and grade the frame after this one of a multi-frame film", shortcut: key(Key::Period) },
    CommandInfo { command: Command::ZoomIn, label: "Zoom in", tooltip: "Zoom in (mouse wheel also zooms)", shortcut: key(Key::Plus) },
    CommandInfo { command: Command::ZoomOut, label: "Zoom out", tooltip: "Zoom out", shortcut: key(Key::Minus) },
    CommandInfo { command: Command::Fit, label: "Fit", tooltip: "Fit the film to the view", shortcut: key(Key::Equals) },
    CommandInfo { command: Command::Reset, label: "Reset", tooltip: "Reset zoom, pan, rotation, flips, inversion and window", shortcut: key(Key::Space) },
    CommandInfo { command: Command::Rotate, label: "Rotate", tooltip: "Rotate 90° clockwise", shortcut: key(Key::R) },
    CommandInfo { command: Command::FlipH, label: "Flip H", tooltip: "Flip left–right", shortcut: key(Key::H) },
    CommandInfo { command: Command::FlipV, label: "Flip V", tooltip: "Flip top–bottom", shortcut: key(Key::V) },
    CommandInfo { command: Command::Invert, label: "Invert", tooltip: "Invert gray levels", shortcut: key(Key::I) },
    CommandInfo { command: Command::FileWindow, label: "File W/L", tooltip: "The film's own window (right-drag changes width and level)", shortcut: None },
    CommandInfo { command: Command::FullRange, label: "Full range", tooltip: "Window over the film's whole range (a PNG, JPEG or TIFF: all its bit depth holds; a DICOM film: the values it has)", shortcut: key(Key::F) },
    CommandInfo { command: Command::AutoWindow, label: "Auto W/L", tooltip: "Window from the film's darkest to its brightest value (for a film whose values fill little of its bit depth)", shortcut: key(Key::A) },
    CommandInfo { command: Command::TogglePatientData, label: "Hide patient data", tooltip: "Hide patient-identifying text on screen: names, IDs, dates, descriptions and comments, file names; remembered for the next start", shortcut: Some(KeyboardShortcut::new(Modifiers::SHIFT, Key::F12)) },
    CommandInfo { command: Command::ToggleGrade, label: "Hide grade", tooltip: "Hide the model's grade, probabilities and similarities until shown again, from film to film: for teaching, the reader grades first", shortcut: key(Key::G) },
    CommandInfo { command: Command::ToggleHeatmap, label: "Heatmap", tooltip: "Show where the model looked (attention rollout over the region it graded)", shortcut: key(Key::M) },
    CommandInfo { command: Command::LengthTool, label: "Length", tooltip: "Measure: drag a line on the film; mm from the file's pixel spacing, else pixels", shortcut: key(Key::L) },
    CommandInfo { command: Command::ClearMeasurements, label: "Clear measurements", tooltip: "Remove every line measured on this film (Ctrl+Z brings them back)", shortcut: None },
    CommandInfo { command: Command::Cancel, label: "Cancel", tooltip: "Cancel the drag or line in progress, else leave the length tool", shortcut: key(Key::Escape) },
    CommandInfo { command: Command::ExportReport, label: "Export report…", tooltip: "Save this film's grading as a PDF, PNG, JSON or DICOM report: the film as shown, the grades, the anchors, the model", shortcut: Some(KeyboardShortcut::new(Modifiers::COMMAND, Key::E)) },
    CommandInfo { command: Command::Shortcuts, label: "Keyboard shortcuts", tooltip: "Every key and mouse gesture of the viewer, with the UI zoom", shortcut: None },
    CommandInfo { command: Command::About, label: "About kneeclip", tooltip: "Version, licences, and what kneeclip is not", shortcut: None },
    CommandInfo { command: Command::Undo, label: "Undo", tooltip: "Undo the last view change (zoom, pan, rotate, flip, invert, window) or measurement", shortcut: Some(KeyboardShortcut::new(Modifiers::COMMAND, Key::Z)) },
    CommandInfo { command: Command::Redo, label: "Redo", tooltip: "Do again what Undo took back", shortcut: Some(KeyboardShortcut::new(Modifiers::COMMAND.plus(Modifiers::SHIFT), Key::Z)) },
];

/// Second keys for a command, after its own in [`COMMANDS`]: the arrows page
/// like Page Down / Page Up (what a class and a presenter remote try first).
pub const ALSO: &[(Command, KeyboardShortcut)] = &[
    (Command::Redo, KeyboardShortcut::new(Modifiers::COMMAND, Key::Y)),
    (Command::NextFilm, KeyboardShortcut::new(Modifiers::NONE, Key::ArrowRight)),
    (Command::NextFilm, KeyboardShortcut::new(Modifiers::NONE, Key::ArrowDown)),
    (Command::PreviousFilm, KeyboardShortcut::new(Modifiers::NONE, Key::ArrowLeft)),
    (Command::PreviousFilm, KeyboardShortcut::new(Modifiers::NONE, Key::ArrowUp)),
];

/// Every key of `command`: its own, then those in [`ALSO`].
fn shortcuts(command: Command) -> impl Iterator<Item = KeyboardShortcut> {
    info(command).shortcut.into_iter().chain(ALSO.iter().filter(move |(c, _)| *c == command).map(|(_, s)| *s))
}

pub fn info(command: Command) -> &'static CommandInfo {
    COMMANDS.iter().find(|c| c.command == command).expect("every command is in the table")
}

/// "Rotate (R)" style tooltip text.
pub fn tooltip(ctx: &egui::Context, command: Command) -> String {
    let i = info(command);
    match shortcut_text(ctx, command) {
        keys if keys.is_empty() => i.tooltip.to_string(),
        keys => format!("{} ({keys})", i.tooltip),
    }
}

/// "Ctrl+Shift+Z or Ctrl+Y" style text of a command's keys (empty when it has none).
pub fn shortcut_text(ctx: &egui::Context, command: Command) -> String {
    let keys: Vec<String> = shortcuts(command).map(|s| key_text(ctx, s)).collect();
    match keys.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// egui writes the arrows as media symbols (⏵), and the fonts have no arrow
/// glyphs (←): named in words.
fn key_text(ctx: &egui::Context, s: KeyboardShortcut) -> String {
    match s.logical_key {
        Key::ArrowRight | Key::ArrowLeft | Key::ArrowUp | Key::ArrowDown if s.modifiers.is_none() => format!("{} arrow", s.logical_key.name()),
        // Written "Period" and "Comma" by egui: the key's own mark says which key.
        Key::Period | Key::Comma if s.modifiers.is_none() => format!("{} ({})", s.logical_key.symbol_or_name(), s.logical_key.name()),
        _ => ctx.format_shortcut(&s),
    }
}

/// The commands whose shortcuts were pressed this frame. While a text field
/// has focus only those with a modifier count (Ctrl+E from an anchor box;
/// QA: it did nothing there), never plain keys, which are the text's, nor
/// Ctrl+Z and redo, the field's own.
pub fn pressed(ctx: &egui::Context) -> Vec<Command> {
    let typing = ctx.egui_wants_keyboard_input();
    let mut keys: Vec<(Command, KeyboardShortcut)> = COMMANDS.iter().filter_map(|c| Some((c.command, c.shortcut?))).chain(ALSO.iter().copied()).collect();
    // egui matches a key with more modifiers held than asked for (Ctrl+Shift+Z
    // is a Ctrl+Z to it): the most specific keys take their presses first.
    keys.sort_by_key(|(_, s)| std::cmp::Reverse(modifier_count(s.modifiers)));
    ctx.input_mut(|i| {
        let mut pressed = Vec::new();
        for (command, s) in keys {
            if typing && (s.modifiers.is_none() || matches!(command, Command::Undo | Command::Redo)) {
                continue;
            }
            // Each press counts: eight Page Downs in one frame are eight films on.
            let n = i.count_and_consume_key(s.modifiers, s.logical_key);
            pressed.extend(std::iter::repeat_n(command, n));
        }
        pressed
    })
}

fn modifier_count(m: Modifiers) -> usize {
    [m.alt, m.shift, m.ctrl || m.command || m.mac_cmd].iter().filter(|&&held| held).count()
}

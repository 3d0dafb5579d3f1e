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
    WindowNarrower,
    WindowWider,
    LevelUp,
    LevelDown,
    PanLeft,
    PanRight,
    PanUp,
    PanDown,
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
    Quit,
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
    CommandInfo { command: Command::WindowNarrower, label: "Narrower window", tooltip: "Window 5 % narrower: more contrast (as a right-drag to the left)", shortcut: Some(KeyboardShortcut::new(Modifiers::SHIFT, Key::ArrowLeft)) },
    CommandInfo { command: Command::WindowWider, label: "Wider window", tooltip: "Window 5 % wider: less contrast (as a right-drag to the right)", shortcut: Some(KeyboardShortcut::new(Modifiers::SHIFT, Key::ArrowRight)) },
    CommandInfo { command: Command::LevelUp, label: "Level up", tooltip: "Level up by 5 % of the width: a darker film (as a right-drag up)", shortcut: Some(KeyboardShortcut::new(Modifiers::SHIFT, Key::ArrowUp)) },
    CommandInfo { command: Command::LevelDown, label: "Level down", tooltip: "Level down by 5 % of the width: a brighter film (as a right-drag down)", shortcut: Some(KeyboardShortcut::new(Modifiers::SHIFT, Key::ArrowDown)) },
    CommandInfo { command: Command::PanLeft, label: "Pan left", tooltip: "Move the film left by a tenth of the view", shortcut: Some(KeyboardShortcut::new(Modifiers::COMMAND, Key::ArrowLeft)) },
    CommandInfo { command: Command::PanRight, label: "Pan right", tooltip: "Move the film right by a tenth of the view", shortcut: Some(KeyboardShortcut::new(Modifiers::COMMAND, Key::ArrowRight)) },
    CommandInfo { command: Command::PanUp, label: "Pan up", tooltip: "Move the film up by a tenth of the view", shortcut: Some(KeyboardShortcut::new(Modifiers::COMMAND, Key::ArrowUp)) },
    CommandInfo { command: Command::PanDown, label: "Pan down", tooltip: "Move the film down by a tenth of the view", shortcut: Some(KeyboardShortcut::new(Modifiers::COMMAND, Key::ArrowDown)) },
    CommandInfo { command: Command::AutoWindow, label: "Auto W/L", tooltip: "Window from the film's darkest to its brightest value (for a film whose values fill little of its bit depth)", shortcut: key(Key::A) },
    CommandInfo { command: Command::TogglePatientData, label: "Hide patient data", tooltip: "Hide patient-identifying text on screen: names, IDs, dates, descriptions and comments, file names; remembered for the next start", shortcut: Some(KeyboardShortcut::new(Modifiers::SHIFT, Key::F12)) },
    CommandInfo { command: Command::ToggleGrade, label: "Hide grade", tooltip: "Hide the model's grade, probabilities and similarities until shown again, from film to film: for teaching, the reader grades first", shortcut: key(Key::G) },
    CommandInfo { command: Command::ToggleHeatmap, label: "Heatmap", tooltip: "Show where the model looked (attention rollout over the region it graded)", shortcut: key(Key::M) },
    CommandInfo { command: Command::LengthTool, label: "Length", tooltip: "Measure: drag a line on the film; mm from the file's pixel spacing, else pixels", shortcut: key(Key::L) },
    CommandInfo { command: Command::ClearMeasurements, label: "Clear measurements", tooltip: "Remove every line measured on this film (Ctrl+Z brings them back)", shortcut: None },
    CommandInfo { command: Command::Cancel, label: "Cancel", tooltip: "Cancel the drag or line in progress, else leave the length tool", shortcut: key(Key::Escape) },
    CommandInfo { command: Command::ExportReport, label: "Export report…", tooltip: "Save this film's grading as a PDF, PNG, JSON or DICOM report: the film as shown, the grades, the anchors, the model", shortcut: Some(KeyboardShortcut::new(Modifiers::COMMAND, Key::E)) },
    CommandInfo { command: Command::Shortcuts, label: "Keyboard shortcuts", tooltip: "Every key and mouse gesture of the viewer, with the UI zoom", shortcut: key(Key::F1) },
    CommandInfo { command: Command::About, label: "About kneeclip", tooltip: "Version, licences, and what kneeclip is not", shortcut: None },
    CommandInfo { command: Command::Quit, label: "Quit", tooltip: "Close the viewer (as the window's close button: a run in training is asked about first)", shortcut: Some(KeyboardShortcut::new(Modifiers::COMMAND, Key::Q)) },
    CommandInfo { command: Command::Undo, label: "Undo", tooltip: "Undo the last view change (zoom, pan, rotate, flip, invert, window) or measurement", shortcut: Some(KeyboardShortcut::new(Modifiers::COMMAND, Key::Z)) },
    CommandInfo { command: Command::Redo, label: "Redo", tooltip: "Do again what Undo took back", shortcut: Some(KeyboardShortcut::new(Modifiers::COMMAND.plus(Modifiers::SHIFT), Key::Z)) },
];

/// Second keys for a command, after its own in [`COMMANDS`]: the arrows page
/// like Page Down / Page Up (what a class and a presenter remote try first).
pub const ALSO: &[(Command, KeyboardShortcut)] = &[
    (Command::Redo, KeyboardShortcut::new(Modifiers::COMMAND, Key::Y)),
    (Command::Shortcuts, KeyboardShortcut::new(Modifiers::NONE, Key::Questionmark)),
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
        Key::ArrowRight | Key::ArrowLeft | Key::ArrowUp | Key::ArrowDown => {
            format!("{}+{} arrow", egui::ModifierNames::NAMES.format(&s.modifiers, ctx.os().is_mac()), s.logical_key.name())
        }
        // Written "Period" and "Comma" by egui: the key's own mark says which key.
        Key::Period | Key::Comma if s.modifiers.is_none() => format!("{} ({})", s.logical_key.symbol_or_name(), s.logical_key.name()),
        Key::Questionmark => "?".into(),
        _ => ctx.format_shortcut(&s),
    }
}

/// What holds the keyboard this frame, besides the film.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Focus {
    None,
    /// A text box: its keys are the text's.
    Text,
    /// A button, slider, checkbox…: it takes Space, Enter, Tab and the arrows.
    Widget(egui::Id),
}

impl Focus {
    pub fn of(ctx: &egui::Context) -> Focus {
        match ctx.memory(|m| m.focused()) {
            None => Focus::None,
            Some(_) if ctx.text_edit_focused() => Focus::Text,
            Some(id) => Focus::Widget(id),
        }
    }
}

/// Whether the key `s` of `command` is the viewer's this frame. A text box
/// keeps plain keys (its text), the arrows (its cursor and selection) and
/// Ctrl+Z; a focused button or slider keeps only the keys egui uses on it
/// (QA A1: any focus, even a button clicked, stopped every shortcut); an open
/// menu keeps all but the app's own commands (A5: Down in the Help menu also
/// stepped the film); the shortcut sheet scrolls with the keys that page.
fn counts(command: Command, s: KeyboardShortcut, focus: Focus, popup: bool, sheet: bool) -> bool {
    let arrow = matches!(s.logical_key, Key::ArrowLeft | Key::ArrowRight | Key::ArrowUp | Key::ArrowDown);
    // Function keys type nothing: F1 opens the sheet from a text box too.
    let function_key = matches!(s.logical_key, Key::F1 | Key::F2 | Key::F3 | Key::F4 | Key::F5 | Key::F6 | Key::F7 | Key::F8 | Key::F9 | Key::F10 | Key::F11 | Key::F12);
    if popup {
        return matches!(command, Command::Open | Command::ExportReport | Command::TogglePatientData | Command::Quit);
    }
    let kept = match focus {
        Focus::None => false,
        Focus::Text => (s.modifiers.is_none() && !function_key) || arrow || matches!(command, Command::Undo | Command::Redo),
        Focus::Widget(_) => s.modifiers.is_none() && (arrow || matches!(s.logical_key, Key::Space | Key::Enter | Key::Tab)),
    };
    !kept && !(sheet && matches!(command, Command::NextFilm | Command::PreviousFilm))
}

/// The commands whose shortcuts were pressed this frame (see [`counts`] for
/// the keys that belong to something else). Escape always takes the keyboard
/// off a button or slider, and still cancels the drag or tool.
pub fn pressed(ctx: &egui::Context) -> Vec<Command> {
    let focus = Focus::of(ctx);
    if let Focus::Widget(id) = focus {
        if ctx.input(|i| i.key_pressed(Key::Escape)) {
            ctx.memory_mut(|m| m.surrender_focus(id));
        }
    }
    let popup = egui::Popup::is_any_open(ctx);
    let sheet = super::shortcuts::is_open(ctx);
    let mut keys: Vec<(Command, KeyboardShortcut)> = COMMANDS.iter().filter_map(|c| Some((c.command, c.shortcut?))).chain(ALSO.iter().copied()).collect();
    // egui matches a key with more modifiers held than asked for (Ctrl+Shift+Z
    // is a Ctrl+Z to it): the most specific keys take their presses first.
    keys.sort_by_key(|(_, s)| std::cmp::Reverse(modifier_count(s.modifiers)));
    ctx.input_mut(|i| {
        let mut pressed = Vec::new();
        for (command, s) in keys {
            if !counts(command, s, focus, popup, sheet) {
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

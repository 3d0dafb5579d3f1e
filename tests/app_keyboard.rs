//! The viewer from the keyboard alone (low-vision, keyboard-only QA A1, A2,
//! A5, A6, A11, A13, A14): shortcuts with a button focused, none from a text
//! box or an open menu, W/L and pan keys, F1, Ctrl+Q, the frame bar's names,
//! and the status bar while the next film opens.

mod common;

use std::path::{Path, PathBuf};

use common::viewer::{App, app, folder_of_copies, harness, open_and_grade, view, wait};
use common::{dicom_film, first_png, model_dir};
use egui::{Key, Modifiers};
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};

/// A viewer with no model (its keys need none) and `film` open.
fn viewer_with(tmp: &Path, film: &Path) -> Harness<'static, App> {
    let empty = tmp.join("no-model");
    std::fs::create_dir_all(&empty).unwrap();
    let mut h = harness(empty);
    app(&mut h).open(film);
    wait(&mut h, "the film", |a| a.view.is_some() && !a.opening());
    h
}

/// Three copies of a knee in a folder, the first open and the folder listed.
fn folder_viewer(tmp: &Path) -> Option<(Harness<'static, App>, Vec<PathBuf>)> {
    let film = first_png(2)?;
    let films = folder_of_copies(tmp, &film, 3);
    let mut h = viewer_with(tmp, &films[0]);
    wait(&mut h, "the folder's list", |a| a.has_film_beside(1));
    Some((h, films))
}

/// Presses (down and up) `keys` in one frame: the harness's own key_press
/// runs a frame for each event, a quarter second of its clock apart.
fn in_one_frame(h: &mut Harness<'static, App>, keys: &[(Modifiers, Key)]) {
    for &(modifiers, key) in keys {
        for pressed in [true, false] {
            h.input_mut().events.push(egui::Event::Key { key, physical_key: None, pressed, repeat: false, modifiers });
        }
    }
    h.step();
}

fn focused(h: &Harness<'static, App>) -> Option<egui::Id> {
    h.ctx.memory(|m| m.focused())
}

/// A1: a button clicked or tabbed to kept the focus, and every single-key
/// shortcut then did nothing. Now letters and Page Down still work, while
/// Space clicks the focused button (egui's own key there) and Escape takes
/// the focus away.
#[test]
fn with_a_button_focused_letters_and_page_down_still_work() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((mut h, films)) = folder_viewer(tmp.path()) else { return };
    h.get_by_label("Flip V").focus();
    h.run_steps(2);
    assert!(focused(&h).is_some(), "the button has the focus");
    h.key_press(Key::R);
    h.step();
    assert_eq!(view(&mut h).state.rotation, 1, "R rotates with a button focused");
    // Space is the focused button's: it flips, and does not reset the view.
    h.key_press(Key::Space);
    h.run_steps(2);
    let s = view(&mut h).state;
    assert!(s.flip_v && s.rotation == 1, "{s:?}");
    h.key_press(Key::PageDown);
    h.step();
    wait(&mut h, "the second film", |a| a.path.as_deref() == Some(films[1].as_path()) && !a.opening());
    assert!(focused(&h).is_some(), "still focused");
    h.key_press(Key::Escape);
    h.run_steps(2);
    assert_eq!(focused(&h), None, "Escape takes the focus off the button");
}

/// A1: from a text box a film shortcut never fires, whatever the focus
/// rules for buttons: a typed "r" is text, Page Down and Shift+Right are the box's.
#[test]
fn typing_in_an_anchor_box_fires_no_film_shortcut() {
    let tmp = tempfile::tempdir().unwrap();
    let (Some(model), Some(film)) = (model_dir(tmp.path()), first_png(2)) else { return };
    let mut h = harness(model);
    open_and_grade(&mut h, &film);
    let before = view(&mut h).state;
    h.get_by_role_and_label(egui::accesskit::Role::MultilineTextInput, "KL 0 (Normal) — the paper's Grade 1").focus();
    h.run_steps(2);
    for pressed in [true, false] {
        h.event(egui::Event::Key { key: Key::R, physical_key: None, pressed, repeat: false, modifiers: Modifiers::NONE });
        if pressed {
            h.event(egui::Event::Text("r".into()));
        }
    }
    h.key_press(Key::PageDown);
    h.key_press_modifiers(Modifiers::SHIFT, Key::ArrowRight);
    h.key_press_modifiers(Modifiers::COMMAND, Key::ArrowRight);
    h.run_steps(3);
    assert_eq!(view(&mut h).state, before, "no view change from the text box");
    assert!(!app(&mut h).opening(), "no film asked for");
    assert!(app(&mut h).settings.anchors[0].contains('r'), "the r went into the text: {}", app(&mut h).settings.anchors[0]);
    // A click on the film takes the keyboard from the box, and the film
    // itself takes no focus (A4: an invisible Tab stop): R is the film's again.
    let c = view(&mut h).rect().unwrap().center();
    h.event(egui::Event::PointerMoved(c));
    for pressed in [true, false] {
        h.event(egui::Event::PointerButton { pos: c, button: egui::PointerButton::Primary, pressed, modifiers: Modifiers::NONE });
    }
    h.run_steps(2);
    assert_eq!(focused(&h), None, "nothing focused after a click on the film");
    h.key_press(Key::R);
    h.step();
    assert_eq!(view(&mut h).state.rotation, 1);
}

/// A5: Down in the Help menu, opened with the mouse, moved through the menu
/// and stepped the film as well.
#[test]
fn arrows_in_an_open_menu_step_no_film() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((mut h, films)) = folder_viewer(tmp.path()) else { return };
    h.get_by_label("Help").click();
    h.run_steps(2);
    assert!(egui::Popup::is_any_open(&h.ctx), "the menu is open");
    for key in [Key::ArrowDown, Key::ArrowDown, Key::PageDown, Key::R] {
        h.key_press(key);
        h.step();
    }
    h.run_steps(2);
    let a = app(&mut h);
    assert!(!a.opening() && a.path.as_deref() == Some(films[0].as_path()), "the film stayed");
    assert_eq!(view(&mut h).state.rotation, 0, "no view key either");
    // Escape closes the menu (egui's key there), and the keys are the film's again.
    h.key_press(Key::Escape);
    h.run_steps(2);
    assert!(!egui::Popup::is_any_open(&h.ctx), "Escape closed the menu");
    h.key_press(Key::R);
    h.step();
    assert_eq!(view(&mut h).state.rotation, 1);
}

/// A2: Shift+arrows set the window and level, Ctrl+arrows pan, shown in
/// the W/L corner; a run of presses is one undo step, as a drag is.
#[test]
fn shift_and_ctrl_arrows_window_level_and_pan_and_undo_as_a_drag() {
    let tmp = tempfile::tempdir().unwrap();
    let film = tmp.path().join("ramp.png");
    image::GrayImage::from_fn(64, 48, |x, _| image::Luma([(x * 4) as u8])).save(&film).unwrap();
    let mut h = viewer_with(tmp.path(), &film);
    let start = view(&mut h).state;
    assert_eq!((start.window.width, start.window.center), (255.0, 127.5));
    h.key_press_modifiers(Modifiers::SHIFT, Key::ArrowRight);
    h.step();
    let wider = view(&mut h).state.window;
    assert_eq!((wider.width, wider.center), (268.0, 128.0), "5 % wider, in whole numbers");
    h.get_by_label_contains("W 268  L 128");
    h.key_press_modifiers(Modifiers::COMMAND, Key::Z);
    h.step();
    assert_eq!(view(&mut h).state, start, "Ctrl+Z takes it back");
    // A key held: presses closer together than a second are one step.
    in_one_frame(&mut h, &[(Modifiers::SHIFT, Key::ArrowRight); 3]);
    assert!(view(&mut h).state.window.width > 268.0);
    h.key_press_modifiers(Modifiers::COMMAND, Key::Z);
    h.step();
    assert_eq!(view(&mut h).state, start, "one Ctrl+Z takes back the run of presses");
    // A held key repeats only after the desktop's delay (X: 660 ms): its first press joins the run (re-check: two Ctrl+Z were needed).
    in_one_frame(&mut h, &[(Modifiers::SHIFT, Key::ArrowRight)]);
    h.run_steps(2);
    in_one_frame(&mut h, &[(Modifiers::SHIFT, Key::ArrowRight); 2]);
    assert!(view(&mut h).state.window.width > 281.0);
    h.key_press_modifiers(Modifiers::COMMAND, Key::Z);
    h.step();
    assert_eq!(view(&mut h).state, start, "one Ctrl+Z takes back a held key, its first press too");

    in_one_frame(&mut h, &[(Modifiers::SHIFT, Key::ArrowUp)]);
    assert_eq!(view(&mut h).state.window.center, 141.0, "level up by 5 % of the width");
    h.run_steps(3); // a pause: the next presses are a step of their own
    in_one_frame(&mut h, &[(Modifiers::SHIFT, Key::ArrowLeft), (Modifiers::SHIFT, Key::ArrowDown)]);
    let w = view(&mut h).state.window;
    assert!(w.width < 255.0 && w.center < 141.0, "{w:?}");
    // Ctrl+arrows move the film a tenth of the view, as a left-drag would.
    let rect = view(&mut h).rect().unwrap();
    in_one_frame(&mut h, &[(Modifiers::NONE, Key::R)]); // another command: the W/L run is a step of its own
    in_one_frame(&mut h, &[(Modifiers::COMMAND, Key::ArrowRight), (Modifiers::COMMAND, Key::ArrowDown)]);
    let pan = view(&mut h).state.pan;
    assert!((pan.x - rect.width() / 10.0).abs() < 0.01 && (pan.y - rect.height() / 10.0).abs() < 0.01, "{pan:?} in {rect:?}");
    assert!(!app(&mut h).opening(), "no film step from a modified arrow");
    for _ in 0..4 {
        h.key_press_modifiers(Modifiers::COMMAND, Key::Z);
        h.step();
    }
    assert_eq!(view(&mut h).state, start, "pan, rotation and the two W/L runs undone in four steps");
}

/// A6, A11: F1 and ? open and close the sheet, which shows every row at
/// 1400×900 and lists the new keys; Page Down scrolls it, not the films; Ctrl+Q closes the window.
#[test]
fn f1_opens_the_whole_sheet_and_ctrl_q_asks_to_close() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((mut h, films)) = folder_viewer(tmp.path()) else { return };
    assert!(h.query_by_label("UI zoom back to 100%").is_none());
    h.key_press(Key::F1);
    h.run_steps(3);
    for row in ["Window narrower / wider", "Shift+Left arrow / Shift+Right arrow", "Pan: the film up / down", "Quit", "Ctrl+Q", "F1 or ?"] {
        h.get_by_label(row);
    }
    let last = h.get_by_label("UI zoom back to 100%").rect();
    let sheet = h.ctx.memory(|m| m.area_rect(egui::Id::unique(Some("Keyboard shortcuts")))).expect("the sheet's window");
    assert!(last.bottom() < sheet.bottom() && sheet.bottom() < 900.0, "the last row is in the sheet, on screen: {last:?} in {sheet:?}");
    let left = h.get_by_label("Shift+F12").rect();
    assert!(left.right() < last.left(), "in two columns side by side: {left:?}, {last:?}");
    h.key_press(Key::PageDown);
    h.key_press(Key::ArrowDown);
    h.run_steps(3);
    let a = app(&mut h);
    assert!(!a.opening() && a.path.as_deref() == Some(films[0].as_path()), "the sheet's keys step no film");
    h.key_press(Key::F1);
    h.run_steps(3);
    assert!(h.query_by_label("UI zoom back to 100%").is_none(), "F1 closes it");
    h.key_press_modifiers(Modifiers::SHIFT, Key::Questionmark);
    h.run_steps(3);
    h.get_by_label("UI zoom back to 100%");
    h.key_press(Key::Escape);
    h.run_steps(3);
    assert!(h.query_by_label("UI zoom back to 100%").is_none(), "Escape closes it");

    in_one_frame(&mut h, &[(Modifiers::COMMAND, Key::Q)]);
    let commands = &h.output().viewport_output[&egui::ViewportId::ROOT].commands;
    assert!(commands.contains(&egui::ViewportCommand::Close), "{commands:?}");
}

/// A13: the frame bar's buttons and slider have names a screen reader says.
#[test]
fn the_frame_bar_is_named_for_screen_readers() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(film) = dicom_film("HasFragmentSequence.dcm") else { return };
    let mut h = viewer_with(tmp.path(), &film);
    h.get_by_label("Frame");
    h.get_by_label("Previous frame");
    h.get_by_label("Next frame").click_accesskit();
    h.run_steps(2);
    assert_eq!(view(&mut h).frame_target(), 2);
}

/// A14: from a Page Down the status bar says at once which film is coming.
#[test]
fn the_status_bar_says_which_film_is_opening() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((mut h, films)) = folder_viewer(tmp.path()) else { return };
    h.get_by_label("Film 1 of 3 in this folder");
    // The frame of the press: the film is not in yet.
    in_one_frame(&mut h, &[(Modifiers::NONE, Key::PageDown)]);
    h.get_by_label("Opening film 2 of 3 in this folder…");
    wait(&mut h, "the second film", |a| a.path.as_deref() == Some(films[1].as_path()) && !a.opening());
    h.get_by_label("Film 2 of 3 in this folder");
}

/// A4: Tab stopped, unseen, on the film's area and the similarity chart.
/// Every stop of a full round now is a control with a name.
#[test]
fn every_tab_stop_is_a_named_control() {
    let tmp = tempfile::tempdir().unwrap();
    let (Some(model), Some(film)) = (model_dir(tmp.path()), first_png(2)) else { return };
    let mut h = harness(model);
    open_and_grade(&mut h, &film);
    let mut seen = Vec::new();
    for _ in 0..45 {
        h.key_press(Key::Tab);
        h.step();
        let Some(id) = focused(&h) else { continue };
        let node = h.query_all(egui_kittest::kittest::by().predicate(|n| n.is_focused())).next();
        let label = node.and_then(|n| n.accesskit_node().label()).unwrap_or_default();
        assert!(!label.is_empty(), "a Tab stop with no name after {seen:?}: {id:?} at {:?}", h.ctx.read_response(id).map(|r| r.rect));
        seen.push(label);
    }
    assert!(seen.iter().any(|l| l == "Viewer") && seen.iter().any(|l| l == "Load…"), "{seen:?}");
}

/// Accessibility re-check: Tab reached the anchors' Load… below the side
/// panel's fold and nothing moved, so Enter would have pressed it blind.
/// A control the focus moves to is scrolled into sight.
#[test]
fn a_control_focused_below_the_fold_is_scrolled_into_sight() {
    let tmp = tempfile::tempdir().unwrap();
    let (Some(model), Some(film)) = (model_dir(tmp.path()), first_png(2)) else { return };
    let mut h = harness(model);
    open_and_grade(&mut h, &film);
    let window = h.ctx.content_rect();
    let model_header = h.get_by_label("Model").rect();
    assert!(!window.contains_rect(model_header), "the test needs the Model header below the fold: {model_header:?} in {window:?}");
    h.get_by_label("Model").focus();
    h.run_steps(3);
    let model_header = h.get_by_label("Model").rect();
    assert!(window.contains_rect(model_header), "focused but out of sight: {model_header:?} in {window:?}");
}

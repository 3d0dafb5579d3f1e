//! The viewer's text sections driven headless with egui_kittest, the tiny
//! fixture model and real films: the five anchors (edited, reset, warned
//! about) and free-text queries.

mod common;

use common::viewer::{App, app, harness, open_and_grade, wait};
use common::{first_png, model_dir};
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use kneeclip::app::anchors_file::{Direction, Typed};

#[test]
fn editing_an_anchor_changes_the_similarities() {
    let tmp = tempfile::tempdir().unwrap();
    let (Some(model), Some(film)) = (model_dir(tmp.path()), first_png(3)) else { return };
    let mut h = harness(model);
    open_and_grade(&mut h, &film);
    let before = app(&mut h).grades[0].assessment.clone();
    assert!(!before.provenance.anchors_edited);
    assert!(h.query_by_label_contains("were calibrated for").is_none());
    app(&mut h).settings.anchors[2] = "a photograph of a cat".into();
    app(&mut h).anchors_changed();
    // Until the re-grade lands, the grades are the old anchors': no report pairs them with the new texts.
    assert!(app(&mut h).export_job().is_none(), "a report of old grades under new anchors");
    wait(&mut h, "new similarities", |a| a.grades.first().is_some_and(|g| g.assessment.provenance.anchors_edited));
    let job = app(&mut h).export_job().expect("exportable once re-graded");
    assert_eq!(job.anchors.hash(), job.results[0].1.provenance.anchors_hash);
    // Texts the grades were not made with (no re-grade asked): no report either.
    app(&mut h).settings.anchors[3] = "a photograph of a dog".into();
    assert!(app(&mut h).export_job().is_none(), "grades of other anchors");
    let after = app(&mut h).grades[0].assessment.clone();
    assert_ne!(after.similarities[2], before.similarities[2]);
    assert_eq!(after.similarities[0], before.similarities[0], "the other anchors are unchanged");
    assert_ne!(after.provenance.anchors_hash, before.provenance.anchors_hash);
    // No head: the paper's anchors (QA: "the training anchors" read as a trained head's).
    assert!(h.query_all_by_label_contains("calibrated for the paper's anchors").count() >= 2, "noted in the grade and the anchors");
    assert!(h.query_by_label_contains("training anchors").is_none());
}

#[test]
fn typing_in_an_anchor_keeps_the_focus_while_its_re_grade_changes_the_panel() {
    let tmp = tempfile::tempdir().unwrap();
    let (Some(model), Some(film)) = (model_dir(tmp.path()), first_png(3)) else { return };
    let mut h = harness(model);
    open_and_grade(&mut h, &film);
    h.get_by_label_contains("The paper's own texts");
    let original = app(&mut h).settings.anchors[2].clone();
    h.get_by_role_and_label(egui::accesskit::Role::MultilineTextInput, "KL 2 (Mild) — the paper's Grade 3").focus();
    h.run();
    // As a keyboard types: the key, then its text.
    let keystroke = |h: &mut Harness<'static, App>, key: egui::Key, text: &str| {
        for pressed in [true, false] {
            h.event(egui::Event::Key { key, physical_key: None, pressed, repeat: false, modifiers: egui::Modifiers::NONE });
            if pressed {
                h.event(egui::Event::Text(text.into()));
            }
        }
        h.step();
    };
    keystroke(&mut h, egui::Key::X, "x");
    // The re-grade lands: the hint above the anchors goes, notes come under the grade.
    wait(&mut h, "the re-grade", |a| a.grades.first().is_some_and(|g| g.assessment.provenance.anchors_edited));
    h.step();
    assert!(h.query_by_label_contains("The paper's own texts").is_none());
    // "i" would invert the film, "h" flip it, were the box to have lost the focus.
    keystroke(&mut h, egui::Key::I, "i");
    keystroke(&mut h, egui::Key::H, "h");
    assert_eq!(app(&mut h).settings.anchors[2], format!("{original}xih"));
    let v = app(&mut h).view.as_ref().unwrap().state;
    assert!(!v.invert && !v.flip_h, "letters typed went to the view's shortcuts");
}

#[test]
fn reset_anchors_can_be_undone_even_after_edits() {
    let tmp = tempfile::tempdir().unwrap();
    let (Some(model), Some(film)) = (model_dir(tmp.path()), first_png(2)) else { return };
    let mut h = harness(model);
    open_and_grade(&mut h, &film);
    assert!(h.query_by_label("Undo Reset").is_none());
    let mine = "a knee with a little narrowing".to_string();
    app(&mut h).settings.anchors[2] = mine.clone();
    // The anchors' Reset, below the toolbar's (which resets the view).
    let reset_anchors = |h: &mut Harness<'static, App>| {
        fn lowest<'h>(h: &'h Harness<'static, App>) -> egui_kittest::Node<'h> {
            h.query_all_by_label("Reset").max_by(|a, b| a.rect().min.y.total_cmp(&b.rect().min.y)).expect("a Reset button")
        }
        // Clicked where it is drawn: first let the last re-grade land (its notes move the button).
        wait(h, "the re-grade", |a| !a.busy());
        lowest(h).scroll_to_me();
        h.run_steps(3);
        lowest(h).click();
        h.step();
        h.step();
    };
    reset_anchors(&mut h);
    let a = app(&mut h);
    assert_eq!(a.settings.anchors, a.calibration_anchors());
    press_undo_reset(&mut h);
    assert_eq!(app(&mut h).settings.anchors[2], mine, "the reader's text is back");
    assert!(h.query_by_label("Undo Reset").is_none(), "one undo");
    // Reset again, then a hand edit: the undo stays (QA: typing once lost
    // the texts from before the Reset), and brings those texts back.
    reset_anchors(&mut h);
    h.get_by_label("Undo Reset");
    h.get_by_role_and_label(egui::accesskit::Role::MultilineTextInput, "KL 0 (Normal) — the paper's Grade 1").focus();
    h.step();
    h.get_by_role_and_label(egui::accesskit::Role::MultilineTextInput, "KL 0 (Normal) — the paper's Grade 1").type_text("!");
    h.step();
    h.step();
    assert!(app(&mut h).settings.anchors[0].ends_with('!'));
    press_undo_reset(&mut h);
    let a = app(&mut h);
    assert_eq!(a.settings.anchors[2], mine, "the texts from before the Reset");
    assert_eq!(a.settings.anchors[0], a.calibration_anchors()[0]);
}

#[test]
fn repeated_anchors_and_overlong_queries_are_said() {
    let tmp = tempfile::tempdir().unwrap();
    let (Some(model), Some(film)) = (model_dir(tmp.path()), first_png(1)) else { return };
    let mut h = harness(model);
    open_and_grade(&mut h, &film);
    assert!(h.query_by_label_contains("are the same text").is_none());
    let first = app(&mut h).settings.anchors[0].clone();
    app(&mut h).settings.anchors[1] = first.to_uppercase();
    app(&mut h).anchors_changed();
    wait(&mut h, "the re-grade", |a| a.grades.first().is_some_and(|g| g.assessment.provenance.anchors_edited) && !a.busy());
    h.get_by_label_contains("anchors KL 0 and KL 1 are the same text");
    let long = "joint space narrowing with sclerosis ".repeat(20);
    app(&mut h).query_text = format!("a healthy knee\n{long}");
    app(&mut h).run_query();
    wait(&mut h, "the query results", |a| a.query_results.len() == 2 && !a.busy());
    let ignored: Vec<usize> = app(&mut h).query_results.iter().map(|r| r.tokens_ignored).collect();
    assert_eq!(ignored[0], 0);
    assert!(ignored[1] > 20, "{ignored:?}");
    h.get_by_label("Free-text query").click_accesskit();
    h.run_steps(20);
    h.get_by_label(&format!("Only its first 77 tokens count: the last {} are ignored.", ignored[1]));
}

#[test]
fn free_text_queries_on_a_wide_film_score_each_half() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(model) = model_dir(tmp.path()) else { return };
    let wide = common::viewer::wide_film(tmp.path());
    let mut h = harness(model);
    open_and_grade(&mut h, &wide);
    app(&mut h).query_text = "joint space narrowing\n\na healthy knee".into();
    app(&mut h).run_query();
    wait(&mut h, "the query results", |a| !a.query_results.is_empty() && !a.busy());
    let results = app(&mut h).query_results.clone();
    assert_eq!(results.iter().map(|r| r.text.as_str()).collect::<Vec<_>>(), ["joint space narrowing", "a healthy knee"]);
    for r in &results {
        let regions: Vec<_> = r.similarities.iter().map(|(region, _)| *region).collect();
        assert_eq!(regions, [kneeclip::grading::Region::ImageLeft, kneeclip::grading::Region::ImageRight]);
        assert_ne!(r.similarities[0].1, r.similarities[1].1, "two different halves, two values");
    }
    // The section is folded by default (and below the fold): open it to see the table.
    h.get_by_label("Free-text query").click_accesskit();
    h.run_steps(20); // the section opens with an animation
    h.get_by_label("left half");
    h.get_by_label("right half");
    for r in &results {
        for (_, sim) in &r.similarities {
            assert!(h.query_all_by_label(&format!("{sim:.3}")).count() >= 1, "{sim:.3} shown");
        }
    }
}

#[test]
fn emoji_typed_in_an_anchor_have_glyphs() {
    // egui 0.37 ships its emoji fonts only with `monochrome_emoji_fonts`;
    // without them an emoji was drawn as the replacement box (no system
    // fallback here, as on a machine without an emoji font).
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("no-model");
    std::fs::create_dir_all(&empty).unwrap();
    let mut h = harness(empty);
    // Common emoji and symbols; some (🙂, ✓, 🦴) are not in egui's NotoEmoji subset.
    let text = "👍 😀 ❤ ⚠ ✔ ☺ ★";
    app(&mut h).settings.anchors[0] = text.into();
    h.run();
    let body = egui::TextStyle::Body.resolve(&h.ctx.global_style());
    let missing: Vec<char> = text.chars().filter(|c| !c.is_whitespace() && !h.ctx.fonts_mut(|f| f.has_glyph(&body, *c))).collect();
    assert!(missing.is_empty(), "no glyph for {missing:?}");
}

/// The open film's width on screen.
fn film_width(h: &mut Harness<'static, App>) -> f32 {
    app(h).view.as_ref().and_then(|v| v.rect()).map_or(0.0, |r| r.width())
}

#[test]
fn a_long_query_wraps_in_the_panel_and_the_film_keeps_its_room() {
    // QA: one query over 77 tokens widened the panel over almost the whole
    // window (the film a 250 px strip, the grade and Compare scrolled off).
    let tmp = tempfile::tempdir().unwrap();
    let (Some(model), Some(film)) = (model_dir(tmp.path()), first_png(2)) else { return };
    let mut h = harness(model);
    open_and_grade(&mut h, &film);
    let before = film_width(&mut h);
    h.get_by_label("Free-text query").click_accesskit();
    h.run_steps(20);
    app(&mut h).query_text = "joint space narrowing and osteophytes ".repeat(16);
    app(&mut h).run_query();
    wait(&mut h, "the query results", |a| !a.query_results.is_empty() && !a.busy());
    h.run_steps(40);
    let after = film_width(&mut h);
    assert!(after > before * 0.95, "the film shrank from {before} to {after}");
    let warning = h.get_by_label_contains("Only its first 77 tokens count").rect();
    assert!(warning.max.x <= 1400.0, "the warning runs off the window: {warning:?}");
    assert!(h.get_by_label("Compare").rect().min.x > 700.0, "the panel widened");
}

#[test]
fn the_side_panel_leaves_the_film_half_the_window_even_from_a_saved_width() {
    // QA: a too-wide panel was saved in app.ron and the next launch showed no film.
    let tmp = tempfile::tempdir().unwrap();
    let (Some(model), Some(film)) = (model_dir(tmp.path()), first_png(2)) else { return };
    let mut h = common::viewer::harness_sized(model, egui::vec2(2800.0, 900.0));
    open_and_grade(&mut h, &film);
    // Widened as far as it goes (by its splitter), in a wide window…
    h.get_by_role_and_label(egui::accesskit::Role::Splitter, "Resize panel").set_value_accesskit(0.98);
    h.run_steps(5);
    assert!(film_width(&mut h) > 1200.0, "the film keeps half a wide window: {}", film_width(&mut h));
    // …then the window smaller, as the next launch on a smaller screen.
    h.set_size(egui::vec2(1400.0, 900.0));
    h.run_steps(5);
    assert!(film_width(&mut h) > 600.0, "the film keeps half the window: {}", film_width(&mut h));
}

/// Presses the anchors' typed-path row's `action` for `path` (no file dialog on this desktop).
fn typed_anchors_file(h: &mut Harness<'static, App>, direction: Direction, path: &std::path::Path, action: &str) {
    app(h).anchors_typed = Some(Typed { direction, path: path.display().to_string() });
    h.run_steps(2);
    h.get_by_label(action).click_accesskit();
    h.run_steps(2);
}

/// The status bar's text that contains `part`, whole (a label keeps its text as its value).
fn status_text(h: &Harness<'static, App>, part: &str) -> Option<(String, egui::Rect)> {
    let node = h.query_by_label_contains(part)?;
    Some((node.accesskit_node().value().unwrap_or_default().to_string(), node.rect()))
}

#[test]
fn anchors_save_and_load_by_typed_path_and_the_status_bar_says_how_each_ended() {
    // QA: a save to a missing folder read "these anchors cannot be used"; a
    // good save said nothing; without a dialog there was no way to save; the
    // old error stayed after later successes.
    let tmp = tempfile::tempdir().unwrap();
    let (Some(model), Some(film)) = (model_dir(tmp.path()), first_png(2)) else { return };
    let mut h = harness(model);
    open_and_grade(&mut h, &film);
    let mine = "bone on bone, complete loss of joint space".to_string();
    app(&mut h).settings.anchors[4] = mine.clone();
    typed_anchors_file(&mut h, Direction::Save, std::path::Path::new("/nonexist/dir/x.json"), "Save");
    let (said, rect) = status_text(&h, "nonexist").expect("the failure is said");
    assert_eq!(said, "Cannot save the anchors to /nonexist/dir/x.json: the folder /nonexist/dir does not exist");
    assert!(rect.max.x <= 1400.0, "within the window: {rect:?}");
    assert!(app(&mut h).anchors_typed.is_some(), "kept to correct the path");
    let out = tmp.path().join("anchors.json");
    typed_anchors_file(&mut h, Direction::Save, &out, "Save");
    assert!(status_text(&h, "nonexist").is_none(), "the old error is replaced");
    status_text(&h, &format!("Anchors saved to {}", out.display())).expect("a save is confirmed");
    assert!(app(&mut h).anchors_typed.is_none());
    // Changed, then loaded back.
    app(&mut h).settings.anchors[4] = "something else".into();
    typed_anchors_file(&mut h, Direction::Load, &out, "Load");
    assert_eq!(app(&mut h).settings.anchors[4], mine);
    status_text(&h, &format!("Anchors loaded from {}", out.display())).expect("a load is said");
    assert!(status_text(&h, "Anchors saved to").is_none(), "one message of a kind");
    // An existing file is said before Save writes over it (QA: a text file was replaced silently).
    let other = tmp.path().join("notes.txt");
    std::fs::write(&other, "my notes").unwrap();
    app(&mut h).anchors_typed = Some(Typed { direction: Direction::Save, path: other.display().to_string() });
    h.run_steps(2);
    h.get_by_label(&format!("{} exists: Replace writes the anchors over it.", other.display()));
    assert!(h.query_by_label("Save").is_none(), "the button says Replace");
    app(&mut h).anchors_typed = None;
    h.run_steps(2);
    assert_eq!(std::fs::read_to_string(&other).unwrap(), "my notes");
    h.get_by_label("Undo Load");
    // A long error is said whole below the row, wrapped inside the window.
    let long = format!("Could not open {}: the file is damaged", "/a/very/long/folder/name".repeat(20));
    app(&mut h).error = Some(long.clone());
    h.run_steps(2);
    let (said, rect) = status_text(&h, "the file is damaged").expect("shown");
    assert_eq!(said, long);
    assert!(rect.max.x <= 1400.0, "inside the window: {rect:?}");
    // A success gives way to any newer message; errors stay until replaced
    // (QA: an old "saved" stood beside a newer error, as though they went together).
    assert!(status_text(&h, "Anchors loaded from").is_none(), "older than the error");
    typed_anchors_file(&mut h, Direction::Save, &out, "Replace");
    let saved = format!("Anchors saved to {}", out.display());
    let (_, saved_at) = status_text(&h, &saved).expect("the newest message");
    let (_, error_at) = status_text(&h, "the file is damaged").expect("an error stays");
    let reading_order = |r: egui::Rect| (r.min.y.round() as i32, r.min.x.round() as i32);
    assert!(reading_order(saved_at) < reading_order(error_at), "newest first: {saved_at:?} {error_at:?}");
    app(&mut h).error = None;
    app(&mut h).notice = Some("The head's own anchors are now in the editor".into());
    h.run_steps(2);
    assert!(status_text(&h, &saved).is_none(), "older than the notice");
    // Saved again to the same file: the same words, a new outcome.
    typed_anchors_file(&mut h, Direction::Save, &out, "Replace");
    status_text(&h, &saved).expect("a second save is confirmed too");
    assert!(status_text(&h, "now in the editor").is_none(), "older than the save");
}

#[test]
fn ctrl_e_exports_from_an_anchor_box_and_plain_letters_stay_text() {
    // QA: Ctrl+E did nothing while the cursor was in an anchor box.
    let tmp = tempfile::tempdir().unwrap();
    let (Some(model), Some(film)) = (model_dir(tmp.path()), first_png(1)) else { return };
    let mut h = harness(model);
    open_and_grade(&mut h, &film);
    h.get_by_role_and_label(egui::accesskit::Role::MultilineTextInput, "KL 1 (Doubtful) — the paper's Grade 2").focus();
    h.run_steps(2);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::E);
    h.run_steps(2);
    assert!(app(&mut h).export.open, "Ctrl+E opens the export window");
    assert!(!app(&mut h).view.as_ref().unwrap().state.invert);
}

#[test]
fn small_text_is_readable_and_the_anchor_boxes_clear_the_scroll_bar() {
    // QA: lines about 8 px high, unreadable on a projector; the anchor boxes'
    // right border hidden under the panel's scroll bar.
    let tmp = tempfile::tempdir().unwrap();
    let (Some(model), Some(film)) = (model_dir(tmp.path()), first_png(1)) else { return };
    let mut h = harness(model);
    open_and_grade(&mut h, &film);
    let small = egui::TextStyle::Small.resolve(&h.ctx.global_style()).size;
    assert!(small >= kneeclip::app::settings::SMALLEST_TEXT, "Small text is {small} points");
    let field = h.get_by_role_and_label(egui::accesskit::Role::MultilineTextInput, "KL 0 (Normal) — the paper's Grade 1").rect();
    let bar = h.query_all_by_role(egui::accesskit::Role::ScrollBar).map(|b| b.rect()).find(|b| b.min.x > 700.0);
    let bar = bar.expect("the side panel scrolls at 1400×900");
    assert!(field.max.x < bar.min.x, "the box {field:?} runs under the scroll bar {bar:?}");
}

/// Presses Undo Reset once the re-grade after the Reset is done (scrolled to first).
fn press_undo_reset(h: &mut Harness<'static, App>) {
    wait(h, "the re-grade", |a| !a.busy());
    h.get_by_label("Undo Reset").scroll_to_me();
    h.run_steps(3);
    h.get_by_label("Undo Reset").click();
    h.step();
    h.step();
}

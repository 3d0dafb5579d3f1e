//! The viewer's text sections driven headless with egui_kittest, the tiny
//! fixture model and real films: the five anchors (edited, reset, warned
//! about) and free-text queries.

mod common;

use common::viewer::{App, app, harness, open_and_grade, wait};
use common::{first_png, model_dir};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

#[test]
fn editing_an_anchor_changes_the_similarities() {
    let tmp = tempfile::tempdir().unwrap();
    let (Some(model), Some(film)) = (model_dir(tmp.path()), first_png(3)) else { return };
    let mut h = harness(model);
    open_and_grade(&mut h, &film);
    let before = app(&mut h).grades[0].assessment.clone();
    assert!(!before.provenance.anchors_edited);
    assert!(h.query_by_label_contains("calibrated for the training anchors").is_none());
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
    assert!(h.query_all_by_label_contains("calibrated for the training anchors").count() >= 2, "noted in the grade and the anchors");
}

#[test]
fn typing_in_an_anchor_keeps_the_focus_while_its_re_grade_changes_the_panel() {
    let tmp = tempfile::tempdir().unwrap();
    let (Some(model), Some(film)) = (model_dir(tmp.path()), first_png(3)) else { return };
    let mut h = harness(model);
    open_and_grade(&mut h, &film);
    h.get_by_label_contains("The paper's own texts");
    let original = app(&mut h).settings.anchors[2].clone();
    h.get_by_role_and_label(egui::accesskit::Role::MultilineTextInput, "KL 2 (Mild) anchor").focus();
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
fn reset_anchors_can_be_undone_until_the_texts_are_edited() {
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
    wait(&mut h, "the re-grade", |a| !a.busy());
    h.get_by_label("Undo Reset").scroll_to_me();
    h.run_steps(3);
    h.get_by_label("Undo Reset").click();
    h.step();
    h.step();
    assert_eq!(app(&mut h).settings.anchors[2], mine, "the reader's text is back");
    assert!(h.query_by_label("Undo Reset").is_none(), "one undo");
    // Reset again, then a hand edit: the undo goes (it would throw the edit away).
    reset_anchors(&mut h);
    h.get_by_label("Undo Reset");
    h.get_by_role_and_label(egui::accesskit::Role::MultilineTextInput, "KL 0 (Normal) anchor").focus();
    h.step();
    h.get_by_role_and_label(egui::accesskit::Role::MultilineTextInput, "KL 0 (Normal) anchor").type_text("!");
    h.step();
    h.step();
    assert!(app(&mut h).settings.anchors[0].ends_with('!'));
    assert!(h.query_by_label("Undo Reset").is_none());
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

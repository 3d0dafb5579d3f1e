//! Start beside an unfinished run's checkpoint asks first (QA: one click on
//! Start threw away 3 epochs; its only warning was below the fold). The CLI
//! refuses the same without --restart. Start onto a finished head asks too
//! (clinic QA: last week's head was replaced with one yellow line's warning;
//! the CLI refuses without --overwrite).

use egui::RichText;

use super::{AMBER, TrainingTab, typed_path};
use crate::training::session::checkpoint_for;

impl TrainingTab {
    /// The unfinished run beside the head in the form, when Start (without
    /// Resume) would replace its checkpoint: (epochs done, epochs asked).
    pub(super) fn would_replace(&mut self) -> Option<(usize, usize)> {
        if self.resume || self.running() || self.head_text.trim().is_empty() {
            return None;
        }
        self.unfinished(&typed_path(&self.head_text))
    }

    /// The finished head at the form's path that Start (without Resume, and
    /// with no unfinished run beside it: that question comes first) would replace.
    pub(super) fn would_overwrite(&mut self) -> Option<std::path::PathBuf> {
        if self.resume || self.running() || self.head_text.trim().is_empty() || self.would_replace().is_some() {
            return None;
        }
        Some(typed_path(&self.head_text)).filter(|head| head.is_file())
    }

    /// Start pressed: at once, or asked first when it would replace an
    /// unfinished run or a finished head.
    pub(super) fn start_clicked(&mut self, ctx: &egui::Context, model: super::ModelChoice) {
        if self.would_replace().is_some() {
            self.confirm_start = true;
        } else if self.would_overwrite().is_some() {
            self.confirm_overwrite = true;
        } else {
            self.start(ctx, model);
        }
    }

    /// The question, while asked: replace the finished head, or don't start.
    pub(super) fn confirm_overwrite_modal(&mut self, ctx: &egui::Context, model: Option<&super::ModelChoice>) {
        if !self.confirm_overwrite {
            return;
        }
        let Some((head, model)) = self.would_overwrite().zip(model) else {
            self.confirm_overwrite = false; // nothing to replace any more, or no model
            return;
        };
        let written = std::fs::metadata(&head).and_then(|m| m.modified()).ok().map(crate::report::content::rfc3339_utc).map(|t| format!(" (written {} UTC)", t[..16].replace('T', " "))).unwrap_or_default();
        let modal = egui::Modal::new(egui::Id::unique("confirm-overwrite")).show(ctx, |ui| {
            ui.set_max_width(480.0);
            ui.heading("This head file exists");
            ui.add(egui::Label::new(format!(
                "{}{written} is a finished head. A new run replaces it and its settings file when it finishes (a cancelled run leaves it as it is). To keep it, choose another head file.",
                head.display()
            )).wrap());
            ui.add_space(6.0);
            ui.horizontal(|ui| {
                if ui.button(RichText::new("Start, replacing it").color(AMBER)).clicked() {
                    self.confirm_overwrite = false;
                    self.start(ctx, model.clone());
                }
                if ui.button("Don't start").clicked() {
                    self.confirm_overwrite = false;
                }
            });
        });
        if modal.should_close() {
            self.confirm_overwrite = false;
        }
    }

    /// Ticks Resume as its box does: the checkpoint's own options come back
    /// into the form (at least one epoch more than it has done, unless it did
    /// all of its own: then Start writes its head without training).
    pub(super) fn choose_resume(&mut self) -> bool {
        let checkpoint = checkpoint_for(&typed_path(&self.head_text));
        match crate::training::checkpoint::checkpoint_summary(&checkpoint) {
            Ok(run) => {
                self.resume = true;
                self.config = run.config;
                // A run that did all its epochs (its head never written) resumes to write
                // its head, as the command line does, not to train one more.
                if run.epochs_done < self.config.epochs {
                    self.config.epochs = self.config.epochs.max(run.epochs_done + 1);
                }
                true
            }
            Err(e) => {
                self.resume = false;
                self.progress.messages.push(e);
                false
            }
        }
    }

    /// The question, while asked: Resume it / Start over / Don't start.
    pub(super) fn confirm_start_modal(&mut self, ctx: &egui::Context, model: Option<&super::ModelChoice>) {
        if !self.confirm_start {
            return;
        }
        let Some(((done, asked), model)) = self.would_replace().zip(model) else {
            self.confirm_start = false; // nothing to replace any more, or no model
            return;
        };
        let checkpoint = checkpoint_for(&typed_path(&self.head_text));
        let modal = egui::Modal::new(egui::Id::unique("confirm-start")).show(ctx, |ui| {
            ui.set_max_width(480.0);
            ui.heading("An unfinished run is beside this head");
            ui.add(egui::Label::new(format!("{} keeps {done} of {asked} epochs. Starting over replaces it with the new run's first epoch: those epochs are lost.", checkpoint.display())).wrap());
            ui.add_space(6.0);
            ui.horizontal(|ui| {
                if ui.button(RichText::new("Resume it").strong()).on_hover_text("Go on from its last complete epoch, with its options").clicked() {
                    self.confirm_start = false;
                    if self.choose_resume() {
                        self.start(ctx, model.clone());
                    }
                }
                if ui.button(RichText::new("Start over, replacing it").color(AMBER)).clicked() {
                    self.confirm_start = false;
                    self.start(ctx, model.clone());
                }
                if ui.button("Don't start").clicked() {
                    self.confirm_start = false;
                }
            });
        });
        // Escape or a click beside it is "Don't start" (QA: Escape did nothing).
        if modal.should_close() {
            self.confirm_start = false;
        }
    }
}

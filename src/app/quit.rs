//! Closing the window while a head is being trained: asked first, then the
//! run is stopped cleanly before the window closes.

use super::{KneeclipApp, training_tab};

#[derive(Clone, Copy, Debug, Default)]
pub struct QuitWhileTraining {
    pub asked: bool,
    pub stopping: bool,
}

impl KneeclipApp {
    /// Closing the window while a run trains asks first, then stops the run
    /// cleanly (its checkpoint whole, no half-written file) before quitting.
    pub(super) fn confirm_quit_while_training(&mut self, ctx: &egui::Context) {
        if ctx.input(|i| i.viewport().close_requested()) && self.training.running() {
            // Asked again while stopping, it still waits for the run to stop.
            ctx.send_viewport_cmd(egui::ViewportCommand::CancelClose);
            self.quit.asked = true;
        }
        if self.quit.asked && !self.training.running() {
            // Stopped as asked, or the run ended on its own meanwhile: the reader wanted to quit.
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
            return;
        }
        if !self.quit.asked {
            return;
        }
        let p = &self.training.progress;
        let epochs = format!("epoch {} of {}", p.epoch, p.total_epochs);
        let stopping = self.quit.stopping || matches!(p.state, training_tab::RunState::Cancelling);
        egui::Modal::new(egui::Id::unique("quit-while-training")).show(ctx, |ui| {
            ui.set_max_width(420.0);
            ui.heading("A head is being trained");
            if stopping {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label("Stopping the run at the next batch, then quitting…");
                });
                return;
            }
            ui.label(format!("The run is at {epochs}. Quitting stops it: no head is written, and its checkpoint keeps the last complete epoch, to resume later."));
            ui.horizontal(|ui| {
                if ui.button("Keep training").clicked() {
                    self.quit.asked = false;
                }
                if ui.button("Stop the run and quit").clicked() {
                    self.training.cancel();
                    self.quit.stopping = true;
                }
            });
        });
    }
}

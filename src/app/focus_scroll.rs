//! Keeps the keyboard's focus in sight: a control reached with Tab below a
//! scroll area's fold is scrolled into view (accessibility QA: Tab reached
//! the anchors' Reset and Load… out of sight, where Enter would press them blind).

/// Call at the end of a scroll area's contents. Scrolls only when the focus
/// has just moved, so a reader who scrolls away from a focused box with the
/// wheel is not pulled back.
pub fn keep_focus_in_sight(ui: &mut egui::Ui) {
    let key = ui.scope_id().with("focus last scrolled to");
    let focused = ui.memory(|m| m.focused());
    let last: Option<egui::Id> = ui.data(|d| d.get_temp(key));
    if focused == last {
        return;
    }
    ui.data_mut(|d| d.insert_temp(key, focused));
    let Some(response) = focused.and_then(|id| ui.ctx().read_response(id)) else { return };
    // Only a control of this scroll area's contents (the same layer, inside what was laid out).
    if response.layer_id == ui.layer_id() && ui.min_rect().intersects(response.rect) && !ui.clip_rect().contains_rect(response.rect) {
        ui.scroll_to_rect(response.rect, None);
    }
}

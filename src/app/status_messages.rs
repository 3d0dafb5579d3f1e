//! Which outcome messages the status bar shows, newest first.
//!
//! Each kind of outcome (an export, an anchors file, a notice, an error) keeps
//! its latest message until a new one of that kind replaces it. Kept as they
//! were, an old "Report written" stood beside a newer error, as though the two
//! went together; so a success is shown only while no message came after it,
//! and an error until its own kind replaces it. A message is new when its
//! text or generation changes, or when its kind had none the frame before.

use std::collections::HashMap;

/// One outcome as the status bar would say it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// What kind of outcome: a new text of the same kind replaces the old one.
    pub kind: &'static str,
    pub text: String,
    pub error: bool,
    /// Bumped by the setter where the same text can be said twice running
    /// (the anchors saved to the same file again).
    pub generation: u64,
}

/// When each kind's current text first appeared, in the order of appearance.
#[derive(Default)]
pub struct Recency {
    seen: HashMap<&'static str, (String, u64, u64)>,
    next: u64,
}

impl Recency {
    /// The messages to show this frame, newest first: every error, and the
    /// successes that nothing has come after.
    pub fn shown(&mut self, messages: Vec<Message>) -> Vec<Message> {
        let mut seen = HashMap::new();
        let mut stamped: Vec<(u64, Message)> = messages
            .into_iter()
            .map(|m| {
                let stamp = match self.seen.get(m.kind) {
                    Some((text, generation, stamp)) if *text == m.text && *generation == m.generation => *stamp,
                    _ => {
                        self.next += 1;
                        self.next
                    }
                };
                seen.insert(m.kind, (m.text.clone(), m.generation, stamp));
                (stamp, m)
            })
            .collect();
        // A kind with nothing to say is forgotten: its next message is new even if worded alike.
        self.seen = seen;
        stamped.sort_by(|a, b| b.0.cmp(&a.0));
        let newest = stamped.first().map_or(0, |(stamp, _)| *stamp);
        stamped.into_iter().filter(|(stamp, m)| m.error || *stamp == newest).map(|(_, m)| m).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(kind: &'static str, text: &str) -> Message {
        Message { kind, text: text.into(), error: false, generation: 0 }
    }

    fn err(kind: &'static str, text: &str) -> Message {
        Message { kind, text: text.into(), error: true, generation: 0 }
    }

    fn texts(shown: &[Message]) -> Vec<&str> {
        shown.iter().map(|m| m.text.as_str()).collect()
    }

    #[test]
    fn an_old_success_gives_way_to_a_newer_error_of_another_kind() {
        let mut recency = Recency::default();
        assert_eq!(texts(&recency.shown(vec![ok("export", "Report written")])), ["Report written"]);
        // Frames later the same success is still the newest: still shown.
        assert_eq!(texts(&recency.shown(vec![ok("export", "Report written")])), ["Report written"]);
        let shown = recency.shown(vec![ok("export", "Report written"), err("anchors", "cannot save the anchors")]);
        assert_eq!(texts(&shown), ["cannot save the anchors"]);
    }

    #[test]
    fn errors_stay_until_replaced_and_the_newest_comes_first() {
        let mut recency = Recency::default();
        recency.shown(vec![err("export", "Report not written")]);
        let shown = recency.shown(vec![err("export", "Report not written"), ok("anchors", "Anchors saved")]);
        assert_eq!(texts(&shown), ["Anchors saved", "Report not written"]);
        // A new export replaces its kind's error, and the anchors' success is now older.
        let shown = recency.shown(vec![ok("export", "Report written"), ok("anchors", "Anchors saved")]);
        assert_eq!(texts(&shown), ["Report written"]);
    }

    #[test]
    fn the_same_text_again_is_new_after_a_gap_or_a_new_generation() {
        let mut recency = Recency::default();
        recency.shown(vec![ok("export", "Report written to a.pdf")]);
        recency.shown(vec![ok("export", "Report written to a.pdf"), ok("anchors", "Anchors saved to a.txt")]);
        // An export in flight says nothing; written again to the same file, it is new.
        recency.shown(vec![ok("anchors", "Anchors saved to a.txt")]);
        let shown = recency.shown(vec![ok("export", "Report written to a.pdf"), ok("anchors", "Anchors saved to a.txt")]);
        assert_eq!(texts(&shown), ["Report written to a.pdf"]);
        // The anchors saved to the same file again: the same text, a new generation.
        let again = Message { generation: 1, ..ok("anchors", "Anchors saved to a.txt") };
        let shown = recency.shown(vec![ok("export", "Report written to a.pdf"), again]);
        assert_eq!(texts(&shown), ["Anchors saved to a.txt"]);
    }
}

//! The five text anchors, one clinical description per Kellgren–Lawrence grade.
//! Their text embeddings are the classifier: edit an anchor and the grader changes.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::GradeError;

pub const GRADES: usize = 5;

/// KL grade names, index = grade.
pub const GRADE_NAMES: [&str; GRADES] = ["Normal", "Doubtful", "Mild", "Moderate", "Severe"];

/// The paper's Table 1 (its rows are numbered 1–5; they are KL 0–4).
pub const DEFAULT_ANCHORS: [&str; GRADES] = [
    "Grade 1 (none): definite absence of X-ray changes of osteoarthritis",
    "Grade 2 (doubtful): doubtful joint space narrowing and possible osteophytic lipping",
    "Grade 3 (mild): definite osteophytes and possible joint space narrowing",
    "Grade 4 (moderate): moderate multiple osteophytes, definite narrowing of joint space, some sclerosis, and possible deformity of bone ends",
    "Grade 5 (severe): large osteophytes, marked narrowing of joint space, severe sclerosis, and definite deformity of bone ends",
];

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextAnchors {
    pub anchors: [String; GRADES],
}

impl Default for TextAnchors {
    fn default() -> Self {
        Self {
            anchors: DEFAULT_ANCHORS.map(String::from),
        }
    }
}

impl TextAnchors {
    pub fn new(anchors: [String; GRADES]) -> Result<Self, String> {
        if let Some(grade) = anchors.iter().position(|a| a.trim().is_empty()) {
            return Err(format!("the anchor for KL {grade} is empty"));
        }
        Ok(Self { anchors })
    }

    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// Warnings for anchors that are one text (CLIP's tokenizer lower-cases
    /// and folds white space, so "Normal  knee" is "normal knee"): they get
    /// one embedding, tie on every film, and the grade between them is
    /// decided by nothing but their order.
    pub fn repeated(&self) -> Vec<String> {
        let folded: Vec<String> = self.anchors.iter().map(|a| a.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()).collect();
        let mut warnings = Vec::new();
        for j in 1..GRADES {
            if let Some(i) = (0..j).find(|&i| folded[i] == folded[j]) {
                warnings.push(format!("anchors KL {i} and KL {j} are the same text: they score alike on every film, so neither grade can win over the other"));
            }
        }
        warnings
    }

    /// A short, stable fingerprint of the five texts (first 16 hex digits of the
    /// SHA-256 of their JSON array), reported with every grade.
    pub fn hash(&self) -> String {
        let json = serde_json::to_string(&self.anchors).expect("strings serialise");
        let digest = Sha256::digest(json.as_bytes());
        digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
    }

    /// Reads `{"anchors": [five strings]}` (.json) or five non-empty lines (any
    /// other extension), KL 0 first.
    pub fn load(path: &Path) -> Result<Self, GradeError> {
        let fail = |reason: String| GradeError::Anchors {
            path: path.to_owned(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        let anchors: Vec<String> = if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json")) {
            let parsed: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| fail(format!("not valid JSON: {e}")))?;
            let list = parsed.get("anchors").unwrap_or(&parsed);
            serde_json::from_value(list.clone())
                .map_err(|_| fail("expected {\"anchors\": [five strings]}".into()))?
        } else {
            text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect()
        };
        let count = anchors.len();
        let anchors: [String; GRADES] = anchors
            .try_into()
            .map_err(|_| fail(format!("expected five anchors (KL 0 to 4), found {count}")))?;
        Self::new(anchors).map_err(fail)
    }

    /// Writes the JSON form through a temporary file and a rename, so an
    /// interrupted save never leaves half a file.
    pub fn save(&self, path: &Path) -> Result<(), GradeError> {
        let json = serde_json::to_string_pretty(self).expect("strings serialise");
        crate::files::write_atomically(path, json.as_bytes()).map_err(|e| GradeError::Anchors {
            path: path.to_owned(),
            reason: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_changes_with_any_anchor() {
        let a = TextAnchors::default();
        let mut b = a.clone();
        b.anchors[3].push('.');
        assert_ne!(a.hash(), b.hash());
        assert_eq!(a.hash(), TextAnchors::default().hash());
        assert_eq!(a.hash().len(), 16);
    }

    #[test]
    fn round_trips_through_json_and_reads_text_lines() {
        let dir = tempfile::tempdir().unwrap();
        let mut anchors = TextAnchors::default();
        anchors.anchors[0] = "normal knee".into();
        let json = dir.path().join("a.json");
        anchors.save(&json).unwrap();
        assert_eq!(TextAnchors::load(&json).unwrap(), anchors);

        let txt = dir.path().join("a.txt");
        std::fs::write(&txt, "a\n\nb\nc\nd\ne\n").unwrap();
        assert_eq!(TextAnchors::load(&txt).unwrap().anchors[4], "e");

        std::fs::write(&txt, "a\nb\n").unwrap();
        let err = TextAnchors::load(&txt).unwrap_err().to_string();
        assert!(err.contains("expected five anchors") && err.contains("a.txt"), "{err}");
    }
}

#[cfg(test)]
mod repeated_tests {
    use super::*;

    #[test]
    fn anchors_that_fold_to_one_text_are_named_once_each() {
        assert!(TextAnchors::default().repeated().is_empty());
        let a = TextAnchors::new(["normal knee", "Normal  knee", "mild", "normal knee ", "severe"].map(String::from)).unwrap();
        let w = a.repeated();
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].starts_with("anchors KL 0 and KL 1 ") && w[1].starts_with("anchors KL 0 and KL 3 "), "{w:?}");
    }
}

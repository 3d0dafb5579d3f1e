//! The flip check: a knee mirrored left–right has the same Kellgren–Lawrence
//! grade, so a model that grades the mirror image differently is unsure of the
//! film. Each region is mirrored on its own (the same region split as the
//! grade), so the two grades compared are always of the same knee.

use serde::Serialize;

use super::GradeError;
use super::grader::{Assessment, Grader};
use crate::model::preprocess::Preprocessing;

/// A row-major film `width` pixels wide, mirrored left–right.
pub fn mirror_left_right(width: usize, gray: &[f32]) -> Vec<f32> {
    if width == 0 {
        return Vec::new();
    }
    gray.chunks_exact(width).flat_map(|row| row.iter().rev().copied()).collect()
}

/// A film's (or region's) model input as displayed, then, with
/// `mirror_check`, mirrored left–right: what `grade` and `eval` batch.
pub fn model_inputs(preprocessing: &Preprocessing, width: usize, height: usize, gray: &[f32], mirror_check: bool) -> Vec<Vec<f32>> {
    let mut inputs = vec![preprocessing.pixel_values(width, height, gray)];
    if mirror_check {
        inputs.push(preprocessing.pixel_values(width, height, &mirror_left_right(width, gray)));
    }
    inputs
}

/// One film (or region) graded as displayed and mirrored left–right.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MirrorCheck {
    pub assessment: Assessment,
    pub mirrored: Assessment,
}

impl MirrorCheck {
    /// The mirror image's grade when it differs from the film's.
    pub fn disagreement(&self) -> Option<usize> {
        (self.mirrored.grade != self.assessment.grade).then_some(self.mirrored.grade)
    }
}

impl Grader {
    /// The model input of a film as displayed, mirrored left–right.
    pub fn mirrored_pixel_values(&self, width: usize, height: usize, gray: &[f32]) -> Vec<f32> {
        self.pixel_values(width, height, &mirror_left_right(width, gray))
    }

    /// Grades a film as displayed and its mirror image, in one batch.
    pub fn grade_with_mirror(&mut self, width: usize, height: usize, gray: &[f32]) -> Result<MirrorCheck, GradeError> {
        let inputs = model_inputs(self.preprocessing(), width, height, gray, true);
        let mut graded = self.grade_pixel_values(&inputs)?;
        let mirrored = graded.pop().expect("two inputs, two assessments");
        let assessment = graded.pop().expect("two inputs, two assessments");
        Ok(MirrorCheck { assessment, mirrored })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn rows_are_reversed_and_the_film_keeps_its_size() {
        let gray: Vec<f32> = (0..6).map(|v| v as f32).collect(); // 3×2
        assert_eq!(mirror_left_right(3, &gray), vec![2.0, 1.0, 0.0, 5.0, 4.0, 3.0]);
        assert_eq!(mirror_left_right(3, &mirror_left_right(3, &gray)), gray);
        assert!(mirror_left_right(0, &[]).is_empty());
    }

    /// The tiny random fixture model with the real CLIP tokenizer (read in place).
    fn tiny_grader() -> Option<Grader> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let tokenizer = root.join("../shared/models/clip-vit-base-patch32/tokenizer.json");
        if !tokenizer.is_file() {
            eprintln!("skipped: the CLIP tokenizer is not at {}", tokenizer.display());
            return None;
        }
        let fixture = root.join("tests/fixtures/tiny-clip");
        let device = candle_core::Device::Cpu;
        Some(Grader::load(&fixture.join("config.json"), &fixture.join("model.safetensors"), &tokenizer, "tiny", &device).unwrap())
    }

    #[test]
    fn the_mirror_image_is_what_gets_graded() {
        let Some(mut grader) = tiny_grader() else { return };
        // A film bright on the left, dark on the right, with a diagonal stripe.
        let (w, h) = (96, 80);
        let gray: Vec<f32> = (0..w * h)
            .map(|i| {
                let (x, y) = (i % w, i / w);
                let stripe = if (x + y) % 17 < 3 { 0.3 } else { 0.0 };
                (1.0 - x as f32 / w as f32) * 0.7 + stripe
            })
            .collect();
        let original = grader.pixel_values(w, h, &gray);
        let mirrored = grader.mirrored_pixel_values(w, h, &gray);
        assert_ne!(original, mirrored, "an asymmetric film's mirror is a different input");

        let check = grader.grade_with_mirror(w, h, &gray).unwrap();
        let alone = grader.grade_gray(w, h, &mirror_left_right(w, &gray)).unwrap();
        let as_shown = grader.grade_gray(w, h, &gray).unwrap();
        for g in 0..5 {
            assert!((check.mirrored.similarities[g] - alone.similarities[g]).abs() < 1e-5, "grade {g}: the mirror image is graded");
            assert!((check.assessment.similarities[g] - as_shown.similarities[g]).abs() < 1e-5, "grade {g}: the film as shown");
        }
        assert_ne!(check.mirrored.similarities, check.assessment.similarities, "two different inputs were graded");
        assert_eq!(check.disagreement().is_some(), check.mirrored.grade != check.assessment.grade);
    }

    #[test]
    fn a_different_mirrored_grade_is_reported() {
        let Some(mut grader) = tiny_grader() else { return };
        let gray = vec![0.5; 64 * 64];
        let mut check = grader.grade_with_mirror(64, 64, &gray).unwrap();
        assert_eq!(check.disagreement(), None, "a symmetric film grades the same both ways");
        check.mirrored.grade = (check.assessment.grade + 1) % 5;
        assert_eq!(check.disagreement(), Some(check.mirrored.grade));
    }
}

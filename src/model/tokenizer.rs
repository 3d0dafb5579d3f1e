//! CLIP's byte-pair tokenizer (`tokenizer.json`), one prompt at a time, unpadded.

use std::path::Path;

use super::ModelError;

#[derive(Clone)]
pub struct ClipTokenizer {
    inner: tokenizers::Tokenizer,
    max_len: usize,
    end_token: u32,
}

impl ClipTokenizer {
    /// `max_len`: the text model's `max_position_embeddings` (77 for CLIP).
    pub fn from_file(path: &Path, max_len: usize) -> Result<Self, ModelError> {
        let inner = tokenizers::Tokenizer::from_file(path).map_err(|e| ModelError::Tokenizer {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        let end_token = inner.token_to_id("<|endoftext|>").ok_or_else(|| ModelError::Tokenizer {
            path: path.to_owned(),
            reason: "it has no <|endoftext|> token; this is not CLIP's tokenizer".into(),
        })?;
        Ok(Self { inner, max_len, end_token })
    }

    /// Start token, the prompt's tokens, end token. Prompts longer than the model
    /// can read are cut, keeping the end token (as CLIP's own truncation does).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, ModelError> {
        let encoding = self.inner.encode(text, true).map_err(|e| ModelError::Prompt {
            text: text.to_owned(),
            reason: e.to_string(),
        })?;
        let mut ids = encoding.get_ids().to_vec();
        if ids.len() > self.max_len {
            ids.truncate(self.max_len - 1);
            ids.push(self.end_token);
        }
        Ok(ids)
    }

    /// How many tokens `text` has past what the model reads (0 when it fits):
    /// the cut words do not reach the embedding.
    pub fn tokens_cut(&self, text: &str) -> usize {
        self.inner.encode(text, true).map_or(0, |e| e.get_ids().len().saturating_sub(self.max_len))
    }

    /// The most tokens a prompt may have, start and end tokens included.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    pub fn encode_all<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<Vec<u32>>, ModelError> {
        texts.iter().map(|t| self.encode(t.as_ref())).collect()
    }
}

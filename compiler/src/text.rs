//! Text input (`--tokenizer tokenizer.json`): the client reads sentences and tokenizes them with
//! a Hugging Face `tokenizer.json` (the `tokenizers` crate: its normalizer, pre-tokenizer,
//! WordPiece model and post-processor, so `[CLS] ... [SEP]` come from the file), padded and
//! truncated to the program's sequence length. The result is the arrays an input file would
//! hold: `input_ids`, `attention_mask` and `token_type_ids` under the names the program
//! declares. Tokenization happens on the client only: the parties see shares of the one-hot ids
//! and the public mask, as with any other input.
//!
//! Text file: a JSON list of strings (`["first sentence", "second"]`), or else one sentence per
//! line (blank lines skipped). One sentence per batch row.

use crate::error::DataError;
use crate::inputs::InputArrays;
use ndarray::{ArrayD, IxDyn};
use secc_ir::{InputRole, Op, Program};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

fn invalid(path: &Path, message: impl Into<String>) -> DataError {
    DataError::Invalid {
        path: path.to_owned(),
        message: message.into(),
    }
}

/// The sentences of a text input file.
pub fn read_sentences(path: &Path) -> Result<Vec<String>, DataError> {
    let text = std::fs::read_to_string(path).map_err(|e| DataError::Io {
        action: "read",
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    let trimmed = text.trim_start();
    let sentences: Vec<String> = if trimmed.starts_with('{') {
        return Err(invalid(
            path,
            "is a JSON object, but with --tokenizer the input is text: one sentence per line, \
             or a JSON list of strings",
        ));
    } else if trimmed.starts_with('[') {
        serde_json::from_str(trimmed)
            .map_err(|e| invalid(path, format!("not a JSON list of strings: {e}")))?
    } else {
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect()
    };
    if sentences.is_empty() {
        return Err(invalid(path, "no sentences"));
    }
    Ok(sentences)
}

/// A loaded `tokenizer.json`, remembered with its path for messages.
pub struct TextTokenizer {
    path: PathBuf,
    tokenizer: Tokenizer,
}

/// The token arrays of a batch of sentences, `[batch, seq_len]` each, and what was truncated.
#[derive(Debug, Clone, PartialEq)]
pub struct Tokens {
    pub input_ids: Vec<Vec<u32>>,
    pub attention_mask: Vec<Vec<u32>>,
    pub token_type_ids: Vec<Vec<u32>>,
    /// Indices of the sentences that did not fit into the sequence length.
    pub truncated: Vec<usize>,
}

impl TextTokenizer {
    pub fn load(path: &Path) -> Result<Self, DataError> {
        if !path.is_file() {
            return Err(DataError::Io {
                action: "read the tokenizer",
                path: path.to_owned(),
                message: "no such file".into(),
            });
        }
        let tokenizer = Tokenizer::from_file(path).map_err(|e| {
            invalid(
                path,
                format!("not a tokenizer.json the tokenizers crate reads: {e}"),
            )
        })?;
        Ok(TextTokenizer {
            path: path.to_owned(),
            tokenizer,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Tokenizes `sentences` with the file's special tokens, padded (with the file's pad token,
    /// on its side) and truncated to exactly `seq_len` tokens each.
    pub fn tokenize(&self, sentences: &[String], seq_len: usize) -> Result<Tokens, DataError> {
        let mut tokenizer = self.tokenizer.clone();
        let padding = PaddingParams {
            strategy: PaddingStrategy::Fixed(seq_len),
            pad_to_multiple_of: None,
            ..tokenizer.get_padding().cloned().unwrap_or_default()
        };
        let truncation = TruncationParams {
            max_length: seq_len,
            stride: 0,
            ..tokenizer.get_truncation().cloned().unwrap_or_default()
        };
        tokenizer
            .with_padding(Some(padding))
            .with_truncation(Some(truncation))
            .map_err(|e| invalid(&self.path, format!("cannot truncate to {seq_len}: {e}")))?;
        let mut tokens = Tokens {
            input_ids: Vec::new(),
            attention_mask: Vec::new(),
            token_type_ids: Vec::new(),
            truncated: Vec::new(),
        };
        for (i, sentence) in sentences.iter().enumerate() {
            let encoding = tokenizer.encode(sentence.as_str(), true).map_err(|e| {
                invalid(
                    &self.path,
                    format!("cannot tokenize sentence {}: {e}", i + 1),
                )
            })?;
            if encoding.get_ids().len() != seq_len {
                return Err(invalid(
                    &self.path,
                    format!(
                        "sentence {} came out as {} tokens, not {seq_len}",
                        i + 1,
                        encoding.get_ids().len()
                    ),
                ));
            }
            if !encoding.get_overflowing().is_empty() {
                tokens.truncated.push(i);
            }
            tokens.input_ids.push(encoding.get_ids().to_vec());
            tokens
                .attention_mask
                .push(encoding.get_attention_mask().to_vec());
            tokens.token_type_ids.push(encoding.get_type_ids().to_vec());
        }
        Ok(tokens)
    }
}

/// Which token array feeds an input of the program, by its name.
fn role_of(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    if lower.contains("mask") {
        Some("attention_mask")
    } else if lower.contains("type") || lower.contains("segment") {
        Some("token_type_ids")
    } else if lower.contains("ids") || lower.contains("input") {
        Some("input_ids")
    } else {
        None
    }
}

/// The input arrays for `program` from `sentences`: the batch is the program's (one sentence
/// per row), the sequence length its inputs' second axis. Token ids outside an embedding table
/// of the program are an error naming the tokenizer (it does not match the model).
pub fn program_inputs(
    program: &Program,
    tokenizer: &TextTokenizer,
    sentences: &[String],
    text_path: &Path,
) -> Result<(InputArrays, Tokens), DataError> {
    let first = program
        .inputs
        .first()
        .ok_or_else(|| invalid(text_path, "the program has no inputs"))?;
    let &[batch, seq_len] = first.ty.shape.as_slice() else {
        return Err(invalid(
            text_path,
            format!(
                "text input needs [batch, sequence] inputs; '{}' has shape {:?}",
                first.name, first.ty.shape
            ),
        ));
    };
    if sentences.len() != batch {
        return Err(invalid(
            text_path,
            format!(
                "{} sentences, but the program was compiled for a batch of {batch} (compile \
                 with --batch {})",
                sentences.len(),
                sentences.len()
            ),
        ));
    }
    let tokens = tokenizer.tokenize(sentences, seq_len)?;
    check_vocabulary(program, tokenizer, &tokens)?;
    let mut arrays = InputArrays::new();
    for decl in &program.inputs {
        let role = role_of(&decl.name).ok_or_else(|| {
            invalid(
                text_path,
                format!(
                    "the program's input '{}' is not input_ids, attention_mask or \
                     token_type_ids, so text cannot supply it",
                    decl.name
                ),
            )
        })?;
        if decl.ty.shape != [batch, seq_len] {
            return Err(invalid(
                text_path,
                format!(
                    "input '{}' has shape {:?}, text gives [{batch}, {seq_len}]",
                    decl.name, decl.ty.shape
                ),
            ));
        }
        arrays.insert(decl.name.clone(), to_array(tokens.get(role)));
    }
    Ok((arrays, tokens))
}

/// The arrays of `sentences` for an ONNX model not compiled yet (`secc reference MODEL.onnx`):
/// the three standard names, `[sentences, seq_len]`; the model's inputs pick theirs.
pub fn standard_inputs(
    tokenizer: &TextTokenizer,
    sentences: &[String],
    seq_len: usize,
) -> Result<(InputArrays, Tokens), DataError> {
    let tokens = tokenizer.tokenize(sentences, seq_len)?;
    let arrays = ["input_ids", "attention_mask", "token_type_ids"]
        .into_iter()
        .map(|name| (name.to_string(), to_array(tokens.get(name))))
        .collect();
    Ok((arrays, tokens))
}

impl Tokens {
    fn get(&self, role: &str) -> &[Vec<u32>] {
        match role {
            "attention_mask" => &self.attention_mask,
            "token_type_ids" => &self.token_type_ids,
            _ => &self.input_ids,
        }
    }
}

fn to_array(rows: &[Vec<u32>]) -> ArrayD<f64> {
    let (batch, seq) = (rows.len(), rows.first().map_or(0, Vec::len));
    let data = rows.iter().flatten().map(|&t| f64::from(t)).collect();
    ArrayD::from_shape_vec(IxDyn(&[batch, seq]), data).expect("rows of equal length")
}

/// Every token id must index the embedding tables its input feeds.
pub fn check_vocabulary(
    program: &Program,
    tokenizer: &TextTokenizer,
    tokens: &Tokens,
) -> Result<(), DataError> {
    let mut rows: HashMap<usize, usize> = HashMap::new();
    for (_, node) in program.nodes.iter() {
        if node.op == Op::Embedding {
            if let Op::Input { index } = program.nodes[node.args[1]].op {
                let table = program.ty(node.args[0]).shape[0];
                let entry = rows.entry(index).or_insert(table);
                *entry = (*entry).min(table);
            }
        }
    }
    for (index, decl) in program.inputs.iter().enumerate() {
        let (Some(&table), Some(role)) = (rows.get(&index), role_of(&decl.name)) else {
            continue;
        };
        if decl.role != InputRole::Client {
            continue;
        }
        let worst = tokens
            .get(role)
            .iter()
            .flatten()
            .copied()
            .max()
            .unwrap_or(0);
        if worst as usize >= table {
            let token = tokenizer
                .tokenizer
                .id_to_token(worst)
                .unwrap_or_else(|| "?".into());
            return Err(invalid(
                tokenizer.path(),
                format!(
                    "gives token id {worst} ('{token}') for input '{}', whose embedding table \
                     has {table} rows: the tokenizer does not match the model's vocabulary",
                    decl.name
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokenizers_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/tokenizers")
    }

    fn load(name: &str) -> TextTokenizer {
        TextTokenizer::load(&tokenizers_dir().join(name)).unwrap()
    }

    /// The expected ids come from the Python tokenizer (tokenizers 0.23.3 in /work/pyenv) on
    /// the same file, run once:
    ///
    /// ```python
    /// t = tokenizers.Tokenizer.from_file("examples/tokenizers/all-MiniLM-L6-v2.tokenizer.json")
    /// t.enable_truncation(16); t.enable_padding(length=16)
    /// e = t.encode(sentence); print(e.ids, e.attention_mask, e.type_ids, len(e.overflowing))
    /// ```
    #[test]
    fn the_real_minilm_tokenizer_gives_the_python_ids() {
        let t = load("all-MiniLM-L6-v2.tokenizer.json");
        let sentences = [
            "Secure computation is fun!",
            "Café au lait, naïve résumé: 3.14 -- OK?",
            "hello world",
        ]
        .map(String::from);
        let tokens = t.tokenize(&sentences, 16).unwrap();
        assert_eq!(
            tokens.input_ids,
            [
                vec![101, 5851, 22334, 2003, 4569, 999, 102, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                vec![
                    101, 7668, 8740, 21110, 2102, 1010, 15743, 13746, 1024, 1017, 1012, 2403, 1011,
                    1011, 7929, 102
                ],
                vec![101, 7592, 2088, 102, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            ]
        );
        let ones = |n: usize| [vec![1; n], vec![0; 16 - n]].concat();
        assert_eq!(tokens.attention_mask, [ones(7), ones(16), ones(4)]);
        assert_eq!(tokens.token_type_ids, vec![vec![0; 16]; 3]);
        // The second sentence has 17 tokens with [CLS] and [SEP]: it was truncated.
        assert_eq!(tokens.truncated, [1]);
        // At 8 tokens (Python: enable_truncation(8), enable_padding(length=8)).
        let short = t.tokenize(&sentences[1..2], 8).unwrap();
        assert_eq!(
            short.input_ids,
            [vec![101, 7668, 8740, 21110, 2102, 1010, 15743, 102]]
        );
    }

    /// Python, as above with tiny_wordpiece.tokenizer.json and length 8, on sentences.txt.
    #[test]
    fn the_tiny_tokenizer_gives_the_python_ids_below_1000() {
        let t = load("tiny_wordpiece.tokenizer.json");
        let sentences = read_sentences(&tokenizers_dir().join("sentences.txt")).unwrap();
        let tokens = t.tokenize(&sentences, 8).unwrap();
        assert_eq!(
            tokens.input_ids,
            [
                vec![101, 132, 186, 184, 202, 199, 186, 102],
                vec![101, 246, 193, 193, 196, 326, 102, 0]
            ]
        );
        assert_eq!(tokens.attention_mask[1], [1, 1, 1, 1, 1, 1, 1, 0]);
    }

    #[test]
    fn text_files_are_lines_or_a_json_list_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        let lines = write("a.txt", "first one\n\n  second  \n");
        assert_eq!(read_sentences(&lines).unwrap(), ["first one", "  second  "]);
        let list = write("b.json", r#" ["x", "y z"] "#);
        assert_eq!(read_sentences(&list).unwrap(), ["x", "y z"]);
        for (name, text, needle) in [
            ("c.json", r#"{"input_ids": [[1]]}"#, "JSON object"),
            ("d.json", "[1, 2]", "not a JSON list of strings"),
            ("e.txt", "\n \n", "no sentences"),
        ] {
            let message = read_sentences(&write(name, text)).unwrap_err().to_string();
            assert!(
                message.contains(name) && message.contains(needle),
                "{message}"
            );
        }
    }
}

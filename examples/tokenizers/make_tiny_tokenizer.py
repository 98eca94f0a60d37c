"""Makes tiny_wordpiece.tokenizer.json: the all-MiniLM-L6-v2 tokenizer (normalizer,
pre-tokenizer, [CLS]/[SEP] post-processor unchanged) with a 1000-entry WordPiece vocabulary, so
that its ids index the 1000-row embedding tables of the random-weight fixtures in
examples/models/ (the real vocabulary has 30522 entries; ids below 999 are all [unused*] there).

Vocabulary: ids 0-103 as in the real one ([PAD] 0, [UNK] 100, [CLS] 101, [SEP] 102, [MASK] 103,
[unused*] between); then every printable ASCII character, its '##' continuation, and the most
frequent whole words of the real vocabulary (they start at id 1996) until 1000 entries. Any
English text tokenizes (words outside the list fall back to characters). Deterministic:

    /work/pyenv/bin/python examples/tokenizers/make_tiny_tokenizer.py
"""

import json
import string
from pathlib import Path

HERE = Path(__file__).parent
SIZE = 1000

real = json.loads((HERE / "all-MiniLM-L6-v2.tokenizer.json").read_text())
by_id = sorted(real["model"]["vocab"].items(), key=lambda kv: kv[1])
vocab = {token: i for token, i in by_id if i <= 103}
chars = [c for c in string.digits + string.ascii_lowercase + string.punctuation]
candidates = chars + ["##" + c for c in chars] + [t for t, i in by_id if i >= 1996]
for token in candidates:
    if len(vocab) == SIZE:
        break
    if token in real["model"]["vocab"] and token not in vocab:
        vocab[token] = len(vocab)
assert len(vocab) == SIZE, len(vocab)

tiny = dict(real)
tiny["model"] = dict(real["model"], vocab=vocab)
# No padding or truncation in the file: secc pads and truncates to the program's sequence length.
tiny["padding"] = None
tiny["truncation"] = None
(HERE / "tiny_wordpiece.tokenizer.json").write_text(json.dumps(tiny, ensure_ascii=False, indent=1) + "\n")
print(f"wrote tiny_wordpiece.tokenizer.json ({len(vocab)} tokens)")

"""Training and held-out text: the glosses and usage examples of WordNet 3.0, read from Debian's
package `wordnet-base` (files usr/share/wordnet/data.{noun,verb,adj,adv}).

Each synset line of a data file ends with `| gloss`, where the gloss is one or more definitions
and quoted usage examples separated by "; ", e.g.
`| the destruction of an enemy plane or ship or tank or missile; "the pilot reported two kills
during the mission"`. Each definition and each example is one text here. They were written by
Princeton's lexicographers (1985-2006), not for this recipe. Licence: WordNet 3.0 licence
(permissive, BSD-like; Debian's copyright file is copied next to the corpus by run.sh).
"""

import random
import re
from pathlib import Path

FILES = ["data.noun", "data.verb", "data.adj", "data.adv"]
QUOTED = re.compile(r'^"(.*)"$')


def read_texts(wordnet_dir, min_words=4):
    """The distinct definitions and examples with at least `min_words` words, sorted."""
    texts = set()
    for name in FILES:
        path = Path(wordnet_dir) / name
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("  ") or " | " not in line:
                    continue  # the licence header
                gloss = line.split(" | ", 1)[1].strip()
                for part in gloss.split("; "):
                    part = part.strip()
                    m = QUOTED.match(part)
                    if m:
                        part = m.group(1).strip()
                    if len(part.split()) >= min_words:
                        texts.add(part)
    if not texts:
        raise SystemExit(f"error: no text found in {wordnet_dir}/data.* (not WordNet 3.0?)")
    return sorted(texts)


def split(texts, held_out, seed):
    """(train, held-out): a seeded shuffle, the first `held_out` texts held out."""
    order = list(texts)
    random.Random(seed).shuffle(order)
    return order[held_out:], order[:held_out]

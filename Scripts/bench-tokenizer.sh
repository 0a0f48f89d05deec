#!/usr/bin/env bash
# Benchmark: the Swift tokenizer against Python tiktoken (its Rust core), side by side in one
# run on the same corpus: single-thread tokens per second for cl100k_base and o200k_base, the
# resident memory of both vocabularies loaded, and (Swift) the latency that parsing and counting
# a ~4,000-token chat adds to a reserve.
# The corpus: every .swift, .md, .lua and .sh file of this repository (one document each),
# plus the same again in a few other scripts (documents with every letter mapped to Cyrillic,
# Greek, CJK) — real code and prose.
# Usage: Scripts/bench-tokenizer.sh [rounds]   (default 3)
source "$(dirname "$0")/lib.sh"
cd "$TOLLGATE_ROOT"

rounds="${1:-3}"
ensure_venv
bench="$(build_release tollgate-bench)/tollgate-bench"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT

"$TOLLGATE_PYTHON" - "$dir/corpus.json" <<'PY'
import json, pathlib, sys
files = sorted(p for ext in ("swift", "md", "lua", "sh") for p in pathlib.Path(".").glob(f"[SDT]*/**/*.{ext}") if ".build" not in p.parts)
docs = [p.read_text(encoding="utf-8") for p in files]
def mapped(text, base):
    return "".join(chr(base + (ord(c) - 97)) if "a" <= c <= "z" else c for c in text)
docs += [mapped(d, base) for d in docs[:40] for base in (0x430, 0x3b1, 0x4e00)]
json.dump(docs, open(sys.argv[1], "w"))
PY

"$bench" tokenizer --corpus "$dir/corpus.json" --rounds "$rounds"

mkdir -p "$dir/cache"
TIKTOKEN_CACHE_DIR="$dir/cache" "$TOLLGATE_PYTHON" - "$dir/corpus.json" "$rounds" <<'PY'
import gzip, hashlib, json, os, sys, time
cache = os.environ["TIKTOKEN_CACHE_DIR"]
for name in ("cl100k_base", "o200k_base"):
    url = f"https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
    with open(os.path.join(cache, hashlib.sha1(url.encode()).hexdigest()), "wb") as f:
        f.write(gzip.open(f"Sources/TollgateTokenizer/Resources/{name}.tiktoken.gz").read())
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
import tiktoken
before = rss()
start = time.perf_counter()
encodings = [tiktoken.get_encoding(n) for n in ("cl100k_base", "o200k_base")]
for e in encodings:
    e.encode_ordinary("warm up")
print("python-vocabularies load_ms=%.0f rss_mib=%.1f" % ((time.perf_counter() - start) * 1000, (rss() - before) / 1048576))
docs = json.load(open(sys.argv[1]))
size = sum(len(d.encode()) for d in docs)
for e in encodings:
    best, tokens = float("inf"), 0
    for _ in range(int(sys.argv[2])):
        t = time.perf_counter()
        tokens = sum(len(e.encode_ordinary(d)) for d in docs)
        best = min(best, time.perf_counter() - t)
    print("python-encode encoding=%s documents=%d bytes=%d tokens=%d seconds=%.3f tokens_per_second=%.0f" % (e.name, len(docs), size, tokens, best, tokens / best))
PY

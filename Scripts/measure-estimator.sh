#!/usr/bin/env bash
# Measures the Claude estimator (o200k_base tokens × factor) against the only Claude tokenizer
# that can be run offline: the legacy one Anthropic shipped as tokenizer.json in its Python SDK
# up to 0.3x (its own docstring: "only accurate for older models, e.g. claude-2.1"; Claude 3
# and later use another tokenizer that is not published). The wheel comes from PyPI and is
# checked against a pinned SHA-256; tokenizer.json is read from it, nothing of it is imported.
# Gemini: no Gemma or Gemini tokenizer is published in any PyPI or Debian package from Google,
# so nothing is measured for it (Docs/tokens.md says why).
# The corpus: the repository's docs and code, Debian's licence texts (English prose) and, where
# the Python that runs this has them, CPython's CJK test texts; one document per file.
# Usage: Scripts/measure-estimator.sh [factor ...]   (default 1.10 1.25 1.40)
# Not part of CI: a measurement for Docs/tokens.md.
source "$(dirname "$0")/lib.sh"
cd "$TOLLGATE_ROOT"

wheel_version=0.34.2
wheel_sha256=f50a628eb71e2c76858b106c8cbea278c45c6bd2077cb3aff716a112abddc9fc
venv="$TOLLGATE_ROOT/.tollgate/estimator-venv"
if [ ! -x "$venv/bin/python" ]; then
    log "creating .tollgate/estimator-venv (tokenizers, tiktoken)"
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q --disable-pip-version-check tokenizers==0.23.3 tiktoken==0.14.0
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
"$venv/bin/pip" download -q --disable-pip-version-check --no-deps -d "$dir" "anthropic==$wheel_version"
wheel="$dir/anthropic-$wheel_version-py3-none-any.whl"
echo "$wheel_sha256  $wheel" | sha256sum -c --quiet || { log "anthropic $wheel_version wheel: SHA-256 differs from $wheel_sha256"; exit 1; }

mkdir -p "$dir/cache"
TIKTOKEN_CACHE_DIR="$dir/cache" "$venv/bin/python" - "$wheel" "${@:-1.10 1.25 1.40}" <<'PY'
import glob, gzip, hashlib, math, os, pathlib, statistics, sys, sysconfig, zipfile
from tokenizers import Tokenizer
cache = os.environ["TIKTOKEN_CACHE_DIR"]
url = "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"
with open(os.path.join(cache, hashlib.sha1(url.encode()).hexdigest()), "wb") as f:
    f.write(gzip.open("Sources/TollgateTokenizer/Resources/o200k_base.tiktoken.gz").read())
import tiktoken
o200k = tiktoken.get_encoding("o200k_base")
claude = Tokenizer.from_str(zipfile.ZipFile(sys.argv[1]).read("anthropic/tokenizer.json").decode())
factors = [float(f) for f in " ".join(sys.argv[2:]).split()]

def files(patterns):
    return sorted(p for pattern in patterns for p in glob.glob(pattern, recursive=True) if ".build" not in p)
cjk = os.path.join(sysconfig.get_paths()["stdlib"], "test", "cjkencodings")
groups = {
    "English prose (Docs/*.md, README)": files(["Docs/*.md", "README.md"]),
    "English prose (Debian licence texts)": files(["/usr/share/common-licenses/*"]),
    "code (Swift, Lua, shell)": files(["Sources/**/*.swift", "Sources/**/*.lua", "Scripts/**/*.sh"]),
    "CJK prose (CPython's cjkencodings tests)": files([cjk + "/*-utf8.txt"]),
}
print("legacy Claude tokenizer (anthropic %s tokenizer.json) against o200k_base x factor" % sys.argv[1].split("-")[1])
print("| documents | files | o200k_base tokens | legacy Claude tokens | Claude / o200k | factor | mean error | p50 abs error | p95 abs error | under-estimates |")
print("|---|---|---|---|---|---|---|---|---|---|")
for name, paths in groups.items():
    docs = [pathlib.Path(p).read_text(encoding="utf-8", errors="replace") for p in paths if os.path.isfile(p)]
    docs = [d for d in docs if d.strip()]
    if not docs:
        print("| %s | 0 | (none on this machine) |||||||" % name)
        continue
    pairs = [(len(o200k.encode_ordinary(d)), len(claude.encode(d).ids)) for d in docs]
    ours, theirs = sum(p[0] for p in pairs), sum(p[1] for p in pairs)
    for factor in factors:
        errors = [(math.ceil(o * factor) - c) / c for o, c in pairs if c > 0]
        absolute = sorted(abs(e) for e in errors)
        p95 = absolute[min(len(absolute) - 1, math.ceil(0.95 * len(absolute)) - 1)]
        print("| %s | %d | %d | %d | %.3f | %.2f | %+.1f%% | %.1f%% | %.1f%% | %.0f%% |" % (
            name, len(docs), ours, theirs, theirs / ours, factor, 100 * statistics.mean(errors),
            100 * statistics.median(absolute), 100 * p95, 100 * sum(e < 0 for e in errors) / len(errors)))
PY

#!/usr/bin/env python3
"""Every feature-gated public item of mruntime carries its docs.rs badge.

docs.rs builds with `--cfg docsrs` on nightly, where `#[cfg_attr(docsrs, doc(cfg(..)))]` shows
"Available on crate feature `x` only". Without a nightly at hand, check the attributes instead:

1. an item declared `pub` (not `pub(crate)`) under `#[cfg(.. feature = ..)]` needs a
   `#[cfg_attr(docsrs, doc(cfg(..)))]` naming the same feature;
2. a trait impl in a gated module (or gated itself) whose self type is public and declared
   outside that module (`impl From<Panicked> for tonic::Status` shows on `Panicked`'s page)
   needs one too: the module's badge does not reach another type's page.

Usage: .ci/doc-cfg.py [SRC_DIR]   (default mruntime/src); exits 1 listing what lacks a badge.
"""

import re
import sys
from pathlib import Path

FEATURE = re.compile(r'feature\s*=\s*"([^"]+)"')
CFG = re.compile(r"^\s*#\[cfg\((.*)\)\]\s*$")
DOC_CFG = re.compile(r"^\s*#\[cfg_attr\(\s*docsrs\s*,\s*doc\(cfg\((.*)\)\)\s*\)\]\s*$")
MOD = re.compile(r"^\s*(pub(\([^)]*\))?\s+)?mod\s+(\w+)\s*;")
PUB_ITEM = re.compile(r"^\s*pub\s+(?:unsafe\s+|async\s+|const\s+)*(mod|fn|struct|enum|trait|type|const|static|use|union|macro)\b")
TRAIT_IMPL = re.compile(r"^\s*(?:unsafe\s+)?impl\b\s*(<[^{]*?>)?\s*(.+?)\s+for\s+([^{]+?)\s*(?:where\b.*)?(?:\{.*)?$")
TYPE_DECL = re.compile(r"^\s*(pub(?:\([^)]*\))?\s+)?(?:struct|enum|trait|type|union)\s+(\w+)")


def features(text):
    return set(FEATURE.findall(text))


def module_files(path):
    """The file of a `mod` declared in `path`'s module, and its directory of submodules."""
    parent = path.parent if path.name in ("lib.rs", "mod.rs") else path.parent / path.stem
    return parent


def items(path):
    """(line number, attribute lines, item line) of each item, attributes single-line."""
    attrs = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("#[") and not stripped.startswith("#!["):
            attrs.append(stripped)
        elif stripped.startswith("//") or not stripped:
            continue
        else:
            yield number, attrs, line
            attrs = []


def main():
    src = Path(sys.argv[1] if len(sys.argv) > 1 else "mruntime/src")
    files = sorted(src.rglob("*.rs"))

    # Which files belong to a gated module, and under which features.
    gated = {}  # file -> set of features
    for path in files:
        for _, attrs, line in items(path):
            m = MOD.match(line)
            if not m:
                continue
            feats = set().union(*(features(a) for a in attrs if CFG.match(a))) if attrs else set()
            if not feats:
                continue
            base = module_files(path)
            name = m.group(3)
            for f in files:
                if f == base / f"{name}.rs" or base / name in f.parents:
                    gated.setdefault(f, set()).update(feats)

    # Types declared public anywhere, and types declared in each gated module's files.
    public_types, private_types = set(), set()
    for path in files:
        for _, _, line in items(path):
            m = TYPE_DECL.match(line)
            if m:
                (public_types if m.group(1) and m.group(1).strip() == "pub" else private_types).add(m.group(2))

    def declared_in(feats, name):
        for f, fs in gated.items():
            if fs & feats:
                for _, _, line in items(f):
                    m = TYPE_DECL.match(line)
                    if m and m.group(2) == name:
                        return True
        return False

    missing, checked = [], 0
    for path in files:
        for number, attrs, line in items(path):
            own = set().union(*(features(a) for a in attrs if CFG.match(a))) if attrs else set()
            badge = set().union(*(features(DOC_CFG.match(a).group(1)) for a in attrs if DOC_CFG.match(a))) if attrs else set()
            where = f"{path}:{number}: {line.strip()}"
            if own and PUB_ITEM.match(line):
                checked += 1
                if not own <= badge:
                    missing.append(f"{where}\n    gated on {sorted(own)}, badge for {sorted(badge) or 'none'}")
                continue
            m = TRAIT_IMPL.match(line)
            if not m:
                continue
            feats = own | gated.get(path, set())
            if not feats:
                continue
            self_type = re.sub(r"<.*", "", m.group(3)).lstrip("&").split("::")[-1].strip()
            if self_type in re.findall(r"\w+", m.group(1) or ""):
                continue  # a blanket impl over a type parameter: shown on the trait's page
            if self_type in private_types and self_type not in public_types:
                continue
            if not own and declared_in(feats, self_type):
                continue
            checked += 1
            if not feats <= badge:
                missing.append(f"{where}\n    an impl for a type outside the gated module: needs #[cfg_attr(docsrs, doc(cfg(feature = ..)))] for {sorted(feats)}")

    if checked == 0:
        print(f"doc-cfg: no feature-gated public item found under {src}: is this the right directory?")
        return 1
    if missing:
        print("doc-cfg: feature-gated public items without their docs.rs badge:")
        print("\n".join(missing))
        return 1
    print(f"doc-cfg: {checked} feature-gated public items, each with its docs.rs badge")
    return 0


if __name__ == "__main__":
    sys.exit(main())

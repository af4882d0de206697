#!/usr/bin/env python3
"""The declared rust-version of mruntime is at least what its dependencies need.

For each feature set mruntime ships (no features, each feature alone, all features), take the
packages a user's build compiles (`cargo tree -e normal,build`: dev-dependencies never reach a
user) and the `rust-version` each declares (`cargo metadata`), and fail when mruntime's declared
`rust-version` is below the highest of them: a user on the declared version would get an error
from cargo about a dependency instead of from us. Versions are the ones in Cargo.lock.
(Our own code against the declared version: clippy's `incompatible_msrv` lint, which reads
`rust-version`, flags a std API stabilised after it, under `-D warnings` in .ci/run.)

Usage: .ci/rust-version.py   (from the workspace root; prints the table it computed)
"""

import json
import subprocess
import sys

PACKAGE = "mruntime"


def cargo(*args):
    return subprocess.run(["cargo", *args], check=True, capture_output=True, text=True).stdout


def version_key(v):
    return tuple(int(x) for x in v.split("."))


def main():
    metadata = json.loads(cargo("metadata", "--format-version", "1", "--locked"))
    # The workspace's own crates share the declared version: what they need is what is checked.
    rust_version = {(p["name"], p["version"]): p.get("rust_version")
                    for p in metadata["packages"] if p["source"] is not None}
    ours = next(p for p in metadata["packages"] if p["name"] == PACKAGE and p["source"] is None)
    declared = ours.get("rust_version")
    if not declared:
        print(f"rust-version: {PACKAGE} declares no rust-version")
        return 1
    features = sorted(f for f in ours["features"] if f != "default")
    feature_sets = [("no features", ["--no-default-features"])]
    feature_sets += [(f"--features {f}", ["--no-default-features", "--features", f]) for f in features]
    feature_sets.append(("all features", ["--all-features"]))

    failed = False
    print(f"{PACKAGE} declares rust-version {declared}")
    for label, flags in feature_sets:
        tree = cargo("tree", "-p", PACKAGE, "-e", "normal,build", "--prefix", "none",
                     "--format", "{p}", "--locked", *flags)
        needs = []
        for line in tree.splitlines():
            name, _, rest = line.partition(" v")
            version = rest.split(" ")[0]
            rv = rust_version.get((name, version))
            if rv:
                needs.append((version_key(rv), rv, f"{name} {version}"))
        top = max(needs)
        highest = [who for key, _, who in needs if key == top[0]]
        line = f"  {label:<28} needs {top[1]:<6} ({', '.join(sorted(set(highest)))})"
        if version_key(declared) < top[0]:
            line += f"  <- above the declared {declared}"
            failed = True
        print(line)
    if failed:
        print(f"rust-version: raise `rust-version` in the workspace Cargo.toml to the highest above,"
              f" or pin the dependency to a version that needs less")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

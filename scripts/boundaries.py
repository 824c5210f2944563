#!/usr/bin/env python3
"""Module boundaries, checked (DESIGN: a module talks to another only through that module's
public Rust API or its events, never through its tables; dependencies are declared).

For every module crate (a crate under crates/ whose src/module.rs implements PlatformModule):

1. the module crates in its Cargo `[dependencies]` are exactly the modules its
   `PlatformModule::dependencies()` declares: the module's declaration is the one list, and
   Cargo may not reach past it (dev-dependencies, for tests, are free);
2. its code (src/) names no other module's entities (`<module>::entity`, `<module>::store`) and
   no other module's tables in SQL (`FROM users`, `JOIN memberships`, …).

3. every step out of the tenant scope (`tx.unscoped()`, in any crate's src/) carries a reason:
   an `// unscoped: <why>` comment on its line or within the three lines above. The uses are
   listed with their reasons (`--unscoped`), so a reviewer sees all of them in one place.

Exits 1 listing every crossing. Run by .ci/run; `python3 scripts/boundaries.py` locally.
"""
import pathlib
import re
import sys
import tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent
CRATES = ROOT / "crates"


def modules():
    found = {}
    for crate in sorted(p for p in CRATES.iterdir() if (p / "src" / "module.rs").exists()):
        text = (crate / "src" / "module.rs").read_text()
        if "PlatformModule for" not in text:
            continue
        name = re.search(r'fn name\(&self\) -> &\'static str \{\s*"([a-z_]+)"', text)
        deps = re.search(r"fn dependencies\(&self\) -> &'static \[&'static str\] \{\s*&\[([^\]]*)\]", text)
        cargo = tomllib.loads((crate / "Cargo.toml").read_text())
        found[name.group(1) if name else crate.name] = {
            "dir": crate,
            "crate": cargo["package"]["name"],
            "declared": set(re.findall(r'"([a-z_]+)"', deps.group(1))) if deps else set(),
            "cargo": set(cargo.get("dependencies", {})),
            "tables": set(),
        }
    for info in found.values():
        for rs in (info["dir"] / "src").rglob("*.rs"):
            text = rs.read_text()
            info["tables"] |= set(re.findall(r'table_name\s*=\s*"([a-z_0-9]+)"', text))
            info["tables"] |= set(re.findall(r'tenant_table!\(\s*\w+,\s*"([a-z_0-9]+)"', text))
    return found


def main():
    found = modules()
    crate_to_module = {info["crate"]: name for name, info in found.items()}
    problems = []
    for name, info in found.items():
        uses = {crate_to_module[c] for c in info["cargo"] if c in crate_to_module}
        if uses != info["declared"]:
            problems.append(
                f"{info['crate']}: Cargo depends on modules {sorted(uses)} but the module declares "
                f"{sorted(info['declared'])} (PlatformModule::dependencies): make them the same"
            )
        others = {n: i for n, i in found.items() if n != name}
        paths = re.compile(r"\b(" + "|".join(i["crate"] for i in others.values()) + r")::(entity|store)\b")
        tables = sorted(t for i in others.values() for t in i["tables"])
        sql = re.compile(
            r'(?i)\b(from|join|into|update|table)\s+"?(' + "|".join(map(re.escape, tables)) + r')\b'
        ) if tables else None
        for rs in sorted((info["dir"] / "src").rglob("*.rs")):
            for lineno, line in enumerate(rs.read_text().splitlines(), 1):
                if line.lstrip().startswith("//"):
                    continue
                where = f"{rs.relative_to(ROOT)}:{lineno}"
                if m := paths.search(line):
                    problems.append(f"{where}: names another module's entities (`{m.group(0)}`); use its public API or events")
                if sql and (m := sql.search(line)):
                    problems.append(f"{where}: SQL on another module's table `{m.group(2)}`")
    uses = unscoped_uses()
    for where, reason in uses:
        if reason is None:
            problems.append(f"{where}: `unscoped()` without an `// unscoped: <why>` comment")
        elif "--unscoped" in sys.argv:
            print(f"unscoped: {where}: {reason}")
    for p in problems:
        print(f"boundaries: {p}")
    print(f"boundaries: {len(found)} modules checked ({', '.join(sorted(found))}), "
          f"{len(uses)} unscoped uses, {len(problems)} crossings")
    return 1 if problems else 0


def unscoped_uses():
    """(file:line, reason or None) for every `.unscoped()` call in the crates' sources."""
    found = []
    for rs in sorted(CRATES.glob("*/src/**/*.rs")):
        lines = rs.read_text().splitlines()
        for i, line in enumerate(lines):
            code = line.split("//")[0]
            if ".unscoped()" not in code:
                continue
            reason = None
            for back in lines[max(0, i - 3): i + 1][::-1]:
                if m := re.search(r"//\s*unscoped:\s*(.+)", back):
                    reason = m.group(1).strip()
                    break
            found.append((f"{rs.relative_to(ROOT)}:{i + 1}", reason))
    return found


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Fails when a module of a crate imports (names `crate::...`) a module that imports it back,
directly or through others. Prints each cycle's modules and the edges between them.

Usage: .ci/import-cycles.py [WORKSPACE_ROOT]
"""
import os
import re
import sys


def module_name(src, path):
    parts = os.path.relpath(path, src)[:-3].split(os.sep)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return "::".join(parts)


def edges_of(src):
    """Every module of the crate rooted at `src` and the modules it names."""
    modules = {}
    for folder, _, files in os.walk(src):
        for name in files:
            if name.endswith(".rs"):
                path = os.path.join(folder, name)
                modules[module_name(src, path)] = path
    edges = {m: set() for m in modules}
    for module, path in modules.items():
        if not module:
            continue  # the crate root declares everything
        with open(path, encoding="utf-8") as f:
            text = f.read()
        text = re.sub(r"#\[cfg\(test\)\]\s*mod tests \{.*", "", text, flags=re.S)
        text = re.sub(r"//.*", "", text)
        named = [r.split("::") for r in re.findall(r"crate::((?:\w+::)*\w+)", text)]
        for group in re.findall(r"crate::\{([^}]*)\}", text, flags=re.S):
            named += [item.split("::") for item in re.split(r"[,\s]+", group) if item]
        for parts in named:
            for k in range(len(parts), 0, -1):
                target = "::".join(parts[:k])
                if target in modules:
                    related = (
                        target == module
                        or module.startswith(target + "::")
                        or target.startswith(module + "::")
                    )
                    if not related:
                        edges[module].add(target)
                    break
    return edges


def cycles(edges):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for v in edges:
        if v not in index:
            visit(v)
    return found


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    crates = [os.path.join(root, "crates", c) for c in sorted(os.listdir(os.path.join(root, "crates")))]
    crates += [os.path.join(root, "tests"), os.path.join(root, "migrations")]
    failed = False
    for crate in crates:
        src = os.path.join(crate, "src")
        if not os.path.isdir(src):
            continue
        edges = edges_of(src)
        for component in cycles(edges):
            failed = True
            links = ", ".join(f"{a} -> {b}" for a in component for b in sorted(edges[a]) if b in component)
            print(f"{os.path.basename(crate)}: import cycle among {component}: {links}")
    if failed:
        sys.exit(1)
    print("no import cycles")


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Fails when the #include graph among src/ files has a cycle.

A module is a .c/.h pair (src/broker/server.c + src/broker/server.h = broker/server). Module A
depends on module B when A.c or A.h includes B.h. A cycle in that graph means two parts of the
tree cannot be understood, built or tested one without the other (e.g. group.c includes
server.h, whose broker.h includes group.h). Prints every cycle found, one strongly connected
component per line with one concrete include path through it, and exits 1; exits 0 when the
graph is acyclic.

Usage: check_includes.py [SRC_DIR]   (default: the src/ beside this tests/ directory)"""
import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def modules(src):
    """{module: {included module: 'file.c -> header.h'}} for every .c/.h under src."""
    files = {}
    for root, _, names in os.walk(src):
        for n in names:
            if n.endswith((".c", ".h")):
                path = os.path.join(root, n)
                files[os.path.relpath(path, src)] = path
    deps = {}
    for rel, path in sorted(files.items()):
        mod = rel[:-2]
        deps.setdefault(mod, {})
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        for inc in INCLUDE.findall(text):
            # includes are written relative to src/ ("broker/broker.h") or to the file's dir
            cand = [inc, os.path.normpath(os.path.join(os.path.dirname(rel), inc))]
            target = next((c for c in cand if c in files), None)
            if target is None or not target.endswith(".h"):
                continue
            tmod = target[:-2]
            if tmod != mod:
                deps[mod].setdefault(tmod, "%s includes %s" % (rel, target))
    return deps


def sccs(deps):
    """Tarjan's strongly connected components (iterative)."""
    index, low, on, stack, out = {}, {}, set(), [], []
    counter = [0]
    for start in sorted(deps):
        if start in index:
            continue
        work = [(start, iter(sorted(deps.get(start, {}))))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on.add(start)
        while work:
            v, it = work[-1]
            pushed = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(deps.get(w, {})))))
                    pushed = True
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            if pushed:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def cycle_path(deps, comp):
    """One cycle through comp[0], as the include lines that make it."""
    members = set(comp)
    start = comp[0]
    prev = {start: None}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(deps[v]):
            if w not in members:
                continue
            if w == start:
                path = [(v, w)]
                while prev[v] is not None:
                    path.append((prev[v], v))
                    v = prev[v]
                return [deps[a][b] for a, b in reversed(path)]
            if w not in prev:
                prev[w] = v
                queue.append(w)
    return []


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "src")
    deps = modules(src)
    comps = sccs(deps)
    for comp in comps:
        print("include cycle among %s:" % ", ".join(comp))
        for step in cycle_path(deps, comp):
            print("    " + step)
    print("%d module(s), %d include cycle(s)" % (len(deps), len(comps)))
    return 1 if comps else 0


if __name__ == "__main__":
    sys.exit(main())

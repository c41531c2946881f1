#!/usr/bin/python3
"""Fails when the #include graph among src/ files has a cycle.

A module is a .c/.h pair (src/broker/server.c + src/broker/server.h = broker/server); a private
header X_int.h beside X.c belongs to module X. Module A depends on module B when one of A's
files includes one of B's headers. A cycle in that graph means two parts of the
tree cannot be understood, built or tested one without the other (e.g. group.c includes
server.h, whose broker.h includes group.h). Prints every cycle found, one strongly connected
component per line with one concrete include path through it, and exits 1; exits 0 when the
graph is acyclic. A cycle listed in KNOWN_FILE (one line per cycle: its modules, comma-separated,
as printed; '#' starts a comment) is reported but does not fail: a debt recorded, to be paid by
the part's owners.

Usage: check_includes.py [SRC_DIR [KNOWN_FILE]]   (default: the src/ beside this tests/
directory and include_cycles_known.txt beside this script)"""
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
    def module(rel):
        base = rel[:-2]
        if base.endswith("_int") and base[:-4] + ".c" in files:
            return base[:-4]
        return base

    deps = {}
    for rel, path in sorted(files.items()):
        mod = module(rel)
        deps.setdefault(mod, {})
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        for inc in INCLUDE.findall(text):
            # includes are written relative to src/ ("broker/broker.h") or to the file's dir
            cand = [inc, os.path.normpath(os.path.join(os.path.dirname(rel), inc))]
            target = next((c for c in cand if c in files), None)
            if target is None or not target.endswith(".h"):
                continue
            tmod = module(target)
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


def cycle_path(deps, comp, start):
    """A shortest cycle through start, as the include lines that make it."""
    members = set(comp)
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
    known_file = sys.argv[2] if len(sys.argv) > 2 else os.path.join(here,
                                                                   "include_cycles_known.txt")
    known = set()
    if os.path.exists(known_file):
        with open(known_file) as f:
            for line in f:
                line = line.split("#")[0].strip()
                if line:
                    known.add(frozenset(m.strip() for m in line.split(",")))
    deps = modules(src)
    comps = sccs(deps)
    failing = 0
    for comp in comps:
        is_known = frozenset(comp) in known
        failing += not is_known
        print("%sinclude cycle among %s:" % ("known (listed in %s) " % os.path.basename(known_file)
                                             if is_known else "", ", ".join(comp)))
        seen = set()
        for start in comp:  # a shortest cycle through each module, each cycle once
            steps = cycle_path(deps, comp, start)
            key = frozenset(steps)
            if key in seen:
                continue
            seen.add(key)
            mods = [step.split(" includes ")[1] for step in steps]
            print("  " + " -> ".join(m[:-2] for m in [steps[0].split(" includes ")[0]] + mods))
            for step in steps:
                print("    " + step)
    print("%d module(s), %d include cycle(s), %d not listed as known"
          % (len(deps), len(comps), failing))
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Checks the floors of the house against the real build.

Each layer is a static library whose include path holds only the layers it
stands on. This takes, from build/compile_commands.json, the flags meson
compiles one source of each layer with, and compiles a one-line file that
includes one header of every other layer: the layers below must compile, every
other (above, or beside) must fail with the header not found. Prints a line
per layer and "N passed, N failed"; exits non-zero on any failure.

  check_layers.py BUILD_DIR
  check_layers.py --dot      the floors as a Graphviz graph (docs/layers.png:
                             check_layers.py --dot | dot -Tpng -o docs/layers.png)
"""
import json
import os
import shlex
import subprocess
import sys

# layer: (a source compiled into its library, one of its headers, the layers
# it stands on, transitively). docs/design-notes.md draws the same picture.
FLOORS = {
    'base': ('common/base/status.cc', 'base/status.h', []),
    'proto': ('proto/wire.cc', 'proto/wire.h', ['base']),
    'ipc': ('common/ipc/ring.cc', 'ipc/ring.h', ['proto', 'base']),
    'io': ('common/io/file_system.cc', 'io/file_system.h', ['base']),
    'store': ('common/store/rank_scan.cc', 'store/rank_scan.h', ['io', 'proto', 'base']),
    # Header-only: no compile flags of its own, checked as a floor others see.
    'cuda_api': (None, 'cuda_api/cuda_check.h', ['base']),
    'gpu': ('daemon/gpu/fake_gpu.cc', 'gpu/gpu.h', ['cuda_api', 'base']),
    'engine': ('daemon/engine/engine.cc', 'engine/engine.h',
               ['store', 'gpu', 'cuda_api', 'io', 'proto', 'base']),
    'config': ('daemon/config/settings_table.cc', 'config/settings.h',
               ['engine', 'store', 'gpu', 'cuda_api', 'io', 'proto', 'base']),
    'report': ('daemon/report/status_json.cc', 'report/status_json.h',
               ['engine', 'store', 'gpu', 'cuda_api', 'io', 'proto', 'base']),
    'service': ('daemon/service/sd_notify.cc', 'service/sd_notify.h', ['base']),
    'server': ('daemon/server/server.cc', 'server/server.h',
               ['report', 'service', 'engine', 'ipc', 'store', 'gpu', 'cuda_api', 'io', 'proto',
                'base']),
    'client': ('client/src/client.cc', 'pccheck/client.h',
               ['store', 'ipc', 'cuda_api', 'io', 'proto', 'base']),
    'cli': ('daemon/cli/progress.cc', 'cli/progress.h',
            ['client', 'config', 'report', 'engine', 'ipc', 'store', 'gpu', 'cuda_api', 'io',
             'proto', 'base']),
}


def flags_for(entries, source):
    """The compiler and flags of source's compile command, without output or
    dependency-file arguments."""
    for e in entries:
        if os.path.normpath(e['file']).endswith(source) and '/tests/' not in e['file']:
            args = e.get('arguments') or shlex.split(e['command'])
            out, skip = [], False
            for a in args[1:]:
                if skip:
                    skip = False
                    continue
                if a in ('-o', '-MF', '-MQ', '-MT', '-c'):
                    skip = a != '-c'
                    continue
                if a in ('-MD', '-MMD') or a.endswith(os.path.basename(source)):
                    continue
                out.append(a)
            return e['directory'], [args[0]] + out
    return None, None


def compiles(directory, cmd, header):
    p = subprocess.run(cmd + ['-fsyntax-only', '-x', 'c++', '-'], cwd=directory,
                       input=f'#include "{header}"\n', text=True, capture_output=True)
    return p.returncode == 0, p.stderr


def direct_floors(name):
    """The floors `name` stands on directly: those it sees that no other floor
    it sees already stands on (the transitive reduction of FLOORS)."""
    below = FLOORS[name][2]
    return [m for m in below if not any(m in FLOORS[k][2] for k in below)]


def print_dot():
    print('digraph floors {')
    print('  rankdir=TB; node [shape=box, fontname="Helvetica", style=rounded];')
    for name in FLOORS:
        for m in direct_floors(name):
            print(f'  "{name}" -> "{m}";')
    print('}')


def main():
    if sys.argv[1:] == ['--dot']:
        print_dot()
        return 0
    build = sys.argv[1] if len(sys.argv) > 1 else 'build'
    with open(os.path.join(build, 'compile_commands.json')) as f:
        entries = json.load(f)
    passed = failed = 0
    for name, (source, own, below) in FLOORS.items():
        if source is None:
            continue
        directory, cmd = flags_for(entries, source)
        if cmd is None:
            print(f'FAIL layer {name}: {source} is not in compile_commands.json')
            failed += 1
            continue
        problems = []
        for other, (_, header, _) in FLOORS.items():
            ok, err = compiles(directory, cmd, header)
            if other == name or other in below:
                if not ok:
                    problems.append(f'cannot include {header} ({other} is below it): '
                                    + err.strip().splitlines()[0])
            elif ok:
                problems.append(f'can include {header}, but {other} is not a layer it stands on')
            elif 'No such file' not in err:
                problems.append(f'including {header} failed for another reason: '
                                + err.strip().splitlines()[0])
        if problems:
            failed += 1
            print(f'FAIL layer {name}')
            for p in problems:
                print(f'    {p}')
        else:
            passed += 1
            print(f'PASS layer {name}: sees {", ".join(below) or "nothing below"}')
    print(f'{passed} passed, {failed} failed')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())

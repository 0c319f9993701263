#!/usr/bin/python3
"""How much of a service is plumbing: its lines of C that are neither
comments, blank, SQL (#define'd statement builders), nor declared data
(static const tables: statements, field specs, JSON columns, list orders,
constraints, resources). What is left is the service's functions: its
rules (hooks, checks, cascades) and the glue to the kit.

    tools/plumbing.py [services/<name>]     (default: services/projects)
"""
import glob
import re
import sys


def strip(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r"(static )?const [^;{(]*(\[[^]]*\])?\s*=\s*\{.*?\n\};",
                  "", text, flags=re.S)
    text = re.sub(r"(static )?const [^;(]*=\s*\{[^;]*?\};", "", text,
                  flags=re.S)
    text = re.sub(r"#define[^\n]*(\\\n[^\n]*)*", "", text)
    return [line for line in text.split("\n") if line.strip()]


def main():
    folder = sys.argv[1] if len(sys.argv) > 1 else "services/projects"
    total = 0
    for path in sorted(glob.glob(folder + "/*.[ch]")):
        n = len(strip(open(path).read()))
        print(f"{n:5d}  {path}")
        total += n
    print(f"{total:5d}  total")


if __name__ == "__main__":
    main()

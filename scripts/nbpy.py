"""Write a notebook from a percent-format script and back, so notebooks can be edited as text.

    python scripts/nbpy.py to-nb draft.py nbs/04_clip.ipynb   # cells split at '# %%' lines
    python scripts/nbpy.py to-py nbs/04_clip.ipynb draft.py

'# %% [markdown]' starts a markdown cell (its lines are written with a leading '# ');
'# %% tags=["parameters"]' gives a code cell tags (papermill's parameters cell).
Outputs are never written: run nbdev_clean afterwards as for any notebook.
"""

import hashlib
import json
import re
import sys
from pathlib import Path

import nbformat

_HEAD = re.compile(r"^# %%(?P<md> \[markdown\])?(?: tags=(?P<tags>\[.*\]))?\s*$")


def to_nb(src: Path, dst: Path):
    cells, cur = [], None
    for line in src.read_text().splitlines():
        m = _HEAD.match(line)
        if m:
            cur = {"md": bool(m["md"]), "tags": json.loads(m["tags"]) if m["tags"] else [], "lines": []}
            cells.append(cur)
        elif cur is not None:
            cur["lines"].append(line)
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": {"display_name": "python3", "language": "python", "name": "python3"}}
    for c in cells:
        lines = c["lines"]
        while lines and not lines[-1].strip():
            lines.pop()
        if c["md"]:
            text = "\n".join(line[2:] if line.startswith("# ") else line.lstrip("#") for line in lines)
            cell = nbformat.v4.new_markdown_cell(text)
        else:
            cell = nbformat.v4.new_code_cell("\n".join(lines))
        if c["tags"]:
            cell.metadata["tags"] = c["tags"]
        # ids from position and content: re-converting an unchanged cell keeps its id (quiet diffs)
        cell.id = hashlib.sha1(f"{len(nb.cells)}:{cell.cell_type}:{cell.source}".encode()).hexdigest()[:8]
        nb.cells.append(cell)
    dst.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(dst))


def to_py(src: Path, dst: Path):
    nb = nbformat.read(str(src), as_version=4)
    out = []
    for cell in nb.cells:
        tags = cell.metadata.get("tags")
        head = "# %%" + (" [markdown]" if cell.cell_type == "markdown" else "")
        if tags:
            head += " tags=" + json.dumps(tags)
        out.append(head)
        body = cell.source.splitlines()
        out += [("# " + line) if line else "#" for line in body] if cell.cell_type == "markdown" else body
        out.append("")
    dst.write_text("\n".join(out) + "\n")


if __name__ == "__main__":
    cmd, a, b = sys.argv[1:4]
    {"to-nb": to_nb, "to-py": to_py}[cmd](Path(a), Path(b))

"""What every benchmark records: seconds per image of each stage it times, next to the previous run of
the same benchmark (read before the file is overwritten) and their ratio, with the machine and the
1-minute load average (os.getloadavg) at the start and at the end.

    benchmarks/results/<name>.json  {"benchmark", "date", "machine", "load_1min", "per_image_s",
                                     "previous", "ratio_to_previous", "details"}
    benchmarks/results/<name>.md    the table "stage | s per image | previous | now / previous" + the details

`ratio_to_previous` is now / previous time per image: below 1 is faster. The machine is shared, so a
ratio within the load's noise (tens of percent on the 2-core dev machine) says nothing by itself.
Results written before this format have their per-image figures read by `_legacy_per_image`.
"""

import datetime
import json
import os
import platform
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


class Load:
    "The 1-minute load average at the start (when made) and at the end (`.end()`)."

    def __init__(self):
        self.start = round(os.getloadavg()[0], 2)

    def end(self) -> dict:
        return {"start": self.start, "end": round(os.getloadavg()[0], 2), "cpus": os.cpu_count()}


def machine() -> dict:
    "CPU, core count, torch and its threads (the figures depend on all of them)."
    info = {"cpu": _cpu_name(), "cpus": os.cpu_count(), "python": platform.python_version()}
    try:
        import torch

        info.update(torch=torch.__version__, threads=torch.get_num_threads(), cpu_capability=_capability(torch))
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return info


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _capability(torch) -> str:
    try:
        return torch.backends.cpu.get_cpu_capability()  # e.g. AVX2, AVX512 (bf16 needs AVX512-BF16 or AMX)
    except AttributeError:
        return "?"


def _legacy_per_image(name: str, old: dict) -> dict:
    "Per-image seconds of results written before this format (the stages whose meaning did not change)."
    out = {}
    try:
        if name == "cam" and isinstance(old.get("per_image_s"), dict):
            out["CAM per image, ViT-B/16, text once, batched backward"] = old["per_image_s"]["batched"]
            out["CAM per image, ViT-B/16, text once, loop backward"] = old["per_image_s"]["loop"]
        elif name == "metrics":
            out["score_split (read 2 PNGs + confusion matrix)"] = old["best_seconds"] / old["n_images"]
        elif name == "segmenter":
            for r in old["results"]:
                out[f"{r['model']} train_step"] = r["sec_per_iter_median"] / r["batch"]
        elif name == "train":
            for r in old["results"]:
                out[f"prompt training, {r['task']}"] = sorted(r["seconds"])[len(r["seconds"]) // 2] / r["batch"]
        elif name == "seeding":
            rule = old["seed_rule"]["ellipse radii 5..60 px"]
            out["seed rule from stored runs (150 masks)"] = rule["store_load_runs_then_seed"]["median_ms"] / 1e3
            for k, v in old["mask_sources"].items():
                if not k.startswith("sam"):
                    out[f"masks: {k}"] = v["median_ms"] / 1e3
        elif name.startswith("pipeline_"):
            for k, v in old["stages"].items():
                out[f"stage {k}"] = v / 4  # the demo set's 4 images
    except (KeyError, TypeError, ZeroDivisionError):
        return {}
    return out


def previous(name: str) -> dict | None:
    "The last results of benchmark `name` ({'date', 'per_image_s', 'load_1min'}), or None."
    p = RESULTS / f"{name}.json"
    if not p.is_file():
        return None
    try:
        old = json.loads(p.read_text())
    except (OSError, ValueError):
        return None
    if "benchmark" in old:
        return {k: old.get(k) for k in ("date", "per_image_s", "load_1min")}
    per_image = _legacy_per_image(name, old)
    return {"date": "before the per-image format", "per_image_s": per_image, "load_1min": None} if per_image else None


def record(
    name: str,  # file stem under benchmarks/results/
    title: str,  # the Markdown heading
    per_image_s: dict,  # {stage: seconds per image}
    load: Load,  # made when the benchmark started
    how: str,  # what was measured and how (Markdown, one paragraph)
    details: dict | None = None,  # anything else for the JSON
    body: str = "",  # more Markdown after the table
) -> dict:
    "Write benchmarks/results/<name>.{json,md} with the ratio to the previous results; returns the record."
    prev = previous(name)
    prev_s = (prev or {}).get("per_image_s") or {}
    ratio = {k: v / prev_s[k] for k, v in per_image_s.items() if prev_s.get(k)}
    rec = {
        "benchmark": name,
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": machine(),
        "load_1min": load.end(),
        "per_image_s": per_image_s,
        "previous": prev,
        "ratio_to_previous": ratio,
        "details": details or {},
    }
    m, ld = rec["machine"], rec["load_1min"]
    lines = [
        f"# {title}",
        "",
        f"Machine: {m['cpu']}, {m['cpus']} CPUs, torch {m.get('torch', '-')} ({m.get('threads', '-')} threads, "
        f"CPU capability {m.get('cpu_capability', '-')}){', GPU ' + m['gpu'] if 'gpu' in m else ''}; "
        f"1-minute load average {ld['start']} at the start, {ld['end']} at the end; {rec['date']}.",
        "",
        how,
        "",
        "| stage | s per image | previous | now / previous |",
        "|---|---|---|---|",
    ]
    for k, v in per_image_s.items():
        p = prev_s.get(k)
        lines.append(f"| {k} | {_fmt(v)} | {_fmt(p) if p else '-'} | {f'{ratio[k]:.2f}' if k in ratio else '-'} |")
    if prev:
        load_prev = prev.get("load_1min") or {}
        lines += ["", f"Previous: {prev.get('date')}" + (f", load {load_prev.get('end')}" if load_prev else "") + "."]
    if body:
        lines += ["", body]
    RESULTS.mkdir(parents=True, exist_ok=True)
    _write(RESULTS / f"{name}.json", json.dumps(rec, indent=1) + "\n")
    _write(RESULTS / f"{name}.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    return rec


def _fmt(s: float) -> str:
    return f"{s * 1e3:.1f} ms" if s < 1 else f"{s:.2f} s"


def _write(path: Path, text: str):
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)

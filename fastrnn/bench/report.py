"""The report's Markdown tables and the PNG chart (titled with the machine line)."""

import os

from .grid import CELL_LABELS


def fmt_us(seconds):
    """µs as in docs/benchmarks.md: ``16.1``, ``1,577``, ``12.9 ms``, ``1,243 ms``."""
    if seconds is None:
        return "-"
    us = seconds * 1e6
    if us >= 10_000:
        ms = us / 1000
        return f"{ms:,.1f} ms" if ms < 100 else f"{ms:,.0f} ms"
    if us >= 1000:
        return f"{us:,.0f}"
    if us >= 0.05:
        return f"{us:.1f}"
    return "~0"


def _table(header, rows, aligns):
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---:" if a == "r" else "---" for a in aligns) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def results_table(data):
    """Markdown table of the grid results in ``data`` (the JSON document)."""
    systems = data["systems"]
    labels = {s["name"]: s["label"] for s in systems}
    names = [s["name"] for s in systems]
    twin = "fastrnn.torch" in names and "torch" in names
    header = (
        ["cell", "shape", "mode"]
        + [labels[n] for n in names]
        + ["best peer", "speed-up vs best peer"]
        + (["fastrnn.torch vs torch.nn"] if twin else [])
        + ["GEMM bound", "fastrnn / bound", "others' load"]
    )
    rows = []
    for r in data["results"]:
        med = r["medians_s"]
        row = [CELL_LABELS[r["cell"]], r["shape"], r["mode"]]
        row += [
            fmt_us(med.get(n))
            if n not in r["errors"]
            else "n/a"
            if r["errors"][n].startswith("n/a")
            else "error"
            for n in names
        ]
        if r["best_peer"]:
            row.append(f"{fmt_us(r['best_peer_s'])} ({labels[r['best_peer']]})")
        else:
            row.append("-")
        if r["speedup"] is not None:
            row.append(f"{r['speedup']:.2f}x ({r['best_fastrnn']})")
        else:
            row.append("-")
        if twin:
            ratio = r.get("torch_module_speedup")
            row.append("-" if ratio is None else f"{ratio:.2f}x")
        row.append(fmt_us(r["bound_s"]))
        row.append(
            f"{r['bound_ratio']:.1f}x ({r['best_fastrnn']})"
            if r["bound_ratio"] is not None
            else "-"
        )
        others = r.get("others_cores")
        row.append("?" if others is None else f"{others:.1f}")
        rows.append(row)
    return _table(header, rows, ["l"] * 3 + ["r"] * (len(header) - 3))


def packed_table(packed):
    """Markdown table of the packed variable-length LSTM rows (``data["packed"]``)."""
    s = packed["shape"]
    title = (
        f"packed LSTM, B={s['batch']} T={s['timesteps']} (lengths {s['min_length']}-"
        f"{s['timesteps']}) D={s['input_dim']} H={s['units']}"
    )
    rows = []
    for r in packed["rows"]:
        med = r["medians_s"]
        ratio = r["speedup"]
        rows.append(
            [
                r["mode"],
                fmt_us(med.get("fastrnn.torch")),
                fmt_us(med.get("torch")),
                "-" if ratio is None else f"{ratio:.2f}x",
            ]
        )
    header = [title, "fastrnn.torch", "torch.nn", "fastrnn.torch vs torch.nn"]
    return _table(header, rows, ["l", "r", "r", "r"])


def step_table(step):
    rows = [
        [name, fmt_us(res.get("median_s")) if "median_s" in res else res.get("skipped", "-")]
        for name, res in step.items()
    ]
    return _table(["system", "LSTM step, B=1 D=32 H=64 (µs)"], rows, ["l", "r"])


def cold_table(cold):
    rows = []
    for label in ("cold", "warm"):
        res = cold.get(label, {})
        if "error" in res:
            rows.append([label, "error: " + res["error"], "", "", ""])
            continue
        rows.append(
            [
                label,
                f"{res['import_s']:.3f}",
                f"{res['first_call_s']:.3f}",
                f"{res['in_process_s']:.3f}",
                f"{res['process_wall_s']:.3f}",
            ]
        )
    return _table(
        [
            "numba cache",
            "import fastrnn (s)",
            "first LSTM call (s)",
            "import + first call (s)",
            "whole process (s)",
        ],
        rows,
        ["l", "r", "r", "r", "r"],
    )


def write_chart(data, path):
    """Bar chart (log scale) of the medians; returns a note if skipped."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        return f"chart skipped: matplotlib not importable ({exc})"
    modes = sorted({r["mode"] for r in data["results"]}, key=["forward", "train"].index)
    if not modes:
        return "chart skipped: no results"
    systems = data["systems"]
    fig, axes = plt.subplots(len(modes), 1, figsize=(12, 4.2 * len(modes)), squeeze=False)
    for ax, mode in zip(axes[:, 0], modes):
        rows = [r for r in data["results"] if r["mode"] == mode]
        width = 0.8 / max(1, len(systems))
        for i, s in enumerate(systems):
            xs, ys = [], []
            for j, r in enumerate(rows):
                v = r["medians_s"].get(s["name"])
                if v is not None:
                    xs.append(j + (i - (len(systems) - 1) / 2) * width)
                    ys.append(v * 1e6)
            ax.bar(xs, ys, width, label=s["label"], hatch="//" if s["kind"] == "peer" else "")
        for j, r in enumerate(rows):
            if r["bound_s"]:
                ax.hlines(r["bound_s"] * 1e6, j - 0.45, j + 0.45, colors="k", linestyles=":")
        ax.set_xticks(range(len(rows)))
        ax.set_xticklabels([f"{CELL_LABELS[r['cell']]}\n{r['shape']}" for r in rows], fontsize=8)
        ax.set_yscale("log")
        ax.set_ylabel("median µs per call (log)")
        ax.set_title(f"{mode} ({data['threads']} threads; dotted: GEMM lower bound)")
        ax.legend(fontsize=8, ncol=len(systems))
    if data.get("machine_line"):
        fig.suptitle(data["machine_line"], fontsize=9)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None

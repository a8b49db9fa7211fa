"""Table VI: VGG16's conv MACs by Eq. 1, before and after channel pruning to the paper's plan.

Counted on meta-device models (no weights allocated), from the model the plan builds; the same
numbers come from an exported ONNX file (tests/accuracy/test_macs.py checks that).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from edgecheck.macs import MACReport, count_macs, format_macs_table, macs_rows
from edgecheck.models import VGG16_CONV_NAMES, VGG16_INPUT_SHAPE, build_model
from edgecheck.report import Section, markdown_table

if TYPE_CHECKING:
    from edgecheck.claims import ClaimRegistry, ClaimResult
    from edgecheck.device import DeviceInfo

CLAIM_ID = "prune.macs"
GIGA = 1e9


@dataclass(frozen=True)
class Table6:
    """Eq. 1 counts of full VGG16 and of VGG16 built from a channel plan."""

    before: MACReport
    after: MACReport
    plan: str | Mapping[str, int]

    def conv_gmacs(self, report: MACReport) -> dict[str, float]:
        """Conv layer short name (conv1_1 ...) -> GMACs."""
        by_short = {layer.name.rsplit(".", 1)[-1]: layer.macs for layer in report.layers}
        return {name: by_short[name] / GIGA for name in VGG16_CONV_NAMES}

    def measured(self) -> dict[str, float]:
        """Values keyed like the claim's paper values: before.<layer>, after.<layer>, totals, ratio."""
        values = {f"before.{k}": v for k, v in self.conv_gmacs(self.before).items()}
        values.update({f"after.{k}": v for k, v in self.conv_gmacs(self.after).items()})
        values["before.total"] = self.before.conv_total / GIGA
        values["after.total"] = self.after.conv_total / GIGA
        values["ratio"] = self.before.conv_total / self.after.conv_total
        return values


def measure_table6(plan: str | Mapping[str, int] = "paper") -> Table6:
    """Count Eq. 1 MACs of VGG16 at full width and built from `plan`."""
    full = count_macs(build_model("vgg16", device="meta"), VGG16_INPUT_SHAPE)
    pruned = count_macs(build_model("vgg16", plan=plan, device="meta"), VGG16_INPUT_SHAPE)
    return Table6(before=full, after=pruned, plan=plan)


def judge_table6(table: Table6, registry: ClaimRegistry, profile: str) -> list[ClaimResult]:
    """A verdict for every per-layer value, both totals and the ratio."""
    claim = registry[CLAIM_ID]
    return [claim.check(v, profile=profile, key=k) for k, v in table.measured().items()]


def section(registry: ClaimRegistry, device: DeviceInfo) -> Section:
    """Table VI side by side with the paper, as a report section."""
    table = measure_table6("paper")
    results = judge_table6(table, registry, device.profile)
    claim = registry[CLAIM_ID]
    measured = table.measured()
    rows = []
    for row in macs_rows(table.before, compare=table.after):
        short = row["layer"].rsplit(".", 1)[-1]
        if short not in VGG16_CONV_NAMES:
            continue
        rows.append({
            "layer": short.capitalize(),
            "fmap": row["feature_map"],
            "kb": row["n_out"],
            "ka": row["n_out_after"],
            "pb": f"{claim.paper_value(f'before.{short}'):.3f}",
            "mb": f"{measured[f'before.{short}']:.3f}",
            "pa": f"{claim.paper_value(f'after.{short}'):.3f}",
            "ma": f"{measured[f'after.{short}']:.3f}",
        })  # fmt: skip
    rows.append({
        "layer": "**Total**", "fmap": "", "kb": "", "ka": "",
        "pb": f"{claim.paper_value('before.total'):.2f}", "mb": f"{measured['before.total']:.3f}",
        "pa": f"{claim.paper_value('after.total'):.2f}", "ma": f"{measured['after.total']:.3f}",
    })  # fmt: skip
    columns = [
        ("layer", "layer"), ("fmap", "feature map"), ("kb", "kernels before"),
        ("ka", "kernels after"), ("pb", "GMACs before (paper)"), ("mb", "GMACs before (Eq. 1)"),
        ("pa", "GMACs after (paper)"), ("ma", "GMACs after (Eq. 1)"),
    ]  # fmt: skip
    body = "\n".join([
        "VGG16 at 224x224, conv layers only (Eq. 1: H_f x W_f x N_in x N_out x H_k x W_k), "
        "full width vs the paper's pruned plan, counted on the models edgecheck builds.",
        "",
        markdown_table(rows, columns),
        "",
        f"Theoretical speedup: paper {claim.paper_value('ratio'):.2f}x, "
        f"Eq. 1 {measured['ratio']:.3f}x. The FC head adds "
        f"{(table.before.total - table.before.conv_total) / GIGA:.3f} GMACs to the full model.",
        "",
        f"Note: {claim.note}.",
    ])  # fmt: skip
    data = {
        "measured_gmacs": measured,
        "table": format_macs_table(table.before, compare=table.after),
    }
    return Section(
        title="Table VI: MACs before and after pruning", body=body, results=results, data=data
    )

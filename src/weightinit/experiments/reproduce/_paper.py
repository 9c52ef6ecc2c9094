"""What the init papers' results (glorot2010, he2015) share: their findings stored under
``results.json``'s "findings", their files (results.json, report.md, curves.png) and the
config fields every paper takes."""

from __future__ import annotations

import os

from ...reporting.plots import plot_curves
from .._result import ResultBase, output_folder, plain_fields, write_json, write_texts

__all__ = ["PaperResult", "paper_dict"]


def paper_dict(result, experiment: str) -> dict:
    """``results.json`` of a paper's result: its fields, ``stated`` written as "findings"."""
    return {"experiment": experiment, **{("findings" if k == "stated" else k): v
                                         for k, v in plain_fields(result).items()}}


class PaperResult(ResultBase):
    """A paper's result: ``stated`` holds its findings; ``curves()`` the (label, history,
    diverged) lines of curves.png and ``network()`` what was trained, for its title."""

    experiment = ""

    def findings(self) -> list[str]:
        return list(self.stated)

    def to_dict(self) -> dict:
        return paper_dict(self, self.experiment)

    def curves(self) -> list[tuple[str, list[dict], bool]]:
        raise NotImplementedError

    def network(self) -> str:
        raise NotImplementedError

    def write(self, folder: str | os.PathLike) -> list[str]:
        """results.json, report.md and curves.png (with glorot2010, std_by_layer.png first)."""
        folder = output_folder(folder)
        curves = self.curves()
        plot_curves([(label, history) for label, history, _ in curves], folder / "curves.png",
                    f"{self.experiment} on {self.dataset}: {self.network()}", diverged=[flag for _, _, flag in curves])
        return ["curves.png", write_json(folder, self), *write_texts(folder, {
            "report.md": f"# {self.experiment} on {self.dataset}\n\n{self.text()}\n\n![curves](curves.png)\n"})]

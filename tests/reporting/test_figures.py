"""Every figure, rendered from a small result: not blank, and saying what it shows (a band for
several seeds, × for a diverged run, ▼ for a std of exactly 0, a scale factor per panel).

The checks read the figure back (pixels) and its artists (what was drawn), so they fail on a
figure that is blank, drops a curve, or draws a zero at a made-up 1e-30.

Device: none.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib.image import imread
from torch import nn

import weightinit.reporting.plots as plots
from weightinit import init_model
from weightinit.diagnostics import diagnose
from weightinit.models import mlp


def _not_blank(path) -> np.ndarray:
    pixels = imread(path)[..., :3]
    assert pixels.shape[0] > 200 and pixels.shape[1] > 300
    assert pixels.std() > 0.05, f"{path} looks blank"
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 20, f"{path} has hardly any colours"
    return pixels


def _history(losses, accuracies, split="test"):
    return [{"epoch": e + 1, "train_loss": loss, f"{split}_loss": loss, f"{split}_accuracy": acc, "seconds": 0.1}
            for e, (loss, acc) in enumerate(zip(losses, accuracies))]


@pytest.fixture
def drawn(monkeypatch):
    """The Figure each plot function saved, kept for inspection."""
    figures = []
    original = plots._save

    def keep(fig, path, dpi, **kwargs):
        figures.append(fig)
        return original(fig, path, dpi, **kwargs)

    monkeypatch.setattr(plots, "_save", keep)
    return figures


@pytest.mark.slow
def test_curves_draw_a_band_for_seeds_and_mark_a_diverged_run(tmp_path, drawn):
    runs = [("he_normal", _history([1.0 - 0.1 * s, 0.5, 0.3], [0.8 + 0.02 * s, 0.88, 0.9])) for s in range(3)]
    runs += [("normal", _history([30.0, 12.0, 8.0], [0.3, 0.4, 0.5])), ("normal", _history([25.0, 10.0, 7.0],
                                                                                            [0.35, 0.45, 0.52])),
             ("normal", _history([40.0, float("nan")], [0.2, 0.1]))]
    path = plots.plot_curves(runs, tmp_path / "curves.png", "3 seeds", diverged=[False] * 5 + [True])
    _not_blank(path)
    fig = drawn[0]
    ax_loss, ax_acc = fig.axes
    assert len(ax_loss.collections) == 2 and len(ax_acc.collections) == 2  # a band per init, in both panels
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "he_normal (mean ± std of 3)" in labels
    assert "normal (mean ± std of 2), 1 of 3 diverged (dashed)" in labels
    assert any("diverged" in label and "stopped" in label for label in labels)
    crosses = [line for line in ax_acc.get_lines() if line.get_marker() == "x"]
    assert len(crosses) == 1 and list(crosses[0].get_xdata()) == [2]
    assert "± one std" in fig._suptitle.get_text()
    assert ax_loss.get_ylabel().startswith("training loss") and ax_acc.get_ylabel() == "test accuracy"


@pytest.mark.slow
def test_a_run_that_diverged_in_its_first_epoch_is_still_marked(tmp_path, drawn):
    runs = [("lr 10", _history([float("inf")], [0.1]))]
    _not_blank(plots.plot_curves(runs, tmp_path / "c.png", "diverged at once", diverged=[True]))
    assert [line for line in drawn[0].axes[0].get_lines() if line.get_marker() == "x"]


@pytest.mark.slow
def test_dbn_curves_say_validation_and_whole_epochs(tmp_path, drawn):
    runs = [("DBN pre-training + fine-tuning (sigmoid)", _history([0.9, 0.4, 0.3, 0.2, 0.15], [0.8, 0.9, 0.92, 0.93,
                                                                                                  0.93], "valid"))]
    _not_blank(plots.plot_curves(runs, tmp_path / "c.png", "digits: fine-tuning", evaluated_on="valid"))
    ax_loss, ax_acc = drawn[0].axes
    assert ax_acc.get_title() == "Validation accuracy" and ax_acc.get_ylabel() == "validation accuracy"
    drawn[0].canvas.draw()
    ticks = [t for t in ax_acc.get_xticks() if 1 <= t <= 5]
    assert ticks and all(float(t).is_integer() for t in ticks)


@pytest.fixture(scope="module")
def reports():
    x, y = torch.rand(64, 64, generator=torch.Generator().manual_seed(0)), torch.arange(64) % 10
    found = {}
    for scheme in ("normal", "default", "xavier_uniform"):
        model = init_model(mlp("64-128-128-128-10", "tanh"), scheme, generator=torch.Generator().manual_seed(0))
        found[scheme] = diagnose(model, (x, y))
    dead = mlp("64-32-32-10", "relu")
    for layer in dead:
        if isinstance(layer, nn.Linear):
            nn.init.constant_(layer.bias, -100.0)  # every unit dead: its std is exactly 0
    found["dead"] = diagnose(dead, (x, y))
    return found


@pytest.mark.slow
def test_std_by_layer_marks_a_zero_std_at_the_axis_foot_not_at_1e_30(tmp_path, drawn, reports):
    path = plots.plot_std_by_layer({"dead": reports["dead"], "normal": reports["normal"]}, tmp_path / "s.png", "t")
    _not_blank(path)
    ax_act, ax_grad = drawn[0].axes
    low = min(ax_act.get_ylim()[0], ax_grad.get_ylim()[0])
    assert low > 1e-20, "a zero std was drawn at a made-up tiny value"
    markers = [line for line in ax_act.get_lines() if line.get_marker() == "v"]
    assert markers and len(markers[0].get_xdata()) == 3  # the dead net's three layers, all at 0
    assert any("exactly 0" in t.get_text() for t in ax_grad.get_legend().get_texts())


@pytest.mark.slow
def test_histograms_state_the_scale_of_each_panel(tmp_path, drawn, reports):
    for key in ("grad", "post"):
        _not_blank(plots.plot_histograms(reports, key, tmp_path / f"{key}.png", f"{key} per layer"))
    grads = drawn[0]
    labels = [ax.get_xlabel() for ax in grads.axes]
    assert any("×1e-" in label for label in labels)  # the small gradients carry their factor
    assert all(label.startswith("back-propagated gradient") for label in labels)
    assert grads.axes[0].get_ylabel() == "density (log scale)"
    assert "own x scale" in grads._suptitle.get_text()
    grads.canvas.draw()
    for ax in grads.axes:  # at most 5 major ticks, labels short enough not to overlap
        texts = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
        assert 2 <= len(texts) <= 7 and max(map(len, texts)) <= 6, texts


@pytest.mark.slow
def test_every_diagnose_figure_names_each_layer_as_the_table_does(tmp_path, drawn, reports):
    """std_by_layer.png's ticks and the histograms' legends read "layer 1 (Linear 64->128)", as the
    table's rows; the output layer is in every figure (the histograms draw it below, on its own scale)."""
    labels = [s.label for s in reports["normal"].layers]
    assert labels == ["layer 1 (Linear 64->128)", "layer 2 (Linear 128->128)", "layer 3 (Linear 128->128)",
                      "layer 4 (Linear 128->10)"]
    assert [row.split("  ")[0].strip() for row in reports["normal"].table().splitlines()[1:]] == labels
    picked = {k: reports[k] for k in ("normal", "xavier_uniform")}
    plots.plot_std_by_layer(picked, tmp_path / "s.png", "t")
    for ax in drawn[0].axes:
        assert [t.get_text() for t in ax.get_xticklabels()] == labels
    for key in ("post", "grad"):
        _not_blank(plots.plot_histograms(picked, key, tmp_path / f"{key}.png", key))
    for fig in drawn[1:]:
        assert len(fig.axes) == 4  # two inits: hidden layers above, the output layer below
        for ax in fig.axes[:2]:
            assert [t.get_text() for t in ax.get_legend().get_texts()] == labels[:-1]
        for ax in fig.axes[2:]:
            assert [t.get_text() for t in ax.get_legend().get_texts()] == labels[-1:]
            assert ax.get_title().endswith("output layer")
    assert drawn[1].axes[2].get_xlabel().startswith("output value (logits")  # no activation follows it
    assert drawn[2].axes[2].get_xlabel().startswith("back-propagated gradient")


@pytest.mark.slow
def test_dynamics_name_each_layer_as_diagnose_does(tmp_path, drawn):
    records = [{"step": t, "epoch": 1, "layer": layer, "activation_mean": 0.1, "activation_std": 0.5,
                "saturated": None, "dead": 0.1, "grad_std": 1e-3, "update_ratio_log10": -3.0}
               for t in (0, 10) for layer in ("0", "2")]
    labels = {"0": "layer 1 (Linear 64->32)", "2": "layer 2 (Linear 32->10)"}
    plots.plot_dynamics([("he_normal", records)], tmp_path / "d.png", "d", labels=labels)
    plots.plot_dynamics([("he_normal", records)], tmp_path / "e.png", "e")
    named, bare = drawn
    assert named.axes[0].get_title() == "Activation std\nlayer 1 (Linear 64->32)"
    assert named.axes[4].get_title().endswith("layer 2 (Linear 32->10)")
    assert bare.axes[0].get_title() == "Activation std\nmodule '0'"  # without labels: its module name, said so


@pytest.mark.slow
def test_tiles_samples_say_their_gibbs_steps_and_fit_their_title(tmp_path, drawn):
    title = "100 samples from the RBM, each after 1000 Gibbs steps\nfrom a test image (visible probabilities)"
    _not_blank(plots.plot_tiles(torch.rand(100, 64, generator=torch.Generator().manual_seed(0)), (8, 8),
                                tmp_path / "samples.png", title, per_tile=False))
    fig = drawn[0]
    fig.canvas.draw()
    box = fig.axes[0].title.get_window_extent()
    width = fig.get_size_inches()[0] * fig.dpi
    assert box.x0 >= 0 and box.x1 <= width, "the title is cut off"
    assert "1000 Gibbs steps" in fig.axes[0].get_title()


@pytest.mark.slow
def test_dynamics_keep_one_colour_per_init_a_legend_for_each_and_the_healthy_line(tmp_path, drawn):
    """dynamics.png: a row per layer, a column per measure; an init that only one panel can
    show (its activation std is 0 on a log axis) is still in the legend, in the same colour
    everywhere; the update panels carry the -3 reference; the logits' panel says why it is empty."""
    def records(std):
        return [{"step": t, "epoch": 1, "layer": layer, "activation_mean": 0.1, "activation_std": std,
                 "saturated": None, "dead": 0.1 if layer == "0" else None, "grad_std": 1e-3,
                 "update_ratio_log10": -3.2 + 0.01 * t} for t in (0, 10, 20) for layer in ("0", "2")]

    path = plots.plot_dynamics([("he_normal", records(0.5)), ("zeros", records(0.0))], tmp_path / "d.png",
                               "dynamics")
    _not_blank(path)
    (fig,) = drawn
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["he_normal", "zeros"]
    axes = fig.axes
    assert len(axes) == 2 * 4
    colours = {line.get_color() for ax in axes for line in ax.get_lines() if len(line.get_xdata()) == 3}
    assert colours == {"C0", "C1"}
    assert len(axes[0].get_lines()) == 1  # zeros' std of 0 has no place on the log axis
    assert all(any(line.get_linestyle() == "--" for line in ax.get_lines()) for ax in (axes[3], axes[7]))
    assert "no activation follows this layer" in axes[5].texts[0].get_text()

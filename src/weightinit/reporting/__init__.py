"""Renderers of typed results: terminal and markdown tables, results.json and CSV (:mod:`.tables`),
PNG figures (:mod:`.plots`, matplotlib without pyplot; the learning-rate transfer figure in
:mod:`.transfer`, the theory's in :mod:`.theory`), TensorBoard events (:mod:`.tensorboard`).
Import the module you need: plots pulls in matplotlib, tensorboard its optional package."""

"""Experiments, one module each, every one returning a typed result whose ``to_dict()`` is its
``results.json``: :mod:`.compare` (the lecture's sweep of initializations), :mod:`.diagnose`
(each init at step 0), :mod:`.rbm`, :mod:`.finetune` and :mod:`.dbn` (pre-training, then
fine-tuning), and the papers under :mod:`.reproduce`. Import from the modules
(``from weightinit.experiments.compare import compare``)."""

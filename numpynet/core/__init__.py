"""The core: the engine a student reads top to bottom. It imports NumPy (and SciPy's special functions) only.

Reading order: ``errors`` and ``config`` → ``spec`` (the one parser + Registry) → the families built on it
(``activations``, ``initializers``, ``regularizers``, ``constraints``, ``losses``, ``metrics``, ``schedules``,
``optimizers``) → ``layers`` (build / forward / backward) → ``graph`` and ``model`` (the passes) → ``training`` (the
loop behind ``fit``), ``callbacks``, ``data`` → ``gradcheck``, ``tracing`` (seeing the passes) → ``io``.
"""

"""Retention: the background purger that deletes what is older than ``[retention]`` says
(``purger``), in bounded batches through ``store.contracts.retention``. Imports ``model``
and ``store`` only; the composition root hands it its settings and replaces them on reload.
"""

"""The industrial model family: what each model is (:mod:`.catalog`), how it is fitted
(:mod:`.anomaly`, :mod:`.rul`, :mod:`.quality`; scikit-learn at training time only), how it
is scored (:mod:`.metrics`), and how it predicts (:mod:`.runtime`: numpy only, the file
Triton serves as every version's ``model.py``). See ``services/inference/docs/models.md``.
"""

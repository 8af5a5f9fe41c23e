"""The lab around the core: experiments (grids of configurations), the ``numpynet`` command, plots, datasets,
scikit-learn estimators and the model zoo (``applications``). Each module may use other libraries
(matplotlib, scikit-learn, joblib/Dask); the core never imports from here."""

"""The engines behind ``Processor.process``: each computes the stage outputs of a batch (``stages``), and the
processor builds the ``BatchResult`` from them in one place.

``compiled`` (numba, the default) and ``reference`` (numpy, the specification the compiled one is property-tested
against) give identical results.
"""

__all__ = ["compiled", "reference", "stages"]

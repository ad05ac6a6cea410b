"""Evergreen: keeps scikit-learn models fresh on AWS serverless.

Modules are import-light on purpose: inference imports only what serving needs (never scikit-learn).
"""

__version__ = "0.1.0"

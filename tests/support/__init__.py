"""Helpers shared by tests: moto resources built from template.yaml, tiny ONNX models."""

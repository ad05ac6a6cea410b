"""One module per pipeline step: `run(input_model, stores) -> output_model`.

Steps do the I/O (through `evergreen.storage.Stores`) around the pure domain functions in
`evergreen.data`, `evergreen.training`, `evergreen.evaluation`, `evergreen.export` and
`evergreen.registry`. Handlers in functions/*/app.py only parse the event and call `run`.
"""

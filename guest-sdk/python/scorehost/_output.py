"""What both Python runtimes send back for `run`'s result, as the Azure ML server does."""

import json


def result_text(result, default):
    """`run`'s result as the JSON text the Azure ML server sends (`None` is `{}`); `default`
    writes what `json` cannot (the runtime's arrays and frames)."""
    if result is None:
        return "{}"
    return json.dumps(result, default=default)

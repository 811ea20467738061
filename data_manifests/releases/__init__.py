"""Release definitions: which recipes, sources, counts and pinned items make a benchmark release."""

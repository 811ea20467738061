"""The output folder: parquet shards per task config, dataset card, manifest, written atomically."""

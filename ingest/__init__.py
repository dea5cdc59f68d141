"""ingest: a news-feed ingestion pipeline.

    due feeds | fetch | parse | normalize | dedupe | store

See ingest.pipeline for the pipe, README.md for the record schema.
"""

__version__ = "0.1.0"

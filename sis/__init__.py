"""The district's SIS over its OneRoster REST API.

`sis.client` is the HTTP side every call to a SIS shares (credentials, retries, one line per
failure), `sis.pull` reads the rostering collections into the CSV files' frames, which the
feed writer, validation and the sync take as they take a zip's. Built on `schemas` alone.
"""

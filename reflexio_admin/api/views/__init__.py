"""API views: parse and validate, call the service, answer in Reflexio's shape.

Paths and payloads follow the published `reflexio-client`; docs/api.md lists
every endpoint with its permission, statuses and examples. The plumbing the
views share (auth, parsing, errors) is in `reflexio_admin.api.http`.
"""

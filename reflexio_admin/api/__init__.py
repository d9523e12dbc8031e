"""The JSON API that speaks Reflexio's wire format (see docs/api.md)."""

"""HTTP: the REST API, its OpenAPI description, and plain-class middleware."""

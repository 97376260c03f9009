"""gRPC plumbing shared by every service: mutual TLS, peer identity, message limits, and the one
table from the project's exceptions to gRPC status codes. Pure protocol code stays in
``protocols/``; this package is the only place that knows how identities sit in certificates."""

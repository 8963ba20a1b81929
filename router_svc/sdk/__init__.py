"""router_svc.sdk."""

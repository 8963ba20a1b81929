"""router_svc.tagging."""

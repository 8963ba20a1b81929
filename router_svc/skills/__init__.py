"""router_svc.skills."""

"""One router per resource: tools, uploads, jobs, usage, keys (admin) and the page's session."""

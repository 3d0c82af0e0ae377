"""The prompt domain: tokens (`syntax`), list files (`lists`), filtering (`filters`), and the
tools that rewrite sidecars and count tokens (`tools`)."""

"""The mirror engine: targets -> crawl -> items -> downloads, with events for any UI."""
